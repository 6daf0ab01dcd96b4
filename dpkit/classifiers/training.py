"""``fit_classifier``: DP-SGD (optionally adversarial) training of a classifier, without a run dir.

One private step, for a Poisson-sampled batch of private examples:

1. with public-bn, a public batch passes through the network inside
   :func:`~dpkit.classifiers.norms.public_statistics` (no gradients, Opacus hooks off), which sets
   the normalization statistics of this step;
2. with ``noise_augment`` each private example gets its own Gaussian noise (for randomized
   smoothing); with PGD each example, with probability ``adv_fraction`` decided by its own coin
   (:class:`~dpkit.classifiers.adversarial.AdversarialCoins`), is replaced by an adversarial
   version crafted against the current weights (hooks off, parameter gradients untouched);
3. one forward/backward of the batch gives per-example gradients, which the engine clips, sums,
   noises and charges to the accountant once. With ``augmult`` K > 1 the batch is first expanded
   to K augmented views per example (:mod:`dpkit.engine.augmult`), and the engine averages each
   example's K view gradients before clipping (De et al. 2022, arXiv:2204.13650).

ScatterNet models (:mod:`dpkit.classifiers.scatternet`) train their head on scattering features
computed once before training (cached on disk; no privacy cost, the transform is fixed). With
``scatter_norm="data"`` the features' mean and variance are estimated with the Gaussian mechanism
first, and σ of DP-SGD is calibrated so that the composition of both meets the target ε.

Why DP still holds: in step 2 and 3, example i's input and gradient are functions of (x_i, y_i),
the current weights, the public batch and fresh randomness only — the models have no layer that
mixes examples (GroupNorm is per example; public-bn uses the detached public statistics) and the
attack's loss is a sum of per-example terms. So replacing one private example changes one clipped
per-example gradient, whose norm is at most C, exactly the sensitivity DP-SGD's analysis assumes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from dpkit.classifiers.adversarial import PIXEL_SCALE, AdversarialCoins, PGDConfig, pgd_attack
from dpkit.classifiers.evaluation import evaluate_accuracy, robust_accuracy
from dpkit.classifiers.models import ModelConfig, build_model
from dpkit.classifiers.norms import public_statistics, uses_public_norm
from dpkit.classifiers.scattering import FeatureDataset, cached_features
from dpkit.classifiers.scatternet import (ScatterNet, dp_feature_statistics,
                                          normalization_mechanisms)
from dpkit.data import ImageTensorDataset
from dpkit.engine import (AugmultConfig, CanaryGradients, PrivacyConfig, PrivacyReport,
                          PrivateSetup, WeightAverage, all_reduce_sum, augment_views,
                          epsilon_of_history, load_checkpoint, make_private, make_source,
                          rank_seed, save_checkpoint, seed_everything, train_epochs)
from dpkit.engine.augmult import check_augmult_mode
from dpkit.errors import DPKitError, require
from dpkit.names import OPTIMIZERS

__all__ = ["OPTIMIZERS", "PRIVATE_RECORD_KEYS", "ClassifierConfig", "FitResult",
           "check_classifier_data", "fit_classifier", "make_optimizer", "training_inputs"]

# Per-epoch values computed from private training data without noise: NOT covered by ε.
PRIVATE_RECORD_KEYS = ("loss",)


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything that determines a classifier training run (with the seed, reproducibly).

    Attributes:
        model: the architecture.
        privacy: DP-SGD settings (``enabled=False`` trains without privacy).
        optimizer: "sgd" (with ``momentum``), "adam" or "adagrad"; the engine makes it private.
        lr, momentum: optimizer settings.
        epochs, batch_size: training length and expected batch size B (q = B/N).
        pgd: adversarial training attack, or None.
        adv_fraction: probability that an example is replaced by its adversarial version, by an
            independent coin per example (1.0 = all).
        noise_augment: σ (pixel units) of Gaussian noise added to every training input; trains
            the base classifier for randomized smoothing. 0 = off.
        ema: decay of an exponential moving average of the weights (0 = off); the averaged
            weights are evaluated and returned (post-processing: no privacy cost).
        public_batch_size: public examples per step for public-bn statistics.
        eval_every: evaluate on the test set every this many epochs (and after the last one).
        robust_eval_size: test examples attacked after training when ``pgd`` is set (0 = none).
        augmult: K augmented views per sampled example, whose per-example gradients are averaged
            before clipping (1 = off); q and the accountant are unchanged.
        augment_crop: reflection padding of the views' random crop (0 = no crop; None = 2 px for
            images under 32 px, 4 px from 32 px, as De et al. use for CIFAR-10).
        augment_flip: random horizontal flips of the views (flip-invariant data sets only).
        recipe: the name of the recipe (:mod:`dpkit.classifiers.recipes`) the settings came
            from, recorded in config.json (None: none).
        seed: seeds model init, sampling, noise, augmentations and attacks.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    privacy: PrivacyConfig = field(default_factory=lambda: PrivacyConfig(enabled=False))
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    epochs: int = 10
    batch_size: int = 256
    pgd: PGDConfig | None = None
    adv_fraction: float = 1.0
    noise_augment: float = 0.0
    ema: float = 0.0
    public_batch_size: int = 256
    eval_every: int = 1
    robust_eval_size: int = 1000
    augmult: int = 1
    augment_crop: int | None = None
    augment_flip: bool = False
    recipe: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.optimizer in OPTIMIZERS, f"optimizer={self.optimizer!r} is unknown; choose "
                                              f"one of {', '.join(OPTIMIZERS)}")
        require(self.lr > 0 and math.isfinite(self.lr), f"lr={self.lr} must be > 0")
        require(0 <= self.momentum < 1, f"momentum={self.momentum} must be in [0, 1)")
        require(self.epochs >= 1, f"epochs={self.epochs} must be >= 1")
        require(self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1")
        require(0 < self.adv_fraction <= 1, f"adv_fraction={self.adv_fraction} must be in (0, 1]")
        require(self.noise_augment >= 0, f"noise_augment={self.noise_augment} must be >= 0")
        require(0 <= self.ema < 1, f"ema={self.ema} must be in [0, 1), e.g. 0.999 (0 = off)")
        require(self.public_batch_size >= 1,
                f"public_batch_size={self.public_batch_size} must be >= 1")
        require(self.eval_every >= 1, f"eval_every={self.eval_every} must be >= 1")
        require(self.robust_eval_size >= 0,
                f"robust_eval_size={self.robust_eval_size} must be >= 0")
        self.augmentation(32)  # validates augmult and augment_crop
        if self.privacy.enabled:
            check_augmult_mode(self.augmult, self.privacy.grad_sample_mode)
        if self.model.is_scatternet:
            require(self.augmult == 1,
                    f"augmult={self.augmult} augments images, but a {self.model.arch} model trains "
                    f"on scattering features computed once before training; use augmult=1")
            require(self.pgd is None and self.noise_augment == 0,
                    f"PGD and noise_augment perturb pixels, but a {self.model.arch} model trains "
                    f"on precomputed scattering features; use a pixel model (cnn, mlp, resnet)")

    def augmentation(self, image_size: int) -> AugmultConfig:
        """The views' augmentation for images of ``image_size`` px
        (:class:`~dpkit.engine.augmult.AugmultConfig`)."""
        crop = self.augment_crop if self.augment_crop is not None else (
            2 if image_size < 32 else 4)
        return AugmultConfig(views=self.augmult, crop_padding=crop, flip=self.augment_flip)

    def training_dict(self) -> dict[str, Any]:
        """The "training" block of config.json."""
        return {"optimizer": self.optimizer, "lr": self.lr, "momentum": self.momentum,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "pgd": self.pgd.to_dict() if self.pgd is not None else None,
                "adv_fraction": self.adv_fraction, "noise_augment": self.noise_augment,
                "ema": self.ema,
                "public_batch_size": self.public_batch_size, "eval_every": self.eval_every,
                "robust_eval_size": self.robust_eval_size, "augmult": self.augmult,
                "augment_crop": self.augment_crop, "augment_flip": self.augment_flip}

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "privacy": self.privacy.to_dict(),
                "training": self.training_dict(), "recipe": self.recipe, "seed": self.seed}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ClassifierConfig":
        """Inverse of :meth:`to_dict` (also reads a run's config.json)."""
        t = dict(d["training"])
        pgd = t.pop("pgd")
        t.setdefault("ema", 0.0)
        t.setdefault("eval_every", 1)
        return cls(model=ModelConfig.from_dict(d["model"]),
                   privacy=PrivacyConfig.from_dict(d["privacy"]),
                   pgd=PGDConfig(**pgd) if pgd is not None else None, seed=d["seed"],
                   recipe=d.get("recipe"), **t)


@dataclass(frozen=True)
class FitResult:
    """A trained classifier.

    Attributes:
        model: the trained network (unwrapped, eval mode).
        report: the privacy spent (ε = ∞ without DP).
        history: one record per epoch (epoch, loss, epsilon, test_accuracy, seconds); the
            training loss is computed on private data without noise and is NOT covered by ε
            (each record names such keys under ``not_covered_by_epsilon``).
        test_accuracy: final clean test accuracy (None without a test set).
        robust_accuracy: PGD accuracy on the test set (None unless trained with ``pgd``).
        noise_reproducible: the noise came from a seeded generator (not secure mode), so the
            seed or a checkpoint lets anyone remove it; publish the weights only.
        epsilon_parts: for runs that release something before training (DP normalisation
            statistics): ``epsilon_normalization`` and ``epsilon_training``, each alone;
            ``report.epsilon`` is their composition (at most their sum). None otherwise.
    """

    model: nn.Module
    report: PrivacyReport
    history: list[dict[str, Any]]
    test_accuracy: float | None = None
    robust_accuracy: float | None = None
    noise_reproducible: bool = False
    epsilon_parts: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"privacy": self.report.to_dict() | (self.epsilon_parts or {}),
                "history": self.history,
                "test_accuracy": self.test_accuracy, "robust_accuracy": self.robust_accuracy}


def make_optimizer(name: str, params: Any, *, lr: float, momentum: float) -> torch.optim.Optimizer:
    """The (non-private) optimizer that the engine wraps into DP-SGD / DP-Adam / DP-Adagrad."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    raise DPKitError(f"optimizer {name!r} is unknown; choose one of {', '.join(OPTIMIZERS)}")


class _PublicBatches:
    """Random public batches for public-bn statistics (public data: no privacy cost)."""

    def __init__(self, public: ImageTensorDataset, size: int, seed: int, device: torch.device):
        self.images, _ = public.tensors()
        self.size = min(size, len(public))
        self.gen = torch.Generator().manual_seed(seed)
        self.device = device

    def next(self) -> torch.Tensor:
        idx = torch.randperm(self.images.shape[0], generator=self.gen)[:self.size]
        return self.images[idx].to(self.device)  # (P, C, H, W)


def training_inputs(setup: PrivateSetup, cfg: ClassifierConfig, x: torch.Tensor,
                    y: torch.Tensor, coins: AdversarialCoins | None) -> torch.Tensor:
    """The inputs a private step differentiates: x with Gaussian noise (``noise_augment``), then,
    for the examples whose coin says so (all when ``adv_fraction`` is 1), PGD against the
    current weights with Opacus's hooks off.

    Example i's row depends only on (x_i, y_i), the weights, the public statistics and randomness
    drawn independently of the data: the coins are per example (:class:`AdversarialCoins`), the
    attack's loss is a sum of per-example terms on a model that mixes no examples, and the
    augmentation noise and PGD random starts are fresh i.i.d. draws per example. Fixing those
    draws, adding one record changes the clipped sum by one clipped gradient (norm ≤ C); the
    Gaussian mechanism's bound then holds for every value of the draws, hence for their mixture.
    """
    attack = coins.draw(x, y) if coins is not None else None  # one key per step, empty or not
    if x.shape[0] == 0:
        return x
    if cfg.noise_augment > 0:
        x = x + torch.randn_like(x) * (cfg.noise_augment * PIXEL_SCALE)
    if cfg.pgd is not None:
        with setup.hooks_off():
            if attack is None:
                return pgd_attack(setup.model, x, y, cfg.pgd)
            x = x.clone()
            if bool(attack.any()):
                x[attack] = pgd_attack(setup.model, x[attack], y[attack], cfg.pgd)
    return x


def _private_step(setup: PrivateSetup, cfg: ClassifierConfig, x: torch.Tensor, y: torch.Tensor,
                  public: _PublicBatches | None, coins: AdversarialCoins | None,
                  views: torch.Generator | None = None) -> float:
    """One DP-SGD step on a sampled batch (see the module docstring); returns the batch loss
    times the number of examples."""
    n = x.shape[0]
    if views is not None:  # K views per example, rows i·K .. i·K+K−1 (see engine.augmult)
        x = augment_views(x, cfg.augmentation(x.shape[-1]), views)  # (B·K, C, H, W)
        y = y.repeat_interleave(cfg.augmult)  # (B·K,)
    if public is not None:
        with setup.hooks_off(), torch.no_grad(), public_statistics(setup.module):
            setup.model(public.next())
    x = training_inputs(setup, cfg, x, y, coins)
    setup.optimizer.zero_grad(set_to_none=True)
    if x.shape[0] == 0 and setup.private and setup.config.grad_sample_mode == "functorch":
        setup.empty_batch_grads()  # vmap cannot run on an empty batch; the step adds the noise
        setup.optimizer.step()
        return 0.0
    loss = setup.criterion(setup.model(x), y)
    loss.backward()
    setup.optimizer.step()
    return float(loss.detach()) * n if n > 0 else 0.0


class _ClassifierSteps:
    """The classifier's step function for :func:`~dpkit.engine.loop.train_epochs`."""

    private_keys = PRIVATE_RECORD_KEYS

    def __init__(self, setup: PrivateSetup, cfg: ClassifierConfig,
                 public: _PublicBatches | None, coins: AdversarialCoins | None,
                 ema: WeightAverage | None, ema_model: nn.Module | None,
                 test: ImageTensorDataset | FeatureDataset | None, device: torch.device,
                 views: torch.Generator | None = None) -> None:
        self.setup, self.cfg, self.public, self.coins = setup, cfg, public, coins
        self.views = views
        self.ema, self.ema_model, self.test, self.device = ema, ema_model, test, device
        self.total, self.count = 0.0, 0

    def begin_epoch(self, epoch: int) -> None:
        self.setup.model.train()
        self.total, self.count = 0.0, 0

    def step(self, index: int, x: torch.Tensor, y: torch.Tensor) -> float:
        loss = _private_step(self.setup, self.cfg, x, y, self.public, self.coins, self.views)
        self.total += loss
        self.count += x.shape[0]
        if self.ema is not None:
            self.ema.update(self.setup.module)
        return loss

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        totals = torch.tensor([self.total, float(self.count)], dtype=torch.float64)
        all_reduce_sum([totals], self.setup.world)  # the loss over every process's examples
        values: dict[str, Any] = {"loss": float(totals[0] / max(float(totals[1]), 1.0))}
        cfg, test = self.cfg, self.test
        if test is not None and (epoch % cfg.eval_every == 0 or epoch == cfg.epochs):
            with self.setup.hooks_off():
                values["test_accuracy"] = evaluate_accuracy(self.setup.module, test,
                                                            device=self.device)
            if self.ema is not None:
                values["test_accuracy_raw"] = values["test_accuracy"]
                values["test_accuracy"] = evaluate_accuracy(self.ema.copy_to(self.ema_model),
                                                            test, device=self.device)
        return values


def check_classifier_data(cfg: ClassifierConfig, train: ImageTensorDataset, *,
                          public: ImageTensorDataset | None = None,
                          num_classes: int | None = None) -> None:
    """Refuse, before anything is trained or written, data this configuration cannot train on:
    non-square images, a size the model does not take, a batch larger than N, δ ≥ 1/N, or
    public-bn without public data."""
    n = len(train)
    c, h, w = train.shape
    require(h == w, f"images must be square, got {h}x{w}; use image_size={max(h, w)}")
    require(1 <= cfg.batch_size <= n, f"batch_size={cfg.batch_size} must be between 1 and the "
                                      f"dataset size {n}; use batch_size={min(n, 256)}")
    cfg.privacy.check_dataset_size(n)
    k = num_classes if num_classes is not None else int(train.labels.max()) + 1
    require(k >= 2, f"the training data has {k} class; a classifier needs at least 2")
    if cfg.model.norm == "public-bn":
        require(public is not None and len(public) > 0,
                "norm='public-bn' needs public data; add public='holdout' (or the name of "
                "another dataset, e.g. public='mnist' for fashion-mnist)")
    build_model(cfg.model, in_channels=c, image_size=h, num_classes=k)  # refuses a bad size


def fit_classifier(cfg: ClassifierConfig, train: ImageTensorDataset, *,
                   public: ImageTensorDataset | None = None,
                   test: ImageTensorDataset | None = None, num_classes: int | None = None,
                   device: torch.device | str = "cpu", quiet: bool = True,
                   checkpoint: str | Path | None = None, resume: bool = False,
                   on_epoch: Callable[[dict[str, Any]], None] | None = None,
                   canary_gradients: CanaryGradients | None = None,
                   feature_cache: str | Path | None = None,
                   data_name: str = "data") -> FitResult:
    """Train a classifier with DP-SGD (Abadi et al. 2016, arXiv:1607.00133), optionally with PGD
    adversarial training (DP-Adv, Phan et al.; Madry et al. arXiv:1706.06083), public-data
    BatchNorm and Gaussian noise augmentation.

    Args:
        cfg: the run's configuration.
        train: the private training set; items (C, H, W) in [-1, 1].
        public: public images for ``norm="public-bn"`` (required then, ignored otherwise).
        test: evaluated after every epoch when given.
        num_classes: outputs (default: max label + 1 over train).
        device: where to train.
        quiet: no progress bars.
        checkpoint: a file to write a checkpoint to after every epoch.
        resume: continue from ``checkpoint`` (same cfg and data); the result equals an
            uninterrupted run's, weights and ε.
        on_epoch: called with each epoch's record (e.g. to append it to metrics.jsonl).
        canary_gradients: white-box audit canaries added to every noisy step's clipped sum
            (:class:`~dpkit.engine.private.CanaryGradients`; they count in N).
        feature_cache: scatternet models: the folder their scattering features are cached in
            (None: computed without caching); ``data_name`` names the cache files.

    Returns:
        :class:`FitResult` with the unwrapped model in eval mode.
    """
    device = torch.device(device)
    check_classifier_data(cfg, train, public=public, num_classes=num_classes)
    k = num_classes if num_classes is not None else int(train.labels.max()) + 1
    seed_everything(cfg.seed)
    c, h, w = train.shape
    model = build_model(cfg.model, in_channels=c, image_size=h, num_classes=k).to(device)
    # what DP-SGD trains, and on what: a scatternet's head on cached features, else the model
    net, train_data, test_data, prior = model, train, test, ()
    if isinstance(model, ScatterNet):
        net, train_data, test_data, prior = _scatter_inputs(model, cfg, train, test, device,
                                                            feature_cache, data_name)
    public_batches = None
    if uses_public_norm(model):
        assert public is not None  # checked by check_classifier_data
        public_batches = _PublicBatches(public, cfg.public_batch_size, cfg.seed + 2, device)
    coins = (AdversarialCoins(cfg.adv_fraction, seed=cfg.seed + 3)
             if cfg.pgd is not None and cfg.adv_fraction < 1 else None)
    views = torch.Generator().manual_seed(cfg.seed + 4) if cfg.augmult > 1 else None
    optimizer = make_optimizer(cfg.optimizer, net.parameters(), lr=cfg.lr, momentum=cfg.momentum)
    setup = make_private(net, optimizer, train_data, cfg.privacy, batch_size=cfg.batch_size,
                         epochs=cfg.epochs, seed=cfg.seed, canary_gradients=canary_gradients,
                         augmult=cfg.augmult, prior_mechanisms=prior)
    if setup.world.rank > 0:  # same initial weights (seeded above), then a stream of its own
        seed_everything(rank_seed(cfg.seed, setup.world.rank))  # (noise augmentation, PGD starts)
    ema = WeightAverage(net, cfg.ema) if cfg.ema > 0 else None
    ema_model = None
    if ema is not None:
        ema_model = build_model(cfg.model, in_channels=c, image_size=h, num_classes=k).to(device)
        ema_model.load_state_dict(model.state_dict())  # fixed buffers (DP statistics) too
        ema_model = ema_model.head if isinstance(ema_model, ScatterNet) else ema_model
    history: list[dict[str, Any]] = []
    start = 0
    if resume:
        require(checkpoint is not None, "resume needs the checkpoint file to continue from")
        info = load_checkpoint(checkpoint, models={"model": setup.model},
                               optimizers={"optimizer": setup.optimizer}, setups={"setup": setup})
        start, history = info.epoch, list(info.extra["history"])
        if public_batches is not None:
            public_batches.gen.set_state(info.extra["public_generator"].cpu())
        if ema is not None:
            ema.load_state_dict(info.extra["ema"])
        if coins is not None:
            coins.load_state_dict(info.extra["adversarial_coins"])
        if views is not None:
            views.set_state(info.extra["augmult_generator"].cpu())

    def save(epoch: int, records: list[dict[str, Any]]) -> None:
        extra = {"history": records, "public_generator":
                 public_batches.gen.get_state() if public_batches is not None else None,
                 "adversarial_coins": coins.state_dict() if coins is not None else None,
                 "augmult_generator": views.get_state() if views is not None else None,
                 "ema": ema.state_dict() if ema is not None else None}
        save_checkpoint(checkpoint, epoch=epoch, models={"model": setup.model},
                        optimizers={"optimizer": setup.optimizer}, setups={"setup": setup},
                        extra=extra)

    steps = _ClassifierSteps(setup, cfg, public_batches, coins, ema, ema_model, test_data, device,
                             views)
    history = train_epochs(setup, steps, epochs=cfg.epochs, device=device, start=start,
                           history=history, quiet=quiet,
                           save=save if checkpoint is not None else None, on_epoch=on_epoch)
    module = setup.module.eval() if ema is None else ema.copy_to(ema_model).eval()
    if isinstance(model, ScatterNet):  # the trained head behind the fixed transform
        model.head = module
        module = model.eval()
    test_acc = history[-1].get("test_accuracy") if history else None
    robust = None
    if cfg.pgd is not None and test is not None and cfg.robust_eval_size > 0:
        n = min(cfg.robust_eval_size, len(test))
        with setup.hooks_off():
            robust = robust_accuracy(module, test.subset(torch.arange(n)), cfg.pgd, restarts=1,
                                     device=device).robust_accuracy
    parts = None
    if prior and setup.private and setup.accountant is not None:
        delta, acc = cfg.privacy.delta, cfg.privacy.accountant
        parts = {"epsilon_normalization": epsilon_of_history(prior, delta=delta, accountant=acc),
                 "epsilon_training": epsilon_of_history(setup.accountant.history[len(prior):],
                                                        delta=delta, accountant=acc)}
    return FitResult(model=module, report=setup.report(), history=history,
                     test_accuracy=test_acc, robust_accuracy=robust,
                     noise_reproducible=setup.reproducible_noise, epsilon_parts=parts)


def _scatter_inputs(model: ScatterNet, cfg: ClassifierConfig, train: ImageTensorDataset,
                    test: ImageTensorDataset | None, device: torch.device,
                    cache: str | Path | None, name: str
                    ) -> tuple[nn.Module, FeatureDataset, FeatureDataset | None,
                               tuple[tuple[float, float, int], ...]]:
    """A scatternet's trainable head, the cached train/test features, and the mechanisms
    released before training: with ``scatter_norm="data"`` the head's standardisation is set
    from DP statistics of the training features (exact ones without DP)."""
    train_f = cached_features(train, params=model.params, cache_dir=cache, name=name,
                              split="train")
    test_f = (cached_features(test, params=model.params, cache_dir=cache, name=name,
                              split="test") if test is not None else None)
    prior: tuple[tuple[float, float, int], ...] = ()
    if cfg.model.scatter_norm == "data":
        private = cfg.privacy.enabled
        sigma = cfg.model.norm_noise_multiplier if private else None
        source = make_source(secure=private and cfg.privacy.secure_mode, seed=cfg.seed + 5)
        mean, var = dp_feature_statistics(train_f.features, noise_multiplier=sigma,
                                          source=source)
        model.head.norm.set_statistics(mean.to(device), var.to(device))
        if private:
            prior = tuple(normalization_mechanisms(cfg.model.norm_noise_multiplier))
    return model.head, train_f, test_f, prior
