"""`dpkit privacy` and the CLI's error handling."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from dpkit.cli import cli


def run(runner, args):
    return runner.invoke(cli, args, catch_exceptions=False, standalone_mode=True)


def test_privacy_json_has_every_field(cli_runner):
    res = cli_runner.invoke(cli, ["privacy", "--dataset-size", "60000", "--batch-size", "256",
                                  "--epochs", "60", "--noise-multiplier", "1.1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"epsilon", "delta", "noise_multiplier", "sample_rate", "steps",
                        "accountant", "epsilons", "epochs"}
    assert out["accountant"] == "prv" and out["epsilon"] == out["epsilons"]["prv"]
    assert out["steps"] == 14040 and out["sample_rate"] == pytest.approx(256 / 60000)
    assert out["epsilons"]["rdp"] == pytest.approx(2.5944, rel=1e-3)


def test_privacy_calibrates_sigma(cli_runner):
    res = cli_runner.invoke(cli, ["privacy", "-N", "60000", "-B", "256", "--epochs", "60",
                                  "--epsilon", "3", "--accountant", "rdp", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["epsilon"] == pytest.approx(3, rel=0.01) and out["epsilon"] <= 3
    assert 0.5 < out["noise_multiplier"] < 2


def test_privacy_text_lists_all_accountants(cli_runner):
    res = cli_runner.invoke(cli, ["privacy", "-N", "1000", "-B", "50", "--epochs", "5",
                                  "--noise-multiplier", "1.0", "--delta", "1e-4"])
    assert res.exit_code == 0
    for name in ("rdp", "prv", "gdp"):
        assert f"{name}: epsilon" in res.output


BAD = [
    (["--delta", "1e-3"], "1/N"),
    (["--batch-size", "5000"], "larger than the dataset"),
    (["--noise-multiplier", "-1"], ">= 0"),
    (["--noise-multiplier", None, "--epsilon", "0"], "positive"),
    (["--noise-multiplier", None, "--epsilon", "1e-6"], "unreachable"),
    (["--epsilon", "3"], "exactly one"),
    (["--accountant", "moments"], "moments"),
]


@pytest.mark.parametrize("change,needle", BAD)
def test_bad_input_is_one_line_exit_2(change, needle):
    args = {"--dataset-size": "1000", "--batch-size": "50", "--epochs": "5",
            "--noise-multiplier": "1.0", "--delta": "1e-5"}
    for k, v in zip(change[::2], change[1::2]):
        if v is None:
            args.pop(k)
        else:
            args[k] = v
    argv = [sys.executable, "-m", "dpkit", "privacy"] + [t for kv in args.items() for t in kv]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error:") and needle in lines[0]
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_top_level_help_is_fast_and_loads_no_torch():
    import subprocess
    import sys

    code = ("import sys; from click.testing import CliRunner; from dpkit.cli import cli; "
            "r = CliRunner().invoke(cli, ['--help']); "
            "print(r.exit_code, 'torch' in sys.modules, 'train-gan' in r.output)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["0", "False", "True"]


def test_every_listed_command_loads_and_matches_its_name():
    from dpkit.cli import COMMANDS, cli

    for name in COMMANDS:
        assert cli.get_command(None, name).name == name
