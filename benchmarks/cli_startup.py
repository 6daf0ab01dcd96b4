"""How long the command line takes to answer ``--help`` (import cost), best of N runs.

    python benchmarks/cli_startup.py --repeats 5

Run it against another checkout with ``PYTHONPATH=OTHER_CHECKOUT python .../cli_startup.py`` from a
directory outside both checkouts (``python -m`` puts the working directory first on sys.path).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

CASES = (["--help"], ["train-classifier", "--help"], ["evaluate", "--help"],
         ["attack", "reconstruct", "--help"])


def best_of(args: list[str], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "dpkit", *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print("| command | seconds (best of %d) |" % args.repeats)
    print("|---|---|")
    for case in CASES:
        print(f"| dpkit {' '.join(case)} | {best_of(case, args.repeats):.2f} |")


if __name__ == "__main__":
    main()
