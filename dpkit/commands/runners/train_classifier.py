"""``dpkit train-classifier``, run: build the classifier's configuration, train (or resume) it and
print the result."""

from __future__ import annotations

import math
from typing import Any

import click

from dpkit.classifiers import (CLASSIFIER_RECIPES, ClassifierConfig, ModelConfig, PGDConfig,
                               TrainResult, classifier_recipe, default_recipe, flip_invariant,
                               format_recipes, resume_classifier, train_classifier)
from dpkit.commands.flags import to_cli
from dpkit.commands.options import fmt_eps, parse_int_list, privacy_notes
from dpkit.commands.runners import emit, privacy_config_from
from dpkit.data import DataOptions
from dpkit.engine import INVALID_EPSILON, launched
from dpkit.errors import DPKitError

__all__ = ["run", "settings_from", "apply_recipe"]


def _text(r: TrainResult) -> str:
    privacy = (f"epsilon = {fmt_eps(r.epsilon)} at delta = {r.delta:g} (noise multiplier "
               f"{r.noise_multiplier:.4g})" if math.isfinite(r.epsilon)
               else "non-private (epsilon = inf)")
    if not r.epsilon_valid:
        privacy += f" [{INVALID_EPSILON}]"
    lines = [f"run directory: {r.run_dir}",
             f"trained {r.epochs} epochs on {r.train_size} examples; {privacy}"]
    if r.epsilon_normalization is not None:
        lines.append(f"epsilon composed of: normalisation statistics "
                     f"{fmt_eps(r.epsilon_normalization)}, training "
                     f"{fmt_eps(r.epsilon_training)}")
    if r.test_accuracy is not None:
        lines.append(f"test accuracy: {r.test_accuracy:.4f}")
    if r.robust_accuracy is not None:
        lines.append(f"robust accuracy (PGD, test): {r.robust_accuracy:.4f}")
    lines += [f"note: {to_cli(n)}" for n in r.notes]
    lines += privacy_notes(noise_reproducible=r.noise_reproducible)
    return "\n".join(lines)


def _pgd_from(kw: dict[str, Any]) -> PGDConfig | None:
    on, eps, alpha, steps = kw.pop("pgd"), kw.pop("pgd_eps"), kw.pop("pgd_alpha"), kw.pop("pgd_steps")
    if not on:
        return None
    return PGDConfig(eps=eps, steps=steps, alpha=alpha, random_start=steps > 1)


def run(kw: dict[str, Any]) -> None:
    """Train (or with ``resume_dir``, resume) a classifier from the command's options ``kw``;
    under torchrun, across its processes (rank 0 prints)."""
    if kw.get("recipe") == "list":
        click.echo(format_recipes())
        return
    as_json, quiet = kw.pop("as_json"), kw.pop("quiet")
    with launched(kw.pop("device")) as (world, device):
        if kw["resume_dir"] is not None:
            result = resume_classifier(kw["resume_dir"], device=device, quiet=quiet)
        else:
            auto = kw.get("recipe") == "auto"
            cfg, dataset, data = settings_from(kw)
            if auto and cfg.recipe is not None and world.is_main and not as_json:
                click.echo(f"recipe: {cfg.recipe} (the default for {dataset} at epsilon "
                           f"{fmt_eps(cfg.privacy.target_epsilon)}; --recipe none: the "
                           f"command's plain defaults)", err=True)
            result = train_classifier(cfg, dataset=dataset, data=data, out=kw.pop("out"),
                                      device=device, quiet=quiet)
        if world.is_main:
            emit(result, as_json=as_json, text=lambda: _text(result))


def chosen_recipe(kw: dict[str, Any]) -> str | None:
    """The recipe ``kw["recipe"]`` names; ``"auto"`` (train-classifier's default) is the
    dataset's default recipe at the typed --epsilon (:func:`default_recipe`), or none."""
    name = kw.get("recipe")
    if name == "auto":
        return default_recipe(kw["dataset"], kw["epsilon"], kw.get("given", frozenset()))
    return None if name in (None, "none") else name


def apply_recipe(kw: dict[str, Any]) -> str | None:
    """Fill ``kw`` with the values of the recipe ``kw["recipe"]`` (:func:`chosen_recipe`) for
    every option the user did not type (``kw["given"]``; pops both); its epsilon only when none
    of --epsilon, --noise-multiplier and --no-dp was given. Returns the recipe's name (None: no
    recipe)."""
    name = chosen_recipe(kw)
    kw.pop("recipe", None)
    given = kw.pop("given", frozenset())
    if name is None:
        return None
    try:
        recipe = classifier_recipe(name)
    except DPKitError as e:
        raise click.UsageError(f"--recipe {name!r} is unknown; choose one of "
                               f"{', '.join(CLASSIFIER_RECIPES)}, list, auto or none") from e
    for key, value in recipe.items():
        if key == "epsilon" and given & {"epsilon", "noise_multiplier", "no_dp"}:
            continue
        if key not in given:
            kw[key] = value
    return name


def settings_from(kw: dict[str, Any]) -> tuple[ClassifierConfig, str, DataOptions]:
    """The training configuration, dataset name and data options from train-classifier's
    options ``kw`` (pops them; ``dpkit audit train-classifier`` shares them). With a
    ``recipe``, its values fill the options the user left out (:func:`apply_recipe`)."""
    recipe = apply_recipe(kw)
    privacy = privacy_config_from(kw)
    hidden = parse_int_list(kw.pop("hidden"), name="--hidden") or ()
    model = ModelConfig(arch=kw.pop("arch"), norm=kw.pop("norm"),
                        weight_standardization=kw.pop("weight_standardization"),
                        bias=not kw.pop("no_bias"), hidden=hidden, width=kw.pop("width"),
                        init_scale=kw.pop("init_scale"), scatter_norm=kw.pop("scatter_norm"),
                        scatter_groups=kw.pop("scatter_groups"),
                        norm_noise_multiplier=kw.pop("norm_noise_multiplier"))
    if kw["public_data"] is not None and model.norm != "public-bn":
        raise click.UsageError("--public-data is only used by --norm public-bn; add --norm "
                               "public-bn or drop --public-data")
    data = DataOptions(data_root=kw.pop("data_root"), download=kw.pop("download"),
                       image_size=kw.pop("image_size"), grayscale=kw.pop("grayscale"),
                       subset=kw.pop("subset"),
                       classes=parse_int_list(kw.pop("classes"), name="--classes"),
                       public=kw.pop("public_data"), public_size=kw.pop("public_size"),
                       split_test=kw.pop("split_test"), seed=kw["seed"])
    dataset = kw.pop("dataset")
    augmult, flip = kw.pop("augmult"), kw.pop("augment_flip")
    cfg = ClassifierConfig(model=model, privacy=privacy, optimizer=kw.pop("optimizer"),
                           lr=kw.pop("lr"), momentum=kw.pop("momentum"), epochs=kw.pop("epochs"),
                           batch_size=kw.pop("batch_size"), pgd=_pgd_from(kw),
                           adv_fraction=kw.pop("adv_fraction"),
                           noise_augment=kw.pop("noise_augment"), ema=kw.pop("ema"),
                           eval_every=kw.pop("eval_every"), augmult=augmult,
                           augment_flip=(flip_invariant(dataset) if flip is None else flip)
                           and augmult > 1,
                           recipe=recipe, seed=kw.pop("seed"))
    return cfg, dataset, data
