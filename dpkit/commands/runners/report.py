"""``dpkit report``, run: build the page and print where it went."""

from __future__ import annotations

from dpkit.commands.runners import emit
from dpkit.report import build_report

__all__ = ["run"]


def run(*, paths: tuple[str, ...], out: str, force: bool, title: str, as_json: bool) -> None:
    result = build_report(paths, out, force=force, title=title)
    emit(result.to_dict(), as_json=as_json, text=result.summary)
