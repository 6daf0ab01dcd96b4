"""Membership inference against classifiers: the loss attack and LiRA.

- ``loss`` (Yeom et al. 2018, arXiv:1709.01604): score = −cross-entropy of the true label.
- ``lira`` (Carlini et al. 2022, "Membership Inference Attacks From First Principles",
  arXiv:2112.03570): K shadow models, each trained by dpkit's own trainer with the target's
  hyper-parameters and privacy settings on a random half of the population (members ∪
  non-members), arranged so every example is IN exactly K/2 shadows. Per example, Gaussians are
  fitted to the logit-scaled confidence φ = log(p_y / (1 − p_y)) of its true class over the IN and
  OUT shadows. Online score: log N(φ_target; μ_in, σ_in²) − log N(φ_target; μ_out, σ_out²);
  offline score: log Φ((φ_target − μ_out) / σ_out) (one-sided test against OUT only). With few
  shadows the fixed-variance variant (one σ shared by all examples) is stronger.

Every function returns scores with higher = more likely a member.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import norm
from torch import nn

from dpkit.attacks.scores import MembershipScores
from dpkit.classifiers import fit_classifier
from dpkit.data import DatasetBundle, ImageTensorDataset
from dpkit.errors import DPKitError, require

ShadowFit = Callable[[ImageTensorDataset, int], tuple[nn.Module, float]]

__all__ = ["MIN_PER_SIDE", "LiRAConfig", "LiRAResult", "membership_split", "lira_population", "logit_confidence",
           "per_example_loss", "loss_attack", "shadow_assignment", "classifier_shadow_fit", "train_shadow_confidences",
           "lira_scores", "lira_attack"]


MIN_PER_SIDE = 20  # fewer members or non-members than this and an AUC says nothing


def membership_split(bundle: DatasetBundle, *, max_per_side: int | None = None,
                     seed: int = 0) -> tuple[ImageTensorDataset, ImageTensorDataset]:
    """Members and non-members of a run, in equal numbers, from its recorded split.

    Members are ``bundle.train``; non-members are ``bundle.heldout`` (training-split examples the
    run never used) when it has at least :data:`MIN_PER_SIDE`, else ``bundle.test``. The larger
    side is subsampled (seeded) so both sides have n = min(sizes, max_per_side) examples.

    Raises:
        DPKitError: fewer than :data:`MIN_PER_SIDE` members or non-members exist.
    """
    members = bundle.train
    heldout = bundle.heldout if bundle.heldout is not None else None
    pool = heldout if heldout is not None and len(heldout) >= MIN_PER_SIDE else bundle.test
    available = min(len(members), len(pool))
    require(available >= MIN_PER_SIDE,
            f"only {len(members)} members and {len(pool)} non-members: a membership attack needs "
            f"at least {MIN_PER_SIDE} of each to mean anything; train the target on more "
            f"examples (or leave more held out with subset=N)")
    n = available
    if max_per_side is not None:
        require(max_per_side >= 1, f"max_per_side={max_per_side} must be >= 1")
        n = min(n, max_per_side)
    gen = torch.Generator().manual_seed(seed)

    def pick(ds: ImageTensorDataset) -> ImageTensorDataset:
        if len(ds) == n:
            return ds
        return ds.subset(torch.randperm(len(ds), generator=gen)[:n].sort().values)

    return pick(members), pick(pool)


def lira_population(bundle: DatasetBundle, *, seed: int = 0
                    ) -> tuple[ImageTensorDataset, ImageTensorDataset]:
    """Members and non-members for LiRA, such that each shadow trains on as many examples as the
    target did.

    The shadows train on random halves of members ∪ non-members, so both sides need the
    target's training-set size T: every member, and T non-members drawn (seeded) from the run's
    held-out examples (else its test split). Smaller shadows would fit their data more tightly
    than the target and misjudge its confidences.

    Raises:
        DPKitError: fewer than T non-members exist; the message says how many the target may use.
    """
    members = bundle.train
    pool = bundle.heldout if bundle.heldout is not None and len(bundle.heldout) > 0 else bundle.test
    t, p = len(members), len(pool)
    if p < t:
        spare = len(members) + (len(bundle.heldout) if bundle.heldout is not None else 0)
        raise DPKitError(
            f"LiRA's shadows must train on as many examples as the target ({t}), drawn from its "
            f"{t} members and {t} non-members, but the run has only {p} non-members (held-out "
            f"or test examples); train the target with subset={spare // 2} or fewer (the rest "
            f"of the training split is then held out), or use method='loss'")
    gen = torch.Generator().manual_seed(seed)
    return members, pool.subset(torch.randperm(p, generator=gen)[:t].sort().values)


def _logits(model: nn.Module, dataset: ImageTensorDataset, device: torch.device | str,
            batch_size: int = 512) -> torch.Tensor:
    model.eval()
    out = []
    with torch.no_grad():
        for s in range(0, len(dataset), batch_size):
            x, _ = dataset.subset(torch.arange(s, min(s + batch_size, len(dataset)))).tensors()
            out.append(model(x.to(device)).float().cpu())
    return torch.cat(out)  # (N, classes)


def logit_confidence(model: nn.Module, dataset: ImageTensorDataset, *,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """φ = log(p_y / (1 − p_y)) of the true class, computed stably: (N,).

    φ = z_y − logsumexp_{k≠y} z_k for logits z.
    """
    z = _logits(model, dataset, device).double()
    y = dataset.labels
    zy = z.gather(1, y[:, None]).squeeze(1)
    others = z.scatter(1, y[:, None], float("-inf"))
    return (zy - torch.logsumexp(others, dim=1)).float()


def per_example_loss(model: nn.Module, dataset: ImageTensorDataset, *,
                     device: torch.device | str = "cpu") -> torch.Tensor:
    """Cross-entropy of each example's true label, in float64 so that the tiny losses of
    memorised examples do not all round to 0: (N,)."""
    return F.cross_entropy(_logits(model, dataset, device).double(), dataset.labels,
                           reduction="none")


def loss_attack(model: nn.Module, members: ImageTensorDataset, nonmembers: ImageTensorDataset, *,
                device: torch.device | str = "cpu") -> MembershipScores:
    """Yeom et al. 2018: a low loss means "member" (score = −loss)."""
    return MembershipScores("loss", -per_example_loss(model, members, device=device),
                            -per_example_loss(model, nonmembers, device=device))


@dataclass(frozen=True)
class LiRAConfig:
    """LiRA settings.

    Attributes:
        shadow_models: K, even and >= 2 (each example is IN K/2 shadows and OUT K/2).
        fixed_variance: one σ for all examples (the median per-example σ), stronger for small K.
        seed: seeds the IN/OUT assignment and the shadows' training.
    """

    shadow_models: int = 8
    fixed_variance: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.shadow_models >= 2 and self.shadow_models % 2 == 0,
                f"shadow_models={self.shadow_models} must be an even number >= 2 (each "
                f"example is IN half of the shadows and OUT of the other half)")

    def to_dict(self) -> dict[str, int | bool]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LiRAResult:
    """Online and offline LiRA scores and what the shadows cost.

    Attributes:
        online, offline: the two variants' scores.
        shadow_seconds: (K,) training time of each shadow model.
        shadow_epsilon: ε of one shadow model (each is trained with the target's settings).
    """

    online: MembershipScores
    offline: MembershipScores
    shadow_seconds: tuple[float, ...]
    shadow_epsilon: float


def shadow_assignment(num_examples: int, shadow_models: int, *, seed: int) -> torch.Tensor:
    """(K, N) boolean IN-mask: each column has exactly K/2 True, rows are random halves."""
    gen = torch.Generator().manual_seed(seed)
    ranks = torch.rand(shadow_models, num_examples, generator=gen).argsort(0).argsort(0)
    return ranks < shadow_models // 2


def train_shadow_confidences(fit: ShadowFit, population: ImageTensorDataset,
                             keep: torch.Tensor, *,
                             device: torch.device | str = "cpu",
                             on_shadow: Callable[[int, float], None] | None = None
                             ) -> tuple[torch.Tensor, list[float], float]:
    """Train one shadow per row of ``keep`` and record φ of every population example.

    Args:
        fit: ``fit(train_subset, k) -> (model, epsilon)`` training shadow k (same settings as the
            target; the CLI passes dpkit's ``fit_classifier``).
        population: (N) members ∪ non-members.
        keep: (K, N) IN-mask from :func:`shadow_assignment`.
        on_shadow: called with (k, seconds) after each shadow.

    Returns:
        (K, N) φ of every example under every shadow, the seconds per shadow, and a shadow's ε.
    """
    phis, seconds, eps = [], [], math.nan
    for k in range(keep.shape[0]):
        t0 = time.perf_counter()
        model, eps = fit(population.subset(torch.nonzero(keep[k]).squeeze(1)), k)
        phis.append(logit_confidence(model, population, device=device))
        seconds.append(time.perf_counter() - t0)
        if on_shadow is not None:
            on_shadow(k, seconds[-1])
    return torch.stack(phis), seconds, eps


def lira_scores(target_phi: torch.Tensor, shadow_phi: torch.Tensor, keep: torch.Tensor, *,
                fixed_variance: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Online and offline LiRA scores from the shadows' confidences.

    Args:
        target_phi: (N,) φ of each example under the target model.
        shadow_phi: (K, N) φ under each shadow.
        keep: (K, N) True where the example was in the shadow's training set.
        fixed_variance: share one σ_in and one σ_out across examples.

    Returns:
        (N,) online and (N,) offline scores, higher = member.
    """
    phi = shadow_phi.double().numpy()
    mask = keep.numpy()
    if not (mask.any(0).all() and (~mask).any(0).all()):
        raise DPKitError("every example needs IN and OUT shadows; use an even shadow_models=K >= 2")
    n_in, n_out = mask.sum(0), (~mask).sum(0)
    mu_in = np.where(mask, phi, 0).sum(0) / n_in
    mu_out = np.where(~mask, phi, 0).sum(0) / n_out
    sd_in = np.sqrt(np.where(mask, (phi - mu_in) ** 2, 0).sum(0) / n_in)
    sd_out = np.sqrt(np.where(~mask, (phi - mu_out) ** 2, 0).sum(0) / n_out)
    if fixed_variance:
        sd_in = np.full_like(sd_in, np.median(sd_in))
        sd_out = np.full_like(sd_out, np.median(sd_out))
    sd_in, sd_out = sd_in + 1e-6, sd_out + 1e-6
    t = target_phi.double().numpy()
    online = norm.logpdf(t, mu_in, sd_in) - norm.logpdf(t, mu_out, sd_out)
    offline = norm.logcdf((t - mu_out) / sd_out)
    return online, offline


def classifier_shadow_fit(cfg, *, num_classes: int, public: ImageTensorDataset | None = None,
                          noise_multiplier: float | None = None,
                          device: torch.device | str = "cpu") -> ShadowFit:
    """Shadow trainer for LiRA: dpkit's ``fit_classifier`` with the target's configuration.

    Shadow k gets the seed ``cfg.seed + 1 + k`` and everything else (architecture, optimizer,
    epochs, batch size, clipping, privacy settings) unchanged.

    Args:
        cfg: the target's ``ClassifierConfig`` (e.g. ``ClassifierConfig.from_dict(config)``).
        num_classes: outputs of the target.
        public: public data, needed when the target uses public-data BatchNorm.
        noise_multiplier: the σ the target's calibration chose (its privacy.json); when given,
            a target trained with ``target_epsilon`` has its shadows trained at that σ instead of
            recalibrating each one (same noise; the shadows' ε differs only through their
            slightly different N, and K calibrations are saved).
    """
    if noise_multiplier is not None and cfg.privacy.enabled:
        cfg = dataclasses.replace(cfg, privacy=dataclasses.replace(
            cfg.privacy, target_epsilon=None, noise_multiplier=noise_multiplier))

    def fit(train: ImageTensorDataset, k: int) -> tuple[nn.Module, float]:
        res = fit_classifier(dataclasses.replace(cfg, seed=cfg.seed + 1 + k), train,
                             public=public, num_classes=num_classes, device=device, quiet=True)
        return res.model, float(res.report.epsilon)

    return fit


def lira_attack(target: nn.Module, fit: ShadowFit, members: ImageTensorDataset,
                nonmembers: ImageTensorDataset, cfg: LiRAConfig, *,
                device: torch.device | str = "cpu",
                on_shadow: Callable[[int, float], None] | None = None) -> LiRAResult:
    """LiRA against ``target`` (see the module docstring).

    Args:
        target: the attacked classifier (eval mode).
        fit: ``fit(train_subset, k) -> (model, epsilon)``: trains shadow k with the target's
            hyper-parameters and privacy settings.
        members, nonmembers: (n) examples each.
        cfg: LiRA settings.
    """
    population = ImageTensorDataset(torch.cat([members.images, nonmembers.images]),
                                    torch.cat([members.labels, nonmembers.labels]))
    keep = shadow_assignment(len(population), cfg.shadow_models, seed=cfg.seed)
    shadow_phi, seconds, eps = train_shadow_confidences(fit, population, keep, device=device,
                                                        on_shadow=on_shadow)
    online, offline = lira_scores(logit_confidence(target, population, device=device),
                                  shadow_phi, keep, fixed_variance=cfg.fixed_variance)
    n = len(members)
    suffix = "-fixed-variance" if cfg.fixed_variance else ""
    return LiRAResult(online=MembershipScores(f"lira-online{suffix}", online[:n], online[n:]),
                      offline=MembershipScores(f"lira-offline{suffix}", offline[:n], offline[n:]),
                      shadow_seconds=tuple(seconds), shadow_epsilon=float(eps))
