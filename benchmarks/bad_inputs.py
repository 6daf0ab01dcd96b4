"""Feed the command line every bad input of the catalogue and print what it answers, as a markdown
table (input | exit | message). The catalogue is ``CASES`` in ``tests/test_bad_inputs.py``, which
also checks each answer (one line, exit 2, nothing left behind).

    python benchmarks/bad_inputs.py > bad_inputs.md
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_bad_inputs import CASES, build_tiny_runs, invoke, places  # noqa: E402


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        runs = build_tiny_runs(Path(root) / "runs")
        print("| input | exit | message |")
        print("|---|---|---|")
        for k, case in enumerate(CASES):
            tmp = Path(root) / f"case-{k}"
            tmp.mkdir()
            where = places(runs, tmp)
            cwd = os.getcwd()
            os.chdir(tmp)  # default run directories land in the case's own directory
            try:
                result = invoke(case, where)
            finally:
                os.chdir(cwd)
            shown = " ".join(case.args).format(**{name: f"<{name}>" for name in where})
            print(f"| `dpkit {_cell(shown)}` | {result.exit_code} | "
                  f"{_cell(result.output.strip())} |", flush=True)


if __name__ == "__main__":
    main()
