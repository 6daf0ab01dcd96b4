"""fit_classifier on digits: accuracy floors, DP accounting, PGD training, resume."""

from __future__ import annotations

import math

import pytest
import torch

from dpkit.classifiers import (ClassifierConfig, ModelConfig, PGDConfig, evaluate_accuracy,
                               fit_classifier, robust_accuracy)
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import PrivacyConfig, steps_per_epoch
from dpkit.errors import DPKitError

NO_DP = PrivacyConfig(enabled=False)


@pytest.fixture(scope="module")
def digits16():
    return load_dataset("digits", DataOptions(image_size=16))


def test_no_dp_reaches_90_percent(digits16):
    cfg = ClassifierConfig(privacy=NO_DP, epochs=4, batch_size=64, lr=0.1)
    fit = fit_classifier(cfg, digits16.train, test=digits16.test, num_classes=10)
    assert fit.test_accuracy > 0.90
    assert math.isinf(fit.report.epsilon) and not fit.model.training
    assert fit.test_accuracy == pytest.approx(evaluate_accuracy(fit.model, digits16.test))


def test_dp_epsilon_8_floor_and_accounting(digits16):
    cfg = ClassifierConfig(privacy=PrivacyConfig(target_epsilon=8.0), epochs=5, batch_size=64,
                           lr=0.5, momentum=0.5)
    fit = fit_classifier(cfg, digits16.train, test=digits16.test, num_classes=10)
    assert fit.test_accuracy > 0.80  # the stated floor (seed 0 measures 0.865)
    assert fit.report.epsilon == pytest.approx(8.0, rel=0.02) and fit.report.epsilon <= 8.0 + 1e-6
    assert fit.report.steps == 5 * steps_per_epoch(len(digits16.train), 64)
    assert [r["epoch"] for r in fit.history] == [1, 2, 3, 4, 5]
    assert all(a["epsilon"] < b["epsilon"] for a, b in zip(fit.history, fit.history[1:]))


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.003), ("adagrad", 0.05)])
def test_dp_adam_and_adagrad_charge_the_same_accountant(digits16, optimizer, lr):
    priv = PrivacyConfig(noise_multiplier=1.0)
    mlp = ModelConfig(arch="mlp", hidden=(64,))
    fit = fit_classifier(ClassifierConfig(model=mlp, privacy=priv, optimizer=optimizer, lr=lr,
                                          epochs=2, batch_size=128),
                         digits16.train, test=digits16.test, num_classes=10)
    ref = fit_classifier(ClassifierConfig(model=mlp, privacy=priv, epochs=2, batch_size=128),
                         digits16.train, num_classes=10)
    assert fit.report.epsilon == pytest.approx(ref.report.epsilon)
    assert fit.test_accuracy > 0.5


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost", "bk"])
def test_pgd_and_public_bn_train_privately_in_every_mode(mode):
    bundle = load_dataset("digits", DataOptions(image_size=16, public="holdout", public_size=300))
    cfg = ClassifierConfig(model=ModelConfig(norm="public-bn"), epochs=1, batch_size=128,
                           privacy=PrivacyConfig(noise_multiplier=1.0, grad_sample_mode=mode),
                           pgd=PGDConfig(eps=0.1, steps=2), adv_fraction=0.5, lr=0.5,
                           robust_eval_size=50)
    fit = fit_classifier(cfg, bundle.train, public=bundle.public, test=bundle.test,
                         num_classes=10)
    assert fit.report.steps == steps_per_epoch(len(bundle.train), 128)
    assert fit.robust_accuracy is not None and fit.robust_accuracy <= fit.test_accuracy
    assert not hasattr(fit.model, "_module")  # the user's module, not Opacus's wrapper


def test_weight_averaging_is_evaluated_and_returned(digits16):
    cfg = ClassifierConfig(privacy=PrivacyConfig(noise_multiplier=1.0, delta=1e-4), epochs=3,
                           batch_size=128, lr=0.5, ema=0.9, eval_every=2)
    fit = fit_classifier(cfg, digits16.train, test=digits16.test, num_classes=10)
    assert ["test_accuracy" in r for r in fit.history] == [False, True, True]
    last = fit.history[-1]
    assert "test_accuracy_raw" in last
    assert last["test_accuracy"] == pytest.approx(evaluate_accuracy(fit.model, digits16.test))


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost", "bk"])
def test_empty_poisson_batches_still_take_noisy_steps(mode):
    bundle = load_dataset("digits", DataOptions(image_size=16, subset=40))
    cfg = ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(16,)), epochs=1, batch_size=1,
                           privacy=PrivacyConfig(noise_multiplier=1.0, delta=1e-3,
                                                 grad_sample_mode=mode), lr=0.01)
    fit = fit_classifier(cfg, bundle.train, num_classes=10)  # q = 1/40: most batches are empty
    assert fit.report.steps == 40 and math.isfinite(fit.history[0]["loss"])


def test_public_bn_requires_public_data(digits16):
    cfg = ClassifierConfig(model=ModelConfig(norm="public-bn"), epochs=1)
    with pytest.raises(DPKitError, match="public='holdout'"):
        fit_classifier(cfg, digits16.train)


def test_pgd_training_raises_robust_accuracy(digits16):
    test = digits16.test
    attack = PGDConfig(eps=0.1, steps=10)
    base = ClassifierConfig(privacy=NO_DP, epochs=4, batch_size=64, lr=0.1, robust_eval_size=0)
    plain = fit_classifier(base, digits16.train, test=test, num_classes=10)
    adv_cfg = ClassifierConfig(privacy=NO_DP, epochs=4, batch_size=64, lr=0.1,
                               pgd=PGDConfig(eps=0.1, steps=5), robust_eval_size=0)
    adv = fit_classifier(adv_cfg, digits16.train, test=test, num_classes=10)
    r_plain = robust_accuracy(plain.model, test, attack)
    r_adv = robust_accuracy(adv.model, test, attack)
    assert r_plain.robust_accuracy < r_plain.clean_accuracy
    assert r_adv.robust_accuracy > r_plain.robust_accuracy + 0.1


class _Stop(Exception):
    pass


def test_resume_equals_uninterrupted_run(tmp_path):
    bundle = load_dataset("digits", DataOptions(image_size=16, subset=600))
    cfg = ClassifierConfig(privacy=PrivacyConfig(noise_multiplier=1.0, delta=1e-4), epochs=3,
                           batch_size=100, lr=0.5, pgd=PGDConfig(eps=0.05, steps=2),
                           noise_augment=0.1, ema=0.9, robust_eval_size=0)
    full = fit_classifier(cfg, bundle.train, test=bundle.test, num_classes=10)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise _Stop

    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(_Stop):
        fit_classifier(cfg, bundle.train, num_classes=10, test=bundle.test, checkpoint=ckpt,
                       on_epoch=stop_after_two)
    torch.manual_seed(1234)  # a fresh process: global RNG state differs until the checkpoint
    resumed = fit_classifier(cfg, bundle.train, test=bundle.test, num_classes=10,
                             checkpoint=ckpt, resume=True)
    assert resumed.report.epsilon == full.report.epsilon
    assert resumed.report.steps == full.report.steps
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]
