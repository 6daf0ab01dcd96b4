"""``dpkit audit train-classifier``: canaries in one real training run, scored, turned into ε lower
bounds — and the mutation test that makes the audit worth having: an engine whose noise is
switched off must be caught.

Settings of the white-box tests (digits, 1,500 examples, MLP 64-256-256-10, SGD without
momentum, lr 0.5, B = 32, 2 epochs = 100 steps, q = 32 / (1500 + ~90 included canaries) ≈ 0.02,
m = 200 Dirac canaries in the 256x256 weight). An included canary joins ~2 steps and each moves
its coordinate by lr·C/B ≈ 0.016; the natural drift of a coordinate over training has a spread
of ≈ 0.009 (B = 64 halves the signal and the bounds fall to 1.7 / 2.7; B = 128 with a smaller MLP
drowns it). Without noise the top 50 scores are all included canaries: ε_LB = 2.10 (ε-DP) and
3.32 (f-DP), far above the claimed ε = 1. With the calibrated noise (σ ≈ 1.17 at ε = 1: std
lr·σC/B ≈ 0.018 per coordinate per step, ≈ 0.18 over the run) the bounds are 0.
Each audit takes ~3 s on one CPU thread.
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from dpkit.audit.canaries import AuditCanaryConfig
from dpkit.audit.classifier import (AUDIT_FILE, CANARIES_FILE, PRECISION_FILE, TRAIN_DIR,
                                    run_audit_classifier)
from dpkit.classifiers import ClassifierConfig, ModelConfig
from dpkit.cli import cli
from dpkit.data import DataOptions
from dpkit.engine import PrivacyConfig
from dpkit.errors import DPKitError
from dpkit.names import AUDIT_BOUNDS

TRAINING = ["--dataset", "digits", "--model", "mlp", "--batch-size", "32", "--epochs", "2",
            "--lr", "0.5", "--momentum", "0", "--quiet"]


def _config(*, mode: str = "hooks", epsilon: float | None = 1.0, dp: bool = True,
            epochs: int = 2, batch_size: int = 32, momentum: float = 0.0,
            lr: float = 0.5) -> ClassifierConfig:
    privacy = (PrivacyConfig(target_epsilon=epsilon, delta=1e-5, grad_sample_mode=mode) if dp
               else PrivacyConfig(enabled=False))
    return ClassifierConfig(model=ModelConfig(arch="mlp"), privacy=privacy, optimizer="sgd",
                            lr=lr, momentum=momentum, epochs=epochs, batch_size=batch_size,
                            eval_every=epochs, seed=0)


def _gradient_audit(tmp_path, *, mode: str = "hooks", seed: int = 0, name: str = "audit"):
    return run_audit_classifier(_config(mode=mode),
                                canaries=AuditCanaryConfig(200, "gradient", seed=seed),
                                dataset="digits", data=DataOptions(), out=tmp_path / name)


def _read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------- the broken engine is caught

@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost", "bk"])
def test_an_engine_without_noise_is_caught(tmp_path, broken_engine, mode):
    result = _gradient_audit(tmp_path, mode=mode)
    report = result.report
    assert report.claimed_epsilon == pytest.approx(1.0, abs=0.01)  # the run still claims ε = 1
    assert report.verdict == "violation", report.epsilon_lower_bound
    assert report.epsilon_lower_bound["steinke"] > 1.5 and report.epsilon_lower_bound["fdp"] > 2.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correct_dp_is_consistent(tmp_path, seed):
    report = _gradient_audit(tmp_path, seed=seed).report
    assert report.verdict == "consistent", report.epsilon_lower_bound
    assert max(report.epsilon_lower_bound.values()) <= report.claimed_epsilon


def test_the_canaries_are_clipped_like_examples(tmp_path, monkeypatch, broken_engine):
    """Canaries of norm 10·C are clipped to C: the same scores as with norm-C canaries."""
    from dpkit.audit.canaries import DiracCanaries

    plain = _read_csv(_gradient_audit(tmp_path, name="plain").audit_dir + "/" + CANARIES_FILE)
    original = DiracCanaries.__init__

    def loud(self, **kw):
        original(self, **{**kw, "max_grad_norm": 10 * kw["max_grad_norm"]})

    monkeypatch.setattr(DiracCanaries, "__init__", loud)
    loud_rows = _read_csv(_gradient_audit(tmp_path, name="loud").audit_dir + "/" + CANARIES_FILE)
    np.testing.assert_allclose([float(r["score"]) for r in loud_rows],
                               [float(r["score"]) for r in plain], atol=1e-5)


# ------------------------------------------------------------- black-box canaries

def test_mislabeled_canaries_are_memorised_without_dp(tmp_path):
    result = run_audit_classifier(
        _config(dp=False, epochs=10, batch_size=64, momentum=0.9, lr=0.1),
        canaries=AuditCanaryConfig(200, "mislabeled", seed=0), dataset="digits",
        data=DataOptions(subset=1200), out=tmp_path / "audit")
    report = result.report
    assert report.claimed_epsilon == float("inf") and report.verdict == "consistent"
    assert report.epsilon_lower_bound["steinke"] > 1.0, report.epsilon_lower_bound
    rows = _read_csv(tmp_path / "audit" / CANARIES_FILE)
    scores = np.array([float(r["score"]) for r in rows])
    included = np.array([r["included"] == "1" for r in rows])
    assert scores[included].mean() > scores[~included].mean() + 1.0
    # the files: the trained set is the 1,200 examples and the included canaries, which came
    # from the held-out examples
    split = json.loads((tmp_path / "audit" / TRAIN_DIR / "split.json").read_text())
    trained = json.loads((tmp_path / "audit" / TRAIN_DIR / "result.json").read_text())
    assert trained["train_size"] == 1200 + included.sum() == result.records
    used = sorted(int(r["source_index"]) for r in rows if r["included"] == "1")
    assert split["audit_canaries"]["source_indices"] == used
    assert not set(used) & set(split["train_indices"]) and not set(used) & set(
        split["heldout_indices"])
    assert all(int(r["label"]) >= 0 for r in rows)


def test_ood_canaries_run(tmp_path):
    result = run_audit_classifier(_config(dp=False, epochs=3, lr=0.1), dataset="digits",
                                  canaries=AuditCanaryConfig(100, "ood", seed=1),
                                  data=DataOptions(), out=tmp_path / "audit")
    assert result.records == 1500 + result.included
    assert set(result.report.epsilon_lower_bound) == set(AUDIT_BOUNDS)


# ------------------------------------------------------------- the audit directory

def test_audit_directory_records_what_was_trained(tmp_path):
    result = _gradient_audit(tmp_path)
    audit = tmp_path / "audit"
    for name in ("config.json", CANARIES_FILE, AUDIT_FILE, PRECISION_FILE):
        assert (audit / name).is_file(), name
    assert (audit / TRAIN_DIR / "final.pt").is_file()
    rows = _read_csv(audit / CANARIES_FILE)
    assert len(rows) == 200 and len({r["coordinate"] for r in rows}) == 200
    included = sum(r["included"] == "1" for r in rows)
    assert included == result.included
    # excluded canaries never join a step; N counts the included ones
    assert all(r["times_sampled"] == "0" for r in rows if r["included"] == "0")
    privacy = json.loads((audit / TRAIN_DIR / "privacy.json").read_text())
    assert privacy["sample_rate"] == pytest.approx(32 / (1500 + included))
    saved = json.loads((audit / AUDIT_FILE).read_text())
    assert saved["audit_dir"] == str(audit) and saved["verdict"] == result.report.verdict
    config = json.loads((audit / "config.json").read_text())
    assert config["canaries"] == {"canaries": 200, "canary_type": "gradient", "alpha": 0.05,
                                  "seed": 0}
    assert config["training"]["privacy"]["target_epsilon"] == 1.0


def test_gradient_canaries_need_dp_sgd(tmp_path):
    with pytest.raises(DPKitError, match="noise_multiplier=0"):
        run_audit_classifier(_config(dp=False), dataset="digits", data=DataOptions(),
                             canaries=AuditCanaryConfig(100, "gradient"), out=tmp_path / "a")
    assert not (tmp_path / "a").exists()


# ------------------------------------------------------------- CLI

def test_cli_json(tmp_path, cli_runner):
    res = cli_runner.invoke(cli, ["audit", "train-classifier", *TRAINING, "--epsilon", "2",
                                  "--canaries", "100", "--canary-type", "gradient", "--json",
                                  "--out", str(tmp_path / "audit")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"claimed_epsilon", "delta", "canaries", "epsilon_lower_bound", "confidence",
            "verdict", "audit_dir"} <= set(out)
    assert set(out["epsilon_lower_bound"]) == {"steinke", "fdp"}
    assert out["canaries"] == 100 and out["verdict"] in ("consistent", "violation")
    assert out["claimed_epsilon"] == pytest.approx(2.0, abs=0.01)
    assert out["audit_dir"] == str(tmp_path / "audit")


def test_cli_text_without_noise(tmp_path, cli_runner):
    res = cli_runner.invoke(cli, ["audit", "train-classifier", *TRAINING,
                                  "--noise-multiplier", "0", "--canaries", "200",
                                  "--out", str(tmp_path / "audit")])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert any(line.lstrip().startswith("steinke: epsilon >= ") for line in lines)
    assert any(line.lstrip().startswith("fdp: epsilon >= ") for line in lines)
    assert lines[-1].startswith("verdict: consistent with the claim"), lines[-1]
    assert "epsilon = inf" in lines[-1]


@pytest.mark.parametrize("args, needle", [
    (["--canaries", "1"], "--canaries"),
    (["--canaries", "100", "--canary-type", "poison"], "--canary-type"),
    (["--canaries", "100", "--canary-type", "mislabeled"], "--subset 1400"),
    (["--canaries", "400", "--canary-type", "mislabeled", "--subset", "1200"], "--subset 1100"),
    (["--canaries", "100", "--no-dp"], "--noise-multiplier 0"),
    (["--canaries", "100", "--alpha", "2"], "--alpha"),
])
def test_cli_bad_input(tmp_path, cli_runner, args, needle):
    out = tmp_path / "audit"
    dp = [] if "--no-dp" in args else ["--epsilon", "2"]
    res = cli_runner.invoke(cli, ["audit", "train-classifier", *TRAINING, *dp, *args,
                                  "--out", str(out)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2, (res.output, res.exception)
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], res.output
    assert not out.exists() and not any(tmp_path.iterdir())
