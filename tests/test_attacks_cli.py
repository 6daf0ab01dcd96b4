"""`dpkit attack membership|reconstruct` against run directories from the trainers."""

from __future__ import annotations

import json

import pytest

from dpkit.cli import cli

MEMBERSHIP_KEYS = {"method", "auc", "balanced_accuracy", "tpr_at_fpr_0.001", "tpr_at_fpr_0.01",
                   "num_members", "num_nonmembers"}
RECONSTRUCT_KEYS = {"method", "mean_ssim", "ssim", "psnr", "num_reconstructed", "num_good", "grid"}


def _run(runner, args):
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    return res


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("clf") / "run"
    _run(CliRunner(), ["train-classifier", "--model", "mlp", "--hidden", "64", "--subset", "40",
                       "--no-dp", "--epochs", "30", "--batch-size", "20", "--quiet",
                       "--out", str(out)])
    return out


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("bin") / "run"
    _run(CliRunner(), ["train-classifier", "--model", "mlp", "--no-bias", "--norm", "none",
                       "--hidden", "32", "--classes", "0,1", "--subset", "10", "--no-dp",
                       "--epochs", "20", "--batch-size", "10", "--quiet", "--out", str(out)])
    return out


def test_membership_loss_and_lira_json(cli_runner, classifier_run):
    res = _run(cli_runner, ["attack", "membership", str(classifier_run), "--json"])
    d = json.loads(res.output)
    assert MEMBERSHIP_KEYS <= set(d) and d["method"] == "loss"
    assert d["num_members"] == d["num_nonmembers"] == 40
    assert (classifier_run / "attacks").is_dir()
    res = _run(cli_runner, ["attack", "membership", str(classifier_run), "--method", "lira",
                            "--shadow-models", "2", "--offline", "--json"])
    d = json.loads(res.output)
    assert d["method"] == "lira-offline" and 0 <= d["auc"] <= 1
    dirs = sorted((classifier_run / "attacks").iterdir())
    assert len(dirs) == 2  # a fresh directory per attack, nothing overwritten
    for sub in dirs:
        assert {"config.json", "result.json", "scores.json", "roc.png"} <= {
            p.name for p in sub.iterdir()}


def test_reconstruct_gradient_inversion_and_kkt(cli_runner, classifier_run, binary_run, tmp_path):
    out = tmp_path / "inv"
    res = _run(cli_runner, ["attack", "reconstruct", str(classifier_run), "--method",
                            "gradient-inversion", "--iterations", "200", "--out", str(out),
                            "--json"])
    d = json.loads(res.output)
    assert RECONSTRUCT_KEYS <= set(d) and d["num_reconstructed"] == 1
    assert d["ssim"][0] > 0.8 and (out / "reconstructions.png").is_file()
    res = cli_runner.invoke(cli, ["attack", "reconstruct", str(classifier_run), "--method",
                                  "gradient-inversion", "--out", str(out)])
    assert res.exit_code == 2 and "not empty" in res.output
    res = _run(cli_runner, ["attack", "reconstruct", str(binary_run), "--method", "kkt",
                            "--iterations", "50", "--json"])
    d = json.loads(res.output)
    assert d["num_reconstructed"] == 20 and len(d["ssim"]) == 20
    assert d["ssim"] == sorted(d["ssim"], reverse=True)


def test_wrong_method_or_target_is_a_one_line_error(cli_runner, classifier_run):
    res = cli_runner.invoke(cli, ["attack", "membership", str(classifier_run), "--method",
                                  "gan-leaks"])
    assert res.exit_code == 2 and "does not apply" in res.output
    res = cli_runner.invoke(cli, ["attack", "reconstruct", str(classifier_run), "--method", "kkt"])
    assert res.exit_code == 2 and "binary" in res.output
    res = cli_runner.invoke(cli, ["attack", "membership", str(classifier_run), "--method", "lira",
                                  "--shadow-models", "3"])
    assert res.exit_code == 2 and "even" in res.output


def test_gan_membership_methods(cli_runner, tmp_path):
    run = tmp_path / "gan"
    _run(cli_runner, ["train-gan", "--dataset", "digits", "--image-size", "28", "--subset", "100",
                      "--epochs", "1", "--batch-size", "50", "--latent-dim", "8", "--g-width",
                      "8", "--d-width", "8", "--no-dp", "--quiet", "--out", str(run)])
    for method, extra in [("discriminator", []), ("gan-leaks", ["--num-samples", "300"]),
                          ("gan-leaks-latent", ["--num-samples", "50", "--latent-steps", "3",
                                                "--max-examples", "20"])]:
        d = json.loads(_run(cli_runner, ["attack", "membership", str(run), "--method", method,
                                         *extra, "--json"]).output)
        assert d["method"] == method and 0 <= d["auc"] <= 1
        assert d["num_members"] == d["num_nonmembers"] == (20 if "--max-examples" in extra else 100)
    res = cli_runner.invoke(cli, ["attack", "reconstruct", str(run)])
    assert res.exit_code == 2 and "train-classifier" in res.output


def test_lira_shadows_train_on_the_targets_training_set_size(cli_runner, classifier_run, tmp_path):
    from dpkit.attacks.membership import lira_population
    from dpkit.classifiers import load_classifier

    members, nonmembers = lira_population(load_classifier(classifier_run).bundle, seed=0)
    assert len(members) == len(nonmembers) == 40  # shadows train on random halves: 40 each
    res = _run(cli_runner, ["attack", "membership", str(classifier_run), "--method", "lira",
                            "--shadow-models", "2", "--out", str(tmp_path / "lira"), "--json"])
    out = json.loads(res.output)
    text = (tmp_path / "lira" / "result.json").read_text()
    assert '"shadow_train_size": 40' in text and '"target_train_size": 40' in text, text
    assert out["num_members"] == 40
    # a target trained on all 1500 digits has only 297 non-members: refused, with the fix
    full = tmp_path / "full"
    _run(cli_runner, ["train-classifier", "--model", "mlp", "--hidden", "8", "--no-dp",
                      "--epochs", "1", "--quiet", "--out", str(full)])
    res = cli_runner.invoke(cli, ["attack", "membership", str(full), "--method", "lira",
                                  "--shadow-models", "2"])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "1500" in res.output and "--subset 750" in res.output
    assert not (full / "attacks").exists() or not any((full / "attacks").iterdir())
