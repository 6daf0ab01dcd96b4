"""Privacy properties as checks that raise AssertionError when the property is broken.

``test_privacy_properties.py`` runs each check on the real code; ``test_mutations.py`` breaks the
code on purpose (monkeypatching) and asserts that the same check notices. A check that passes
on broken code is not a test.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dpkit.classifiers import ClassifierConfig, ModelConfig, PGDConfig
from dpkit.classifiers.adversarial import AdversarialCoins
from dpkit.classifiers.models import build_model
from dpkit.classifiers.norms import public_statistics
from dpkit.classifiers.training import _private_step, _PublicBatches, training_inputs
from dpkit.data import ImageTensorDataset
from dpkit.engine import PrivacyConfig, make_private, save_checkpoint
from dpkit.engine.randomness import SecureSource
from dpkit.gan import Discriminator, Generator, discriminator_step


def images(n: int, *, size: int = 8, channels: int = 1, classes: int = 3,
           seed: int = 0) -> ImageTensorDataset:
    g = torch.Generator().manual_seed(seed)
    return ImageTensorDataset(
        torch.randint(0, 256, (n, channels, size, size), generator=g, dtype=torch.uint8),
        torch.randint(0, classes, (n,), generator=g))


def _flat(params) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in params])


def _assert_noise_std(diff: torch.Tensor, expected: float, what: str) -> None:
    std = diff.std().item()
    assert abs(std - expected) <= 0.05 * expected, (
        f"{what}: noise std {std:.4g}, expected sigma*C/B = {expected:.4g}")
    assert diff.mean().abs().item() < 5 * expected / math.sqrt(diff.numel()), f"{what}: biased"


# --- noise scale: engine, every grad-sample mode ------------------------------------------------

def check_engine_noise_scale(mode: str) -> None:
    """One private step's gradient minus the σ = 0 gradient has std σC/B, in every mode."""
    data = images(40, size=4)
    x, y = data.tensors()
    x, y = x[:20], y[:20]
    sigma, c, b = 1.3, 0.7, 20

    def grads(noise: float) -> torch.Tensor:
        torch.manual_seed(0)
        model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2000), nn.Linear(2000, 3))
        setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.0), data,
                             PrivacyConfig(noise_multiplier=noise, max_grad_norm=c, delta=1e-3,
                                           grad_sample_mode=mode), batch_size=b, epochs=1)
        setup.optimizer.zero_grad()
        setup.criterion(setup.model(x), y).backward()
        setup._batch_sampler.drawn += 1  # the batch was drawn by hand, not from the loader
        setup.optimizer.step()
        assert setup.accountant.history == [(noise, b / 40, 1)]
        return torch.cat([p.grad.flatten() for p in setup.module.parameters()])

    _assert_noise_std(grads(sigma) - grads(0.0), sigma * c / b, f"engine ({mode})")


# --- noise scale: the GAN's discriminator step ---------------------------------------------------

def check_gan_noise_scale(mode: str = "hooks", clip_fake: bool = True) -> None:
    """A DP discriminator step (SGD, lr 1) on a fixed real and generated batch moves the weights
    by the σ = 0 update plus noise of std σC/B."""
    n, b, sigma, c = 64, 16, 2.0, 1.0
    data = images(n, size=28, classes=1)
    real = data.tensors()[0][:b]
    with torch.no_grad():
        fake = Generator(latent_dim=8, channels=1, image_size=28, width=8)(
            torch.randn(b, 8, generator=torch.Generator().manual_seed(1)))

    def update(noise: float) -> torch.Tensor:
        torch.manual_seed(0)
        d = Discriminator(channels=1, image_size=28, width=8)
        setup = make_private(d, torch.optim.SGD(d.parameters(), lr=1.0), data,
                             PrivacyConfig(noise_multiplier=noise, max_grad_norm=c, delta=1e-3,
                                           grad_sample_mode=mode), batch_size=b, epochs=1,
                             criterion=torch.nn.BCEWithLogitsLoss())
        before = _flat(setup.module.parameters())
        setup._batch_sampler.drawn += 1
        discriminator_step(setup, fake, real, clip_fake=clip_fake)
        assert setup.report().steps == 1
        return _flat(setup.module.parameters()) - before

    _assert_noise_std(update(sigma) - update(0.0), sigma * c / b, f"GAN D step ({mode})")


def check_gan_record_sensitivity(conditioning: str = "labelmap", mode: str = "hooks") -> None:
    """σ = 0, conditional discriminator: adding one real record (x, y) to the batch moves the
    clipped sum of the D step by at most C (its label touches its own gradient only)."""
    clip, k = 0.05, 10
    data = images(12, size=28, classes=k, seed=6)
    x, y = data.tensors()
    with torch.no_grad():
        g = Generator(latent_dim=8, channels=1, image_size=28, width=8, num_classes=k)
        fake_y = torch.arange(6) % k
        fake = g(torch.randn(6, 8, generator=torch.Generator().manual_seed(1)), fake_y)

    def clipped_sum(idx: list[int]) -> torch.Tensor:
        torch.manual_seed(0)
        d = Discriminator(channels=1, image_size=28, width=8, num_classes=k,
                          conditioning=conditioning)
        setup = make_private(d, torch.optim.SGD(d.parameters(), lr=1.0), data,
                             PrivacyConfig(noise_multiplier=0.0, max_grad_norm=clip, delta=1e-3,
                                           grad_sample_mode=mode), batch_size=4, epochs=1,
                             criterion=torch.nn.BCEWithLogitsLoss())
        before = _flat(setup.module.parameters())
        setup._batch_sampler.drawn += 1
        discriminator_step(setup, fake, x[idx], real_labels=y[idx], fake_labels=fake_y)
        return (before - _flat(setup.module.parameters())) * 4  # Σ clipped grads (real + fake)

    worst = 0.0
    for base in ([0, 1, 2, 3], [4, 5, 6, 7, 8]):
        s = clipped_sum(base)
        for pos in range(len(base) + 1):
            for z in (9, 10, 11):
                neighbour = base[:pos] + [z] + base[pos:]
                worst = max(worst, (clipped_sum(neighbour) - s).norm().item())
    assert worst <= clip * (1 + 1e-4), (
        f"conditional D step ({conditioning}, {mode}): one record moved the clipped sum by "
        f"{worst:.4g} > C = {clip}")


# --- Poisson sampling rate -----------------------------------------------------------------------

def check_poisson_inclusion_rate() -> None:
    """With N not divisible by B, every example joins a batch with probability B/N (not
    1/⌊N/B⌋), and the accountant is charged that rate."""
    n, b = 30, 8  # q = 0.267; 1/⌊N/B⌋ = 0.333
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.0), images(n, size=4),
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-3), batch_size=b,
                         epochs=1, seed=0)
    counts = torch.zeros(n)
    rounds = 1000
    for _ in range(rounds):
        for idx in setup._batch_sampler:
            counts[idx] += 1
    steps = rounds * setup.steps_per_epoch
    q = b / n
    rate = counts / steps  # (N,)
    sd = math.sqrt(q * (1 - q) / steps)
    assert abs(rate.mean().item() - q) < 4 * sd / math.sqrt(n), (
        f"mean inclusion rate {rate.mean():.4f}, expected B/N = {q:.4f}")
    assert (rate - q).abs().max().item() < 5 * sd, "an example's inclusion rate is off B/N"
    assert setup.sample_rate == q


# --- secure mode's noise source ------------------------------------------------------------------

def check_secure_noise_source(monkeypatch, tmp_path) -> None:
    """--secure-mode: noise and sampling read the OS CSPRNG for every draw, and no generator
    state reaches the checkpoint."""
    import dpkit.engine.randomness as randomness

    drawn = []
    real = randomness.secure_bytes

    def spy(k: int) -> bytes:
        drawn.append(k)
        return real(k)

    monkeypatch.setattr(randomness, "secure_bytes", spy)
    data = images(40, size=4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-3, secure_mode=True),
                         batch_size=8, epochs=1, seed=0)
    assert isinstance(setup.noise_source, SecureSource), "noise is not from the CSPRNG"
    assert isinstance(setup.sampler_source, SecureSource), "sampling is not from the CSPRNG"
    x, y = next(iter(setup.loader))
    assert sum(drawn) >= 8 * 40, "the Poisson batch was not sampled from the CSPRNG"
    drawn.clear()
    setup.optimizer.zero_grad()
    setup.criterion(setup.model(x), y).backward()
    setup.optimizer.step()
    numel = sum(p.numel() for p in model.parameters())
    assert sum(drawn) >= 8 * 4 * numel, "the noise did not come from the CSPRNG (4 normals/value)"
    assert not setup.reproducible_noise
    state = setup.state_dict()
    assert state["noise_generator"] is None and state["sampler_generator"] is None
    path = save_checkpoint(tmp_path / "ck.pt", epoch=1, models={"m": setup.model},
                           optimizers={"m": setup.optimizer}, setups={"m": setup})
    saved = torch.load(path, weights_only=False)["setups"]["m"]
    assert saved["noise_generator"] is None and saved["sampler_generator"] is None


# --- public-data BatchNorm -----------------------------------------------------------------------

def _public_bn_eval_after_private_steps(private: ImageTensorDataset) -> torch.Tensor:
    """Eval-mode outputs after two epochs of private steps at lr 0 (the weights never move)."""
    torch.manual_seed(0)
    mcfg = ModelConfig(arch="mlp", hidden=(16, 16), norm="public-bn")
    model = build_model(mcfg, in_channels=1, image_size=8, num_classes=3)
    cfg = ClassifierConfig(model=mcfg, batch_size=10, public_batch_size=16, seed=0)
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.0), private,
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-3), batch_size=10,
                         epochs=2, seed=0)
    public = _PublicBatches(images(64, seed=7), 16, seed=2, device=torch.device("cpu"))
    for _ in range(2):
        for x, y in setup.loader:
            _private_step(setup, cfg, x, y, public, None)
    with torch.no_grad():
        return setup.module.eval()(images(20, seed=9).tensors()[0])


def check_public_bn_statistics_ignore_private_batches() -> None:
    """The running statistics that eval mode uses come from public batches only: with the same
    weights (lr 0), the eval-mode output is the same whatever the private batches were."""
    a = _public_bn_eval_after_private_steps(images(60, seed=1))
    b = _public_bn_eval_after_private_steps(images(60, seed=2))
    torch.testing.assert_close(a, b, rtol=0, atol=0,
                               msg="public-bn statistics depend on the private batches")


# --- per-example independence of the training inputs (PGD, public-bn) ----------------------------

def _pgd_setup(norm: str = "public-bn", sigma: float = 1.0, clip: float = 1.0):
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="mlp", hidden=(16,), norm=norm), in_channels=1,
                        image_size=8, num_classes=3)
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=1.0, momentum=0.0),
                         images(40), PrivacyConfig(noise_multiplier=sigma, max_grad_norm=clip,
                                                   delta=1e-3), batch_size=4, epochs=1)
    if norm == "public-bn":
        with setup.hooks_off(), torch.no_grad(), public_statistics(setup.module):
            setup.model(images(32, seed=5).tensors()[0])
    return setup


def check_pgd_inputs_are_per_example() -> None:
    """Replacing private example j changes no other example's (adversarial) training input."""
    setup = _pgd_setup()
    cfg = ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(16,), norm="public-bn"),
                           pgd=PGDConfig(eps=0.3, steps=5), batch_size=4)
    x, y = images(8, seed=3).tensors()
    x2 = x.clone()
    x2[3] = -x[3]  # a different private example in slot 3
    torch.manual_seed(11)
    a = training_inputs(setup, cfg, x, y, None)
    torch.manual_seed(11)
    b = training_inputs(setup, cfg, x2, y, None)
    assert not torch.equal(a[3], b[3])
    torch.testing.assert_close(torch.cat([a[:3], a[4:]]), torch.cat([b[:3], b[4:]]), rtol=0,
                               atol=0, msg="one example's adversarial input depends on another")


def check_adv_fraction_sensitivity(fraction: float) -> None:
    """σ = 0: adding one record to a PGD batch moves the clipped sum by at most C."""
    clip = 0.05
    cfg = ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(16,), norm="none"),
                           pgd=PGDConfig(eps=0.3, steps=3, random_start=False),
                           adv_fraction=fraction, batch_size=4, momentum=0.0, lr=1.0)
    data = images(12, seed=4)
    x, y = data.tensors()

    def clipped_sum(idx: list[int]) -> torch.Tensor:
        setup = _pgd_setup(norm="none", sigma=0.0, clip=clip)  # same weights every time
        coins = AdversarialCoins(fraction, seed=5) if fraction < 1 else None
        before = _flat(setup.module.parameters())
        setup._batch_sampler.drawn += 1
        _private_step(setup, cfg, x[idx], y[idx], None, coins)
        return (before - _flat(setup.module.parameters())) * cfg.batch_size  # Σ clipped grads

    worst = 0.0
    for base in ([0, 1, 2, 3], [4, 5, 6, 7, 8], [1, 3, 5, 7, 9, 11]):
        s = clipped_sum(base)
        for pos in range(len(base) + 1):
            for z in (10, 11, 0):
                if z in base:
                    continue
                neighbour = base[:pos] + [z] + base[pos:]
                worst = max(worst, (clipped_sum(neighbour) - s).norm().item())
    assert worst <= clip * (1 + 1e-4), (
        f"adv_fraction={fraction}: one record moved the clipped sum by {worst:.4g} > C = {clip}")
