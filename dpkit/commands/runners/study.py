"""``dpkit study``, run: the spec from the options or the TOML file, each planned run's
configurations from the training, evaluation and attack commands' own options (their click
parameters parse the values, their runners build the configurations), then
:func:`~dpkit.study.run_study`.

Everything is validated before anything is created: a typo'd key, an unknown option, a value a
command refuses or a configuration that does not validate ends the command with one line.
"""

from __future__ import annotations

import difflib
import math
from typing import Any

import click

from dpkit.attacks.runs import MembershipOptions
from dpkit.commands.attack import membership as membership_command
from dpkit.commands.evaluate import evaluate as evaluate_command
from dpkit.commands.flags import to_cli
from dpkit.commands.options import typed_options
from dpkit.commands.runners import emit
from dpkit.commands.runners.evaluate import configs_from as evaluation_configs
from dpkit.commands.runners.train_classifier import settings_from
from dpkit.commands.runners.train_gan import config_from as gan_config
from dpkit.commands.train_classifier import train_classifier_command
from dpkit.commands.train_gan import train_gan_command
from dpkit.engine import resolve_device
from dpkit.errors import DPKitError
from dpkit.evaluation import get as metric_family
from dpkit.study import (MODELS, PRIVACY_KEYS, PlannedRun, RunOutcome, StudyRun, StudySpec, load_spec,
                         option_key, parse_list, plan_runs, run_study)

__all__ = ["run", "build_runs", "spec_from_options"]

COMMANDS: dict[str, click.Command] = {"classifier": train_classifier_command,
                                      "gan": train_gan_command, "evaluate": evaluate_command,
                                      "attack": membership_command}
# options the study itself sets (per run, or for the whole study): refused in its tables
_STUDY_SET = ("out", "resume", "seed", "device", "quiet", "json", "help")
RESERVED: dict[str, tuple[str, ...]] = {
    "classifier": _STUDY_SET + ("dataset", "epsilon", "noise-multiplier", "no-dp"),
    "gan": _STUDY_SET + ("dataset", "epsilon", "noise-multiplier", "no-dp"),
    "evaluate": _STUDY_SET + ("metric", "samples", "dataset", "data-root", "download",
                              "image-size", "grayscale", "rgb", "subset", "classes",
                              "split-test"),
    "attack": _STUDY_SET + ("method",),
}
_WHERE = {"classifier": "train-classifier", "gan": "train-gan", "evaluate": "evaluate",
          "attack": "attack membership"}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _index(table: str) -> dict[str, tuple[click.Option, str]]:
    """A command's options by :func:`option_key` (both sides of a --x/--no-x switch), minus
    those the study sets itself."""
    index: dict[str, tuple[click.Option, str]] = {}
    for p in COMMANDS[table].params:
        if isinstance(p, click.Option):
            for flag in (*p.opts, *p.secondary_opts):
                if flag.startswith("--") and option_key(flag) not in RESERVED[table]:
                    index[option_key(flag)] = (p, flag)
    return index


def model_options() -> dict[str, frozenset[str]]:
    """Per model kind, the training options a study may set or vary."""
    return {m: frozenset(_index(m)) for m in MODELS}


def _argv(table: str, options: dict[str, str]) -> list[str]:
    """The command-line arguments of ``options`` for ``table``'s command."""
    index, argv = _index(table), []
    for key, text in options.items():
        if key in RESERVED[table]:
            raise DPKitError(f"[{table}] {key} is set by the study itself (dataset, epsilons, "
                             f"seeds, metrics, attacks, --out); remove it from [{table}]")
        if key not in index:
            close = difflib.get_close_matches(key, list(index), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise DPKitError(f"[{table}] {key!r} is not an option of 'dpkit {_WHERE[table]}'; "
                             f"{hint}see 'dpkit {_WHERE[table]} --help'")
        param, flag = index[key]
        if not param.is_flag:
            argv += [flag, text]
            continue
        value = text.strip().lower()
        if value not in _TRUE + _FALSE:
            raise DPKitError(f"[{table}] {key}={text!r} is a switch; give true or false")
        if value in _TRUE:
            argv.append(flag)
        elif param.secondary_opts:  # --x/--no-x: false picks the other side
            other = [f for f in (*param.opts, *param.secondary_opts) if f != flag]
            argv.append(other[0])
    return argv


def _parse(table: str, argv: list[str]) -> dict[str, Any]:
    """``argv`` parsed by ``table``'s own command (its types, choices and defaults)."""
    command = COMMANDS[table]
    try:
        ctx = command.make_context(_WHERE[table], argv)
    except click.UsageError as exc:
        raise DPKitError(f"[{table}] {exc.format_message()}") from None
    if table == "classifier":  # what a --recipe may fill in
        given = typed_options(ctx)
        params = dict(ctx.params) | {"given": given}
        if "recipe" not in given:  # train-classifier's "auto" picks by epsilon: along a study's
            params["recipe"] = "none"  # epsilon axis it would change the model; a typed one stays
        return params
    return dict(ctx.params)


def spec_from_options(kw: dict[str, Any]) -> StudySpec:
    """The spec from ``dpkit study``'s options (``--set`` goes into the tables of the model
    kinds that have the option), or from ``--spec FILE``."""
    if kw["spec_file"] is not None:
        return load_spec(kw["spec_file"])
    models = parse_list(kw["models"], name="models")
    have = model_options()
    tables: dict[str, dict[str, str]] = {t: {} for t in COMMANDS}
    for table, items in (("model", kw["sets"]), ("evaluate", kw["eval_sets"]),
                         ("attack", kw["attack_sets"])):
        for item in items:
            key, sep, value = item.partition("=")
            if not sep:
                raise DPKitError(f"{item!r} must be OPTION=VALUE, e.g. epochs=5")
            if table != "model":
                tables[table][option_key(key)] = value.strip()
                continue
            kind, dot, name = key.partition(".")
            if dot and kind in MODELS and option_key(name) in PRIVACY_KEYS:
                tables[kind][option_key(name)] = value.strip()  # the kind's own privacy axis
                continue
            targets = [kind] if dot and kind in MODELS else [m for m in models
                                                             if option_key(key) in have[m]]
            name = option_key(name if dot and kind in MODELS else key)
            if not targets:
                raise DPKitError(f"set {key!r}: not an option of "
                                 f"{' or '.join(f'dpkit train-{m}' for m in models)}; check "
                                 f"its spelling (their --help lists them)")
            for m in targets:
                tables[m][name] = value.strip()
    grid = {}
    for item in kw["grid"]:
        key, sep, values = item.partition("=")
        if not sep:
            raise DPKitError(f"grid {item!r} must be OPTION=V1,V2, e.g. max-grad-norm=0.1,1")
        grid[key] = values
    raw = {"dataset": kw["dataset"], "epsilons": kw["epsilons"] or [],
           "noise_multipliers": kw["noise_multipliers"] or [], "models": kw["models"],
           "metrics": kw["metrics"], "attacks": kw["attacks"], "seeds": kw["seeds"],
           "grid": grid, **{t: tables[t] for t in ("classifier", "gan", "evaluate", "attack")
                            if tables[t]}}
    return StudySpec.from_dict(raw, source="study")


def _study_run(spec: StudySpec, plan: PlannedRun) -> StudyRun:
    """One run's training, evaluation and attack configurations."""
    if plan.noise_multiplier is not None:
        privacy = ["--noise-multiplier", repr(plan.noise_multiplier)]
    else:
        privacy = ["--epsilon", repr(plan.epsilon)] if math.isfinite(plan.epsilon) else ["--no-dp"]
    argv = (["--dataset", spec.dataset, "--seed", str(plan.seed)] + privacy
            + _argv(plan.model, dict(plan.options)))
    kw = _parse(plan.model, argv)
    try:
        if plan.model == "classifier":
            cfg, dataset, data = settings_from(kw)
            run = StudyRun(plan=plan, config=cfg, data=data, dataset=dataset)
        else:
            run = StudyRun(plan=plan, config=gan_config(kw), dataset=spec.dataset)
    except click.UsageError as exc:
        raise DPKitError(f"[{plan.model}] {exc.format_message()}") from None
    make = evaluation_configs(_parse("evaluate", _argv("evaluate", spec.table("evaluate"))),
                              plan.seed)
    families: dict[str, list[str]] = {}
    for metric in plan.metrics:
        families.setdefault(metric_family(metric).family, []).append(metric)
    try:
        evaluations = tuple((f, tuple(ms), make[f](tuple(ms))) for f, ms in families.items())
    except click.UsageError as exc:
        raise DPKitError(f"[evaluate] {exc.format_message()}") from None
    attack_argv = _argv("attack", spec.table("attack"))
    attacks = []
    for method in plan.attacks:
        o = _parse("attack", [".", "--method", method, "--seed", str(plan.seed)] + attack_argv)
        attacks.append(MembershipOptions.build(
            method=method, max_examples=o["max_examples"], shadow_models=o["shadow_models"],
            fixed_variance=o["fixed_variance"], offline=o["offline"],
            num_samples=o["num_samples"], latent_steps=o["latent_steps"], seed=plan.seed))
    return StudyRun(plan=run.plan, config=run.config, data=run.data, dataset=run.dataset,
                    evaluations=evaluations, attacks=tuple(attacks))


def build_runs(spec: StudySpec) -> list[StudyRun]:
    """Every run of ``spec`` with its configurations (refuses a bad option before any run)."""
    return [_study_run(spec, plan) for plan in plan_runs(spec, model_options())]


def run(kw: dict[str, Any]) -> int:
    """Validate the whole study, run it, print where its results are; 1 when a run failed."""
    spec = spec_from_options(kw)
    runs = build_runs(spec)
    as_json, quiet = kw["as_json"], kw["quiet"]

    def progress(k: int, n: int, outcome: RunOutcome) -> None:
        if not (quiet or as_json):
            click.echo(f"[{k}/{n}] {to_cli(outcome.summary())}", err=True)

    result = run_study(spec, runs, kw["out"], jobs=kw["jobs"],
                       device=str(resolve_device(kw["device"])), on_progress=progress)
    emit(result, as_json=as_json, text=lambda: to_cli(result.summary()))
    return 1 if result.failed else 0
