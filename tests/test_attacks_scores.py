"""The score-to-metric module: perfect, useless and reversed attacks; agreement with sklearn."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from dpkit.attacks.scores import MembershipScores, attack_metrics, roc_curve, tpr_at_fpr
from dpkit.errors import DPKitError


def test_perfect_separator_has_auc_one_and_full_tpr_at_low_fpr():
    rng = np.random.default_rng(0)
    m = attack_metrics(MembershipScores("x", rng.uniform(2, 3, 500), rng.uniform(0, 1, 2000)))
    assert m.auc == 1.0
    assert m.tpr_at_fpr_0_001 == 1.0 and m.tpr_at_fpr_0_01 == 1.0
    assert m.balanced_accuracy == 1.0
    assert (m.num_members, m.num_nonmembers) == (500, 2000)


def test_identical_distributions_give_chance():
    rng = np.random.default_rng(1)
    m = attack_metrics(MembershipScores("x", rng.normal(size=20000), rng.normal(size=20000)))
    assert abs(m.auc - 0.5) < 0.01
    assert m.tpr_at_fpr_0_001 < 0.004 and m.tpr_at_fpr_0_01 < 0.02
    assert abs(m.balanced_accuracy - 0.5) < 0.02


def test_direction_higher_means_member():
    rng = np.random.default_rng(2)
    lo, hi = rng.normal(0, 1, 3000), rng.normal(1, 1, 3000)
    assert attack_metrics(MembershipScores("x", hi, lo)).auc > 0.7
    assert attack_metrics(MembershipScores("x", lo, hi)).auc < 0.3


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(3)
    mem, non = rng.integers(0, 5, 300).astype(float), rng.integers(0, 4, 400).astype(float)
    ref = roc_auc_score(np.r_[np.ones(300), np.zeros(400)], np.r_[mem, non])
    assert attack_metrics(MembershipScores("x", mem, non)).auc == pytest.approx(ref, abs=1e-12)


def test_tpr_at_fpr_matches_naive_threshold_scan():
    rng = np.random.default_rng(4)
    mem, non = rng.normal(0.5, 1, 400), rng.normal(0, 1, 1000)
    best = 0.0
    for t in np.r_[mem, non]:
        if np.mean(non >= t) <= 0.01:
            best = max(best, float(np.mean(mem >= t)))
    curve = roc_curve(MembershipScores("x", mem, non))
    assert tpr_at_fpr(curve, 0.01) == best
    assert curve.fpr[0] == 0 and curve.tpr[-1] == 1 and curve.fpr[-1] == 1


def test_accepts_tensors_and_rejects_empty_or_nan():
    m = attack_metrics(MembershipScores("x", torch.tensor([1.0, 2.0]), torch.tensor([0.0])))
    assert m.to_dict()["tpr_at_fpr_0.001"] == 1.0
    with pytest.raises(DPKitError, match="non-member"):
        MembershipScores("x", [1.0], [])
    with pytest.raises(DPKitError, match="NaN"):
        MembershipScores("x", [float("nan")], [1.0])


def test_roc_png_is_written(tmp_path):
    from PIL import Image

    from dpkit.attacks.plots import roc_png

    rng = np.random.default_rng(5)
    curve = roc_curve(MembershipScores("x", rng.normal(1, 1, 200), rng.normal(0, 1, 200)))
    path = roc_png({"loss": curve}, tmp_path / "roc.png")
    assert Image.open(path).size == (480, 480)


def test_public_api_is_importable():
    import dpkit.attacks as attacks

    missing = [name for name in attacks.__all__ if not hasattr(attacks, name)]
    assert not missing and len(set(attacks.__all__)) == len(attacks.__all__)
