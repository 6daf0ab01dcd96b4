"""``dpkit report``: one self-contained HTML page for a set of run directories."""

from __future__ import annotations

import click

from dpkit.commands.options import json_option

__all__ = ["report_command"]


@click.command("report")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), default="report.html", show_default=True,
              help="The HTML file to write (an existing one only with --force).")
@click.option("--force", is_flag=True, help="Replace an existing --out file.")
@click.option("--title", default="dpkit report", show_default=True, help="The page's title.")
@json_option
def report_command(paths: tuple[str, ...], out: str, force: bool, title: str,
                   as_json: bool) -> None:
    """One HTML page for run directories, or folders holding them (searched recursively).

    It holds a sortable summary table (epsilon, sigma, accuracy, FID, memorization, attacks,
    audits), warnings (an epsilon that is no DP guarantee, an attack that beats its run's DP
    bound, an audit violation), privacy-utility plots across runs and, per run, its config,
    epsilon per epoch, curves, samples, ROC curves and audit. Images are inlined: the file
    opens from disk and makes no network request.

    \b
    dpkit report runs/ --out report.html
    dpkit report runs/a runs/b --out ab.html --force --json
    """
    # The library (torch, matplotlib) is imported only now that the command runs.
    from dpkit.commands.runners import report as runner

    runner.run(paths=paths, out=out, force=force, title=title, as_json=as_json)
