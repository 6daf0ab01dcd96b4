"""Shared fixtures: tiny, seeded, CPU-only."""

from __future__ import annotations

import pytest
import torch

from dpkit.engine import seed_everything


@pytest.fixture(autouse=True)
def _seeded() -> None:
    seed_everything(0)


@pytest.fixture
def cli_runner():
    from click.testing import CliRunner

    return CliRunner()


@pytest.fixture
def broken_engine():
    """DP-SGD's noise switched off for the test (dpkit.engine.broken.noise_disabled): what a
    silent bug in the noise step would do; audits must catch it."""
    from dpkit.engine.broken import noise_disabled

    with noise_disabled():
        yield


@pytest.fixture(scope="session")
def digits():
    from dpkit.data import load_dataset

    return load_dataset("digits")


@pytest.fixture(scope="session")
def gan_bundle():
    from dpkit.data import load_dataset
    from tiny_gan import GAN_DATA

    return load_dataset("digits", GAN_DATA)


def pytest_configure(config) -> None:
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
