"""The report's figures: matplotlib (Agg) rendered to PNG bytes in memory.

Privacy–utility plots put ε on a log x-axis; runs without a finite ε (non-private training)
cannot sit on it and are drawn as horizontal reference lines instead.
"""

from __future__ import annotations

import io
import math
from typing import Callable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402
import numpy as np  # noqa: E402

from dpkit.attacks.scores import MembershipScores, roc_curve  # noqa: E402
from dpkit.report.collect import AttackSummary, RunSummary  # noqa: E402
from dpkit.report.settings import SettingEffect  # noqa: E402

__all__ = ["figure_png", "privacy_utility_png", "roc_png", "epsilon_png", "training_png",
           "setting_png", "epsilon_curves_png"]

Metric = Callable[[RunSummary], "float | None"]
_DPI = 80


def figure_png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes (no metadata); the figure is closed."""
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def privacy_utility_png(runs: Sequence[tuple[str, RunSummary]],
                        metrics: Sequence[tuple[str, Metric]], *, title: str,
                        log_y: bool = False) -> bytes | None:
    """One panel per metric: value vs ε for private runs (points labelled by run), non-private
    runs as dashed horizontal lines. None when no run has any of the metrics."""
    panels = []
    annotate = len(runs) <= 6  # beyond that the names hide the points
    for label, get in metrics:
        points = [(name, run.epsilon, get(run)) for name, run in runs]
        points = [(n, e, v) for n, e, v in points if v is not None and e is not None
                  and math.isfinite(v)]
        if points:
            panels.append((label, points))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), squeeze=False)
    for ax, (label, points) in zip(axes[0], panels):
        private = sorted((e, v, n) for n, e, v in points if math.isfinite(e))
        if private:
            ax.plot([p[0] for p in private], [p[1] for p in private], "o", color="C0",
                    label="DP runs")
            for e, v, n in private if annotate else ():
                ax.annotate(n, (e, v), fontsize=7, xytext=(3, 3), textcoords="offset points")
            ax.set_xscale("log")
            ax.set_xticks(sorted({p[0] for p in private}))  # the ε of the runs, as plain numbers
            ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.2g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        for k, (n, _, v) in enumerate(p for p in points if not math.isfinite(p[1])):
            ax.axhline(v, ls="--", color=f"C{(k + 1) % 10}", label=f"non-private: {n}")
        ax.set_xlabel("epsilon (log scale)")
        ax.set_ylabel(label)
        if log_y and all(v > 0 for _, _, v in points):
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return figure_png(fig)


def roc_png(attack: AttackSummary, *, epsilon: float | None, delta: float) -> bytes | None:
    """Log-log ROC of each variant of a membership attack, with the DP bound
    TPR = min(1, e^ε·FPR + δ) at the run's ε (none for ε = ∞). None without scores."""
    if not attack.scores:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 4.2))
    floor = 1.0
    for variant, (members, nonmembers) in attack.scores.items():
        curve = roc_curve(MembershipScores(variant, members, nonmembers))
        floor = min(floor, 0.5 / max(members.size, nonmembers.size))
        ax.plot(np.maximum(curve.fpr, floor / 10), np.maximum(curve.tpr, floor / 10),
                label=variant, lw=1.4)
    fpr = np.logspace(math.log10(floor / 10), 0, 200)
    ax.plot(fpr, fpr, ":", color="gray", label="chance")
    if epsilon is not None and math.isfinite(epsilon):
        ax.plot(fpr, np.minimum(1.0, math.exp(epsilon) * fpr + delta), "--", color="red",
                label=f"DP bound (eps={epsilon:.3g}, delta={delta:.2g})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(floor / 10, 1)
    ax.set_ylim(floor / 10, 1.05)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(attack.name, fontsize=8)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    return figure_png(fig)


def epsilon_png(run: RunSummary) -> bytes | None:
    """ε spent after each epoch (epochs whose ε was not computed are skipped)."""
    points = [(e, v) for e, v in run.epsilon_per_epoch() if math.isfinite(v)]
    if not points:
        return None
    fig, ax = plt.subplots(figsize=(4.6, 3.2))
    ax.plot([p[0] for p in points], [p[1] for p in points], "o-", ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel("epsilon spent")
    ax.grid(alpha=0.3)
    return figure_png(fig)


def training_png(run: RunSummary) -> bytes | None:
    """The numeric per-epoch values of metrics.jsonl (not ε, steps, time), one panel each: for
    runs without curves.png."""
    skip = {"epoch", "epsilon", "steps", "seconds", "d_steps", "g_steps"}
    keys = sorted({k for m in run.metrics for k, v in m.items()
                   if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)})
    if not keys:
        return None
    cols = min(3, len(keys))
    rows = math.ceil(len(keys) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        pts = [(m["epoch"], m[key]) for m in run.metrics if isinstance(m.get(key), (int, float))
               and isinstance(m.get("epoch"), int)]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", ms=3)
        ax.set_title(key, fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis("off")
    return figure_png(fig)


def setting_png(effect: SettingEffect) -> bytes:
    """The main metric against one varied setting, a line per series (the other settings)."""
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    categories = sorted({str(x) for _, pts in effect.series for x, _ in pts})
    for k, (label, points) in enumerate(effect.series):
        xs = [x if effect.numeric else categories.index(str(x)) for x, _ in points]
        ax.plot(xs, [v for _, v in points], "o-", ms=4, color=f"C{k % 10}", label=label)
    if effect.log_x:
        ax.set_xscale("log")
    if not effect.numeric:
        ax.set_xticks(range(len(categories)), categories)
    elif effect.log_x:
        ticks = sorted({x for _, pts in effect.series for x, _ in pts})
        ax.set_xticks(ticks)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(effect.label + (" (log scale)" if effect.log_x else ""))
    ax.set_ylabel(effect.metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="best", ncol=1 if len(effect.series) <= 6 else 2)
    ax.set_title(f"{effect.metric} vs {effect.label}", fontsize=9)
    return figure_png(fig)


def epsilon_curves_png(runs: Sequence[tuple[str, RunSummary]]) -> bytes | None:
    """ε spent vs epoch for every private run, one line per distinct (σ, sample rate, kind):
    runs that share them spend ε identically, so they are drawn once. None when no run
    recorded ε per epoch."""
    curves: dict[tuple[str, float | None, float | None], list[tuple[int, float]]] = {}
    for _, run in runs:
        points = [(e, v) for e, v in run.epsilon_per_epoch() if math.isfinite(v)]
        if points:
            key = (run.kind, run.noise_multiplier, run.sample_rate)
            if len(points) > len(curves.get(key, [])):
                curves[key] = points
    if not curves:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for k, ((kind, sigma, q), points) in enumerate(sorted(curves.items(), key=str)):
        label = f"{kind.removeprefix('train-')}, sigma={sigma:.3g}" if sigma else kind
        if q:
            label += f", q={q:.3g}"
        ax.plot([p[0] for p in points], [p[1] for p in points], "o-", ms=3, color=f"C{k % 10}",
                label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("epsilon spent")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6)
    ax.set_title("epsilon spent vs epoch (accountant)", fontsize=9)
    return figure_png(fig)
