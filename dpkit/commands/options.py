"""Options shared by several commands, and the torch-free helpers around them.

Like every declaration module of ``dpkit/commands/``, this one imports only click and torch-free
dpkit modules (:mod:`dpkit.names`), so that ``dpkit <command> --help`` does not load torch; what
needs the library lives in :mod:`dpkit.commands.runners`.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import click
from click.core import ParameterSource

from dpkit.names import ACCOUNTANTS, DATASETS, DEVICES, GRAD_SAMPLE_MODES

__all__ = ["stack_options", "json_option", "seed_option", "device_option", "quiet_option",
           "out_option", "privacy_options", "data_options", "parse_int_list", "privacy_notes",
           "REPRODUCIBLE_NOISE_NOTICE", "refuse_options_with_resume", "fmt_eps",
           "typed_options"]

F = Callable[..., Any]


def typed_options(ctx: click.Context) -> frozenset[str]:
    """The parameters of ``ctx`` the user set (command line or environment), not defaulted:
    what a recipe may not override."""
    return frozenset(name for name in ctx.params
                     if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT))


def stack_options(opts: list[Callable[[F], F]]) -> Callable[[F], F]:
    """One decorator applying click options in the order listed (first = first in --help)."""
    def deco(f: F) -> F:
        for opt in reversed(opts):
            f = opt(f)
        return f
    return deco

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print one JSON object instead of text.")
seed_option = click.option("--seed", type=int, default=0, show_default=True,
                           help="Seed for everything random in the run.")
device_option = click.option("--device", type=click.Choice(DEVICES), default="auto",
                             show_default=True, help="Where to compute.")
quiet_option = click.option("--quiet", is_flag=True, help="No progress bars.")
out_option = click.option("--out", type=click.Path(file_okay=False), default=None,
                          help="Run directory to create (default: runs/<command>-<timestamp>).")


def privacy_options(f: F) -> F:
    """--epsilon/--noise-multiplier/--no-dp, --delta, --max-grad-norm, --accountant, ..."""
    opts = [
        click.option("--epsilon", type=float, default=None,
                     help="Target epsilon; the noise multiplier is calibrated to reach it."),
        click.option("--noise-multiplier", type=float, default=None,
                     help="Noise multiplier sigma (std of the noise / clipping norm)."),
        click.option("--no-dp", is_flag=True, help="Train without differential privacy."),
        click.option("--delta", type=float, default=1e-5, show_default=True,
                     help="Delta of the (epsilon, delta) guarantee; must be < 1/N."),
        click.option("--max-grad-norm", type=float, default=1.0, show_default=True,
                     help="Per-example clipping norm C."),
        click.option("--accountant", type=click.Choice(ACCOUNTANTS), default="prv",
                     show_default=True, help="Privacy accountant."),
        click.option("--grad-sample-mode", type=click.Choice(GRAD_SAMPLE_MODES), default="auto",
                     show_default=True,
                     help="How per-example gradients are clipped: bk = book-keeping, one "
                          "backward pass (the fastest measured: 1.0x non-private for the CNN, "
                          "1.45x for the GAN discriminator, on CPU); hooks/functorch/ghost = "
                          "Opacus's; auto = bk where every layer allows it, else hooks."),
        click.option("--physical-batch-size", type=int, default=None,
                     help="Split sampled batches into chunks of this size to save memory."),
        click.option("--secure-mode", is_flag=True,
                     help="Sampling and noise from the OS CSPRNG, hardened against "
                          "floating-point attacks; no generator state is saved, so the run is "
                          "not reproducible and --resume continues with fresh noise (epsilon "
                          "stays exact, weights differ from an uninterrupted run)."),
        click.option("--no-poisson", is_flag=True,
                     help="Shuffled fixed-size batches instead of Poisson sampling "
                          "(the printed epsilon is then NOT a valid guarantee)."),
    ]
    return stack_options(opts)(f)


def data_options(*, default_dataset: str = "digits", default_image_size: int | None = None,
                 image_size_help: str = "Resize images to this size (default: native)."
                 ) -> Callable[[F], F]:
    """--dataset, --data-root, --download, --image-size, --grayscale/--rgb, --subset, --classes,
    --split-test."""

    def deco(f: F) -> F:
        opts = [
            click.option("--dataset", default=default_dataset, show_default=True,
                         help=f"Dataset name ({', '.join(DATASETS)})."),
            click.option("--data-root", type=click.Path(), default=None,
                         help="Folder holding the dataset files (or to download into)."),
            click.option("--download", is_flag=True, help="Download a missing dataset."),
            click.option("--image-size", type=int, default=default_image_size,
                         show_default=default_image_size is not None, help=image_size_help),
            click.option("--grayscale/--rgb", default=None,
                         help="Convert to 1 or 3 channels (default: native)."),
            click.option("--subset", type=int, default=None,
                         help="Use only N private training examples (a fixed random subset)."),
            click.option("--classes", type=str, default=None,
                         help="Keep only these classes, e.g. 0,1 (relabelled in that order)."),
            click.option("--split-test", type=int, default=None,
                         help="Use the dataset's test files only: N of them (a fixed choice) "
                              "are the test split, the rest the training split (e.g. MNIST's "
                              "t10k files alone: --split-test 2000)."),
        ]
        return stack_options(opts)(f)

    return deco


def parse_int_list(text: str | None, *, name: str) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of integers",
                                 param_hint=name) from None


# Printed once per run whose noise came from a seeded generator (every run without --secure-mode).
REPRODUCIBLE_NOISE_NOTICE = (
    "note: this run's noise is reproducible from its seed: anyone holding its config.json or "
    "checkpoint.pt can remove it; publish only final.pt (weights) and generated samples, and "
    "keep the run directory private (or train with --secure-mode)")


def privacy_notes(*, noise_reproducible: bool) -> list[str]:
    """The notes a training command prints under its epsilon line."""
    return [REPRODUCIBLE_NOISE_NOTICE] if noise_reproducible else []


# Options that only change how a command runs or prints, never what is trained.
_OUTPUT_OPTIONS = ("resume", "resume_dir", "quiet", "as_json", "device")


def refuse_options_with_resume(ctx: click.Context, *, allowed: tuple[str, ...] = ()) -> None:
    """--resume continues a run with its own settings: refuse every other option the user gave
    (they would be silently ignored), naming them."""
    given = [p for p in ctx.command.params
             if p.name not in _OUTPUT_OPTIONS + allowed
             and ctx.get_parameter_source(p.name) not in (click.core.ParameterSource.DEFAULT,
                                                          None)]
    if given:
        flags = ", ".join(max(p.opts, key=len) for p in given)
        raise click.UsageError(f"--resume continues the run with its own settings; drop "
                               f"{flags} (start a new run to change them)")


def fmt_eps(x: float) -> str:
    return "inf" if not math.isfinite(x) else f"{x:.4g}"
