"""A catalogue of bad inputs, one per row: every command refuses each with one line starting
"Error:", exit status 2, no traceback, and nothing left behind (no directory, no file).

``CASES`` is the catalogue; ``benchmarks/bad_inputs.py`` prints it with each message as a table.
Arguments name the module's fixtures as placeholders: ``{clf}`` a tiny train-classifier run (an
mlp), ``{gan}`` a tiny train-gan run, ``{nonrun}`` an empty directory, ``{nonempty}`` a directory
holding a file, ``{file}`` a text file, ``{missing}`` a path that does not exist, ``{tmp}`` the
case's own directory (also the working directory, where default run directories would go).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner, Result

from dpkit.cli import cli


class BadInput(NamedTuple):
    id: str
    args: tuple[str, ...]
    needle: str  # a piece of the expected message


def _case(id: str, command: str, needle: str) -> BadInput:
    return BadInput(id, tuple(command.split()), needle)


_TC = "train-classifier --quiet --subset 64 --epochs 1 --batch-size 32 --model mlp --hidden 8"
_TG = "train-gan --quiet --subset 64 --epochs 1 --batch-size 32 --image-size 28"
CASES: list[BadInput] = [
    # train-classifier
    _case("unknown dataset", f"{_TC} --no-dp --dataset nope", "unknown dataset 'nope'"),
    _case("image size too small", f"{_TC} --no-dp --image-size 0", "--image-size 0"),
    _case("delta >= 1/N", f"{_TC} --epsilon 3 --delta 0.1", "--delta 0.1"),
    _case("no privacy option", _TC, "exactly one of --epsilon"),
    _case("epsilon and noise multiplier", f"{_TC} --epsilon 3 --noise-multiplier 1",
          "exactly one of --epsilon"),
    _case("no-dp with epsilon", f"{_TC} --no-dp --epsilon 3", "--no-dp"),
    _case("epsilon out of reach", f"{_TC} --epsilon 1e9", "above what calibration reaches"),
    _case("zero epsilon", f"{_TC} --epsilon 0", "--epsilon 0"),
    _case("negative noise multiplier", f"{_TC} --noise-multiplier -1", "--noise-multiplier -1"),
    _case("zero clipping norm", f"{_TC} --noise-multiplier 1 --max-grad-norm 0",
          "--max-grad-norm 0"),
    _case("zero physical batch", f"{_TC} --noise-multiplier 1 --physical-batch-size 0",
          "--physical-batch-size 0"),
    _case("negative epochs", f"{_TC} --no-dp --epochs -1", "--epochs -1"),
    _case("negative lr", f"{_TC} --no-dp --lr -1", "--lr -1"),
    _case("ema of 1 or more", f"{_TC} --no-dp --ema 1.5", "--ema 1.5"),
    _case("evaluate every 0 epochs", f"{_TC} --no-dp --eval-every 0", "--eval-every 0"),
    _case("unknown model", f"{_TC} --no-dp --model vit", "'vit' is not one of"),
    _case("unknown optimizer", f"{_TC} --no-dp --optimizer lbfgs", "'lbfgs' is not one of"),
    _case("unknown accountant", f"{_TC} --epsilon 3 --accountant moments",
          "'moments' is not one of"),
    _case("subset of zero", f"{_TC} --no-dp --subset 0", "--subset 0"),
    _case("class that does not exist", f"{_TC} --no-dp --classes 0,42", "[42] out of range"),
    _case("classes not integers", f"{_TC} --no-dp --classes a,b", "--classes"),
    _case("a single class", f"{_TC} --no-dp --classes 3", "at least two distinct classes"),
    _case("hidden widths not integers", f"{_TC} --no-dp --hidden 8,x", "--hidden"),
    _case("public data without public-bn", f"{_TC} --no-dp --public-data holdout",
          "--norm public-bn"),
    _case("public-bn without public data", f"{_TC} --no-dp --norm public-bn", "--public-data"),
    _case("adversarial fraction above 1", f"{_TC} --no-dp --pgd --adv-fraction 1.5",
          "--adv-fraction 1.5"),
    _case("missing data-root files", f"{_TC} --no-dp --dataset mnist --data-root {{missing}}",
          "mnist train split not found"),
    _case("imagefolder without data-root", f"{_TC} --no-dp --dataset imagefolder",
          "--data-root"),
    _case("non-empty out", f"{_TC} --no-dp --out {{nonempty}}", "not empty"),
    _case("out is a file", f"{_TC} --no-dp --out {{file}}", "is a file"),
    _case("resume of a non-run", "train-classifier --resume {nonrun}", "not a dpkit run"),
    _case("resume of a missing directory", "train-classifier --resume {missing}",
          "not a dpkit run"),
    _case("resume with different options", "train-classifier --resume {clf} --lr 5",
          "drop --lr"),
    _case("resume a GAN run as classifier", "train-classifier --resume {gan}",
          "'train-gan' run"),
    # train-gan
    _case("gan: unknown dataset", f"{_TG} --no-dp --dataset nope", "unknown dataset 'nope'"),
    _case("gan: image size not 28/32/64", f"{_TG} --no-dp --image-size 7", "--image-size 7"),
    _case("gan: batch larger than N", f"{_TG} --no-dp --batch-size 1000", "--batch-size 1000"),
    _case("gan: delta >= 1/N", f"{_TG} --epsilon 3 --delta 0.1", "--delta 0.1"),
    _case("gan: epsilon and noise multiplier", f"{_TG} --epsilon 3 --noise-multiplier 1",
          "exactly one of --epsilon"),
    _case("gan: epsilon out of reach", f"{_TG} --epsilon 1e9 --out {{tmp}}/new/run",
          "above what calibration reaches"),
    _case("gan: zero epochs", f"{_TG} --no-dp --epochs 0", "--epochs 0"),
    _case("gan: betas not two numbers", f"{_TG} --no-dp --betas 0.5", "--betas"),
    _case("gan: betas not numbers", f"{_TG} --no-dp --betas a,b", "--betas"),
    _case("gan: betas out of range", f"{_TG} --no-dp --betas 1.5,0.9", "--betas"),
    _case("gan: channels contradict rgb", f"{_TG} --no-dp --channels 1 --rgb", "--channels 1"),
    _case("gan: zero latent size", f"{_TG} --no-dp --latent-dim 0", "--latent-dim 0"),
    _case("gan: width below 4", f"{_TG} --no-dp --g-width 2", "--g-width 2"),
    _case("gan: zero discriminator steps", f"{_TG} --no-dp --d-steps 0", "--d-steps 0"),
    _case("gan: adaptive start off the ladder",
          f"{_TG} --no-dp --d-steps 3 --d-steps-schedule adaptive", "--d-steps 3"),
    _case("gan: adaptive threshold out of range",
          f"{_TG} --no-dp --d-steps-schedule adaptive --d-steps-threshold 1.5",
          "--d-steps-threshold 1.5"),
    _case("gan: zero grace", f"{_TG} --no-dp --d-steps-grace 0", "--d-steps-grace 0"),
    _case("gan: ema of 1", f"{_TG} --no-dp --ema 1", "--ema 1"),
    _case("gan: unknown conditioning", f"{_TG} --no-dp --conditioning concat",
          "--conditioning"),
    _case("gan: non-empty out", f"{_TG} --no-dp --out {{nonempty}}", "not empty"),
    _case("gan: resume a classifier run", "train-gan --resume {clf}", "'train-classifier' run"),
    _case("gan: resume of a non-run", "train-gan --resume {nonrun}", "not a dpkit run"),
    _case("gan: resume with different options", "train-gan --resume {gan} --lr-d 5",
          "drop --lr-d"),
    _case("gan: resume with out", "train-gan --resume {gan} --out {tmp}/x", "drop --out"),
    # evaluate
    _case("unknown metric", "evaluate {clf} --metric nope", "unknown metric 'nope'"),
    _case("no metric", "evaluate {clf} --metric ,", "--metric"),
    _case("mifid on a classifier run", "evaluate {clf} --metric mifid", "train-gan"),
    _case("accuracy on a GAN run", "evaluate {gan} --metric accuracy", "train-classifier"),
    _case("evaluate a non-run", "evaluate {nonrun}", "config.json"),
    _case("evaluate a missing directory", "evaluate {missing}", "does not exist"),
    _case("pgd budgets not numbers", "evaluate {clf} --metric robust-accuracy --pgd-eps x",
          "--pgd-eps"),
    _case("zero examples", "evaluate {clf} --max-examples 0", "--max-examples 0"),
    _case("features of a non-run", "evaluate {gan} --metric fid --features classifier:{nonrun}",
          "not a dpkit run directory"),
    _case("unknown features", "evaluate {gan} --metric fid --features pixels", "pixels"),
    _case("fid of one sample", "evaluate {gan} --metric fid --num-samples 1", "--num-samples 1"),
    _case("certified with negative sigma", "evaluate {clf} --metric certified --sigma -1",
          "--sigma -1"),
    _case("inception weights not weights",
          "evaluate {gan} --metric fid --inception-weights {file}", "weights"),
    # sample
    _case("sample: zero samples", "sample {gan} --num-samples 0 --out {tmp}/s",
          "--num-samples 0 must be >= 1"),
    _case("sample: class out of range", "sample {gan} --class 10 --out {tmp}/s",
          "--class 10 is out of range"),
    _case("sample: classifier run", "sample {clf} --out {tmp}/s", "train-classifier"),
    _case("sample: non-run", "sample {nonrun} --out {tmp}/s", "config.json"),
    _case("sample: non-empty out", "sample {gan} --num-samples 4 --out {nonempty}",
          "not empty"),
    _case("sample: unknown format", "sample {gan} --format gif", "'gif' is not one of"),
    _case("sample: zero batch size", "sample {gan} --batch-size 0 --out {tmp}/s",
          "--batch-size 0"),
    # attack
    _case("membership: classifier method on a GAN run", "attack membership {gan} --method loss",
          "train-gan"),
    _case("membership: GAN method on a classifier run",
          "attack membership {clf} --method discriminator", "train-classifier"),
    _case("membership: non-run", "attack membership {nonrun}", "config.json"),
    _case("membership: odd shadow count", "attack membership {clf} --method lira "
          "--shadow-models 3", "--shadow-models 3"),
    _case("membership: zero examples", "attack membership {clf} --max-examples 0",
          "--max-examples 0"),
    _case("membership: zero generated samples",
          "attack membership {gan} --method gan-leaks --num-samples 0", "--num-samples 0"),
    _case("membership: non-empty out", "attack membership {clf} --out {nonempty}",
          "not empty"),
    _case("reconstruct: GAN run", "attack reconstruct {gan}", "train-gan"),
    _case("reconstruct: kkt on a 10-class mlp with biases", "attack reconstruct {clf}",
          "binary"),
    _case("reconstruct: batch larger than N",
          "attack reconstruct {clf} --method gradient-inversion --batch-size 1000",
          "--batch-size 1000"),
    _case("reconstruct: zero iterations",
          "attack reconstruct {clf} --method gradient-inversion --iterations 0",
          "--iterations 0"),
    _case("reconstruct: negative noise",
          "attack reconstruct {clf} --method gradient-inversion --noise-multiplier -1",
          "--noise-multiplier -1"),
    # privacy and the command line itself
    _case("privacy: delta >= 1/N", "privacy -N 1000 -B 50 --epochs 5 --noise-multiplier 1 "
          "--delta 0.01", "--delta 0.01"),
    _case("privacy: epsilon and sigma", "privacy -N 1000 -B 50 --epochs 5 "
          "--noise-multiplier 1 --epsilon 3", "exactly one"),
    _case("privacy: zero epochs", "privacy -N 1000 -B 50 --epochs 0 --noise-multiplier 1",
          "--epochs 0"),
    _case("privacy: batch larger than N", "privacy -N 1000 -B 5000 --epochs 5 "
          "--noise-multiplier 1", "larger than the dataset"),
    _case("unknown command", "trian-gan", "No such command 'trian-gan'"),
    _case("unknown option", "train-classifier --epoch 3", "No such option '--epoch'"),
]


def build_tiny_runs(root: Path) -> dict[str, Path]:
    """A tiny train-classifier run (mlp) and train-gan run under ``root``, built with the CLI."""
    runs = {"clf": root / "clf", "gan": root / "gan"}
    runner = CliRunner()
    tiny = ["--dataset", "digits", "--subset", "64", "--epochs", "1", "--batch-size", "32",
            "--quiet", "--no-dp"]
    for args in (["train-classifier", "--model", "mlp", "--hidden", "8", *tiny,
                  "--out", str(runs["clf"])],
                 ["train-gan", "--image-size", "28", "--latent-dim", "8", "--g-width", "8",
                  "--d-width", "8", *tiny, "--out", str(runs["gan"])]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
    return runs


def places(runs: dict[str, Path], tmp: Path) -> dict[str, str]:
    """The placeholders of :data:`CASES`, created in ``tmp`` (an empty directory)."""
    (tmp / "nonrun").mkdir()
    (tmp / "nonempty").mkdir()
    (tmp / "nonempty" / "notes.txt").write_text("keep me\n")
    (tmp / "file.txt").write_text("not a directory, not weights\n")
    return {"clf": str(runs["clf"]), "gan": str(runs["gan"]), "nonrun": str(tmp / "nonrun"),
            "nonempty": str(tmp / "nonempty"), "file": str(tmp / "file.txt"),
            "missing": str(tmp / "missing"), "tmp": str(tmp)}


def invoke(case: BadInput, where: dict[str, str]) -> Result:
    return CliRunner().invoke(cli, [a.format(**where) for a in case.args], prog_name="dpkit")


def tree(*roots: Path) -> set[Path]:
    return {p for root in roots for p in root.rglob("*")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    return build_tiny_runs(tmp_path_factory.mktemp("runs"))


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, runs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default run directories (runs/...) would land here
    where = places(runs, tmp_path)
    before = tree(tmp_path, *runs.values())
    result = invoke(case, where)
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output and len(lines) == 1, result.output
    assert lines[0].startswith("Error:") and case.needle in lines[0], lines[0]
    assert tree(tmp_path, *runs.values()) == before, "left behind: " + ", ".join(
        sorted(str(p) for p in tree(tmp_path, *runs.values()) - before))


def test_the_catalogue_is_long_and_its_ids_unique():
    assert len(CASES) >= 40
    assert len({c.id for c in CASES}) == len(CASES)
