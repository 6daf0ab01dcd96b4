"""A study's results.csv as one markdown table: a row per run (its grid values, ε, σ), a column
per metric. For BENCHMARKS.md.

    python benchmarks/study_table.py studies/dpsgd/results.csv [--pivot max-grad-norm]

``--pivot OPTION`` instead prints one table per metric with the option's values as columns
(e.g. accuracy by clipping norm, one row per optimizer and σ). ``--across-seeds`` prints one row
per setting (the run name without its seed) with each metric's mean ± sample std over seeds.
"""

from __future__ import annotations

import argparse
import csv
import math
import re
import statistics
from collections import defaultdict

FIXED = ("run", "model", "epsilon", "delta", "sigma", "seed", "metric", "value", "seconds")


def _num(text: str) -> str:
    try:
        x = float(text)
    except ValueError:
        return text
    if math.isinf(x):
        return "∞"
    return f"{x:.4g}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results")
    ap.add_argument("--pivot", default=None, help="a grid option whose values become columns")
    ap.add_argument("--across-seeds", action="store_true",
                    help="mean ± std over the seeds of each setting")
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.results)))
    grid = [c for c in rows[0] if c not in FIXED] if rows else []
    metrics = list(dict.fromkeys(r["metric"] for r in rows))
    if args.across_seeds:
        values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        seeds: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            setting = re.sub(r"-seed[^-]*$", "", r["run"])
            values[setting][r["metric"]].append(float(r["value"]))
            if r["seed"] not in seeds[setting]:
                seeds[setting].append(r["seed"])
        print("| setting | seeds | " + " | ".join(f"{m} (mean ± std)" for m in metrics) + " |")
        print("|" + "---|" * (len(metrics) + 2))
        for setting, by_metric in values.items():
            cells = []
            for m in metrics:
                v = by_metric.get(m, [])
                std = f" ± {statistics.stdev(v):.2g}" if len(v) > 1 else ""
                cells.append(f"{statistics.fmean(v):.4g}{std}" if v else "—")
            print(f"| {setting} | {','.join(seeds[setting])} | " + " | ".join(cells) + " |")
        return
    if args.pivot is None:
        runs: dict[str, dict[str, str]] = {}
        for r in rows:
            runs.setdefault(r["run"], {k: r[k] for k in ("epsilon", "sigma", *grid)})
            runs[r["run"]][r["metric"]] = r["value"]
        head = ["run", *grid, "ε", "σ", *metrics]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for name, v in runs.items():
            shown = [_num(v.get(m, "")) or "—" for m in metrics]
            cells = [name, *(v[g] for g in grid), _num(v["epsilon"]), _num(v["sigma"]), *shown]
            print("| " + " | ".join(cells) + " |")
        return
    others = [g for g in grid if g != args.pivot]
    values = list(dict.fromkeys(r[args.pivot] for r in rows))
    for metric in metrics:
        table: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)
        for r in rows:
            if r["metric"] == metric:
                key = (*(r[g] for g in others), _num(r["sigma"]), _num(r["epsilon"]))
                table[key][r[args.pivot]] = r["value"]
        head = [*others, "σ", "ε", *(f"{metric} at {args.pivot} = {v}" for v in values)]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for key, cells in table.items():
            shown = [_num(cells.get(v, "")) or "—" for v in values]
            print("| " + " | ".join([*key, *shown]) + " |")
        print()


if __name__ == "__main__":
    main()
