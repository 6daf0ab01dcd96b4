"""Library field names -> command-line flags: the one table the CLI translates errors with.

The library's errors name the Python field or argument they refuse, as ``field=value``
(``"lr=-1.0 must be > 0"``), so that they make sense to a Python user. :func:`to_cli` rewrites
those into the flags a command-line user typed (``"--lr -1.0 must be > 0"``).

Only ``name=`` with nothing between the name and ``=`` counts: ``"1/N = 1.7e-05"`` and names that
are not in the table (``N=60000``, ``q=0.01``) are left alone. A name preceded by a letter, digit,
``_``, ``.`` or ``-`` is not matched either, so ``latent.lr=`` is not ``lr=``.
"""

from __future__ import annotations

import re

__all__ = ["FIELD_FLAGS", "to_cli"]

# field (as the library's messages spell it) -> flag. A key ``field=True`` / ``field=False``
# stands for the whole boolean setting, which a switch spells without a value. Dotted keys
# (``pgd.eps``) are fields of a nested config whose bare name means another flag elsewhere.
FIELD_FLAGS: dict[str, str] = {
    # privacy (train-classifier, train-gan, privacy; noise_multiplier also attack reconstruct)
    "target_epsilon": "--epsilon",
    "noise_multiplier": "--noise-multiplier",
    "enabled=False": "--no-dp",
    "delta": "--delta",
    "max_grad_norm": "--max-grad-norm",
    "accountant": "--accountant",
    "grad_sample_mode": "--grad-sample-mode",
    "max_physical_batch_size": "--physical-batch-size",
    "secure_mode=True": "--secure-mode",
    "poisson_sampling=False": "--no-poisson",
    "dataset_size": "--dataset-size",
    # training runs
    "epochs": "--epochs",
    "batch_size": "--batch-size",
    "lr": "--lr",
    "momentum": "--momentum",
    "optimizer": "--optimizer",
    "adv_fraction": "--adv-fraction",
    "noise_augment": "--noise-augment",
    "ema": "--ema",
    "save_every": "--save-every",
    # report
    "force=True": "--force",
    # audit
    "canaries": "--canaries",
    "canary_type": "--canary-type",
    "eval_every": "--eval-every",
    "pgd.eps": "--pgd-eps",
    "pgd.steps": "--pgd-steps",
    "pgd.alpha": "--pgd-alpha",
    "latent_dim": "--latent-dim",
    "g_width": "--g-width",
    "d_width": "--d-width",
    "lr_d": "--lr-d",
    "lr_g": "--lr-g",
    "betas": "--betas",
    "d_steps": "--d-steps",
    "d_steps_schedule": "--d-steps-schedule",
    "d_steps_threshold": "--d-steps-threshold",
    "d_steps_grace": "--d-steps-grace",
    "d_steps_beta": "--d-steps-beta",
    "conditioning": "--conditioning",
    "conditional=True": "--conditional",
    "conditional=False": "--no-conditional",
    "clip_fake=False": "--no-clip-fake",
    "out": "--out",
    "resume": "--resume",
    "device": "--device",
    # model
    "arch": "--model",
    "norm": "--norm",
    "weight_standardization=True": "--weight-standardization",
    "hidden": "--hidden",
    "bias=False": "--no-bias",
    "width": "--width",
    "init_scale": "--init-scale",
    "scatter_norm": "--scatter-norm",
    "scatter_groups": "--scatter-groups",
    "norm_noise_multiplier": "--norm-noise-multiplier",
    "augmult": "--augmult",
    "augment_flip=True": "--augment-flip",
    "recipe": "--recipe",
    # data
    "dataset": "--dataset",
    "data_root": "--data-root",
    "download=True": "--download",
    "image_size": "--image-size",
    "grayscale=True": "--grayscale",
    "grayscale=False": "--rgb",
    "subset": "--subset",
    "classes": "--classes",
    "split_test": "--split-test",
    "public": "--public-data",
    "public_size": "--public-size",
    # evaluate
    "metrics": "--metric",
    "split": "--split",
    "max_examples": "--max-examples",
    "pgd_eps": "--pgd-eps",
    "pgd_steps": "--pgd-steps",
    "pgd_alpha": "--pgd-alpha",
    "restarts": "--restarts",
    "sigma": "--sigma",
    "n0": "--n0",
    "n": "--n",
    "label": "--class",
    "alpha": "--alpha",
    "features": "--features",
    "inception_weights": "--inception-weights",
    "num_samples": "--num-samples",
    "downstream.epochs": "--downstream-epochs",
    "reference": "--reference",
    "mifid_threshold": "--mifid-threshold",
    "ct_cells": "--ct-cells",
    # sample
    "fmt": "--format",
    # attack membership / reconstruct
    "method": "--method",
    "shadow_models": "--shadow-models",
    "max_per_side": "--max-examples",
    "latent.steps": "--latent-steps",
    "candidates": "--candidates",
    "candidates_per_class": "--candidates",
    "iterations": "--iterations",
    "tv_weight": "--tv-weight",
    "grid_size": "--grid-size",
}

_SWITCHES = {k: v for k, v in FIELD_FLAGS.items() if "=" in k}
_FIELDS = {k: v for k, v in FIELD_FLAGS.items() if "=" not in k}


def _alternatives(names: dict[str, str]) -> str:
    return "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))


_PATTERN = re.compile(
    r"(?<![\w.\-])(?:"
    rf"(?P<switch>{_alternatives(_SWITCHES)})(?![\w.])"
    rf"|(?P<field>{_alternatives(_FIELDS)})="
    r"""(?P<value>'[^']*'|"[^"]*"|\([^()]*\)|\[[^\[\]]*\])?"""
    r")")


def _cli_value(value: str) -> str:
    """``'holdout'`` -> ``holdout``; ``(256, 256)`` / ``[0, 1]`` -> ``256,256`` / ``0,1``."""
    if value[0] in "'\"":
        return value[1:-1]
    items = [item.strip().strip("'\"") for item in value[1:-1].split(",")]
    return ",".join(item for item in items if item) or "''"


def _replace(match: re.Match[str]) -> str:
    if match["switch"] is not None:
        return _SWITCHES[match["switch"]]
    flag = _FIELDS[match["field"]]
    value = match["value"]
    return f"{flag} {_cli_value(value)}" if value else f"{flag} "


def to_cli(message: str) -> str:
    """``message`` with every ``field=value`` of :data:`FIELD_FLAGS` written as ``--flag value``.

    ``"lr=-1.0 must be > 0"`` -> ``"--lr -1.0 must be > 0"``; ``"add public='holdout'"`` ->
    ``"add --public-data holdout"``; ``"bias=False"`` -> ``"--no-bias"``; other text is kept.
    """
    return _PATTERN.sub(_replace, message)
