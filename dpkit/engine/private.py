"""``make_private``: one entry point that turns a model, optimizer and dataset into a DP-SGD setup.

Wraps Opacus (per-example gradients, clipping, noise, accountants) without subclassing it, and adds
what dpkit's privacy guarantee needs on top: model validation with errors that say how to fix the
model, Poisson sampling at exactly q = B/N with an explicit step count, one source of sampling and
noise randomness (seeded and checkpointed, or the OS CSPRNG in secure mode: see
:mod:`dpkit.engine.randomness`), and a guard against taking two noisy steps on one sampled batch.
No module outside ``dpkit.engine`` needs to call Opacus.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Protocol, Sequence

import torch
from opacus.accountants import IAccountant, create_accountant
from opacus.distributed import DifferentiallyPrivateDistributedDataParallel as DPDDP
from opacus.grad_sample import register_grad_sampler
from opacus.grad_sample.gsm_base import AbstractGradSampleModule
from opacus.grad_sample.utils import wrap_model
from opacus.optimizers import DPOptimizer, get_optimizer_class
from opacus.utils.batch_memory_manager import BatchMemoryManager
from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping
from opacus.validators import ModuleValidator
from torch import nn
from torch.utils.data import DataLoader, Dataset

from dpkit.engine.augmult import attach_view_averaging, check_augmult_mode
from dpkit.engine.accounting import (PrivacyReport, calibrate_noise, epsilon_from_accountant,
                                     steps_per_epoch)
from dpkit.engine.bookkeeping import BookKeepingModule, clip_factors, unsupported_layers
from dpkit.engine.config import PrivacyConfig
from dpkit.engine.distributed import World, all_reduce_sum, current_world
from dpkit.engine.randomness import RandomSource, make_source
from dpkit.engine.sampling import PoissonBatchSampler, ShuffledBatchSampler, make_loader
from dpkit.errors import DPKitError, PrivacyViolation, require

__all__ = ["PrivateSetup", "CanaryGradients", "make_private", "validate_private_model",
           "resolve_grad_sample_mode",
           "unwrap_model", "hooks_off", "register_grad_sampler"]
# register_grad_sampler(LayerType) decorates ``fn(layer, activations, backprops) -> {param:
# per-example grads}``: how a custom layer of dpkit (e.g. the public-bn affine) gets per-example
# gradients. Re-exported so that no module outside the engine imports Opacus.


def validate_private_model(model: nn.Module) -> None:
    """Refuse a model that cannot be trained with per-example DP-SGD.

    BatchNorm computes statistics over the batch, so one example's gradient depends on every
    other example in it and per-example clipping no longer bounds its influence.
    """
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            raise PrivacyViolation(
                f"layer '{name}' ({type(module).__name__}) normalizes over private batches, which "
                f"mixes examples and breaks DP; use GroupNorm (norm='group') or BatchNorm fed "
                f"only by public data (norm='public-bn')")
    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise DPKitError("model cannot be trained with DP-SGD: " + "; ".join(str(e) for e in errors))


def resolve_grad_sample_mode(model: nn.Module) -> str:
    """What ``grad_sample_mode="auto"`` means for ``model``: book-keeping clipping (one backward
    pass; the fastest DP mode measured on CPU for every model of BENCHMARKS.md's clipping table)
    when every trainable layer has a BK rule, else Opacus's hooks."""
    return "hooks" if unsupported_layers(model) else "bk"


def unwrap_model(model: nn.Module) -> nn.Module:
    """The user's module inside an Opacus grad-sample wrapper, ghost-clipping one included,
    or a book-keeping one, and its distributed wrapper (or the module itself)."""
    wrapped = isinstance(model, (AbstractGradSampleModule, BookKeepingModule))
    inner = model._module if wrapped else model
    return inner.module if isinstance(inner, DPDDP) else inner


@contextlib.contextmanager
def hooks_off(model: nn.Module) -> Iterator[None]:
    """Forward/backward passes that must not produce per-example gradients (Opacus hooks off):
    attack crafting, public statistics, the generator's pass through a private discriminator.
    Any ``grad_sample`` left behind is cleared on exit."""
    gsm = model if isinstance(model, (AbstractGradSampleModule, BookKeepingModule)) else None
    if gsm is not None:
        gsm.disable_hooks()
    try:
        yield
    finally:
        if gsm is not None:
            gsm.enable_hooks()
            for p in gsm.parameters():
                p.grad_sample = None


class CanaryGradients(Protocol):
    """Synthetic records whose gradients join DP-SGD's clipped sum: the engine's one extension
    point for white-box privacy auditing (gradient canaries, Nasr et al. 2023, arXiv:2302.07956).

    ``records`` synthetic records are part of the private data: they count in N (so
    q = B / (len(dataset) + records)) and, at every noisy step, :meth:`sample` decides which of
    them joined this step's batch (each independently with probability q, like a
    Poisson-sampled example) and returns their gradients. The engine clips each to C exactly as
    it clips an example, adds them to the clipped sum and only then adds the noise, in
    :func:`_add_noise` — the same function for every ``grad_sample_mode`` (hooks, functorch,
    ghost, bk).
    """

    records: int

    def sample(self, params: Sequence[torch.Tensor], sample_rate: float
               ) -> list[torch.Tensor | None]:
        """This step's sampled records' gradients: per trainable parameter p (the optimizer's
        order), a (k, *p.shape) tensor, or None where no sampled record touches p; k (the number
        sampled, possibly 0) is the same for every tensor. ``params`` hold the weights before
        this step's update."""


def _clipped_canary_sum(optimizer: DPOptimizer, canaries: CanaryGradients,
                        sample_rate: float) -> list[torch.Tensor | None]:
    """Σ_i clip_C(g_i) over this step's sampled canaries, per parameter (flat clipping, as
    Opacus clips examples: factor min(1, C / (‖g_i‖ + 1e-6)))."""
    grads = canaries.sample(optimizer.params, sample_rate)
    assert len(grads) == len(optimizer.params), "one canary gradient entry per parameter"
    present = [g for g in grads if g is not None]
    if not present or present[0].shape[0] == 0:
        return [None] * len(grads)
    k = present[0].shape[0]
    norms = torch.stack([g.reshape(k, -1).norm(2, dim=1) for g in present], 1)  # (k, params)
    norms = norms.norm(2, dim=1)  # (k,)
    factor = clip_factors(norms, optimizer.max_grad_norm)  # (k,)
    return [None if g is None else torch.einsum("i,i...->...", factor.to(g), g) for g in grads]


def _add_noise(optimizer: DPOptimizer, source: RandomSource,
               canaries: CanaryGradients | None = None, sample_rate: float = 0.0) -> None:
    """Opacus's ``add_noise`` (p.grad = Σ clipped + N(0, σ²C²)) drawing from ``source``; with
    ``canaries``, their clipped gradients join the sum before the noise."""
    std = optimizer.noise_multiplier * optimizer.max_grad_norm
    extra = (_clipped_canary_sum(optimizer, canaries, sample_rate) if canaries is not None
             else [None] * len(optimizer.params))
    for p, e in zip(optimizer.params, extra):
        summed = p.summed_grad if e is None else p.summed_grad + e.view_as(p.summed_grad)
        noise = (source.gaussian(summed.shape, std, device=summed.device, dtype=summed.dtype)
                 if std > 0 else torch.zeros_like(summed))
        p.grad = (summed + noise).view_as(p)


def _noise_step(optimizer: DPOptimizer, source: RandomSource, canaries: CanaryGradients | None,
                sample_rate: float, world: World) -> None:
    """The optimizer's ``add_noise``: rank 0 adds the noise (and the canaries) of the whole
    logical batch with :func:`_add_noise`; the other ranks pass their clipped sums on unchanged,
    so the all-reduced sum holds N(0, σ²C²) once, not ``world.size`` times."""
    if world.is_main:
        _add_noise(optimizer, source, canaries, sample_rate)
    else:
        for p in optimizer.params:
            p.grad = p.summed_grad.view_as(p)


@dataclass
class PrivateSetup:
    """Everything a trainer needs for one private (or explicitly non-private) training run.

    Attributes:
        model: the model to call; an Opacus GradSampleModule when private.
        optimizer: the optimizer to step; an Opacus DPOptimizer when private.
        loader: yields Poisson-sampled batches (shuffled batches when DP is off).
        criterion: the loss to call; with ``grad_sample_mode="ghost"`` it is Opacus's two-pass
            ghost-clipping loss, whose ``backward()`` clips and accumulates.
        config: the privacy configuration.
        noise_multiplier: σ actually used (calibrated when a target ε was given).
        sample_rate: q = B/N.
        steps_per_epoch: optimizer steps per epoch.
        accountant: the Opacus accountant charged at every private step (None when DP is off).
        sampler_source: randomness of the Poisson sampling (shuffling when DP is off).
        noise_source: randomness of the Gaussian noise (None when DP is off).
        canary_gradients: synthetic records (white-box audit canaries) whose clipped gradients
            join every noisy step's sum before the noise (see :class:`CanaryGradients`); they
            count in N, so q = B / (len(dataset) + canary_gradients.records).
        world: the processes training this model together (one without torchrun); each draws
            its shard of every Poisson batch (see :mod:`dpkit.engine.distributed`).
        prior_mechanisms: Gaussian mechanisms on the same data released before training, as
            (σ, q, steps) entries at the head of the accountant's history, so ε is their
            composition with the training steps (e.g. DP feature statistics).
    """

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loader: DataLoader
    criterion: Callable[..., torch.Tensor]
    config: PrivacyConfig
    noise_multiplier: float
    sample_rate: float
    steps_per_epoch: int
    accountant: IAccountant | None
    sampler_source: RandomSource | None = None
    noise_source: RandomSource | None = None
    canary_gradients: CanaryGradients | None = None
    prior_mechanisms: tuple[tuple[float, float, int], ...] = ()
    steps_taken: int = 0
    world: World = field(default_factory=World)
    _batch_sampler: Any = field(default=None, repr=False)

    @property
    def private(self) -> bool:
        return self.config.enabled

    @property
    def module(self) -> nn.Module:
        """The user's model without Opacus's wrapper (for saving and evaluation)."""
        return unwrap_model(self.model)

    def epsilon(self) -> float:
        if not self.private or self.accountant is None:
            return math.inf
        return epsilon_from_accountant(self.accountant, self.config.delta)

    def report(self) -> PrivacyReport:
        """ε spent so far, read from the accountant (reading does not change its state)."""
        steps = (sum(n for _, _, n in self.accountant.history)
                 - sum(n for _, _, n in self.prior_mechanisms)
                 if self.accountant else self.steps_taken)
        return PrivacyReport(
            epsilon=self.epsilon(), delta=self.config.delta, noise_multiplier=self.noise_multiplier,
            sample_rate=self.sample_rate, steps=steps, accountant=self.config.accountant,
            max_grad_norm=self.config.max_grad_norm,
            poisson_sampling=self.config.poisson_sampling, private=self.private,
            grad_sample_mode=self.config.grad_sample_mode if self.private else None)

    @contextlib.contextmanager
    def epoch_loader(self) -> Iterator[DataLoader]:
        """The loader for one epoch, split into physical batches when configured."""
        size = self.config.max_physical_batch_size
        if self.private and size is not None:
            with BatchMemoryManager(data_loader=self.loader, max_physical_batch_size=size,
                                    optimizer=self.optimizer) as loader:
                yield loader
        else:
            yield self.loader

    @property
    def reproducible_noise(self) -> bool:
        """True when the noise comes from a seeded generator that checkpoint.pt / config.json
        let anyone regenerate (so only the final weights may be published)."""
        return self.private and not (self.noise_source is not None and self.noise_source.secure)

    def hooks_off(self) -> contextlib.AbstractContextManager[None]:
        """No per-example gradients inside this block (see :func:`hooks_off`)."""
        return hooks_off(self.model)

    def empty_batch_grads(self) -> None:
        """Give every parameter an empty per-example gradient, for an empty Poisson batch that
        cannot go through the model (functorch's vmap refuses zero examples). The next noisy
        step then adds pure noise and is charged like any other."""
        if isinstance(self.model, BookKeepingModule):  # bk: p.grad is the (empty) clipped sum
            self.model.empty_batch_grads()
            return
        for p in self.model.parameters():
            if p.requires_grad:
                p.grad_sample = p.new_zeros((0, *p.shape))

    def step(self, extra_grads: list[torch.Tensor] | None = None) -> None:
        """One noisy step from the per-example gradients of the batch just drawn.

        Clips each example's gradient to C, sums, adds N(0, σ²C²), divides by B and charges the
        accountant once; then adds ``extra_grads`` (gradients of terms that touch no private
        data, e.g. a GAN's generated half, one tensor per trainable parameter; across processes,
        each process's part, summed over them) and updates.

        Raises:
            PrivacyViolation: the noisy step was skipped or not charged exactly once.
        """
        assert self.private, "step() is the private update; a non-private setup steps its optimizer"
        opt: DPOptimizer = self.optimizer  # type: ignore[assignment]
        before = self.steps_taken
        if not opt.pre_step() or self.steps_taken != before + 1:
            raise PrivacyViolation("the noisy step was skipped or not accounted; a step with "
                                   "extra gradients cannot use physical batches or accumulation")
        if self.world.distributed:  # what DistributedDPOptimizer.step does after pre_step
            opt.reduce_gradients()
        if extra_grads is not None:
            params = [p for p in self.model.parameters() if p.requires_grad]
            all_reduce_sum(extra_grads, self.world)
            with torch.no_grad():
                for p, g in zip(params, extra_grads):
                    p.grad.add_(g)
        opt.original_optimizer.step()
        opt.zero_grad(set_to_none=True)  # drop per-example gradients before anything else runs

    def _on_step(self, optimizer: DPOptimizer) -> None:
        drawn = self._batch_sampler.drawn
        if self.steps_taken + 1 > drawn:
            raise PrivacyViolation(
                f"private step {self.steps_taken + 1} but only {drawn} batches were sampled: a "
                f"batch may not be used for two noisy steps; draw a fresh batch from the loader "
                f"for every optimizer step")
        self.steps_taken += 1
        if self.accountant is not None:
            self.accountant.step(noise_multiplier=optimizer.noise_multiplier,
                                 sample_rate=self.sample_rate * optimizer.accumulated_iterations)

    def state_dict(self) -> dict[str, Any]:
        """Accountant history, step counts and, unless secure, the generators' states.

        In secure mode no sampling or noise state is saved: there is none (every draw reads the
        OS CSPRNG), so the checkpoint does not let anyone replay the noise.
        """
        return {
            "accountant": self.accountant.state_dict() if self.accountant is not None else None,
            "sampler_generator": (self.sampler_source.state_dict()
                                  if self.sampler_source is not None else None),
            "noise_generator": (self.noise_source.state_dict()
                                if self.noise_source is not None else None),
            "steps_taken": self.steps_taken,
            "batches_drawn": self._batch_sampler.drawn,
            "noise_multiplier": self.noise_multiplier,
            "sample_rate": self.sample_rate,
            "world_size": self.world.size,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from :meth:`state_dict` (rank 0's, on every process). The number of
        processes may differ from the checkpoint's: every process draws the same sampling
        stream and rank 0 alone draws the noise, so the logical batch, q and ε do not depend on
        it; what may not change is the logical batch (q) and σ."""
        saved_world = state.get("world_size", 1)
        require(math.isclose(state["sample_rate"], self.sample_rate),
                f"checkpoint was made with sample rate q={state['sample_rate']:.6g} (logical "
                f"batch over {saved_world} process(es)), this run has q={self.sample_rate:.6g} "
                f"over {self.world.size}; resume with the run's own batch size, whatever the "
                f"number of processes")
        require(math.isclose(state["noise_multiplier"], self.noise_multiplier),
                "checkpoint was made with a different noise multiplier; resume with the run's "
                "own settings")
        if self.accountant is not None and state["accountant"] is not None:
            self.accountant.load_state_dict(state["accountant"])
        if self.sampler_source is not None:
            self.sampler_source.load_state_dict(state["sampler_generator"])
        if self.noise_source is not None:
            self.noise_source.load_state_dict(state["noise_generator"])
        self.steps_taken = state["steps_taken"]
        self._batch_sampler.drawn = state["batches_drawn"]


def make_private(model: nn.Module, optimizer: torch.optim.Optimizer, dataset: Dataset,
                 cfg: PrivacyConfig, *, batch_size: int, epochs: int,
                 criterion: Callable[..., torch.Tensor] | None = None, seed: int | None = 0,
                 num_workers: int = 0,
                 canary_gradients: CanaryGradients | None = None, augmult: int = 1,
                 prior_mechanisms: Sequence[tuple[float, float, int]] = ()) -> PrivateSetup:
    """Make a DP-SGD training setup (Abadi et al. 2016, arXiv:1607.00133) on top of Opacus.

    Args:
        model: the network (already on its device). Validated first: BatchNorm is refused.
        optimizer: an optimizer over ``model.parameters()`` (SGD, Adam, Adagrad, ...).
        dataset: the private training set; batches are drawn from it with q = batch_size / N.
        cfg: the privacy configuration.
        batch_size: expected (logical) batch size B.
        epochs: planned epochs; needed to calibrate σ when ``cfg.target_epsilon`` is set.
        criterion: loss with ``reduction="mean"``; defaults to cross-entropy.
        seed: seeds the sampling and noise generators; ignored in secure mode (every draw then
            reads the OS CSPRNG and nothing about it is saved).
        num_workers: DataLoader workers.
        canary_gradients: white-box audit canaries (see :class:`CanaryGradients`): counted in N
            and added to every noisy step's clipped sum; DP-SGD only.
        augmult: K views per example in every batch the model sees (rows i·K .. i·K+K−1 are
            example i's, see :mod:`dpkit.engine.augmult`); their per-example gradients are
            averaged before clipping. Not with ghost clipping.
        prior_mechanisms: Gaussian mechanisms released before training on the same data, as
            accountant entries (σ, q, steps); σ is calibrated so that their composition with
            training meets ``cfg.target_epsilon``, and every ε reported includes them.

    Returns:
        A :class:`PrivateSetup`, whatever the configuration (private or not, ghost or not).
    """
    n_data = len(dataset)
    world = current_world()
    shard = (world.rank, world.size)
    extra = canary_gradients.records if canary_gradients is not None else 0
    n = n_data + extra  # the private records: examples and included canaries
    require(1 <= batch_size <= n, f"batch_size={batch_size} must be between 1 and the dataset "
                                  f"size {n}; use batch_size={min(n, 256)}")
    require(epochs >= 1, f"epochs={epochs} must be >= 1")
    require(canary_gradients is None or cfg.enabled,
            "canary gradients join DP-SGD's clipped sum and need enabled=True; for a run "
            "without noise use noise_multiplier=0")
    require(not world.distributed or cfg.enabled,
            f"training without DP runs in one process, not {world.size}; start it without "
            f"torchrun (or with one process per node)")
    require(batch_size >= world.size,
            f"batch_size={batch_size} is smaller than the {world.size} processes; use "
            f"batch_size >= {world.size} or fewer processes")
    criterion = criterion if criterion is not None else nn.CrossEntropyLoss()
    q = batch_size / n
    steps = steps_per_epoch(n, batch_size)
    device = next(model.parameters()).device
    secure = cfg.enabled and cfg.secure_mode

    if not cfg.enabled:
        shuffle = make_source(secure=False, seed=seed)
        sampler = ShuffledBatchSampler(num_samples=n_data, batch_size=batch_size,
                                       generator=shuffle.generator)
        return PrivateSetup(model=model, optimizer=optimizer,
                            loader=make_loader(dataset, sampler, num_workers=num_workers),
                            criterion=criterion, config=cfg, noise_multiplier=0.0, sample_rate=q,
                            steps_per_epoch=steps, accountant=None, sampler_source=shuffle,
                            _batch_sampler=sampler)

    cfg.check_dataset_size(n)
    validate_private_model(model)
    if cfg.grad_sample_mode == "auto":  # augmult averages materialised per-view gradients
        cfg = replace(cfg, grad_sample_mode="hooks" if augmult > 1
                      else resolve_grad_sample_mode(model))
    check_augmult_mode(augmult, cfg.grad_sample_mode)
    prior = tuple(prior_mechanisms)
    noise = cfg.noise_multiplier
    if noise is None:
        noise = calibrate_noise(target_epsilon=cfg.target_epsilon, delta=cfg.delta,
                                sample_rate=q, steps=steps * epochs, accountant=cfg.accountant,
                                prior=prior)
    sampler_source = make_source(secure=secure, seed=seed)
    if cfg.poisson_sampling:
        sampler = PoissonBatchSampler(num_samples=n_data, sample_rate=q, steps=steps,
                                      source=sampler_source, shard=shard)
    else:
        warnings.warn("poisson_sampling=False: batches are shuffled, not Poisson-sampled, and the "
                      "reported epsilon is not covered by the accountant's analysis")
        shuffle_gen = (sampler_source.generator if not secure  # type: ignore[attr-defined]
                       else make_source(secure=False, seed=None).generator)
        sampler = ShuffledBatchSampler(num_samples=n_data, batch_size=batch_size,
                                       generator=shuffle_gen, shard=shard)
    loader = make_loader(dataset, sampler, num_workers=num_workers)

    mode = cfg.grad_sample_mode
    wrap_kwargs: dict[str, Any] = {"batch_first": True, "loss_reduction": "mean"}
    if mode == "ghost":
        wrap_kwargs["max_grad_norm"] = cfg.max_grad_norm
    # across processes: rank 0's weights everywhere (DPDDP broadcasts them; it does not touch
    # gradients, which are clipped per example before the optimizer all-reduces them)
    base = DPDDP(model) if world.distributed else model
    gsm: nn.Module
    if mode == "bk":  # one backward pass leaves the clipped sum in p.grad, as ghost clipping does
        gsm = BookKeepingModule(base, max_grad_norm=cfg.max_grad_norm,
                                forbid_accumulation=cfg.poisson_sampling)
    else:
        gsm = wrap_model(base, grad_sample_mode=mode, **wrap_kwargs)
        if cfg.poisson_sampling:
            gsm.forbid_grad_accumulation()
    noise_source = make_source(secure=secure, seed=seed + 1 if seed is not None else None,
                               device=device)
    optim_class = get_optimizer_class(clipping="flat", distributed=world.distributed,
                                      grad_sample_mode="ghost" if mode == "bk" else mode)
    # Opacus divides each process's sum by expected_batch_size and, after the all-reduce, by the
    # world size: B / world makes the update (Σ clip + N(0, σ²C²)) / B for any world size
    dp_optimizer = optim_class(optimizer=optimizer, noise_multiplier=noise,
                               max_grad_norm=cfg.max_grad_norm,
                               expected_batch_size=batch_size / world.size,
                               loss_reduction="mean", secure_mode=secure)
    # every noise draw goes through dpkit's source (seeded, or the OS CSPRNG in secure mode),
    # on rank 0 only (and white-box audit canaries join the clipped sum there, before the noise)
    dp_optimizer.add_noise = lambda: _noise_step(dp_optimizer, noise_source, canary_gradients, q,
                                                 world)
    attach_view_averaging(dp_optimizer, augmult)
    if mode == "ghost":
        criterion = DPLossFastGradientClipping(gsm, dp_optimizer, criterion, "mean")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        accountant = create_accountant(mechanism=cfg.accountant)
    accountant.history = list(prior)
    setup = PrivateSetup(model=gsm, optimizer=dp_optimizer, loader=loader, criterion=criterion,
                         config=cfg, noise_multiplier=noise, sample_rate=q, steps_per_epoch=steps,
                         accountant=accountant, sampler_source=sampler_source,
                         noise_source=noise_source, canary_gradients=canary_gradients,
                         prior_mechanisms=prior, world=world, _batch_sampler=sampler)
    dp_optimizer.attach_step_hook(setup._on_step)
    return setup
