"""``dpkit audit train-gan``: canaries in one real DP-GAN training run, scored on the final
discriminator and turned into ε lower bounds — and the mutation test: a discriminator step whose
noise is switched off must be caught.

Settings of the white-box tests (the tiny GAN of tests/tiny_gan.py on 64 digits, B = 64,
lr_d = 1e-3, 10 epochs, m = 400 Dirac canaries in the discriminator's 16x8x4x4 weight, claimed
ε = 2). N = 64 + ~200 included canaries, so an epoch is ~3 steps (~30 in all) and each included
canary joins ~10 of them (q·T = epochs). The discriminator trains with Adam, which makes every
coordinate drift by ~lr per step whatever its gradient's size, and turns a canary's push C/B
into ~lr·√t (t: the step) rather than lr·C/B: few steps per epoch keep the drift of the excluded
canaries (spread ≈ 0.008) below the push of the included ones (≈ 0.013 on average). Without noise
that gives ε_LB ≈ 2.8 (ε-DP) and ≈ 4.3 (f-DP) > 2 (the tiny GAN's own 256 images, B = 32,
lr_d = 2e-4, 2 epochs: 0 and 0); with the calibrated noise the bounds stay under 0.5. Each audit takes ~3-4 s on one
CPU thread.

The image canaries (non-private): 16 digits, m = 48 held-out digits (~24 included), B = 16,
80 epochs (160 steps), lr_d = 5e-3, lr_g = 2e-3: the discriminator of a generator that has
learnt something must tell its own training images from other digits, and scores the included
canaries ~1 logit higher (with 64 images and lr_d = 1e-3 there is no visible difference).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from tiny_gan import tiny_gan_config

from dpkit.audit.canaries import AuditCanaryConfig
from dpkit.audit.directory import AUDIT_FILE, CANARIES_FILE, PRECISION_FILE, TRAIN_DIR
from dpkit.audit.gan import run_audit_gan
from dpkit.cli import cli
from dpkit.data import DataOptions
from dpkit.engine import PrivacyConfig
from dpkit.errors import DPKitError

GRADIENT_TRAINING = ["--dataset", "digits", "--subset", "64", "--image-size", "28",
                     "--latent-dim", "16", "--g-width", "8", "--d-width", "8",
                     "--batch-size", "64", "--epochs", "10", "--lr-d", "1e-3",
                     "--save-every", "10", "--seed", "3", "--quiet"]


def _gradient_config(*, epsilon: float = 2.0, mode: str = "hooks"):
    return tiny_gan_config(privacy=PrivacyConfig(target_epsilon=epsilon, delta=1e-5,
                                                 grad_sample_mode=mode),
                           data=DataOptions(image_size=28, subset=64), batch_size=64,
                           lr_d=1e-3, epochs=10, save_every=10)


def _gradient_audit(tmp_path, *, seed: int = 0, name: str = "audit", mode: str = "hooks"):
    return run_audit_gan(_gradient_config(mode=mode),
                         canaries=AuditCanaryConfig(400, "gradient", seed=seed),
                         out=tmp_path / name)


def _read_csv(path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------- the broken engine is caught

@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost"])
def test_a_discriminator_step_without_noise_is_caught(tmp_path, broken_engine, mode):
    report = _gradient_audit(tmp_path, mode=mode).report
    assert report.claimed_epsilon == pytest.approx(2.0, abs=0.01)  # the run still claims ε = 2
    assert report.verdict == "violation", report.epsilon_lower_bound
    assert report.epsilon_lower_bound["fdp"] > 3.0, report.epsilon_lower_bound


@pytest.mark.parametrize("seed", [0, 1])
def test_correct_dp_is_consistent(tmp_path, seed):
    report = _gradient_audit(tmp_path, seed=seed).report
    assert report.verdict == "consistent", report.epsilon_lower_bound
    assert max(report.epsilon_lower_bound.values()) <= report.claimed_epsilon


# ------------------------------------------------------------- black-box image canaries

def test_included_image_canaries_look_more_real_without_dp(tmp_path):
    cfg = tiny_gan_config(privacy=PrivacyConfig(enabled=False),
                          data=DataOptions(image_size=28, subset=16), batch_size=16,
                          lr_d=5e-3, lr_g=2e-3, epochs=80, save_every=80)
    result = run_audit_gan(cfg, canaries=AuditCanaryConfig(48, "image", seed=1),
                           out=tmp_path / "audit")
    assert result.report.claimed_epsilon == float("inf")
    assert result.report.verdict == "consistent"
    rows = _read_csv(tmp_path / "audit" / CANARIES_FILE)
    scores = np.array([float(r["score"]) for r in rows])
    included = np.array([r["included"] == "1" for r in rows])
    assert scores[included].mean() > scores[~included].mean() + 0.5
    # the trained set is the 16 digits and the included canaries, taken from the held-out ones
    split = json.loads((tmp_path / "audit" / TRAIN_DIR / "split.json").read_text())
    trained = json.loads((tmp_path / "audit" / TRAIN_DIR / "result.json").read_text())
    assert trained["train_size"] == 16 + included.sum() == result.records
    used = sorted(int(r["source_index"]) for r in rows if r["included"] == "1")
    assert split["audit_canaries"]["source_indices"] == used
    assert not set(used) & set(split["train_indices"]) and not set(used) & set(
        split["heldout_indices"])


# ------------------------------------------------------------- the audit directory

def test_audit_directory_records_what_was_trained(tmp_path, broken_engine):
    # the broken engine: the files do not depend on the noise, and it runs faster to a verdict
    result = _gradient_audit(tmp_path)
    audit = tmp_path / "audit"
    for name in ("config.json", CANARIES_FILE, AUDIT_FILE, PRECISION_FILE):
        assert (audit / name).is_file(), name
    assert (audit / TRAIN_DIR / "final.pt").is_file()
    assert (audit / TRAIN_DIR / "checkpoint.pt").is_file()
    rows = _read_csv(audit / CANARIES_FILE)
    assert len(rows) == 400 and len({r["coordinate"] for r in rows}) == 400
    assert {r["parameter"] for r in rows} == {"net.2.weight"}  # the largest weight of D
    included = sum(r["included"] == "1" for r in rows)
    assert included == result.included and result.records == 64 + included
    assert all(r["times_sampled"] == "0" for r in rows if r["included"] == "0")
    privacy = json.loads((audit / TRAIN_DIR / "privacy.json").read_text())
    assert privacy["sample_rate"] == pytest.approx(64 / (64 + included))
    saved = json.loads((audit / AUDIT_FILE).read_text())
    assert saved["audit_dir"] == str(audit) and saved["verdict"] == result.report.verdict
    config = json.loads((audit / "config.json").read_text())
    assert config["command"] == "audit-train-gan"
    assert config["canaries"] == {"canaries": 400, "canary_type": "gradient", "alpha": 0.05,
                                  "seed": 0}
    assert config["training"]["privacy"]["target_epsilon"] == 2.0


@pytest.mark.parametrize("kind", ["mislabeled", "ood"])
def test_classifier_canaries_are_refused(tmp_path, kind):
    with pytest.raises(DPKitError, match="not a GAN's canary"):
        run_audit_gan(_gradient_config(), canaries=AuditCanaryConfig(100, kind),
                      out=tmp_path / "a")
    assert not (tmp_path / "a").exists()


# ------------------------------------------------------------- CLI

def test_cli_json(tmp_path, cli_runner):
    res = cli_runner.invoke(cli, ["audit", "train-gan", *GRADIENT_TRAINING, "--epsilon", "2",
                                  "--canaries", "400", "--canary-type", "gradient", "--json",
                                  "--out", str(tmp_path / "audit")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"claimed_epsilon", "delta", "canaries", "epsilon_lower_bound", "confidence",
            "verdict", "audit_dir", "canary_type", "included_canaries", "private_records",
            "train"} <= set(out)
    assert set(out["epsilon_lower_bound"]) == {"steinke", "fdp"}
    assert out["canaries"] == 400 and out["verdict"] == "consistent"
    assert out["claimed_epsilon"] == pytest.approx(2.0, abs=0.01)
    assert out["audit_dir"] == str(tmp_path / "audit")
    assert out["train"]["run_dir"] == str(tmp_path / "audit" / TRAIN_DIR)


@pytest.mark.parametrize("args, needle", [
    (["--canaries", "1"], "--canaries"),
    (["--canaries", "100", "--canary-type", "mislabeled"], "--canary-type"),
    (["--canaries", "3000"], "--canaries 2048"),
    (["--canaries", "1450", "--canary-type", "image"], "--subset 50"),
    (["--canaries", "100", "--no-dp"], "--noise-multiplier 0"),
    (["--canaries", "100", "--alpha", "2"], "--alpha"),
    (["--canaries", "100", "--resume", "x"], "--resume"),
])
def test_cli_bad_input(tmp_path, cli_runner, args, needle):
    out = tmp_path / "audit"
    dp = [] if "--no-dp" in args else ["--epsilon", "2"]
    res = cli_runner.invoke(cli, ["audit", "train-gan", *GRADIENT_TRAINING, *dp, *args,
                                  "--out", str(out)])
    lines = res.output.strip().splitlines()
    assert res.exit_code == 2, (res.output, res.exception)
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], res.output
    assert not out.exists() and not any(tmp_path.iterdir())
