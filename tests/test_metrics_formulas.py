"""FID, KID, precision/recall and MiFID on synthetic features: closed forms and references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from dpkit.metrics import (FeatureStatistics, GenerativeEvalConfig, evaluate_features,
                           features_to_statistics, fid_from_features, frechet_distance,
                           kid_from_features, memorization_distance, mifid, mifid_from_features,
                           precision_recall_from_features, threshold_distance)
from dpkit.errors import DPKitError


def _stats(mu, sigma) -> FeatureStatistics:
    return FeatureStatistics(np.asarray(mu, float), np.asarray(sigma, float), 1000)


def _spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_closed_form_diagonal_gaussians():
    # N(m1, diag(s1)) vs N(m2, diag(s2)): |m1-m2|^2 + sum (sqrt(s1) - sqrt(s2))^2
    m1, m2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    s1, s2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((m1 - m2) ** 2) + np.sum((np.sqrt(s1) - np.sqrt(s2)) ** 2)
    assert frechet_distance(_stats(m1, np.diag(s1)), _stats(m2, np.diag(s2))) == \
        pytest.approx(expected, rel=1e-10)


def test_frechet_matches_scipy_sqrtm_formula():
    rng = np.random.default_rng(0)
    for d in (2, 5, 16):
        a, b = _spd(rng, d), _spd(rng, d)
        m1, m2 = rng.normal(size=d), rng.normal(size=d)
        covmean = scipy.linalg.sqrtm(a @ b).real
        expected = np.sum((m1 - m2) ** 2) + np.trace(a) + np.trace(b) - 2 * np.trace(covmean)
        assert frechet_distance(_stats(m1, a), _stats(m2, b)) == pytest.approx(expected, rel=1e-8)


def test_fid_of_a_set_with_itself_is_zero_and_grows_with_shift():
    x = torch.randn(400, 16)
    assert abs(fid_from_features(x, x)) < 1e-8
    shifts = [fid_from_features(x + s, x) for s in (0.1, 0.5, 1.0)]
    assert shifts[0] < shifts[1] < shifts[2]
    assert shifts[2] == pytest.approx(16.0, rel=1e-6)  # a pure mean shift of 1 in 16 dims


def test_statistics_are_unbiased_mean_and_covariance():
    x = torch.randn(300, 4, dtype=torch.float64)
    st = features_to_statistics(x)
    np.testing.assert_allclose(st.mu, x.mean(0).numpy(), atol=1e-12)
    np.testing.assert_allclose(st.sigma, np.cov(x.numpy(), rowvar=False), atol=1e-12)
    with pytest.raises(ValueError):
        features_to_statistics(torch.randn(1, 4))


def test_singular_covariances_fall_back_to_eps_on_the_diagonal(monkeypatch):
    import dpkit.metrics.fid as fid_mod

    calls = []
    real = fid_mod.fid_statistics_to_metric

    def flaky(a, b, verbose):
        calls.append(float(a["sigma"][0, 0]))
        return {fid_mod.KEY_METRIC_FID: math.nan} if len(calls) == 1 else real(a, b, verbose)

    monkeypatch.setattr(fid_mod, "fid_statistics_to_metric", flaky)
    s = _stats(np.zeros(2), np.diag([1.0, 0.0]))
    value = frechet_distance(s, s)
    assert math.isfinite(value) and abs(value) < 1e-5
    assert calls == [1.0, 1.0 + 1e-6]


def test_kid_and_precision_recall_on_identical_and_shifted_sets():
    x = torch.randn(300, 8)
    same = kid_from_features(x, x.clone(), subsets=20, subset_size=100)
    far = kid_from_features(x + 3.0, x, subsets=20, subset_size=100)
    assert abs(same.mean) < 1e-2 * far.mean and far.mean > 0
    assert same.subset_size == 100
    small = kid_from_features(x[:50], x, subsets=5, subset_size=1000)
    assert small.subset_size == 50  # capped at the smaller set
    pr = precision_recall_from_features(x, x.clone())
    assert pr.precision == 1.0 and pr.recall == 1.0
    pr_far = precision_recall_from_features(x + 10.0, x)
    assert pr_far.precision == 0.0 and pr_far.recall == 0.0


def test_memorized_samples_get_small_distance_and_large_mifid():
    train = torch.randn(1000, 64)
    copies = train[:300] + 1e-3 * torch.randn(300, 64)
    res = mifid_from_features(copies, train)
    assert res.memorization_distance < 0.1
    assert res.memorization_distance_thresholded == res.memorization_distance
    assert res.mifid > 1e3 * res.fid


def test_fresh_samples_get_threshold_one_and_mifid_equal_fid():
    train = torch.randn(1000, 64)
    fresh = torch.randn(300, 64)
    res = mifid_from_features(fresh, train)
    assert res.memorization_distance > 0.1
    assert res.memorization_distance_thresholded == 1.0
    assert res.mifid == pytest.approx(res.fid, rel=1e-12)


def test_min_is_over_training_for_each_generated_sample():
    # one generated point equal to t1; training holds t1 and an orthogonal t2.
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    gen = torch.tensor([[2.0, 0.0]])
    assert memorization_distance(gen, train) == pytest.approx(0.0, abs=1e-12)
    assert memorization_distance(train, gen) == pytest.approx(0.5)  # the other direction
    x = torch.randn(50, 7, dtype=torch.float64)
    assert 0.0 <= memorization_distance(x * 3.0, x) < 1e-12  # rounding never goes below 0
    # |cos|: an anti-parallel copy is a copy too
    assert memorization_distance(-gen, train) == pytest.approx(0.0, abs=1e-12)


def test_memorization_distance_matches_torchmetrics_in_the_kaggle_direction():
    from torchmetrics.image.mifid import _compute_cosine_distance

    gen, train = torch.rand(50, 10), torch.rand(200, 10)
    gen[3] = 0.0  # all-zero rows are dropped
    ours = memorization_distance(gen, train)
    theirs = float(_compute_cosine_distance(gen.double(), train.double(), cosine_distance_eps=1.0))
    assert ours == pytest.approx(theirs, rel=1e-10)
    swapped = float(_compute_cosine_distance(train.double(), gen.double(), cosine_distance_eps=1.0))
    assert abs(ours - swapped) > 1e-3


def test_memorization_distance_is_the_same_in_small_blocks():
    gen, train = torch.randn(37, 6), torch.randn(50, 6)
    assert memorization_distance(gen, train, max_entries=60) == \
        pytest.approx(memorization_distance(gen, train), rel=1e-12)


def test_public_api_imports():
    import dpkit.metrics

    for name in dpkit.metrics.__all__:
        assert getattr(dpkit.metrics, name) is not None


def test_threshold_and_mifid_arithmetic():
    assert threshold_distance(0.05, 0.1) == 0.05 and threshold_distance(0.1, 0.1) == 1.0
    r = mifid(10.0, 0.05, eps=0.1)
    assert r.mifid == pytest.approx(200.0) and r.threshold == 0.1
    assert mifid(10.0, 0.5).mifid == pytest.approx(10.0)
    with pytest.raises(ValueError):
        mifid(1.0, 0.5, eps=0.0)
    with pytest.raises(ValueError):
        memorization_distance(torch.zeros(3, 2), torch.ones(3, 2))


def test_evaluate_features_reports_only_the_keys_asked_for():
    x, y = torch.randn(200, 8), torch.randn(300, 8)
    cfg = GenerativeEvalConfig(metrics=("kid", "mifid"), kid_subsets=5, kid_subset_size=50,
                               mifid_threshold=0.1)
    out = evaluate_features(x, y, y, cfg, features_name="test").to_dict()
    assert set(out) == {"features", "num_samples", "reference", "fid", "kid_mean", "kid_std",
                        "mifid", "memorization_distance", "memorization_distance_thresholded",
                        "mifid_threshold", "mifid_threshold_rule",
                        "most_copied"}  # per-sample memorization (issue 13)
    assert out["features"] == "test" and out["num_samples"] == 200
    with pytest.raises(DPKitError, match="not generative metrics"):
        GenerativeEvalConfig(metrics=("accuracy",))
    with pytest.raises(DPKitError, match="reference='val'"):
        GenerativeEvalConfig(reference="val")
