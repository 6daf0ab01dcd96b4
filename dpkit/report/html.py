"""Runs, warnings and figures -> one self-contained HTML page (Jinja2, images as data URIs).

The page makes no network request: no external script, style sheet, font or image; the only
script is a few lines of inline JavaScript that sort the summary table.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import jinja2

from dpkit.report import plots
from dpkit.report.checks import DELTA_UNKNOWN, ReportWarning
from dpkit.report.collect import RunSummary, parse_epsilon
from dpkit.report.seeds import seed_groups
from dpkit.report.settings import flat_config, setting_effects

__all__ = ["TEMPLATE", "SECTION_IDS", "Column", "COLUMNS", "render_report", "data_uri"]

TEMPLATE = "report.html.j2"
SECTION_IDS = ("summary", "warnings", "privacy-utility", "runs")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _num(x: float | None, fmt: str = ".4g") -> str:
    if x is None:
        return "—"
    return "∞" if math.isinf(x) else format(x, fmt)


def _epsilon_text(run: RunSummary) -> str:
    if run.epsilon is None:
        return "—"
    if math.isinf(run.epsilon):
        return "∞ (non-private)"
    text = f"{run.epsilon:.3g} (δ={run.delta:.0e})" if run.delta else f"{run.epsilon:.3g}"
    return text if run.epsilon_valid else text + " INVALID"


def _attack_value(key: str) -> Callable[[RunSummary], float | None]:
    return lambda run: run.strongest_attack.value(key) if run.strongest_attack else None


@dataclass(frozen=True)
class Column:
    """A summary-table column: its header, the number it sorts by, the text it shows."""

    header: str
    value: Callable[[RunSummary], Any]
    text: Callable[[RunSummary], str] | None = None

    def cell(self, run: RunSummary) -> tuple[str, str]:
        """(shown text, sort key): numbers sort numerically, ∞ last, missing values first."""
        v = self.value(run)
        if self.text is not None:
            shown = self.text(run)
        elif isinstance(v, float):
            shown = _num(v)
        else:
            shown = "—" if v is None else str(v)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            key = "1e308" if math.isinf(v) and v > 0 else repr(float(v))
        else:
            key = "" if v is None else str(v)
        return shown, key


def _verdict(run: RunSummary) -> str | None:
    return run.audit.get("verdict") if run.audit else None


COLUMNS: tuple[Column, ...] = (
    Column("kind", lambda r: r.kind),
    Column("dataset", lambda r: r.dataset),
    Column("ε", lambda r: r.epsilon, _epsilon_text),
    Column("σ", lambda r: r.noise_multiplier if r.private else None),
    Column("epochs", lambda r: r.epochs),
    Column("steps", lambda r: r.steps),
    Column("test acc.", lambda r: r.test_accuracy),
    Column("FID", lambda r: r.evaluation("fid")),
    Column("downstream acc.", lambda r: r.evaluation("downstream_accuracy")),
    Column("MiFID d", lambda r: r.evaluation("memorization_distance")),
    Column("C_T", lambda r: r.evaluation("ct")),
    Column("authenticity", lambda r: r.evaluation("authenticity")),
    Column("attack AUC", _attack_value("auc")),
    Column("TPR@0.1%FPR", _attack_value("tpr_at_fpr_0.001")),
    Column("ε lower bound", _attack_value("epsilon_lower_bound")),
    Column("audit", _verdict),
)

_ALWAYS = ("kind", "ε")  # columns shown even when empty

# privacy-utility figures: (title, [(y label, metric)], log y)
_PRIVACY_UTILITY = (
    ("Classifiers: test accuracy vs epsilon", [("test accuracy", lambda r: r.test_accuracy)],
     False),
    ("GANs: downstream accuracy and FID vs epsilon",
     [("downstream accuracy", lambda r: r.evaluation("downstream_accuracy")),
      ("FID", lambda r: r.evaluation("fid"))], False),
    ("Memorization vs epsilon (MiFID distance d: ~0 copies; C_T << 0 copies)",
     [("MiFID memorization distance d", lambda r: r.evaluation("memorization_distance")),
      ("C_T", lambda r: r.evaluation("ct"))], False),
    ("Membership attacks vs epsilon (strongest attack per run)",
     [("attack AUC", _attack_value("auc")),
      ("TPR at 0.1% FPR", _attack_value("tpr_at_fpr_0.001")),
      ("empirical epsilon lower bound", _attack_value("epsilon_lower_bound"))], False),
)


def _flat(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The configuration table of a run: (dotted key, shown value), without format_version."""
    return [(key, "—" if value is None else str(value))
            for key, value in flat_config(config).items()
            if key.rsplit(".", 1)[-1] != "format_version"]


def _image(path: Path) -> str:
    return data_uri(path.read_bytes())


def _run_view(index: int, name: str, run: RunSummary,
              warnings: Sequence[ReportWarning]) -> dict[str, Any]:
    figures: list[tuple[str, str]] = []
    eps_png = plots.epsilon_png(run)
    if eps_png:
        figures.append(("epsilon spent vs epoch", data_uri(eps_png)))
    if "curves" in run.images:
        figures.append(("training curves (curves.png)", _image(run.images["curves"])))
    elif (curves := plots.training_png(run)) is not None:
        figures.append(("training curves (metrics.jsonl)", data_uri(curves)))
    titles = {"samples": "last sample grid", "memorization": "memorization gallery (closest "
              "generated samples above their nearest training images)",
              "audit_precision": "audit: precision of the canary guesses"}
    for key, title in titles.items():
        if key in run.images:
            path = run.images[key]
            figures.append((f"{title} ({path.name})", _image(path)))
    delta = run.delta if run.delta is not None else DELTA_UNKNOWN
    attacks = []
    for attack in run.attacks:
        images = []
        if (roc := plots.roc_png(attack, epsilon=run.epsilon, delta=delta)) is not None:
            images.append(("ROC (log-log) with the DP bound", data_uri(roc)))
        elif "roc" in attack.images:
            images.append(("ROC (roc.png)", _image(attack.images["roc"])))
        if "reconstructions" in attack.images:
            images.append(("originals above reconstructions",
                           _image(attack.images["reconstructions"])))
        shown = ("auc", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01", "epsilon_lower_bound",
                 "claimed_epsilon", "mean_ssim", "num_good", "num_reconstructed")
        numbers = [(k, _num(attack.value(k))) for k in shown if attack.value(k) is not None]
        attacks.append({"name": attack.name, "kind": attack.kind, "method": attack.method,
                        "numbers": numbers, "images": images})
    audit = None
    if run.audit:
        audit = {"verdict": run.audit.get("verdict"),
                 "claimed": _num(parse_epsilon(run.audit.get("claimed_epsilon"))),
                 "bounds": [(k, _num(v)) for k, v in
                            (run.audit.get("epsilon_lower_bound") or {}).items()],
                 "canaries": run.audit.get("canaries"),
                 "canary_type": run.audit.get("canary_type")}
    return {"id": f"run-{index}", "name": name, "kind": run.kind, "path": str(run.path),
            "epsilon": _epsilon_text(run), "config": _flat(run.training_config),
            "figures": figures, "attacks": attacks, "audit": audit,
            "warnings": [w.message for w in warnings if w.run == name]}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("dpkit.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


def render_report(runs: Sequence[tuple[str, RunSummary]],
                  warnings: Sequence[ReportWarning], *, title: str) -> str:
    """The report page for ``runs`` (name, summary) and their ``warnings``."""
    cells = [[c.cell(run) for c in COLUMNS] for _, run in runs]
    # a column no run has a value for is left out (a classifier study has no FID column)
    shown = [k for k, c in enumerate(COLUMNS)
             if c.header in _ALWAYS or any(row[k][0] != "—" for row in cells)]
    rows = [{"name": name, "id": f"run-{i}", "cells": [cells[i][k] for k in shown],
             "warn": any(w.run == name for w in warnings)}
            for i, (name, run) in enumerate(runs)]
    curves = []
    for fig_title, metrics, log_y in _PRIVACY_UTILITY:
        png = plots.privacy_utility_png(runs, metrics, title=fig_title, log_y=log_y)
        if png is not None:
            curves.append((fig_title, data_uri(png)))
    if (png := plots.epsilon_curves_png(runs)) is not None:
        curves.append(("Epsilon spent vs epoch, one line per noise multiplier and sample rate",
                       data_uri(png)))
    settings = [(f"{e.metric} vs {e.label} ({e.setting}), a line per value of the other "
                 f"settings the runs vary", data_uri(plots.setting_png(e)))
                for e in setting_effects([run for _, run in runs])]
    seeds = [{"kind": g.kind, "label": g.label, "metric": g.metric, "n": len(g.values),
              "seeds": ", ".join(map(str, g.seeds)), "mean": _num(g.mean),
              "std": _num(g.std, ".2g"), "numbers": ", ".join(_num(v) for v in g.values)}
             for g in seed_groups([run for _, run in runs])]
    return _environment().get_template(TEMPLATE).render(
        title=title, headers=[COLUMNS[k].header for k in shown], rows=rows,
        warnings=[w.to_dict() for w in warnings], curves=curves, settings=settings, seeds=seeds,
        runs=[_run_view(i, name, run, warnings) for i, (name, run) in enumerate(runs)])
