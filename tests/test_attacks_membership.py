"""Membership inference against classifiers: loss attack and LiRA, without and with DP."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpkit.attacks.membership import (LiRAConfig, classifier_shadow_fit, lira_attack, lira_scores,
                                      logit_confidence, loss_attack, membership_split,
                                      shadow_assignment)
from dpkit.attacks.scores import attack_metrics
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import PrivacyConfig
from dpkit.errors import DPKitError

classifiers = pytest.importorskip("dpkit.classifiers")


def _target(privacy: PrivacyConfig, epochs: int, batch_size: int = 32, subset: int = 50):
    bundle = load_dataset("digits", DataOptions(subset=subset))
    cfg = classifiers.ClassifierConfig(model=classifiers.ModelConfig(arch="mlp", hidden=(256,)),
                                       privacy=privacy, epochs=epochs, batch_size=batch_size,
                                       lr=0.1)
    model = classifiers.fit_classifier(cfg, bundle.train, num_classes=10).model
    members, nonmembers = membership_split(bundle)
    return cfg, model, members, nonmembers


def test_membership_split_is_balanced_and_disjoint(digits):
    bundle = load_dataset("digits", DataOptions(subset=100))
    members, nonmembers = membership_split(bundle, max_per_side=40)
    assert len(members) == len(nonmembers) == 40
    m = {bytes(x.numpy()) for x in members.images}
    assert not m & {bytes(x.numpy()) for x in nonmembers.images}
    full_members, test_non = membership_split(digits)  # no held-out examples: the test set
    assert len(full_members) == len(test_non) == len(digits.test)


def test_shadow_assignment_puts_each_example_in_half_the_shadows():
    keep = shadow_assignment(37, 6, seed=0)
    assert keep.shape == (6, 37) and (keep.sum(0) == 3).all()
    with pytest.raises(DPKitError, match="even"):
        LiRAConfig(shadow_models=3)


def test_lira_scores_on_synthetic_gaussians():
    rng = np.random.default_rng(0)
    keep = shadow_assignment(400, 16, seed=1)
    shift = torch.tensor(rng.uniform(0, 4, 400))  # per-example memorisation effect
    base = torch.tensor(rng.normal(0, 3, 400))  # per-example difficulty
    shadow = base + shift * keep + torch.tensor(rng.normal(0, 0.5, (16, 400)))
    is_member = torch.arange(400) < 200
    target = base + shift * is_member + torch.tensor(rng.normal(0, 0.5, 400))
    online, offline = lira_scores(target, shadow, keep)
    from dpkit.attacks.scores import MembershipScores
    on = attack_metrics(MembershipScores("on", online[:200], online[200:]))
    naive = attack_metrics(MembershipScores("raw", target[:200], target[200:]))
    assert on.auc > 0.8 > naive.auc  # calibrating per example is what makes LiRA strong
    assert attack_metrics(MembershipScores("off", offline[:200], offline[200:])).auc > 0.75


def test_logit_confidence_matches_definition(digits):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    ds = digits.test.subset(torch.arange(20))
    p = torch.softmax(model(ds.tensors()[0]).double(), 1).gather(1, ds.labels[:, None])[:, 0]
    assert torch.allclose(logit_confidence(model, ds).double(), torch.log(p / (1 - p)), atol=1e-4)


@pytest.mark.slow
def test_overfit_model_leaks_and_lira_beats_loss():
    cfg, model, members, nonmembers = _target(PrivacyConfig(enabled=False), epochs=200)
    loss = attack_metrics(loss_attack(model, members, nonmembers))
    fit = classifier_shadow_fit(cfg, num_classes=10)
    lira = lira_attack(model, fit, members, nonmembers,
                       LiRAConfig(shadow_models=16, fixed_variance=True))
    online, offline = attack_metrics(lira.online), attack_metrics(lira.offline)
    assert loss.auc > 0.7
    assert online.auc > loss.auc + 0.05
    assert max(online.tpr_at_fpr_0_01, offline.tpr_at_fpr_0_01) > loss.tpr_at_fpr_0_01
    assert len(lira.shadow_seconds) == 16 and lira.shadow_epsilon == float("inf")


@pytest.mark.slow
def test_dp_at_small_epsilon_defeats_both_attacks():
    # sigma 5, q = 40/200, 100 steps: epsilon 1.23 (RDP) at delta 1e-3, no calibration needed.
    # With 200 + 200 examples the AUC of a useless attack has std ~0.03; the tolerance also
    # covers the loss attack picking up the class mix of the two samples through a weak model.
    privacy = PrivacyConfig(enabled=True, noise_multiplier=5.0, delta=1e-3, accountant="rdp")
    cfg, model, members, nonmembers = _target(privacy, epochs=20, batch_size=40, subset=200)
    loss = attack_metrics(loss_attack(model, members, nonmembers))
    lira = lira_attack(model, classifier_shadow_fit(cfg, num_classes=10), members, nonmembers,
                       LiRAConfig(shadow_models=4, fixed_variance=True))
    assert abs(loss.auc - 0.5) < 0.12
    assert abs(attack_metrics(lira.online).auc - 0.5) < 0.12
    assert 0.5 < lira.shadow_epsilon < 2  # shadows: same sigma, batch size, epochs; N varies


def test_too_few_members_or_non_members_is_refused_and_small_heldout_falls_back(digits):
    from dpkit.data import DataOptions, load_dataset
    from dpkit.errors import DPKitError

    with pytest.raises(DPKitError, match="at least 20"):
        membership_split(load_dataset("digits", DataOptions(subset=10)))
    # 1495 of 1500 training examples used: 5 held out -> the 297 test examples are the pool
    bundle = load_dataset("digits", DataOptions(subset=1495))
    members, nonmembers = membership_split(bundle)
    assert len(members) == len(nonmembers) == 297
