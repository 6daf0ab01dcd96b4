"""``dpkit study``: a 2x2 grid (ε x optimizer) of tiny classifiers and two tiny GANs, run, re-run
(nothing touched), interrupted and completed, and refused when the spec, the lock or the input
is wrong."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from dpkit.cli import cli
from dpkit.study import StudySpec, plan_runs

TINY = """
dataset = "digits"
epsilons = [8, inf]
models = ["classifier", "gan"]
metrics = ["accuracy", "fid"]
attacks = ["loss"]

[grid]
optimizer = ["sgd", "adam"]

[classifier]
model = "mlp"
hidden = [32]
epochs = 1
subset = 300
accountant = "rdp"

[gan]
latent-dim = 16
g_width = 8
d-width = 8
epochs = 1
batch-size = 32
image-size = 28
subset = 256
accountant = "rdp"

[evaluate]
features = "random-cnn"
num-samples = 64
"""

# the same kind of study from options only: non-private classifiers, optimizer x max-grad-norm
SMALL = ["--dataset", "digits", "--epsilons", "inf", "--models", "classifier",
         "--metrics", "accuracy", "--attacks", "loss", "--grid", "optimizer=sgd,adam",
         "--set", "model=mlp", "--set", "hidden=32", "--set", "epochs=1", "--set", "subset=300"]


def _dpkit(*args: str):
    return CliRunner().invoke(cli, list(args))


def _rows(path: Path, *, drop_seconds: bool = True) -> list[dict[str, str]]:
    rows = list(csv.DictReader(path.open()))
    for r in rows:
        if drop_seconds:
            r.pop("seconds")
    return rows


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("study")
    (root / "tiny.toml").write_text(TINY)
    res = _dpkit("study", "--spec", str(root / "tiny.toml"), "--out", str(root / "s"))
    assert res.exit_code == 0, res.output
    assert "[6/6]" in res.stderr and "accuracy" in res.stderr
    return root


def test_grid_runs_and_writes_its_files(study: Path) -> None:
    out = study / "s"
    names = sorted(p.name for p in (out / "runs").iterdir())
    assert names == ["classifier-eps8-optimizer_adam-seed0", "classifier-eps8-optimizer_sgd-seed0",
                     "classifier-epsinf-optimizer_adam-seed0",
                     "classifier-epsinf-optimizer_sgd-seed0", "gan-eps8-seed0", "gan-epsinf-seed0"]
    state = json.loads((out / "study.json").read_text())
    assert state["spec"]["epsilons"] == [8.0, "inf"]
    assert {r["status"] for r in state["runs"].values()} == {"done"}
    rows = _rows(out / "results.csv")
    assert list(rows[0]) == ["run", "model", "epsilon", "delta", "sigma", "seed", "optimizer",
                             "metric", "value"]
    got = {(r["run"], r["metric"]) for r in rows}
    clf = [n for n in names if n.startswith("classifier")]
    assert got == ({(n, "accuracy") for n in clf} | {(n, "attack:loss") for n in clf}
                   | {("gan-eps8-seed0", "fid"), ("gan-epsinf-seed0", "fid")})
    for r in rows:
        if "eps8" in r["run"]:  # the reported epsilon, within the target, with its sigma
            assert 7 < float(r["epsilon"]) <= 8 and float(r["sigma"]) > 0
        else:
            assert r["epsilon"] == "inf"
        assert r["optimizer"] == (r["run"].split("optimizer_")[1].split("-")[0]
                                  if r["model"] == "classifier" else "")
        assert float(r["value"]) == float(r["value"])  # a number, not NaN
    page = (out / "report.html").read_text()
    assert all(n in page for n in names)


def test_rerun_skips_everything(study: Path) -> None:
    out = study / "s"
    before, csv_before = _mtimes(out / "runs"), (out / "results.csv").read_bytes()
    res = _dpkit("study", "--spec", str(study / "tiny.toml"), "--out", str(out), "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout) == {"study": str(out), "runs": 6, "done": 6, "failed": 0,
                                      "results": str(out / "results.csv"),
                                      "report": str(out / "report.html")}
    assert _mtimes(out / "runs") == before
    assert (out / "results.csv").read_bytes() == csv_before


def test_another_spec_is_refused(study: Path) -> None:
    other = study / "other.toml"
    other.write_text(TINY.replace("epsilons = [8, inf]", "epsilons = [3, inf]")
                     .replace("epochs = 1\nsubset = 300", "epochs = 2\nsubset = 300"))
    before = _mtimes(study / "s")
    res = _dpkit("study", "--spec", str(other), "--out", str(study / "s"))
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert "\n" not in line and "classifier.epochs, epsilons differ" in line
    assert "new --out DIR" in line
    assert _mtimes(study / "s") == before


def test_lock_refuses_a_second_study_and_a_stale_one_is_taken(study: Path) -> None:
    out = study / "s"
    (out / ".lock").write_text(f"{os.getpid()}\n")  # a live process holds it
    try:
        res = _dpkit("study", "--spec", str(study / "tiny.toml"), "--out", str(out), "--quiet")
        assert res.exit_code == 2 and f"another study (pid {os.getpid()})" in res.stderr
    finally:
        (out / ".lock").unlink()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / ".lock").write_text(f"{dead.pid}\n")
    res = _dpkit("study", "--spec", str(study / "tiny.toml"), "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    assert not (out / ".lock").exists()


def test_interrupted_study_completes_like_an_uninterrupted_one(tmp_path: Path,
                                                               monkeypatch) -> None:
    from dpkit.study import execute

    res = _dpkit("study", *SMALL, "--out", str(tmp_path / "a"), "--quiet")
    assert res.exit_code == 0, res.output
    calls = []
    real_train = execute.train_classifier

    def train_then_interrupt(*args, **kw):
        calls.append(kw["out"])
        if len(calls) == 2:  # Ctrl-C during the second run
            raise KeyboardInterrupt
        return real_train(*args, **kw)

    monkeypatch.setattr(execute, "train_classifier", train_then_interrupt)
    res = _dpkit("study", *SMALL, "--out", str(tmp_path / "b"), "--quiet")
    assert res.exit_code == 130 and "run the same study again" in res.stderr
    state = json.loads((tmp_path / "b" / "study.json").read_text())
    assert [r["status"] for r in state["runs"].values()] == ["done", "running"]
    assert not (tmp_path / "b" / ".lock").exists()
    monkeypatch.setattr(execute, "train_classifier", real_train)
    res = _dpkit("study", *SMALL, "--out", str(tmp_path / "b"))
    assert res.exit_code == 0, res.output
    assert "[1/2] classifier-epsinf-optimizer_sgd-seed0 already done" in res.stderr
    assert _rows(tmp_path / "b" / "results.csv") == _rows(tmp_path / "a" / "results.csv")

    # killed after its checkpoint: the run is resumed (not retrained) and ends the same
    run = tmp_path / "b" / "runs" / "classifier-epsinf-optimizer_adam-seed0"
    for name in ("result.json", "final.pt", "privacy.json"):
        (run / name).unlink()
    state = json.loads((tmp_path / "b" / "study.json").read_text())
    state["runs"][run.name].update(status="running", results={})
    (tmp_path / "b" / "study.json").write_text(json.dumps(state))
    resumed = []
    real_resume = execute.resume_classifier
    monkeypatch.setattr(execute, "resume_classifier",
                        lambda path, **kw: resumed.append(path) or real_resume(path, **kw))
    monkeypatch.setattr(execute, "train_classifier", train_then_interrupt)  # must not train
    calls.clear()
    res = _dpkit("study", *SMALL, "--out", str(tmp_path / "b"), "--quiet")
    assert res.exit_code == 0, res.output
    assert resumed == [run] and calls == []
    assert _rows(tmp_path / "b" / "results.csv") == _rows(tmp_path / "a" / "results.csv")


@pytest.mark.parametrize("edit, args, message", [
    ("metrics = [\"accuracy\", \"fid\"]", ["--spec"], "key 'metric' is unknown; did you mean "
                                                      "'metrics'?"),
    (None, ["--models", "classifier", "--metrics", "accuracy,fid"],
     "metric 'fid' applies to gan runs"),
    (None, ["--models", "classifier", "--metrics", "acuracy"], "metric 'acuracy' is unknown"),
    (None, ["--models", "classifier", "--grid", "max-grad-nrm=0.1,1"],
     "grid option 'max-grad-nrm' is not an option"),
    (None, ["--models", "classifier", "--set", "lrr=0.1"], "set 'lrr': not an option"),
    ("[classifier]\nmodel = \"mlp\"", ["--spec"], "[classifier] 'lrr' is not an option of "
                                                  "'dpkit train-classifier'; did you mean 'lr'?"),
    (None, ["--models", "classifier", "--grid", "optimizer=sgd,adamw"],
     "[classifier] Invalid value for '--optimizer'"),
    (None, ["--models", "classifier", "--set", "lr=-1"], "--lr -1.0 must be > 0"),
])
def test_bad_input_is_one_line_and_creates_nothing(tmp_path: Path, edit, args, message) -> None:
    out = tmp_path / "out"
    if args == ["--spec"]:
        bad = {"metrics = [\"accuracy\", \"fid\"]": "metric = [\"accuracy\", \"fid\"]",
               "[classifier]\nmodel = \"mlp\"": "[classifier]\nlrr = 0.1\nmodel = \"mlp\""}
        (tmp_path / "bad.toml").write_text(TINY.replace(edit, bad[edit]))
        args = ["--spec", str(tmp_path / "bad.toml")]
    else:
        args = ["--dataset", "digits", "--epsilons", "1,inf"] + args
    res = _dpkit("study", *args, "--out", str(out))
    assert res.exit_code == 2, res.output
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert not out.exists()


def test_plan_names_are_stable_and_grid_applies_to_kinds_that_have_it() -> None:
    spec = StudySpec.from_dict({"dataset": "digits", "epsilons": "1,inf",
                                "models": ["classifier", "gan"], "seeds": [0, 1],
                                "grid": {"max_grad_norm": [0.1, 1], "optimizer": "sgd,adam"}})
    have = {"classifier": frozenset({"max-grad-norm", "optimizer"}),
            "gan": frozenset({"max-grad-norm"})}
    runs = plan_runs(spec, have)
    assert len(runs) == 2 * 2 * 2 * 2 + 2 * 2 * 2
    assert runs[0].name == "classifier-eps1-max-grad-norm_0.1-optimizer_sgd-seed0"
    assert runs[-1].name == "gan-epsinf-max-grad-norm_1-seed1"
    assert [r.name for r in plan_runs(spec, have)] == [r.name for r in runs]


def test_parallel_jobs_give_the_sequential_results(tmp_path: Path) -> None:
    """--jobs 2 runs the grid in two worker processes: same runs, same numbers."""
    results = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        res = _dpkit("study", *SMALL, "--jobs", jobs, "--out", str(out), "--quiet")
        assert res.exit_code == 0, res.output
        results[jobs] = sorted(_rows(out / "results.csv"), key=lambda r: (r["run"], r["metric"]))
    assert [(r["run"], r["metric"]) for r in results["1"]] == \
        [(r["run"], r["metric"]) for r in results["2"]]
    for a, b in zip(results["1"], results["2"]):
        assert float(a["value"]) == pytest.approx(float(b["value"]), abs=1e-6), (a, b)
