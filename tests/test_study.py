"""``dpkit study``: a 2x2 grid (ε x optimizer) of tiny classifiers and two tiny GANs, run, re-run
(nothing touched), interrupted and completed, and refused when the spec, the lock or the input
is wrong."""

from __future__ import annotations

import csv
import json
import os
import re
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


def test_privacy_axis_per_model_and_noise_multipliers_plan() -> None:
    """A kind's own epsilons replace the study's for it; noise multipliers give fixed-σ runs;
    a linked grid axis varies its options together."""
    spec = StudySpec.from_dict({"dataset": "digits", "epsilons": [1, 3, "inf"],
                                "noise_multipliers": [0.5, 2], "models": ["classifier", "gan"],
                                "gan": {"epsilons": [10, "inf"], "epochs": 2},
                                "grid": {"optimizer+lr": ["sgd:0.5", "adam:0.002"]}})
    have = {"classifier": frozenset({"optimizer", "lr", "epochs"}),
            "gan": frozenset({"epochs", "lr-d"})}
    runs = plan_runs(spec, have)
    names = [r.name for r in runs]
    assert names == ["classifier-eps1-optimizer+lr_sgd_0.5-seed0",
                     "classifier-eps1-optimizer+lr_adam_0.002-seed0",
                     "classifier-eps3-optimizer+lr_sgd_0.5-seed0",
                     "classifier-eps3-optimizer+lr_adam_0.002-seed0",
                     "classifier-epsinf-optimizer+lr_sgd_0.5-seed0",
                     "classifier-epsinf-optimizer+lr_adam_0.002-seed0",
                     "classifier-sigma0.5-optimizer+lr_sgd_0.5-seed0",
                     "classifier-sigma0.5-optimizer+lr_adam_0.002-seed0",
                     "classifier-sigma2-optimizer+lr_sgd_0.5-seed0",
                     "classifier-sigma2-optimizer+lr_adam_0.002-seed0",
                     "gan-eps10-seed0", "gan-epsinf-seed0"]
    assert dict(runs[1].options) == {"optimizer": "adam", "lr": "0.002"}
    assert runs[6].noise_multiplier == 0.5 and runs[0].noise_multiplier is None
    assert dict(runs[-2].options) == {"epochs": "2"}  # epsilons is not a training option
    # the spec survives study.json's round trip (a re-run compares them)
    assert StudySpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("raw, message", [
    ({"noise_multipliers": [0]}, "must be a finite number > 0"),
    ({"epsilons": [], "models": ["classifier"]}, "epsilons is empty"),
    ({"grid": {"optimizer+lr": ["sgd"]}}, "must give 2 values joined by ':'"),
    ({"grid": {"optimizer+lr": ["sgd:0.1"], "lr": ["0.2"]}}, "grid names an option twice"),
    ({"models": ["classifier"], "gan": {"epsilons": [10]}}, "[gan] sets epsilons but models"),
])
def test_bad_privacy_axis_or_linked_grid_is_refused(raw, message) -> None:
    base = {"dataset": "digits", "epsilons": [1], "models": ["classifier", "gan"]}
    with pytest.raises(Exception) as err:
        StudySpec.from_dict(base | raw)
    assert message in str(err.value)


def test_fixed_sigma_grid_study_runs_and_reports_the_settings(tmp_path: Path) -> None:
    """The classic DP-SGD study shape from the command line: noise multipliers x
    (optimizer, lr) x clipping norm; ε comes from the accountant, results.csv has one column
    per varied option, and the report plots accuracy against each varied setting."""
    out = tmp_path / "s"
    res = _dpkit("study", "--dataset", "digits", "--noise-multipliers", "0.8,3",
                 "--models", "classifier", "--metrics", "accuracy",
                 "--grid", "optimizer+lr=sgd:0.3,adam:0.01", "--grid", "max-grad-norm=0.1,1",
                 "--set", "model=mlp", "--set", "hidden=16", "--set", "epochs=1",
                 "--set", "subset=200", "--set", "batch-size=50", "--set", "accountant=rdp",
                 "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    rows = _rows(out / "results.csv")
    assert len(rows) == 8 and {r["metric"] for r in rows} == {"accuracy"}
    assert {(r["optimizer"], r["lr"], r["max-grad-norm"]) for r in rows} == {
        (o, lr, c) for o, lr in (("sgd", "0.3"), ("adam", "0.01")) for c in ("0.1", "1")}
    sigmas = {r["run"].split("-")[1]: float(r["sigma"]) for r in rows}
    assert sigmas == {"sigma0.8": 0.8, "sigma3": 3.0}
    eps = {float(r["sigma"]): float(r["epsilon"]) for r in rows}
    assert eps[0.8] > eps[3.0] > 0  # more noise, less ε: read from the accountant
    html = (out / "report.html").read_text()
    assert '<section id="settings">' in html
    assert "Epsilon spent vs epoch, one line per noise multiplier" in html
    for setting in ("privacy.max_grad_norm", "privacy.noise_multiplier",
                    "training.lr+training.optimizer"):  # linked: one axis
        assert f"({setting})" in html, setting


def test_report_settings_effects_from_configs(tmp_path: Path) -> None:
    """setting_effects groups runs by the other varied settings (pure function over
    summaries)."""
    from dpkit.report.settings import setting_effects, varied_settings

    class Run:  # the two attributes setting_effects reads, plus kind/private/test_accuracy
        def __init__(self, opt: str, c: float, acc: float) -> None:
            self.kind, self.private, self.test_accuracy = "train-classifier", True, acc
            self.training_config = {"privacy": {"max_grad_norm": c, "target_epsilon": 3.0},
                                    "training": {"optimizer": opt,
                                                 "lr": 0.5 if opt == "sgd" else 0.002},
                                    "seed": 0}

    runs = [Run("sgd", 0.1, 0.5), Run("sgd", 10.0, 0.7), Run("adam", 0.1, 0.8),
            Run("adam", 10.0, 0.6)]
    assert varied_settings(runs) == ["privacy.max_grad_norm", "training.lr",
                                     "training.optimizer"]
    effects = {e.setting: e for e in setting_effects(runs)}
    assert set(effects) == {"privacy.max_grad_norm", "training.lr+training.optimizer"}
    clip = effects["privacy.max_grad_norm"]
    assert clip.numeric and clip.log_x
    assert dict(clip.series) == {"lr + optimizer=0.002 / adam": ((0.1, 0.8), (10.0, 0.6)),
                                 "lr + optimizer=0.5 / sgd": ((0.1, 0.5), (10.0, 0.7))}
    opt = effects["training.lr+training.optimizer"]
    assert not opt.numeric and opt.label == "lr + optimizer"


def test_seed_groups_average_runs_that_differ_only_in_their_seed() -> None:
    """seed_groups: one group per setting and ε, mean and sample std of the main metric; a
    lone run, or runs whose seeds coincide, make no group."""
    import statistics

    from dpkit.report.seeds import seed_groups

    class Run:
        def __init__(self, c: float, eps: float, seed: int, acc: float) -> None:
            self.kind, self.private, self.test_accuracy = "train-classifier", True, acc
            self.training_config = {"privacy": {"max_grad_norm": c, "target_epsilon": eps},
                                    "data": {"seed": seed}, "seed": seed}

    runs = [Run(0.1, 3.0, 0, 0.80), Run(1.0, 3.0, 0, 0.70), Run(0.1, 3.0, 1, 0.84),
            Run(0.1, 1.0, 0, 0.60), Run(0.1, 1.0, 1, 0.62), Run(0.1, 3.0, 2, 0.83),
            Run(1.0, 1.0, 5, 0.5), Run(1.0, 1.0, 5, 0.6)]
    groups = {g.label: g for g in seed_groups(runs)}
    assert set(groups) == {"eps=3, privacy.max_grad_norm=0.1",
                           "eps=1, privacy.max_grad_norm=0.1"}
    g = groups["eps=3, privacy.max_grad_norm=0.1"]
    assert g.seeds == (0, 1, 2) and g.values == (0.80, 0.84, 0.83)
    assert g.mean == pytest.approx(0.82333333) and g.std == pytest.approx(
        statistics.stdev([0.80, 0.84, 0.83])) and g.std == pytest.approx(0.0208167, abs=1e-6)


def test_study_with_seeds_reports_mean_and_std(tmp_path: Path) -> None:
    out = tmp_path / "s"
    res = _dpkit("study", "--dataset", "digits", "--epsilons", "8", "--seeds", "0,1",
                 "--models", "classifier", "--metrics", "accuracy", "--set", "model=mlp",
                 "--set", "hidden=16", "--set", "epochs=1", "--set", "subset=200",
                 "--set", "batch-size=50", "--out", str(out), "--quiet")
    assert res.exit_code == 0, res.output
    accs = sorted(float(r["value"]) for r in _rows(out / "results.csv"))
    html = (out / "report.html").read_text()
    assert '<section id="seeds">' in html
    row = re.search(r"<td>eps=8</td><td>test accuracy</td><td>2</td><td>([^<]+)</td>"
                    r"<td>([^<]+)</td><td>0, 1</td>", html)
    assert row is not None, html[html.index('id="seeds"'):][:2000]
    mean, std = (float(t) for t in row.group(1).split(" ± "))
    by_seed = {r["seed"]: float(r["value"]) for r in _rows(out / "results.csv")}
    assert [float(t) for t in row.group(2).split(", ")] == pytest.approx(
        [by_seed["0"], by_seed["1"]], abs=1e-4)
    assert mean == pytest.approx(sum(accs) / 2, abs=1e-3)
    assert std == pytest.approx(abs(accs[1] - accs[0]) / 2 ** 0.5, rel=0.05, abs=1e-3)
