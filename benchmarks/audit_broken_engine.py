"""An audit of a deliberately broken engine: `dpkit audit ...` with DP-SGD's noise switched off.

The training still calibrates σ and claims its ε, but the noise step adds nothing (the canaries
and the clipping still run), as a silent bug would. The audit must report ε_LB above the claim.
Everything after ``--`` is a normal ``dpkit audit`` command line:

    python benchmarks/audit_broken_engine.py -- train-classifier --dataset fashion-mnist \\
        --subset 10000 --epochs 5 --batch-size 256 --lr 1.0 --momentum 0 --epsilon 1 \\
        --canaries 1000 --canary-type gradient --out benchmarks/runs/audit/fm-broken-eps1 --json

The same broken engine as the broken-engine tests (:func:`dpkit.engine.broken.noise_disabled`).
"""

from __future__ import annotations

import sys

from dpkit.cli import cli
from dpkit.engine.broken import noise_disabled


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        sys.exit(__doc__)
    with noise_disabled():
        cli.main(args=["audit", *args], prog_name="dpkit")


if __name__ == "__main__":
    main()
