"""dpkit.audit: Clopper–Pearson, one-run (Steinke et al.) and f-DP (Mahloujifar et al.) bounds
against naive references, published golden values and properties; ``dpkit audit gaussian``.

Published values reproduced: jax_privacy's ``tests/auditing_test.py::test_epsilon_one_run_close``
(google-deepmind/jax_privacy, commit 8967688c), all six rows — shifts 1, 2, 4, ε-DP and f-DP — to
rtol 1e-5 (their own tolerance). The tables of Steinke et al. (arXiv:2305.08846) and of
Mahloujifar et al. Table 1 (arXiv:2410.22235) were not reachable from this machine, so the
Gaussian-mechanism rows are tested as properties instead (f-DP ≥ ε-DP on the same guesses; no
bound exceeds the true ε over 20 seeds).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats

import dpkit.audit as audit
from dpkit.audit import (clopper_pearson_best_threshold, clopper_pearson_epsilon,
                         clopper_pearson_interval, clopper_pearson_union_bound, fdp_mu,
                         gaussian_canaries, gaussian_mu, gdp_delta, gdp_epsilon, guess_counts,
                         one_run_bound, simulate_gaussian_audit, steinke_epsilon,
                         steinke_p_value)
from dpkit.cli import cli
from dpkit.errors import DPKitError


def test_public_api_imports():
    for name in audit.__all__:
        assert hasattr(audit, name), name
    assert audit.AUDIT_BOUNDS == ("steinke", "fdp")


# ---------------------------------------------------------------- jax_privacy golden values

def _deterministic_normal(shift: float, n: int) -> np.ndarray:
    """jax_privacy's test scores: the n mid-quantiles of N(shift, 1), no randomness."""
    return scipy.stats.norm.ppf(np.linspace(0, 1, n, endpoint=False) + 1 / (2 * n)) + shift


def _roc_hull_guesses(ins: np.ndarray, outs: np.ndarray) -> list[int]:
    """Guess counts r at the vertices of the ROC's upper convex hull (collinear points dropped),
    thresholds descending from +inf: jax_privacy's `Bonferroni` strategy tests exactly these, at
    alpha / (number of vertices). Naive monotone chain."""
    t = np.concatenate([np.union1d(ins, outs), [np.inf]])
    fn = np.searchsorted(np.sort(ins), t, side="left")
    tn = np.searchsorted(np.sort(outs), t, side="left")
    pts, hull = list(zip(fn.tolist(), tn.tolist())), []
    for i, p in enumerate(pts):
        while len(hull) >= 2:
            a, b = pts[hull[-2]], pts[hull[-1]]
            if (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0]) >= 0:
                hull.pop()
            else:
                break
        hull.append(i)
    return [int(ins.size - fn[i] + outs.size - tn[i]) for i in hull]


@pytest.mark.parametrize("method,shift,expected", [
    ("steinke", 1, 1.13346), ("fdp", 1, 2.164749),
    ("steinke", 2, 2.311945), ("fdp", 2, 4.7218075),
    ("steinke", 4, 4.395568), ("fdp", 4, 9.133752)])
def test_jax_privacy_golden_one_run(method, shift, expected):
    # 10k in + 10k out canaries, deterministic N(shift, 1) vs N(0, 1) quantiles, alpha = 0.05,
    # delta = 1e-6, k- = 0 and k+ searched over the ROC hull vertices (union bound over them).
    ins, outs = _deterministic_normal(shift, 10_000), _deterministic_normal(0, 10_000)
    ks = _roc_hull_guesses(ins, outs)
    scores = np.concatenate([ins, outs])
    is_member = np.arange(20_000) < 10_000
    bound = one_run_bound(scores, is_member, method=method, alpha=0.05, delta=1e-6,
                          candidates=[(k, 0) for k in ks])
    assert bound.candidates == len(ks) and bound.selection == "union-bound"
    assert bound.epsilon_lower_bound == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------- Steinke et al.: naive refs

def _naive_p_value(m: int, r: int, v: int, eps: float, delta: float) -> float:
    """Steinke et al. Algorithm 2 with direct binomial sums (math.comb), one term at a time."""
    q = math.exp(eps) / (1 + math.exp(eps))
    pmf = [math.comb(r, j) * q ** j * (1 - q) ** (r - j) for j in range(r + 1)]
    tail = sum(pmf[v:])
    worst, below = 0.0, 0.0
    for i in range(1, v + 1):
        below += pmf[v - i]
        worst = max(worst, below / i)
    return min(tail + 2 * m * delta * worst, 1.0)


@pytest.mark.parametrize("m,r,v", [(100, 10, 10), (100, 40, 31), (1000, 100, 70), (50, 50, 26),
                                   (200, 20, 0)])
@pytest.mark.parametrize("eps", [0.0, 0.5, 2.0])
@pytest.mark.parametrize("delta", [0.0, 1e-5, 1e-2])
def test_steinke_p_value_matches_naive_sums(m, r, v, eps, delta):
    got = steinke_p_value(canaries=m, guesses=r, correct=v, epsilon=eps, delta=delta)
    assert got == pytest.approx(_naive_p_value(m, r, v, eps, delta), rel=1e-9, abs=1e-15)


def test_steinke_epsilon_is_the_root_of_the_naive_p_value():
    m, r, v, alpha = 1000, 100, 85, 0.05
    for delta in (0.0, 1e-5):
        eps = steinke_epsilon(canaries=m, guesses=r, correct=v, alpha=alpha, delta=delta)
        assert _naive_p_value(m, r, v, eps - 1e-6, delta) <= alpha
        assert _naive_p_value(m, r, v, eps + 1e-6, delta) > alpha


def test_steinke_epsilon_monotone():
    kw = {"canaries": 1000, "guesses": 200, "alpha": 0.05, "delta": 1e-5}
    eps = [steinke_epsilon(correct=v, **kw) for v in range(120, 201, 10)]
    assert all(a < b for a, b in zip(eps, eps[1:])), eps  # more correct -> larger bound
    by_alpha = [steinke_epsilon(correct=160, **{**kw, "alpha": a}) for a in (0.01, 0.05, 0.2)]
    assert by_alpha[0] < by_alpha[1] < by_alpha[2]  # larger alpha -> larger bound
    by_delta = [steinke_epsilon(correct=160, **{**kw, "delta": d}) for d in (0, 1e-5, 1e-4)]
    assert by_delta[0] > by_delta[1] > by_delta[2]  # a larger delta explains more
    assert steinke_epsilon(correct=0, **kw) == 0.0  # all guesses wrong
    assert steinke_epsilon(correct=100, **kw) == 0.0  # chance level


def test_all_wrong_guesses_give_zero_from_scores():
    scores = np.arange(100.0)
    is_member = scores < 50  # members score lowest: every "in" guess is wrong
    for method in ("steinke", "fdp"):
        b = one_run_bound(scores, is_member, method=method, delta=1e-5, k_plus=20)
        assert b.correct == 0 and b.epsilon_lower_bound == 0.0


def test_ties_are_not_broken_by_canary_order():
    # equal scores with the members listed first: index order would make every guess correct
    is_member = np.arange(1000) < 500
    b = one_run_bound(np.zeros(1000), is_member, delta=1e-5)
    assert b.epsilon_lower_bound == 0.0
    g = guess_counts(np.zeros(1000), is_member, k_plus=100)
    assert 30 < g.correct < 70


def test_union_bound_costs_and_fixed_k_matches_counts():
    _, _, mu = gaussian_canaries(epsilon=4, delta=1e-5, canaries=10)
    scores, is_member, _ = gaussian_canaries(epsilon=4, delta=1e-5, canaries=2000, seed=3)
    fixed = one_run_bound(scores, is_member, delta=1e-5, k_plus=100, k_minus=100)
    g = guess_counts(scores, is_member, k_plus=100, k_minus=100)
    assert (fixed.guesses, fixed.correct, fixed.selection) == (200, g.correct, "fixed")
    assert fixed.epsilon_lower_bound == pytest.approx(
        steinke_epsilon(canaries=2000, guesses=200, correct=g.correct, delta=1e-5))
    # the same guesses as one of K candidates are tested at alpha / K: a smaller bound
    both = one_run_bound(scores, is_member, delta=1e-5, candidates=[(100, 100), (5, 5)])
    if (both.k_plus, both.k_minus) == (100, 100):
        assert both.epsilon_lower_bound < fixed.epsilon_lower_bound
    with pytest.raises(DPKitError, match="alpha"):
        one_run_bound(scores, is_member, alpha=0)
    with pytest.raises(DPKitError, match="delta"):
        one_run_bound(scores, is_member, method="fdp", delta=0)


# ---------------------------------------------------------------- f-DP and the Gaussian

def test_gdp_delta_matches_hockey_stick_integral():
    for eps, mu in ((0.5, 0.7), (2.0, 1.5), (4.0, 0.9249)):
        naive = scipy.integrate.quad(
            lambda x: max(0.0, scipy.stats.norm.pdf(x, mu) - math.exp(eps) * scipy.stats.norm.pdf(x)),
            -20, 30, points=[mu / 2 + eps / mu], limit=200)[0]
        assert gdp_delta(eps, mu) == pytest.approx(naive, rel=1e-7)


def test_analytic_gaussian_round_trip():
    for eps, delta in ((1.0, 1e-5), (4.0, 1e-5), (10.0, 1e-6)):
        mu = gaussian_mu(eps, delta)
        assert gdp_delta(eps, mu) == pytest.approx(delta, rel=1e-9)
        assert gdp_epsilon(mu, delta) == pytest.approx(eps, rel=1e-9)
    # Balle & Wang's analytical σ at ε = 1, δ = 1e-5 is well below the classical
    # sqrt(2 ln(1.25/δ))/ε = 4.84
    assert 1 / gaussian_mu(1.0, 1e-5) == pytest.approx(3.7306, abs=1e-4)


def test_fdp_mu_monotone_and_zero_without_evidence():
    kw = {"canaries": 1000, "guesses": 200, "alpha": 0.05}
    mus = [fdp_mu(correct=v, **kw) for v in (120, 150, 180, 200)]
    assert all(a < b for a, b in zip(mus, mus[1:])), mus
    assert fdp_mu(correct=100, **kw) == 0.0 and fdp_mu(correct=0, **kw) == 0.0
    assert fdp_mu(correct=150, **{**kw, "alpha": 0.01}) < mus[1] < fdp_mu(
        correct=150, **{**kw, "alpha": 0.2})


@pytest.mark.parametrize("eps", [4.0, 8.0])
def test_fdp_bound_at_least_steinke_on_same_guesses_for_large_epsilon(eps):
    scores, is_member, _ = gaussian_canaries(epsilon=eps, delta=1e-5, canaries=1000, seed=1)
    for k in (25, 50, 100):
        s = one_run_bound(scores, is_member, method="steinke", delta=1e-5, k_plus=k, k_minus=k)
        f = one_run_bound(scores, is_member, method="fdp", delta=1e-5, k_plus=k, k_minus=k)
        assert f.correct == s.correct
        assert f.epsilon_lower_bound >= s.epsilon_lower_bound > 0


def test_no_bound_exceeds_the_true_epsilon_over_20_seeds():
    # the ideal (ε, δ) Gaussian mechanism: each bound may exceed ε with probability <= alpha
    for seed in range(20):
        report = simulate_gaussian_audit(epsilon=4.0, delta=1e-5, canaries=500, seed=seed)
        assert report.verdict == "consistent", (seed, report.epsilon_lower_bound)
        assert 0 < report.epsilon_lower_bound["steinke"] <= report.epsilon_lower_bound["fdp"]


def test_simulation_detects_a_mechanism_weaker_than_claimed():
    # scores of the ε = 8 mechanism audited against a claim of ε = 1: a violation
    scores, is_member, _ = gaussian_canaries(epsilon=8.0, delta=1e-5, canaries=1000, seed=0)
    report = audit.audit_canaries(scores, is_member, claimed_epsilon=1.0, delta=1e-5)
    assert report.verdict == "violation" and report.epsilon_lower_bound["steinke"] > 1.0


# ---------------------------------------------------------------- Clopper–Pearson

@pytest.mark.parametrize("k,n", [(0, 10), (3, 10), (10, 10), (57, 200), (1000, 1000)])
def test_clopper_pearson_interval_matches_binomtest(k, n):
    ci = scipy.stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    lo, hi = clopper_pearson_interval(k, n, alpha=0.05)
    assert lo == pytest.approx(ci.low, abs=1e-12) and hi == pytest.approx(ci.high, abs=1e-12)


def test_clopper_pearson_worked_example():
    # TP = 1000/1000, FP = 0/1000, δ = 0, α = 0.05: TPR_lo = 0.025^(1/1000), FPR_hi = 1 − that
    b = clopper_pearson_epsilon(true_positives=1000, members=1000, false_positives=0,
                                nonmembers=1000, alpha=0.05, delta=0.0)
    t = 0.025 ** (1 / 1000)
    assert b.tpr_lower == pytest.approx(t) and b.fpr_upper == pytest.approx(1 - t)
    assert b.epsilon_lower_bound == pytest.approx(math.log(t / (1 - t)), rel=1e-12)
    assert b.epsilon_lower_bound == pytest.approx(5.6006, abs=1e-4)


def test_clopper_pearson_reverse_direction_and_no_evidence():
    # few "member" guesses at all: the reversed test (TNR / FNR) is the informative one
    b = clopper_pearson_epsilon(true_positives=990, members=1000, false_positives=500,
                                nonmembers=1000, alpha=0.05)
    assert b.direction == "tnr/fnr"
    tpr_lo, fpr_hi = b.tpr_lower, b.fpr_upper
    assert b.epsilon_lower_bound == pytest.approx(math.log((1 - fpr_hi) / (1 - tpr_lo)))
    chance = clopper_pearson_epsilon(true_positives=500, members=1000, false_positives=500,
                                     nonmembers=1000)
    assert chance.epsilon_lower_bound == 0.0 and chance.direction == "none"
    delta_eats_it = clopper_pearson_epsilon(true_positives=2, members=1000, false_positives=0,
                                            nonmembers=1000, delta=0.01)
    assert delta_eats_it.epsilon_lower_bound == 0.0


def test_clopper_pearson_sweep_optimistic_vs_union_bound():
    rng = np.random.default_rng(0)
    members, nonmembers = rng.normal(2, 1, 500), rng.normal(0, 1, 500)
    best = clopper_pearson_best_threshold(members, nonmembers, alpha=0.05)
    union = clopper_pearson_union_bound(members, nonmembers, alpha=0.05)
    assert not best.valid and union.valid and union.thresholds_tried == 1000
    assert union.per_test_alpha == pytest.approx(0.05 / 1000)
    assert 0 < union.epsilon_lower_bound < best.epsilon_lower_bound
    # the best threshold's bound is the counts bound at that threshold
    again = clopper_pearson_epsilon(true_positives=best.true_positives, members=500,
                                    false_positives=best.false_positives, nonmembers=500)
    assert again.epsilon_lower_bound == pytest.approx(best.epsilon_lower_bound)


# ---------------------------------------------------------------- CLI

def test_cli_audit_gaussian_json(cli_runner):
    res = cli_runner.invoke(cli, ["audit", "gaussian", "--epsilon", "4", "--delta", "1e-5",
                                  "--canaries", "1000", "--seed", "0", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert {"claimed_epsilon", "delta", "canaries", "epsilon_lower_bound", "confidence",
            "verdict"} <= set(out)
    assert set(out["epsilon_lower_bound"]) == {"steinke", "fdp"}
    assert out["claimed_epsilon"] == 4.0 and out["canaries"] == 1000
    assert out["verdict"] == "consistent" and out["confidence"] == pytest.approx(0.95)
    steinke, fdp = out["epsilon_lower_bound"]["steinke"], out["epsilon_lower_bound"]["fdp"]
    # seed 0 gives 1.397 and 1.877: a bound that ignored the union bound or the δ term would
    # move, one that never rejects would be 0, one that ignores the data would not sit below 4
    assert 1.0 < steinke <= fdp < 4.0


def test_cli_audit_gaussian_text(cli_runner):
    res = cli_runner.invoke(cli, ["audit", "gaussian", "--epsilon", "2", "--canaries", "200"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert lines[1].lstrip().startswith("steinke: epsilon >= ")
    assert lines[2].lstrip().startswith("fdp: epsilon >= ")
    assert lines[-1] in ("verdict: consistent", "verdict: violation")
