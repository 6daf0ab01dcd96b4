"""The empirical ε lower bound of a membership attack (dpkit.attacks.epsilon), held against
closed forms, the null, the optimistic same-data bound, and `dpkit attack membership`."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.stats

from dpkit.attacks.epsilon import epsilon_lower_bound
from dpkit.attacks.scores import MembershipScores, attack_metrics
from dpkit.audit import clopper_pearson_best_threshold
from dpkit.cli import cli

EPS_KEYS = {"epsilon_lower_bound", "epsilon_lower_bound_method", "epsilon_lower_bound_confidence",
            "epsilon_lower_bound_delta"}


def _perfect_counts_bound(n: int, tail: float, delta: float) -> float:
    """n of n members and 0 of n non-members flagged, one-sided Clopper–Pearson at ``tail``."""
    tpr_lo = scipy.stats.beta.ppf(tail, n, 1)  # k = n: Beta(k, n - k + 1)
    fpr_hi = scipy.stats.beta.ppf(1 - tail, 1, n)  # k = 0: Beta(k + 1, n - k)
    return max(math.log(tpr_lo - delta) - math.log(fpr_hi),
               math.log(1 - fpr_hi - delta) - math.log(1 - tpr_lo))


def test_perfect_attack_gives_the_closed_form_bound():
    rng = np.random.default_rng(0)
    members, nonmembers = rng.uniform(2, 3, 1000), rng.uniform(0, 1, 1000)
    alpha, delta = 0.05, 1e-5
    b = epsilon_lower_bound(members, nonmembers, delta=delta, alpha=alpha)
    # each method runs at alpha / 2, its two Clopper-Pearson tails at alpha / 4 each
    split = _perfect_counts_bound(500, alpha / 4, delta)  # counted on the other 500 + 500
    k = b.union_thresholds
    assert 2 <= k <= 100
    union = _perfect_counts_bound(1000, alpha / 4 / k, delta)  # all 1000 + 1000, K tests
    assert b.split_half == pytest.approx(split, rel=1e-9)
    assert b.union_bound == pytest.approx(union, rel=1e-9)
    assert b.epsilon == pytest.approx(max(split, union), rel=1e-9)
    assert b.method == ("split-half" if split >= union else "union-bound")
    assert 4 < b.epsilon < 5 and b.confidence == 0.95 and b.delta == delta


@pytest.mark.parametrize("seed", range(10))
def test_identical_score_distributions_give_no_evidence(seed):
    rng = np.random.default_rng(seed)
    scores = MembershipScores("null", rng.normal(size=1000), rng.normal(size=1000))
    m = attack_metrics(scores)
    assert 0 <= m.epsilon.epsilon < 0.2
    assert m.to_dict()["epsilon_lower_bound"] == m.epsilon.epsilon


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0, 2.0, 4.0])
def test_valid_bounds_never_exceed_the_optimistic_same_data_bound(shift):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        members, nonmembers = rng.normal(shift, 1, 2000), rng.normal(0, 1, 2000)
        optimistic = clopper_pearson_best_threshold(members, nonmembers, alpha=0.05, delta=1e-5)
        b = epsilon_lower_bound(members, nonmembers, delta=1e-5)
        assert b.split_half is not None
        assert b.split_half <= optimistic.epsilon_lower_bound
        assert b.union_bound <= optimistic.epsilon_lower_bound  # fewer thresholds, stricter alpha
        assert b.epsilon == max(b.split_half, b.union_bound)


def test_bound_is_fast_and_a_larger_delta_only_lowers_it():
    rng = np.random.default_rng(1)
    members, nonmembers = rng.normal(1, 1, 10000), rng.normal(0, 1, 10000)
    small, large = (epsilon_lower_bound(members, nonmembers, delta=d) for d in (1e-5, 1e-2))
    assert 0 < large.epsilon <= small.epsilon
    text = attack_metrics(MembershipScores("x", members, nonmembers)).summary()
    assert "empirical epsilon >= " in text and "95% confidence, delta 1e-05" in text


def test_tiny_score_sets_fall_back_to_the_union_bound():
    b = attack_metrics(MembershipScores("x", np.array([1.0, 2.0]), np.array([0.0]))).epsilon
    assert b.split_half is None and b.method == "union-bound" and b.epsilon >= 0


@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("dp") / "run"
    res = CliRunner().invoke(cli, ["train-classifier", "--model", "mlp", "--hidden", "16",
                                   "--subset", "40", "--noise-multiplier", "4", "--delta", "1e-3",
                                   "--epochs", "2", "--batch-size", "20", "--quiet",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def test_cli_json_result_and_text_hold_the_bound(cli_runner, dp_run, tmp_path):
    res = cli_runner.invoke(cli, ["attack", "membership", str(dp_run), "--out",
                                  str(tmp_path / "a"), "--json"])
    assert res.exit_code == 0, res.output
    d = json.loads(res.output)
    assert EPS_KEYS <= set(d)
    assert d["epsilon_lower_bound_delta"] == 1e-3  # the target run's delta, not the default
    assert d["epsilon_lower_bound_confidence"] == 0.95
    claimed = json.loads((dp_run / "privacy.json").read_text())["epsilon"]
    assert d["claimed_epsilon"] == claimed and 0 < claimed < 1.4  # the leaky test needs < 1.4
    assert d["epsilon_violation"] is (d["epsilon_lower_bound"] > d["claimed_epsilon"])
    assert EPS_KEYS | {"claimed_epsilon"} <= set(json.loads(
        (tmp_path / "a" / "result.json").read_text()))
    res = cli_runner.invoke(cli, ["attack", "membership", str(dp_run), "--out",
                                  str(tmp_path / "b")])
    assert res.exit_code == 0, res.output
    assert "empirical epsilon >= " in res.output and "delta 0.001" in res.output
    assert f"claimed epsilon {claimed:.4g}" in res.output


def test_cli_flags_an_attack_that_beats_the_claimed_epsilon(cli_runner, dp_run, tmp_path,
                                                           monkeypatch):
    """Mutation: make the loss attack see membership perfectly (as if DP were broken): 20 of 20
    members and 0 of 20 non-members counted prove epsilon >= 1.40 > the claimed epsilon."""
    import dpkit.attacks.runs as runs

    def leaky(model, members, nonmembers, **kw):
        return MembershipScores("loss", np.ones(len(members)), np.zeros(len(nonmembers)))

    monkeypatch.setattr(runs, "loss_attack", leaky)
    res = cli_runner.invoke(cli, ["attack", "membership", str(dp_run), "--out",
                                  str(tmp_path / "v")])
    assert res.exit_code == 0, res.output
    assert "VIOLATION: the attack proves more leakage than the claimed epsilon" in res.output
    result = json.loads((tmp_path / "v" / "result.json").read_text())
    assert result["epsilon_violation"] is True
    assert result["epsilon_lower_bound"] > result["claimed_epsilon"]
