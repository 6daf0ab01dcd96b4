"""One self-contained HTML page for a set of run directories (``dpkit report``).

``collect`` reads the runs into frozen summaries, ``checks`` finds what to warn about, ``plots``
draws the figures (matplotlib, PNG bytes) and ``html`` renders the page (Jinja2, images inlined
as data URIs: the page opens from disk and makes no network request).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from dpkit.errors import DPKitError
from dpkit.report.checks import ReportWarning, roc_bound_excess, run_warnings
from dpkit.report.collect import (REPORT_KINDS, AttackSummary, RunSummary, collect_run,
                                  collect_runs, find_runs)
from dpkit.report.html import SECTION_IDS, render_report

__all__ = ["REPORT_KINDS", "SECTION_IDS", "AttackSummary", "ReportResult", "ReportWarning",
           "RunSummary", "build_report", "collect_run", "collect_runs", "find_runs",
           "roc_bound_excess", "run_warnings", "run_names"]


@dataclass(frozen=True)
class ReportResult:
    """The report written: its path, the runs it shows (by name) and its warnings."""

    path: Path
    runs: tuple[str, ...]
    warnings: tuple[ReportWarning, ...]
    size_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return {"report": str(self.path), "runs": len(self.runs),
                "warnings": [w.to_dict() for w in self.warnings]}

    def summary(self) -> str:
        runs, warned = len(self.runs), len(self.warnings)
        lines = [f"report: {self.path} ({runs} run{'s' * (runs != 1)}, {warned} "
                 f"warning{'s' * (warned != 1)}, {self.size_bytes / 1024:.0f} KiB)"]
        lines += [f"  {name}" for name in self.runs]
        lines += [f"warning: {w.run}: {w.message}" for w in self.warnings]
        return "\n".join(lines)


def run_names(paths: Sequence[Path]) -> list[str]:
    """Short unique names: each path relative to the folder holding all of them."""
    if len(paths) == 1:
        return [paths[0].resolve().name]
    common = Path(os.path.commonpath([p.resolve().parent for p in paths]))
    return [str(p.resolve().relative_to(common)) for p in paths]


def build_report(paths: Sequence[str | Path], out: str | Path, *, force: bool = False,
                 title: str = "dpkit report") -> ReportResult:
    """Find the runs at or under ``paths`` and write one HTML page about them to ``out``.

    Nothing is written when a path is bad (missing, no run, a corrupt config.json) or ``out``
    exists and ``force`` is False.
    """
    out = Path(out)
    if out.exists() and (not force or out.is_dir()):
        raise DPKitError(f"out={out} already exists; choose another file, or pass force=True to "
                         f"replace it" if not out.is_dir() else
                         f"out={out} is a directory; give the report's file name")
    if not paths:
        raise DPKitError("no run directory given; pass run directories or folders holding them")
    found = find_runs(list(paths))
    runs = list(zip(run_names(found), (collect_run(p) for p in found)))
    warnings = tuple(w for name, run in runs for w in run_warnings(name, run))
    page = render_report(runs, warnings, title=title)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return ReportResult(path=out, runs=tuple(name for name, _ in runs), warnings=warnings,
                        size_bytes=len(page.encode("utf-8")))
