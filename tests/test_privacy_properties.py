"""The privacy properties of tests/privacy_checks.py hold on dpkit's code (test_mutations.py
shows each check fails when its property is broken)."""

from __future__ import annotations

import pytest

import privacy_checks as checks


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost", "bk"])
def test_engine_noise_std_is_sigma_c_over_b_in_every_mode(mode):
    checks.check_engine_noise_scale(mode)


@pytest.mark.parametrize("mode,clip_fake", [("hooks", True), ("hooks", False),
                                            ("functorch", True), ("functorch", False),
                                            ("ghost", True), ("bk", True), ("bk", False)])
def test_gan_discriminator_step_adds_noise_sigma_c_over_b(mode, clip_fake):
    checks.check_gan_noise_scale(mode, clip_fake)


@pytest.mark.parametrize("conditioning,mode", [("labelmap", "hooks"), ("projection", "hooks"),
                                               ("labelmap", "ghost"), ("projection", "bk")])
def test_one_gan_record_moves_the_clipped_sum_by_at_most_c(conditioning, mode):
    checks.check_gan_record_sensitivity(conditioning, mode)


def test_every_example_is_sampled_at_b_over_n():
    checks.check_poisson_inclusion_rate()


def test_secure_mode_draws_from_the_csprng_and_saves_no_generator(monkeypatch, tmp_path):
    checks.check_secure_noise_source(monkeypatch, tmp_path)


def test_public_bn_statistics_do_not_see_private_batches():
    checks.check_public_bn_statistics_ignore_private_batches()


def test_pgd_training_inputs_are_per_example_with_public_bn():
    checks.check_pgd_inputs_are_per_example()


@pytest.mark.parametrize("fraction", [0.25, 0.5, 0.75, 1.0])
def test_one_record_moves_the_pgd_clipped_sum_by_at_most_c(fraction):
    checks.check_adv_fraction_sensitivity(fraction)
