"""Every command fed a damaged run directory answers one line on stderr and exit 2, never a
traceback (or succeeds when it does not need the damaged file)."""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from dpkit.cli import cli

TINY = ["--dataset", "digits", "--image-size", "28", "--subset", "64", "--epochs", "1",
        "--batch-size", "32", "--quiet", "--no-dp"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    runner = CliRunner()
    for args in (["train-classifier", "--model", "mlp", "--hidden", "8", *TINY, "--out",
                  str(root / "train-classifier")],
                 ["train-gan", "--latent-dim", "8", "--g-width", "8", "--d-width", "8", *TINY,
                  "--out", str(root / "train-gan")]):
        res = runner.invoke(cli, args)
        assert res.exit_code == 0, res.output
    return root


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _garble(path):
    path.write_text("{not json\n")


CORRUPTIONS = {
    "checkpoint.pt": _truncate, "final.pt": _truncate, "config.json": _garble,
    "split.json": _garble, "metrics.jsonl": _garble,
}
COMMANDS = {
    "train-classifier": [["train-classifier", "--resume", "{run}"],
                         ["evaluate", "{run}", "--metric", "accuracy"],
                         ["attack", "membership", "{run}"],
                         ["attack", "reconstruct", "{run}", "--method", "gradient-inversion",
                          "--iterations", "2"],
                         ["train-gan", "--resume", "{run}"]],
    "train-gan": [["train-gan", "--resume", "{run}"],
                  ["sample", "{run}", "--n", "4", "--out", "{tmp}/samples"],
                  ["attack", "membership", "{run}", "--method", "discriminator"],
                  ["evaluate", "{run}", "--metric", "accuracy"],
                  ["train-classifier", "--resume", "{run}"]],
}


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(COMMANDS))
@pytest.mark.parametrize("damaged", list(CORRUPTIONS))
def test_every_command_on_a_damaged_run_is_one_line(runs, tmp_path, kind, damaged):
    run = tmp_path / kind
    shutil.copytree(runs / kind, run)
    CORRUPTIONS[damaged](run / damaged)
    runner = CliRunner()
    for args in COMMANDS[kind]:
        cmd = [a.format(run=run, tmp=tmp_path) for a in args]
        res = runner.invoke(cli, cmd)
        shutil.rmtree(tmp_path / "samples", ignore_errors=True)
        if res.exit_code == 0:
            continue  # the command did not need the damaged file
        lines = res.output.strip().splitlines()
        assert res.exit_code == 2, (cmd, res.output, res.exception)
        assert "Traceback" not in res.output and len(lines) == 1, (cmd, res.output)
        assert lines[0].startswith("Error:"), (cmd, res.output)
