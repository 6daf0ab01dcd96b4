"""``dpkit evaluate RUN --metric ...``: one command for every metric of a run.

Metrics live in a registry: :func:`register_metric` maps metric names to an :class:`Evaluator`,
a function ``fn(run, names, options) -> (result, text)`` that computes all of its ``names`` at
once, and to the click options the evaluator reads (added to this command). The command groups
the requested metrics by evaluator and calls each evaluator once. The classifier metrics are
registered at the bottom of this module; another family of metrics registers with one line in
``dpkit/cli.py``::

    register_metric(("fid", "kid"), my_evaluator, options=my_click_options_decorator)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import click

from dpkit.classifiers.evaluate_run import (CLASSIFIER_METRICS, ClassifierEvalConfig,
                                            ClassifierEvaluation, evaluate_classifier_run)
from dpkit.commands.options import device_option, emit, json_option, seed_option
from dpkit.engine import resolve_device
from dpkit.errors import DPKitError

__all__ = ["Evaluator", "METRICS", "register_metric", "get_metric", "metric_names", "evaluate"]

F = Callable[..., Any]
# fn(run_dir, metric names (all registered to this evaluator), every option value) -> (result, text)
EvaluatorFn = Callable[[str, tuple[str, ...], dict[str, Any]], tuple[Any, str]]


@dataclass(frozen=True)
class Evaluator:
    """A function computing one family of metrics, and the names it answers to."""

    names: tuple[str, ...]
    fn: EvaluatorFn


METRICS: dict[str, Evaluator] = {}


def metric_names() -> list[str]:
    return list(METRICS)


def get_metric(name: str) -> Evaluator:
    if name not in METRICS:
        raise DPKitError(f"unknown metric {name!r}; choose from {', '.join(metric_names())}")
    return METRICS[name]


def register_metric(names: Sequence[str], fn: EvaluatorFn, *, options: F | None = None) -> Evaluator:
    """Register ``fn`` for ``names`` and add the click options that ``options`` declares."""
    names = tuple(names)
    clash = [n for n in names if n in METRICS]
    if clash:
        raise DPKitError(f"metric(s) {clash} are already registered")
    evaluator = Evaluator(names, fn)
    for n in names:
        METRICS[n] = evaluator
    if options is not None:
        known = {p.name for p in evaluate.params}
        holder: F = lambda: None  # noqa: E731 - collects the decorator's parameters
        options(holder)
        for param in reversed(getattr(holder, "__click_params__", [])):
            if param.name not in known:
                evaluate.params.append(param)
                known.add(param.name)
    return evaluator


@click.command("evaluate")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--metric", "metric", default="accuracy", show_default=True,
              help="Comma-separated metrics, e.g. accuracy,robust-accuracy,certified "
                   "(an unknown name lists them all).")
@seed_option
@device_option
@json_option
def evaluate(run: str, metric: str, as_json: bool, **options: Any) -> None:
    """Evaluate a run directory; results are also written into it.

    \b
    dpkit evaluate RUN --metric accuracy,robust-accuracy --pgd-eps 0.1 --pgd-steps 40 --restarts 5
    dpkit evaluate RUN --metric robust-accuracy --pgd-eps 0.05,0.1,0.2   (a curve)
    dpkit evaluate RUN --metric certified --sigma 0.25 --n 1000 --alpha 0.001
    """
    names = [m.strip() for m in metric.split(",") if m.strip()]
    if not names:
        raise click.BadParameter("give at least one metric", param_hint="--metric")
    groups: dict[int, tuple[Evaluator, list[str]]] = {}
    for name in names:
        ev = get_metric(name)
        groups.setdefault(id(ev), (ev, []))[1].append(name)
    merged: dict[str, Any] = {}
    texts = []
    for ev, group in groups.values():
        result, text = ev.fn(run, tuple(group), options)
        merged |= result.to_dict() if hasattr(result, "to_dict") else dict(result)
        texts.append(text)
    emit(merged, as_json=as_json, text=lambda: "\n".join(texts))


def _float_list(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of numbers",
                                 param_hint=name) from None


def classifier_options(f: F) -> F:
    """Options of the classifier metrics (accuracy, robust-accuracy, certified)."""
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
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _classifier_text(r: ClassifierEvaluation) -> str:
    lines = [f"{r.split} split, {r.examples} examples"]
    if r.accuracy is not None:
        lines.append(f"  accuracy           {r.accuracy:.4f}")
    for c in r.robust_curve or []:
        lines.append(f"  robust accuracy    {c['robust_accuracy']:.4f} at eps={c['eps']:g} "
                     f"(PGD-{c['steps']}, {c['restarts']} restarts; clean {c['clean_accuracy']:.4f})")
    if r.certified is not None:
        c = r.certified
        lines.append(f"  certified (sigma={c['sigma']:g}, n={c['n']}, alpha={c['alpha']:g}), "
                     f"abstain {c['abstain_rate']:.3f}:")
        lines += [f"    radius {t:.2f}: {a:.4f}" for t, a in zip(c["radii"], c["certified_accuracy"])]
    return "\n".join(lines)


def classifier_evaluator(run: str, names: tuple[str, ...],
                         options: dict[str, Any]) -> tuple[ClassifierEvaluation, str]:
    """Evaluator for accuracy, robust-accuracy and certified (train-classifier runs)."""
    cfg = ClassifierEvalConfig(
        metrics=names, split=options["split"], max_examples=options["max_examples"],
        pgd_eps=_float_list(options["pgd_eps"], "--pgd-eps"), pgd_steps=options["pgd_steps"],
        pgd_alpha=options["pgd_alpha"], restarts=options["restarts"], sigma=options["sigma"],
        n0=options["n0"], n=options["n_samples"], alpha=options["alpha"], seed=options["seed"])
    result = evaluate_classifier_run(run, cfg, device=resolve_device(options["device"]))
    return result, _classifier_text(result)


register_metric(CLASSIFIER_METRICS, classifier_evaluator, options=classifier_options)
