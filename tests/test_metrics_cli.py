"""``dpkit evaluate RUN --metric fid,kid,prc,mifid`` on tiny train-gan / train-classifier runs."""

from __future__ import annotations

import json
import urllib.error

import pytest
import torch

KEYS = {"fid", "kid_mean", "kid_std", "precision", "recall", "mifid", "memorization_distance",
        "memorization_distance_thresholded", "features", "num_samples"}


def _cli():
    """``dpkit evaluate`` as the dpkit CLI runs it (errors -> one line, exit 2)."""
    from dpkit.cli import cli

    return cli, ["evaluate"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from dpkit.classifiers import ClassifierConfig, ModelConfig, train_classifier
    from dpkit.data import DataOptions
    from dpkit.gan import GANConfig, train_gan

    root = tmp_path_factory.mktemp("runs")
    gan_cfg = GANConfig(dataset="digits", data=DataOptions(image_size=28, subset=256),
                        latent_dim=16, g_width=8, d_width=8, epochs=1, batch_size=64)
    train_gan(gan_cfg, out=root / "gan")
    clf_cfg = ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(32,)), epochs=1,
                               batch_size=128, robust_eval_size=0)
    train_classifier(clf_cfg, dataset="digits", data=DataOptions(), out=root / "clf")
    return root / "gan", root / "clf"


def test_evaluate_all_metrics_json_and_run_dir_records(runs, cli_runner, tmp_path):
    gan, clf = runs
    group, cmd = _cli()
    args = cmd + [str(gan), "--metric", "fid,kid,prc,mifid", "--features", f"classifier:{clf}",
                  "--num-samples", "200", "--cache-dir", str(tmp_path), "--json"]
    first = cli_runner.invoke(group, args)
    assert first.exit_code == 0, first.output
    out = json.loads(first.output)
    assert KEYS <= set(out) and out["features"] == f"classifier:{clf}"
    assert out["num_samples"] == 200 and out["reference"] == "train"
    assert out["fid"] > 0 and 0 <= out["precision"] <= 1 and 0 <= out["recall"] <= 1
    assert out["mifid"] == pytest.approx(out["fid"] / (out["memorization_distance_thresholded"]
                                                       + 1e-15))
    assert len(list(tmp_path.glob("digits-train-classifier-*.pt"))) == 1  # reference cached
    second = cli_runner.invoke(group, args)
    assert json.loads(second.output) == out  # seeded samples, cached reference: identical
    records = [json.loads(line) for line in (gan / "evaluations.jsonl").read_text().splitlines()]
    assert len(records) == 2 and records[0]["fid"] == out["fid"]
    saved = json.loads((gan / "evaluation-generative.json").read_text())
    assert saved["features"] == out["features"] and saved["kind"] == "generative"


def test_evaluate_fid_only_against_test_split_prints_named_features(runs, cli_runner, tmp_path):
    gan, clf = runs
    group, cmd = _cli()
    res = cli_runner.invoke(group, cmd + [str(gan), "--metric", "fid", "--reference", "test",
                                          "--features", f"classifier:{clf}", "--num-samples",
                                          "100", "--no-cache"])
    assert res.exit_code == 0, res.output
    assert f"features: classifier:{clf}" in res.output and "test split" in res.output
    assert "FID" in res.output and "MiFID" not in res.output
    assert not list(tmp_path.iterdir())


def test_missing_inception_weights_offline_exit_2_one_line(runs, cli_runner, monkeypatch, tmp_path):
    gan, _ = runs
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    group, cmd = _cli()
    res = cli_runner.invoke(group, cmd + [str(gan), "--metric", "mifid", "--features", "inception"])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and "--inception-weights" in lines[0]


@pytest.mark.parametrize("args, needle", [
    (["--metric", "fid,nope"], "unknown metric 'nope'"),
    (["--metric", "kid", "--num-samples", "1"], "--num-samples"),
    (["--metric", "mifid", "--mifid-threshold", "0"], "--mifid-threshold"),
    (["--metric", "fid", "--features", "vgg"], "--features"),
])
def test_bad_options_exit_2(runs, cli_runner, args, needle):
    gan, _ = runs
    group, cmd = _cli()
    res = cli_runner.invoke(group, cmd + [str(gan)] + args)
    assert res.exit_code == 2 and needle in res.output and "Traceback" not in res.output


def test_a_classifier_run_is_not_a_gan_run(runs, cli_runner):
    gan, clf = runs
    group, cmd = _cli()
    res = cli_runner.invoke(group, cmd + [str(clf), "--metric", "fid", "--features",
                                          f"classifier:{clf}"])
    assert res.exit_code == 2 and "train-gan" in res.output


def test_fidelity_generator_wrapper_runs_in_calculate_metrics(runs):
    import torch_fidelity

    from dpkit.gan import load_gan, to_uint8
    from dpkit.metrics import FidelityGenerator, register_extractors
    from dpkit.metrics.features import CLASSIFIER_NAME, UInt8Images

    gan, clf = runs
    loaded = load_gan(gan)
    wrapped = FidelityGenerator(loaded.generator, loaded.latent_dim)
    z = torch.randn(3, loaded.latent_dim)
    assert torch.equal(wrapped(z), to_uint8(loaded.generator(z).detach()))
    register_extractors()
    out = torch_fidelity.calculate_metrics(
        input1=wrapped, input1_model_num_samples=100, input2=UInt8Images(loaded.bundle.test.images),
        fid=True, cuda=False, cache=False, verbose=False, save_cpu_ram=True,
        feature_extractor=CLASSIFIER_NAME, feature_extractor_weights_path=str(clf))
    assert out["frechet_inception_distance"] > 0
