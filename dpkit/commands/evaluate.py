"""``dpkit evaluate RUN --metric ...``: one command for every metric of a run.

The metrics live in the library's registry (:mod:`dpkit.evaluation.registry`); this module
declares the options, and its runner (:mod:`dpkit.commands.runners.evaluate`) turns them into
each family's typed configuration, calls :func:`~dpkit.evaluation.evaluate_run` and prints the
results. The metric names shown in the help come from :mod:`dpkit.names` (no torch for --help).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import click

from dpkit.commands.options import (data_options, device_option, json_option, out_option,
                                    quiet_option, seed_option, stack_options)
from dpkit.names import AUTOATTACK_VERSIONS, CLASSIFIER_METRICS, GAN_METRICS, GENERATIVE_METRICS

if TYPE_CHECKING:
    from dpkit.evaluation import MetricFamily

__all__ = ["evaluate", "get_metric", "metric_names"]

F = Callable[..., Any]
# the data options (--dataset ...) of --samples
_DATA_KEYS = ("dataset", "data_root", "download", "image_size", "grayscale", "subset", "classes",
              "split_test")


def get_metric(name: str) -> MetricFamily:
    """The registered family that computes ``name`` (imports the library's registry)."""
    from dpkit.commands.runners import evaluate as runner  # the library: not for --help

    return runner.get_metric(name)


def metric_names() -> list[str]:
    """Every registered metric (imports the library's registry)."""
    from dpkit.commands.runners import evaluate as runner  # the library: not for --help

    return runner.metric_names()


def _options(f: F) -> F:
    """Classifier metrics' options, then generative metrics' options."""
    opts = [
        click.option("--split", type=click.Choice(["test", "train"]), default="test",
                     show_default=True, help="Classifier metrics: which split to evaluate."),
        click.option("--max-examples", type=int, default=None,
                     help="Classifier metrics: only the first N examples of the split."),
        click.option("--pgd-eps", default="0.1", show_default=True,
                     help="robust-accuracy, autoattack: L-inf budget(s) in [0,1] pixel units, "
                          "e.g. 0.05,0.1."),
        click.option("--pgd-steps", type=int, default=40, show_default=True,
                     help="robust-accuracy: PGD iterations."),
        click.option("--pgd-alpha", type=float, default=None,
                     help="robust-accuracy: step size (default 2.5*eps/steps)."),
        click.option("--restarts", type=int, default=5, show_default=True,
                     help="robust-accuracy: random restarts (worst case counts)."),
        click.option("--autoattack-version", type=click.Choice(AUTOATTACK_VERSIONS),
                     default="standard", show_default=True,
                     help="autoattack: AutoAttack's version (standard = APGD-CE, APGD-T, "
                          "FAB-T, Square) at the first --pgd-eps."),
        click.option("--sigma", type=float, default=0.25, show_default=True,
                     help="certified: smoothing noise sigma (pixel units)."),
        click.option("--n0", type=int, default=100, show_default=True,
                     help="certified: samples to pick the top class."),
        click.option("--n", "n_samples", type=int, default=1000, show_default=True,
                     help="certified: samples to bound its probability."),
        click.option("--alpha", type=float, default=0.001, show_default=True,
                     help="certified: failure probability of the certificate."),
        click.option("--features", default="auto", show_default=True,
                     help="Feature extractor: 'inception' (torch-fidelity's InceptionV3 pool "
                          "features), 'classifier:RUN_DIR' (a dpkit classifier's penultimate "
                          "layer) or 'random-cnn[:SEED]' (a fixed-seed random CNN: any data, "
                          "no weights); 'auto' is Inception if its weights are on disk, else "
                          "random-cnn. Numbers from different features are not comparable."),
        click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
                     help="torch-fidelity's InceptionV3 weights (.pth), for offline use."),
        click.option("--num-samples", type=int, default=10000, show_default=True,
                     help="Generated samples to evaluate."),
        click.option("--reference", type=click.Choice(["train", "test"]), default="train",
                     show_default=True, help="Split FID/KID/PRC compare against (MiFID, ct "
                                             "and authenticity always use the training set)."),
        click.option("--mifid-threshold", default="auto", show_default=True,
                     help="MiFID's eps in (0, 1]: memorization distances below it count. auto: "
                          "0.1 on Inception features (Kaggle's), else 0.9 x the distance of the "
                          "held-out real images (test split) to the training set, on the same "
                          "features."),
        click.option("--ct-cells", type=int, default=5, show_default=True,
                     help="ct: k-means cells of the data-copying test (fewer if a cell holds "
                          "no held-out image)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Reference-feature cache (default ~/.cache/dpkit/features)."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the cache."),
        click.option("--batch-size", type=int, default=256, show_default=True,
                     help="Images per generation / feature-extraction batch."),
        click.option("--downstream-epochs", type=int, default=10, show_default=True,
                     help="downstream: epochs of the classifier trained on --num-samples "
                          "generated images (and on as many real ones, for reference)."),
    ]
    return stack_options(opts)(f)


@click.command("evaluate")
@click.argument("run", type=click.Path(exists=True, file_okay=False), required=False)
@click.option("--metric", "metric", default=None,
              help=f"Comma-separated metrics: {', '.join(CLASSIFIER_METRICS)} (classifier "
                   f"runs; default accuracy); {', '.join(GAN_METRICS)} (GAN runs); "
                   f"{', '.join(GENERATIVE_METRICS)} (--samples; default fid).")
@click.option("--samples", type=click.Path(exists=True), default=None,
              help="Instead of RUN: generated images from anywhere (a folder of PNG/JPEG/BMP "
                   "files, a 'dpkit sample' directory, or an .npz of uint8 images), compared "
                   "with --dataset's training split (memorization) and test split (held out).")
@data_options(default_dataset=None, image_size_help="--samples: the dataset's image size "
                                                    "(default: the samples' size).")
@out_option
@_options
@seed_option
@device_option
@quiet_option
@json_option
def evaluate(run: str | None, metric: str | None, samples: str | None, seed: int, device: str,
             quiet: bool, as_json: bool, **options: Any) -> None:
    """Evaluate a run directory (results are also written into it), or generated images from
    anywhere with --samples (results go to a fresh run directory, --out).

    \b
    dpkit evaluate RUN --metric accuracy,robust-accuracy --pgd-eps 0.1 --pgd-steps 40 --restarts 5
    dpkit evaluate RUN --metric robust-accuracy --pgd-eps 0.05,0.1,0.2   (a curve)
    dpkit evaluate RUN --metric certified --sigma 0.25 --n 1000 --alpha 0.001
    dpkit evaluate GAN_RUN --metric fid,kid,prc,mifid --features classifier:CLASSIFIER_RUN
    dpkit evaluate GAN_RUN --metric mifid,ct,authenticity --json
    dpkit evaluate --samples DIR_OR_NPZ --dataset fashion-mnist --metric fid,mifid,ct,authenticity
    """
    data_flags = {k: options.pop(k) for k in _DATA_KEYS}
    out = options.pop("out")
    if (run is None) == (samples is None):
        raise click.UsageError("give either a RUN directory or --samples PATH (not both)")
    if samples is None:
        given = [f"--{k.replace('_', '-')}" for k, v in data_flags.items()
                 if v not in (None, False)] + (["--out"] if out else [])
        if given:
            raise click.UsageError(f"{', '.join(given)} apply to --samples only; a run "
                                   f"directory is evaluated on its own data")
    elif data_flags["dataset"] is None:
        raise click.UsageError("--samples needs --dataset NAME: the data the generator was "
                               "trained on (its training split is what copies are looked for in)")
    default = "accuracy" if samples is None else "fid"
    metrics = [m.strip() for m in (metric or default).split(",") if m.strip()]
    if not metrics:
        raise click.BadParameter("give at least one metric", param_hint="--metric")
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import evaluate as runner

    if samples is not None:
        runner.run_samples(samples=samples, data=data_flags, out=out, metrics=metrics, seed=seed,
                           device=device, quiet=quiet, as_json=as_json, options=options)
        return
    runner.run(run_dir=run, metrics=metrics, seed=seed, device=device, quiet=quiet,
               as_json=as_json, options=options)
