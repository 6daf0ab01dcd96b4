"""``dpkit evaluate RUN --metric ...``: one command for every metric of a run.

The metrics live in the library's registry (:mod:`dpkit.evaluation.registry`); this module
declares the options, and its runner (:mod:`dpkit.commands.runners.evaluate`) turns them into
each family's typed configuration, calls :func:`~dpkit.evaluation.evaluate_run` and prints the
results. The metric names shown in the help come from :mod:`dpkit.names` (no torch for --help).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

import click

from dpkit.commands.options import device_option, json_option, quiet_option, seed_option
from dpkit.names import CLASSIFIER_METRICS, GAN_METRICS

if TYPE_CHECKING:
    from dpkit.evaluation import MetricFamily

__all__ = ["evaluate", "get_metric", "metric_names"]

F = Callable[..., Any]


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
                     help="robust-accuracy: L-inf budget(s) in [0,1] pixel units, e.g. 0.05,0.1."),
        click.option("--pgd-steps", type=int, default=40, show_default=True,
                     help="robust-accuracy: PGD iterations."),
        click.option("--pgd-alpha", type=float, default=None,
                     help="robust-accuracy: step size (default 2.5*eps/steps)."),
        click.option("--restarts", type=int, default=5, show_default=True,
                     help="robust-accuracy: random restarts (worst case counts)."),
        click.option("--sigma", type=float, default=0.25, show_default=True,
                     help="certified: smoothing noise sigma (pixel units)."),
        click.option("--n0", type=int, default=100, show_default=True,
                     help="certified: samples to pick the top class."),
        click.option("--n", "n_samples", type=int, default=1000, show_default=True,
                     help="certified: samples to bound its probability."),
        click.option("--alpha", type=float, default=0.001, show_default=True,
                     help="certified: failure probability of the certificate."),
        click.option("--features", default="inception", show_default=True,
                     help="Feature extractor: 'inception' (torch-fidelity's InceptionV3 pool "
                          "features) or 'classifier:RUN_DIR' (a dpkit classifier's penultimate "
                          "layer). Numbers from different features are not comparable."),
        click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
                     help="torch-fidelity's InceptionV3 weights (.pth), for offline use."),
        click.option("--num-samples", type=int, default=10000, show_default=True,
                     help="Generated samples to evaluate."),
        click.option("--reference", type=click.Choice(["train", "test"]), default="train",
                     show_default=True, help="Split FID/KID/PRC compare against (MiFID, ct "
                                             "and authenticity always use the training set)."),
        click.option("--mifid-threshold", type=float, default=0.1, show_default=True,
                     help="MiFID's eps: memorization distances below it count (0.1 is "
                          "calibrated for Inception features)."),
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
    for opt in reversed(opts):
        f = opt(f)
    return f


@click.command("evaluate")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--metric", "metric", default="accuracy", show_default=True,
              help=f"Comma-separated metrics: {', '.join(CLASSIFIER_METRICS)} (classifier "
                   f"runs); {', '.join(GAN_METRICS)} (GAN runs).")
@_options
@seed_option
@device_option
@quiet_option
@json_option
def evaluate(run: str, metric: str, seed: int, device: str, quiet: bool, as_json: bool,
             **options: Any) -> None:
    """Evaluate a run directory; results are also written into it.

    \b
    dpkit evaluate RUN --metric accuracy,robust-accuracy --pgd-eps 0.1 --pgd-steps 40 --restarts 5
    dpkit evaluate RUN --metric robust-accuracy --pgd-eps 0.05,0.1,0.2   (a curve)
    dpkit evaluate RUN --metric certified --sigma 0.25 --n 1000 --alpha 0.001
    dpkit evaluate GAN_RUN --metric fid,kid,prc,mifid --features classifier:CLASSIFIER_RUN
    dpkit evaluate GAN_RUN --metric mifid,ct,authenticity --features classifier:CLASSIFIER_RUN
    """
    metrics = [m.strip() for m in metric.split(",") if m.strip()]
    if not metrics:
        raise click.BadParameter("give at least one metric", param_hint="--metric")
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import evaluate as runner

    runner.run(run_dir=run, metrics=metrics, seed=seed, device=device, quiet=quiet,
               as_json=as_json, options=options)
