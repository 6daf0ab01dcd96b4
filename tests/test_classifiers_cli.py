"""`dpkit train-classifier` and `dpkit evaluate` (classifier metrics) end to end on digits."""

from __future__ import annotations

import json

import pytest
import torch

from dpkit.cli import cli
from dpkit.classifiers import load_classifier
from dpkit.commands.evaluate import get_metric, metric_names

FAST = ["--image-size", "16", "--epochs", "2", "--batch-size", "128", "--quiet"]


def _run(runner, args):
    return runner.invoke(cli, args, catch_exceptions=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("clf") / "run"
    res = CliRunner().invoke(cli, ["train-classifier", *FAST, "--no-dp", "--pgd", "--pgd-steps",
                                   "2", "--out", str(out), "--json"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out, json.loads(res.output)


def test_train_json_and_run_dir(trained):
    out, payload = trained
    assert set(payload) == {"run_dir", "epsilon", "delta", "noise_multiplier", "test_accuracy",
                            "robust_accuracy", "epochs", "train_size", "epsilon_valid",
                            "noise_reproducible", "world_size"}
    assert payload["world_size"] == 1
    assert payload["epsilon"] == "inf" and payload["epochs"] == 2 and payload["train_size"] == 1500
    for name in ("config.json", "split.json", "privacy.json", "metrics.jsonl", "checkpoint.pt",
                 "final.pt", "curves.png"):
        assert (out / name).is_file(), name
    config = json.loads((out / "config.json").read_text())
    assert config["command"] == "train-classifier" and config["data"]["dataset"] == "digits"
    assert config["training"]["pgd"]["steps"] == 2
    loaded = load_classifier(out)
    assert loaded.model(torch.zeros(2, 1, 16, 16)).shape == (2, 10)
    assert loaded.model.features(torch.zeros(2, 1, 16, 16)).shape == (2, 32)
    assert len(loaded.bundle.train) == 1500


def test_dp_run_text_and_binary_mlp(cli_runner, tmp_path):
    res = _run(cli_runner, ["train-classifier", *FAST, "--model", "mlp", "--no-bias",
                            "--hidden", "32,32", "--classes", "3,8", "--subset", "200",
                            "--epsilon", "8", "--delta", "1e-3", "--out", str(tmp_path / "r")])
    assert res.exit_code == 0, res.output
    assert "epsilon = 7.9" in res.output or "epsilon = 8" in res.output
    loaded = load_classifier(tmp_path / "r")
    assert loaded.num_classes == 2 and len(loaded.bundle.train) == 200
    assert all(p.dim() == 2 for p in loaded.model.parameters())


def test_evaluate_accuracy_robust_curve_and_certified(cli_runner, trained):
    out, payload = trained
    res = _run(cli_runner, ["evaluate", str(out), "--metric", "accuracy,robust-accuracy",
                            "--pgd-eps", "0.05,0.2", "--pgd-steps", "5", "--restarts", "2",
                            "--json"])
    assert res.exit_code == 0, res.output
    r = json.loads(res.output)
    assert r["accuracy"] == pytest.approx(payload["test_accuracy"])
    curve = r["robust_curve"]
    assert [c["eps"] for c in curve] == [0.05, 0.2]
    assert curve[1]["robust_accuracy"] <= curve[0]["robust_accuracy"] < r["accuracy"]
    res = _run(cli_runner, ["evaluate", str(out), "--metric", "certified", "--sigma", "0.25",
                            "--n0", "10", "--n", "50", "--max-examples", "5"])
    assert res.exit_code == 0, res.output
    assert "radius 0.00" in res.output
    saved = json.loads((out / "evaluation-classifier.json").read_text())
    assert set(saved) == {"accuracy", "robust-accuracy", "certified"}
    assert saved["certified"]["examples"] == 5


def test_resume_cli_matches(cli_runner, tmp_path):
    args = ["train-classifier", *FAST, "--model", "mlp", "--hidden", "32", "--noise-multiplier",
            "1.0", "--delta", "1e-4", "--json"]
    full = json.loads(_run(cli_runner, args + ["--out", str(tmp_path / "a")]).output)
    res = _run(cli_runner, args + ["--out", str(tmp_path / "b")])
    assert res.exit_code == 0
    ckpt = tmp_path / "b" / "checkpoint.pt"
    # make run b look interrupted after epoch 1: rebuild its checkpoint from a 1-epoch run
    one = tmp_path / "one"
    _run(cli_runner, [*args[:4], "1", *args[5:], "--out", str(one)])
    state = torch.load(one / "checkpoint.pt", weights_only=False)
    torch.save(state, ckpt)
    (tmp_path / "b" / "final.pt").unlink()
    res = _run(cli_runner, ["train-classifier", "--resume", str(tmp_path / "b"), "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    resumed = json.loads(res.output)
    assert resumed["epsilon"] == full["epsilon"] and resumed["test_accuracy"] == full["test_accuracy"]
    lines = (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(x)["epoch"] for x in lines] == [1, 2]


@pytest.mark.parametrize("args,needle", [
    (["--norm", "public-bn"], "--public-data"),
    (["--no-dp", "--epsilon", "3"], "--no-dp"),
    (["--pgd", "--pgd-eps", "3"], "--pgd-eps"),
    (["--image-size", "8"], "--image-size 28"),
    (["--optimizer", "lbfgs"], "lbfgs"),
    (["--public-data", "holdout"], "--norm public-bn"),
])
def test_train_errors_are_one_line(cli_runner, tmp_path, args, needle):
    base = ["train-classifier", "--quiet", "--epochs", "1", "--out", str(tmp_path / "x")]
    if "--image-size" not in args:
        base += ["--image-size", "16"]
    if "--no-dp" not in args:
        base += ["--noise-multiplier", "1"]
    res = cli_runner.invoke(cli, base + args)
    assert res.exit_code == 2, res.output
    assert needle in res.output and "Traceback" not in res.output


def test_refuses_non_empty_out_and_bad_evaluate(cli_runner, trained, tmp_path):
    out, _ = trained
    res = cli_runner.invoke(cli, ["train-classifier", "--no-dp", "--out", str(out)])
    assert res.exit_code == 2 and "not empty" in res.output
    res = cli_runner.invoke(cli, ["evaluate", str(out), "--metric", "acuracy"])
    assert res.exit_code == 2 and "accuracy" in res.output and "certified" in res.output
    res = cli_runner.invoke(cli, ["evaluate", str(tmp_path), "--metric", "accuracy"])
    assert res.exit_code == 2 and "config.json" in res.output
    res = cli_runner.invoke(cli, ["evaluate", str(out), "--metric", "certified", "--alpha", "2"])
    assert res.exit_code == 2 and "--alpha" in res.output


def test_metric_registry():
    assert {"accuracy", "robust-accuracy", "certified"} <= set(metric_names())
    assert get_metric("accuracy") is get_metric("certified")


def test_library_metric_registry_dispatches_each_family_once(cli_runner, trained, monkeypatch):
    from dpkit.evaluation import registry

    monkeypatch.setattr(registry, "METRICS", dict(registry.METRICS))
    calls = []

    class Toy:
        def __init__(self, names):
            self.names = names

        def to_dict(self):
            return {"toy": len(self.names)}

        def summary(self):
            return "toy"

    def toy(run, cfg, device, quiet):
        calls.append(cfg.names)
        return Toy(cfg.names)

    registry.register(registry.MetricFamily("toy", "train-classifier", ("toy", "toy2"), Toy, toy))
    out, _ = trained
    res = _run(cli_runner, ["evaluate", str(out), "--metric", "toy,accuracy,toy2", "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert payload["toy"] == 2 and "accuracy" in payload
    assert calls == [("toy", "toy2")]
    with pytest.raises(Exception, match="already registered"):
        registry.register(registry.MetricFamily("toy", "train-classifier", ("toy",), Toy, toy))
    res = cli_runner.invoke(cli, ["evaluate", str(out), "--metric", "mifid"])
    assert res.exit_code == 2 and "applies to 'train-gan' runs" in res.output


def test_flat_data_root_shared_by_private_and_public_is_refused(cli_runner, tmp_path):
    for kind in ("images-idx3", "labels-idx1"):
        (tmp_path / f"t10k-{kind}-ubyte").write_bytes(b"")  # names only; refused before reading
    res = cli_runner.invoke(cli, ["train-classifier", "--dataset", "fashion-mnist", "--no-dp",
                                  "--norm", "public-bn", "--public-data", "mnist", "--data-root",
                                  str(tmp_path), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2, res.output
    assert "MNIST/raw" in res.output and not (tmp_path / "run").exists()


def test_defaults_work_together_on_small_data(cli_runner, tmp_path):
    """digits (8x8) with the default cnn, and --subset below the default batch of 256."""
    out = tmp_path / "d"
    res = _run(cli_runner, ["train-classifier", "--dataset", "digits", "--epsilon", "3",
                            "--epochs", "1", "--subset", "200", "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "resized from 8px to 28px" in res.output and "capped at the 200" in res.output
    config = json.loads((out / "config.json").read_text())
    assert config["data"]["image_size"] == 28 and config["training"]["batch_size"] == 200
    result = json.loads((out / "result.json").read_text())
    assert len(result["notes"]) == 2


def test_refused_training_leaves_no_directory(cli_runner, tmp_path):
    out = tmp_path / "x"
    res = cli_runner.invoke(cli, ["train-classifier", *FAST, "--model", "mlp", "--subset", "50",
                                  "--delta", "0.5", "--noise-multiplier", "1", "--out", str(out)])
    assert res.exit_code == 2 and "1/N" in res.output
    assert not out.exists()


def test_a_single_class_dataset_is_refused_before_training(cli_runner, tmp_path):
    """An image folder with one class used to train to "test accuracy 1.0000"."""
    import numpy as np
    from PIL import Image

    for i in range(30):
        path = tmp_path / "data" / "only" / f"{i}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((16, 16), i * 8, dtype=np.uint8)).save(path)
    out = tmp_path / "run"
    res = cli_runner.invoke(cli, ["train-classifier", "--dataset", "imagefolder", "--data-root",
                                  str(tmp_path / "data"), "--model", "mlp", "--no-dp",
                                  "--epochs", "1", "--batch-size", "8", "--out", str(out)])
    assert res.exit_code == 2 and "at least 2" in res.output, res.output
    assert not out.exists()
