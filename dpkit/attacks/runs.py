"""Attacks against a training run directory: pick members, run the attack, write a result dir.

``run_membership`` and ``run_reconstruction`` are what ``dpkit attack membership|reconstruct``
call. Each writes a fresh directory (default ``RUN/attacks/<method>-<timestamp>``, never an
existing non-empty one) holding ``config.json``, ``result.json``, ``scores.json`` or the
per-image numbers, and a PNG (ROC curve on log-log axes, or originals above reconstructions).
A membership result also carries the empirical ε lower bound at the target run's δ and, next to it,
the ε the target run claims (its ``privacy.json``).
"""

from __future__ import annotations

import dataclasses
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from dpkit.attacks.epsilon import DEFAULT_DELTA
from dpkit.attacks.gan_membership import (LatentSearchConfig, discriminator_attack,
                                          gan_leaks_attack, gan_leaks_latent_attack)
from dpkit.attacks.image_quality import match_to_training, rescale_per_image
from dpkit.attacks.inversion import InversionConfig, invert_gradient, observed_gradient
from dpkit.attacks.kkt import KKTConfig, binary_margin, check_homogeneous, kkt_reconstruct
from dpkit.attacks.membership import (LiRAConfig, classifier_shadow_fit, lira_attack,
                                      lira_population, loss_attack, membership_split)
from dpkit.attacks.plots import paired_grid_png, roc_png
from dpkit.attacks.scores import AttackMetrics, MembershipScores, attack_metrics, roc_curve
from dpkit.classifiers import ClassifierConfig, load_classifier
from dpkit.engine import (RESULT_FILE, PrivacyReport, RunDir, check_new_run_dir, create_run_dir,
                          open_run_dir)
from dpkit.gan import load_gan
from dpkit.errors import DPKitError, require
from dpkit.names import (CLASSIFIER_METHODS, GAN_METHODS, MEMBERSHIP_METHODS,
                         RECONSTRUCTION_METHODS)

__all__ = ["CLASSIFIER_METHODS", "GAN_METHODS", "MEMBERSHIP_METHODS", "RECONSTRUCTION_METHODS",
           "GOOD_SSIM", "MembershipOptions", "MembershipRun", "ReconstructionOptions",
           "ReconstructionRun", "run_membership", "run_reconstruction"]

GOOD_SSIM = 0.4
MAX_DEFAULT_CANDIDATES = 100
MAX_LATENT_STARTS = 1000  # generated samples gan-leaks-latent searches for each start
_SUMMARY_KEYS_MEMBERSHIP = ("method", "auc", "balanced_accuracy", "tpr_at_fpr_0.001",
                            "tpr_at_fpr_0.01", "num_members", "num_nonmembers",
                            "epsilon_lower_bound", "epsilon_lower_bound_method",
                            "epsilon_lower_bound_confidence", "epsilon_lower_bound_delta")
_CLAIM_KEYS = ("claimed_epsilon", "epsilon_violation")  # only when the target has privacy.json
VIOLATION = "VIOLATION: the attack proves more leakage than the claimed epsilon"
_SUMMARY_KEYS_RECONSTRUCT = ("method", "mean_ssim", "ssim", "psnr", "num_reconstructed",
                             "num_good", "grid")


@dataclass(frozen=True)
class MembershipOptions:
    """What ``dpkit attack membership`` was asked to do (written to the attack's config.json)."""

    method: str = "loss"
    max_examples: int | None = None
    lira: LiRAConfig = field(default_factory=LiRAConfig)
    offline: bool = False
    num_samples: int = 10000
    latent: LatentSearchConfig = field(default_factory=LatentSearchConfig)
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.method in MEMBERSHIP_METHODS, f"method={self.method!r} is unknown; choose "
                                                   f"one of {', '.join(MEMBERSHIP_METHODS)}")

    @classmethod
    def build(cls, *, method: str = "loss", max_examples: int | None = None,
              shadow_models: int = 8, fixed_variance: bool = False, offline: bool = False,
              num_samples: int = 10000, latent_steps: int = 200,
              seed: int = 0) -> "MembershipOptions":
        """Options from flat settings (the command line's). gan-leaks-latent starts its latent
        search from the closest of at most :data:`MAX_LATENT_STARTS` samples per record."""
        return cls(method=method, max_examples=max_examples,
                   lira=LiRAConfig(shadow_models=shadow_models, fixed_variance=fixed_variance,
                                   seed=seed),
                   offline=offline, num_samples=num_samples,
                   latent=LatentSearchConfig(num_samples=min(num_samples, MAX_LATENT_STARTS),
                                             steps=latent_steps, seed=seed),
                   seed=seed)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "max_examples": self.max_examples,
                "lira": self.lira.to_dict(), "offline": self.offline,
                "num_samples": self.num_samples, "latent": self.latent.to_dict(),
                "seed": self.seed}


@dataclass(frozen=True)
class MembershipRun:
    """Result of one membership attack: its metrics, the other variants', and where it wrote.

    ``extra`` holds ``claimed_epsilon`` (the target's privacy.json; ∞ for non-private training)
    and ``epsilon_violation`` (the main attack's ε lower bound exceeds it: broken DP) when the
    target run has a privacy report. Only the main attack is compared, so the comparison is one
    test at the bound's confidence, not the best of several.
    """

    metrics: AttackMetrics
    out_dir: Path
    roc: Path
    variants: tuple[AttackMetrics, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return self.metrics.to_dict() | {"roc": str(self.roc), "out_dir": str(self.out_dir),
                                         "variants": [v.to_dict() for v in self.variants]
                                         } | self.extra

    def summary_dict(self) -> dict[str, Any]:
        """The short JSON form (``dpkit attack membership --json``); result.json holds
        :meth:`to_dict`."""
        full = self.to_dict()
        return ({k: full[k] for k in _SUMMARY_KEYS_MEMBERSHIP}
                | {k: full[k] for k in _CLAIM_KEYS if k in full} | {"roc": full["roc"]})

    def summary(self) -> str:
        """Human-readable lines: each variant's metrics, the shadows' cost, the ROC curve."""
        lines = [self.metrics.summary()] + [textwrap.indent(v.summary(), "  ")
                                            for v in self.variants]
        if "claimed_epsilon" in self.extra:
            lines.append(f"claimed epsilon {self.extra['claimed_epsilon']:.4g} "
                         f"(target run's privacy.json)")
            if self.extra["epsilon_violation"]:
                lines.append(VIOLATION)
        if "seconds_per_shadow" in self.extra:
            lines.append(f"{self.extra['shadow_models']} shadow models, "
                         f"{self.extra['seconds_per_shadow']:.2f} s each, shadow epsilon "
                         f"{self.extra['shadow_epsilon']:.4g}")
        lines.append(f"ROC curve: {self.roc}")
        return "\n".join(lines)


def _target_kind(run_dir: str | Path) -> tuple[RunDir, str]:
    run = open_run_dir(run_dir)
    return run, run.kind


def _claimed_privacy(run: RunDir) -> PrivacyReport | None:
    """The target run's privacy report, or None when it has none (then δ is unknown)."""
    try:
        return run.read_privacy()
    except (DPKitError, KeyError, TypeError, ValueError):
        return None


def _attack_dir(run: RunDir, name: str, out: str | Path | None) -> RunDir:
    return create_run_dir(name, out, root=run.path / "attacks")


def _classifier_scores(run: RunDir, opts: MembershipOptions, device: torch.device | str,
                       on_shadow: Callable[[int, float], None] | None
                       ) -> tuple[list[MembershipScores], dict[str, Any]]:
    target = load_classifier(run.path, device=device)
    members, nonmembers = membership_split(target.bundle, max_per_side=opts.max_examples,
                                           seed=opts.seed)
    loss = loss_attack(target.model, members, nonmembers, device=device)
    if opts.method == "loss":
        return [loss], {}
    cfg = ClassifierConfig.from_dict(target.config)
    sigma = run.read_privacy().noise_multiplier if cfg.privacy.enabled else None
    fit = classifier_shadow_fit(cfg, num_classes=target.num_classes, public=target.bundle.public,
                                noise_multiplier=sigma, device=device)
    population = lira_population(target.bundle, seed=opts.seed)
    res = lira_attack(target.model, fit, *population, opts.lira, device=device,
                      on_shadow=on_shadow)
    first, second = (res.offline, res.online) if opts.offline else (res.online, res.offline)
    secs = res.shadow_seconds
    n = len(members)  # scored examples per side: as many as the loss attack's
    return [_sample(first, n, opts.seed), _sample(second, n, opts.seed), loss], {
        "shadow_models": len(secs), "seconds_per_shadow": sum(secs) / len(secs),
        "shadow_epsilon": res.shadow_epsilon, "target_train_size": len(target.bundle.train),
        "shadow_train_size": len(population[0])}


def _sample(scores: MembershipScores, n: int, seed: int) -> MembershipScores:
    """The scores of a seeded random n members and n non-members (all when n covers them)."""
    gen = torch.Generator().manual_seed(seed)

    def pick(arr: Any) -> Any:
        if len(arr) <= n:
            return arr
        return arr[torch.randperm(len(arr), generator=gen)[:n].sort().values.numpy()]

    return MembershipScores(scores.method, pick(scores.members), pick(scores.nonmembers))


def _gan_scores(run: RunDir, opts: MembershipOptions, device: torch.device | str
                ) -> tuple[list[MembershipScores], dict[str, Any]]:
    gan = load_gan(run.path, device=device)
    assert gan.bundle is not None
    members, nonmembers = membership_split(gan.bundle, max_per_side=opts.max_examples,
                                           seed=opts.seed)
    if opts.method == "discriminator":
        return [discriminator_attack(gan.discriminator, members, nonmembers, device=device)], {}
    if opts.method == "gan-leaks":
        return [gan_leaks_attack(gan.generator, members, nonmembers, latent_dim=gan.latent_dim,
                                 num_samples=opts.num_samples, seed=opts.seed, device=device)], {}
    return [gan_leaks_latent_attack(gan.generator, members, nonmembers, latent_dim=gan.latent_dim,
                                    cfg=opts.latent, device=device)], {}


def run_membership(run_dir: str | Path, opts: MembershipOptions, *, out: str | Path | None = None,
                   device: torch.device | str = "cpu",
                   on_shadow: Callable[[int, float], None] | None = None) -> MembershipRun:
    """Membership inference against a ``train-classifier`` or ``train-gan`` run.

    Members are the run's training examples and non-members its held-out (else test) examples,
    in equal numbers (:func:`~dpkit.attacks.membership.membership_split`). The ε lower bounds
    are at the target's δ (:data:`~dpkit.attacks.epsilon.DEFAULT_DELTA` when it has no
    privacy.json), and the main attack's bound is compared with the target's claimed ε.
    """
    run, kind = _target_kind(run_dir)
    wanted = CLASSIFIER_METHODS if kind == "train-classifier" else GAN_METHODS
    if kind not in ("train-classifier", "train-gan") or opts.method not in wanted:
        raise DPKitError(f"method={opts.method!r} does not apply to a '{kind}' run; for "
                         f"train-classifier runs use {'/'.join(CLASSIFIER_METHODS)}, for "
                         f"train-gan runs {'/'.join(GAN_METHODS)}")
    t0 = time.perf_counter()
    check_new_run_dir(out)  # refuse a used ``out`` up front; create it once the attack worked
    if kind == "train-classifier":
        scores, extra = _classifier_scores(run, opts, device, on_shadow)
    else:
        scores, extra = _gan_scores(run, opts, device)
    dest = _attack_dir(run, f"membership-{opts.method}", out)
    claim = _claimed_privacy(run)
    delta = claim.delta if claim is not None and 0 < claim.delta < 1 else DEFAULT_DELTA
    metrics = [attack_metrics(s, delta=delta) for s in scores]
    roc = roc_png({m.method: roc_curve(s) for m, s in zip(metrics, scores)}, dest.file("roc.png"))
    if claim is not None:
        extra = extra | {"claimed_epsilon": claim.epsilon,
                         "epsilon_violation": metrics[0].epsilon.epsilon > claim.epsilon}
    extra = extra | {"seconds": time.perf_counter() - t0}
    result = MembershipRun(metrics=metrics[0], out_dir=dest.path, roc=roc,
                           variants=tuple(metrics[1:]), extra=extra)
    dest.write_config({"command": "attack membership", "target": str(run.path),
                       **opts.to_dict()})
    dest.write_json(RESULT_FILE, result.to_dict())
    dest.write_json("scores.json", {s.method: {"members": s.members.tolist(),
                                               "nonmembers": s.nonmembers.tolist()}
                                    for s in scores})
    return result


@dataclass(frozen=True)
class ReconstructionOptions:
    """What ``dpkit attack reconstruct`` was asked to do."""

    method: str = "kkt"
    kkt: KKTConfig = field(default_factory=KKTConfig)
    inversion: InversionConfig = field(default_factory=InversionConfig)
    batch_size: int = 1
    max_grad_norm: float | None = None
    noise_multiplier: float | None = None
    grid_size: int = 32
    candidates: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.candidates is None or self.candidates >= 1,
                f"candidates={self.candidates} must be >= 1")
        require(self.method in RECONSTRUCTION_METHODS,
                f"method={self.method!r} is unknown; choose one of "
                f"{', '.join(RECONSTRUCTION_METHODS)}")
        require(self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1")
        require(self.grid_size >= 1, f"grid_size={self.grid_size} must be >= 1")
        require(self.noise_multiplier is None or self.noise_multiplier >= 0,
                f"noise_multiplier={self.noise_multiplier} must be >= 0")
        require(self.max_grad_norm is None or self.max_grad_norm > 0,
                f"max_grad_norm={self.max_grad_norm} must be > 0")

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "kkt": self.kkt.to_dict(),
                "inversion": self.inversion.to_dict(), "batch_size": self.batch_size,
                "max_grad_norm": self.max_grad_norm, "noise_multiplier": self.noise_multiplier,
                "grid_size": self.grid_size, "candidates": self.candidates, "seed": self.seed}


@dataclass(frozen=True)
class ReconstructionRun:
    """Per-reconstruction SSIM/PSNR against the nearest training image, sorted by SSIM.

    Reconstructions are stretched to span [-1, 1] before matching (as Haim et al. 2022 do).
    """

    method: str
    ssim: tuple[float, ...]
    psnr: tuple[float, ...]
    train_index: tuple[int, ...]
    grid: Path
    out_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_ssim(self) -> float:
        return sum(self.ssim) / len(self.ssim)

    @property
    def num_good(self) -> int:
        return sum(s > GOOD_SSIM for s in self.ssim)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "mean_ssim": self.mean_ssim, "ssim": list(self.ssim),
                "psnr": list(self.psnr), "num_reconstructed": len(self.ssim),
                "num_good": self.num_good, "grid": str(self.grid),
                "train_index": list(self.train_index), "out_dir": str(self.out_dir)} | self.extra

    def summary_dict(self) -> dict[str, Any]:
        """The short JSON form (``dpkit attack reconstruct --json``)."""
        full = self.to_dict()
        return {k: full[k] for k in _SUMMARY_KEYS_RECONSTRUCT}

    def summary(self) -> str:
        best = ", ".join(f"{s:.2f}" for s in self.ssim[:8])
        return (f"{self.method}: {len(self.ssim)} reconstructions, mean SSIM "
                f"{self.mean_ssim:.3f}, {self.num_good} with SSIM > {GOOD_SSIM} (best: {best})\n"
                f"originals above reconstructions: {self.grid}")


def _kkt(target: Any, opts: ReconstructionOptions, device: torch.device | str, quiet: bool
         ) -> tuple[torch.Tensor, dict[str, Any]]:
    require(target.num_classes == 2, f"the KKT attack needs a binary classifier, this run has "
                                     f"{target.num_classes} classes; train with classes=(A, B)")
    check_homogeneous(target.model)
    per_class = opts.candidates or min(MAX_DEFAULT_CANDIDATES, len(target.bundle.train))
    cfg = dataclasses.replace(opts.kkt, candidates_per_class=per_class)
    res = kkt_reconstruct(target.model, target.bundle.train.shape, cfg, device=device,
                          quiet=quiet)
    x, y = target.bundle.train.tensors()
    with torch.no_grad():
        margins = binary_margin(target.model, x.to(device)) * (2 * y.to(device) - 1)
    return res.images, {"kkt_loss": res.kkt_loss,
                              "train_margin_min": float(margins.min())}


def _inversion(target: Any, opts: ReconstructionOptions, device: torch.device | str,
               quiet: bool) -> tuple[torch.Tensor, dict[str, Any]]:
    privacy = target.config["privacy"]
    private = bool(privacy.get("enabled"))
    run = open_run_dir(target.run_dir)
    sigma = opts.noise_multiplier
    if sigma is None:
        sigma = run.read_privacy().noise_multiplier if private else 0.0
    clip = opts.max_grad_norm
    if clip is None and (private or sigma > 0):
        clip = float(privacy["max_grad_norm"])
    train = target.bundle.train
    require(opts.batch_size <= len(train), f"batch_size={opts.batch_size} exceeds the "
                                           f"{len(train)} training images")
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(opts.seed))
    x, y = train.subset(idx[:opts.batch_size].sort().values).tensors()
    x, y = x.to(device), y.to(device)
    gen = torch.Generator().manual_seed(opts.seed + 1)
    grads = observed_gradient(target.model, x, y, max_grad_norm=clip, noise_multiplier=sigma,
                              generator=gen)
    rec = invert_gradient(target.model, grads, y, train.shape, opts.inversion, quiet=quiet)
    return rec, {"max_grad_norm": clip, "noise_multiplier": sigma,
                        "batch_size": opts.batch_size}


def run_reconstruction(run_dir: str | Path, opts: ReconstructionOptions, *,
                       out: str | Path | None = None, device: torch.device | str = "cpu",
                       quiet: bool = True) -> ReconstructionRun:
    """Reconstruct training images of a ``train-classifier`` run and score them.

    ``kkt`` attacks the trained weights (Haim et al. 2022); ``gradient-inversion`` attacks one
    gradient update on ``batch_size`` training images at the trained weights, clipped and noised
    as the run's DP-SGD did (its C and σ, or the overrides in ``opts``). ``quiet`` silences the
    attack's progress bar (which draws no random numbers: the result is the same either way).
    """
    run, kind = _target_kind(run_dir)
    if kind != "train-classifier":
        raise DPKitError(f"dpkit attack reconstruct needs a train-classifier run, {run.path} is "
                         f"a '{kind}' run")
    t0 = time.perf_counter()
    check_new_run_dir(out)  # refuse a used ``out`` up front; create it once the attack worked
    target = load_classifier(run.path, device=device)
    attack = _kkt if opts.method == "kkt" else _inversion
    recon, extra = attack(target, opts, device, quiet)
    dest = _attack_dir(run, f"reconstruct-{opts.method}", out)
    train = target.bundle.train.tensors()[0]
    # Stretched to [-1, 1] first: KKT leaves brightness/contrast open, and so does a homogeneous
    # network's gradient direction (it fixes x only up to a positive scale).
    match = match_to_training(recon, train, rescale=True)
    order = match.ssim.argsort(descending=True)
    shown = order[:opts.grid_size]
    pictures = rescale_per_image(recon.cpu())
    scale = max(1, 96 // train.shape[-1])
    grid = paired_grid_png(train[match.index[shown]], pictures[shown],
                           dest.file("reconstructions.png"), scale=scale)
    result = ReconstructionRun(method=opts.method, ssim=tuple(match.ssim[order].tolist()),
                               psnr=tuple(match.psnr[order].tolist()),
                               train_index=tuple(match.index[order].tolist()), grid=grid,
                               out_dir=dest.path,
                               extra=extra | {"seconds": time.perf_counter() - t0})
    dest.write_config({"command": "attack reconstruct", "target": str(run.path),
                       **opts.to_dict()})
    dest.write_json(RESULT_FILE, result.to_dict())
    torch.save(recon.cpu(), dest.file("reconstructions.pt"))
    return result
