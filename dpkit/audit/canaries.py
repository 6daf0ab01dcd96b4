"""Canaries for auditing a training run in one run (Steinke, Nasr & Jagielski 2023,
arXiv:2305.08846): m canaries, each included in the private data independently with probability
1/2, and their scores (higher = more likely included).

A classifier's three kinds (``CANARY_TYPES``):

* ``mislabeled`` (black-box): held-out training-split examples (never in the private set), each
  with a fixed random wrong label; score = −(cross-entropy of the final model on (x, wrong y)).
* ``ood`` (black-box): synthetic out-of-distribution images (fixed-seed uniform noise at the
  data's shape) with random labels; score = −loss, as above.
* ``gradient`` (white-box, "Dirac canaries", Nasr et al. 2023, arXiv:2302.07956): canary i owns
  one coordinate j_i of the weights and, at every noisy step where it is sampled (probability q,
  like an example), adds a gradient of norm C at j_i to the clipped sum before the noise
  (:class:`DiracCanaries`, plugged into the engine as its
  :class:`~dpkit.engine.private.CanaryGradients`); score = θ_0[j_i] − θ_T[j_i].

A DP-GAN's two (``GAN_CANARY_TYPES``, scored in :mod:`dpkit.audit.gan`): ``gradient`` in the
discriminator's steps, and ``image``: held-out training-split images with their own labels
(:func:`heldout_canaries`), scored by the final discriminator's logit.

Randomness: the audit seed alone fixes membership, the canaries' content and the gradient
canaries' sampling, each from its own stream (independent of the training seed). Membership is
the trainer's secret: it is written only to the audit directory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dpkit.audit._validate import check_alpha
from dpkit.data import DatasetBundle, ImageTensorDataset
from dpkit.errors import require
from dpkit.names import CANARY_TYPES, GAN_CANARY_TYPES

__all__ = ["CANARY_TYPES", "GAN_CANARY_TYPES", "AuditCanaryConfig", "DataCanaries",
           "DiracCanaries", "draw_membership", "mislabeled_canaries", "heldout_canaries",
           "ood_canaries", "choose_coordinates", "loss_scores"]

# every canary type some audit knows (each audit checks its own list)
_KNOWN_TYPES = tuple(dict.fromkeys(CANARY_TYPES + GAN_CANARY_TYPES))

# the independent random streams drawn from the audit seed
_MEMBERSHIP, _CONTENT, _SAMPLING = 0, 1, 2


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


@dataclass(frozen=True)
class AuditCanaryConfig:
    """The canaries of one audit.

    Attributes:
        canaries: m, the number of canaries (each included with probability 1/2).
        canary_type: one of ``CANARY_TYPES`` (a classifier) or ``GAN_CANARY_TYPES`` (a GAN).
        alpha: significance; every ε lower bound holds with probability 1 − alpha.
        seed: the audit seed: membership, canary content and canary sampling (not the training).
    """

    canaries: int
    canary_type: str = "gradient"
    alpha: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.canaries >= 2, f"canaries={self.canaries} must be >= 2 (e.g. 1000): the "
                                    f"bounds compare included with excluded canaries")
        require(self.canary_type in _KNOWN_TYPES,
                f"canary_type={self.canary_type!r} is unknown; choose one of "
                f"{', '.join(_KNOWN_TYPES)}")
        check_alpha(self.alpha)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def check_for(self, model: str, types: tuple[str, ...], *, private: bool) -> None:
        """Refuse a canary type ``model`` ("classifier", "GAN") has no use for, and gradient
        canaries without DP-SGD (they join its clipped sum, which ``enabled=False`` skips)."""
        require(self.canary_type in types,
                f"canary_type={self.canary_type!r} is not a {model}'s canary; choose one of "
                f"{', '.join(types)}")
        require(self.canary_type != "gradient" or private,
                "gradient canaries join DP-SGD's clipped sum, which enabled=False skips; for "
                "the non-private baseline train with noise_multiplier=0 (clipping, no noise, "
                "epsilon = inf)")


def draw_membership(canaries: int, seed: int) -> np.ndarray:
    """(m,) bool: canary i is included, independently with probability 1/2."""
    return _rng(seed, _MEMBERSHIP).random(canaries) < 0.5


@dataclass(frozen=True)
class DataCanaries:
    """Canaries that are examples: uint8 images (m, C, H, W), their (wrong or random) labels and,
    for mislabeled ones, their index into the source's training split (None for synthetic)."""

    images: torch.Tensor
    labels: torch.Tensor
    source_indices: torch.Tensor | None = None

    def subset(self, keep: np.ndarray) -> ImageTensorDataset:
        """The canaries where ``keep`` (m,) is True, as a dataset."""
        idx = torch.from_numpy(np.flatnonzero(keep))
        return ImageTensorDataset(self.images[idx], self.labels[idx])


def _pick_heldout(bundle: DatasetBundle, *, canaries: int, kind: str, rng: np.random.Generator
                  ) -> tuple[ImageTensorDataset, torch.Tensor]:
    """The held-out examples and m sorted indices into them, drawn from ``rng``."""
    heldout = bundle.heldout if bundle.heldout is not None else bundle.train.subset(
        torch.arange(0))
    n, total = len(heldout), len(heldout) + len(bundle.train)
    fix = (f"use subset={total - canaries} (or fewer) to leave {canaries} held out"
           if total - canaries >= 1 else f"use canaries={n} or fewer")
    require(n >= canaries,
            f"canaries={canaries} {kind} canaries need {canaries} held-out training "
            f"examples but only {n} are available; {fix}")
    return heldout, torch.from_numpy(np.sort(rng.choice(n, size=canaries, replace=False)))


def mislabeled_canaries(bundle: DatasetBundle, *, canaries: int, seed: int) -> DataCanaries:
    """m of the bundle's held-out training-split examples (never in the private set), each with
    a fixed random wrong label.

    Raises:
        DPKitError: fewer than m held-out examples.
    """
    rng = _rng(seed, _CONTENT)
    heldout, pick = _pick_heldout(bundle, canaries=canaries, kind="mislabeled", rng=rng)
    num_classes = bundle.num_classes
    labels = heldout.labels[pick]
    shift = torch.from_numpy(rng.integers(1, num_classes, size=canaries))  # never 0: wrong
    return DataCanaries(images=heldout.images[pick], labels=(labels + shift) % num_classes,
                        source_indices=bundle.heldout_indices[pick])


def heldout_canaries(bundle: DatasetBundle, *, canaries: int, seed: int,
                     kind: str = "image") -> DataCanaries:
    """m of the bundle's held-out training-split examples (never in the private set) as they
    are, with their own labels: in-distribution canaries (a GAN's ``image`` canaries).

    Raises:
        DPKitError: fewer than m held-out examples.
    """
    heldout, pick = _pick_heldout(bundle, canaries=canaries, kind=kind,
                                  rng=_rng(seed, _CONTENT))
    return DataCanaries(images=heldout.images[pick], labels=heldout.labels[pick],
                        source_indices=bundle.heldout_indices[pick])


def ood_canaries(shape: tuple[int, int, int], *, canaries: int, num_classes: int,
                 seed: int) -> DataCanaries:
    """m out-of-distribution images of ``shape`` (C, H, W): fixed-seed uniform noise in
    [0, 255], each with a random label."""
    rng = _rng(seed, _CONTENT)
    images = torch.from_numpy(rng.integers(0, 256, size=(canaries, *shape), dtype=np.uint8))
    labels = torch.from_numpy(rng.integers(0, num_classes, size=canaries))
    return DataCanaries(images=images, labels=labels)


@torch.no_grad()
def loss_scores(model: nn.Module, canaries: DataCanaries, *, device: torch.device | str = "cpu",
                batch_size: int = 512) -> np.ndarray:
    """(m,) scores −CE(model(x_i), y_i): a lower loss means more likely included."""
    data = ImageTensorDataset(canaries.images, canaries.labels)
    model.eval()
    out = []
    for start in range(0, len(data), batch_size):
        x, y = data.__getitems__(list(range(start, min(start + batch_size, len(data)))))
        logits = model(x.to(device))  # (b, classes)
        out.append(-F.cross_entropy(logits, y.to(device), reduction="none").cpu())
    return torch.cat(out).double().numpy()


def choose_coordinates(model: nn.Module, *, canaries: int, seed: int
                       ) -> tuple[int, str, np.ndarray]:
    """The coordinates the gradient canaries own: ``canaries`` distinct coordinates of the
    model's largest weight tensor (a trainable parameter with ≥ 2 dimensions), fixed by ``seed``.

    Why the largest weight tensor: its coordinates have the smallest natural gradients (each
    example's clipped gradient, of norm ≤ C, is spread over the most coordinates), so the drift
    that training alone gives a coordinate, which blurs the canaries' scores, is smallest there;
    and it holds the most coordinates, so m can be large. The last layer has few coordinates
    with the largest gradients; the first layer of an image model sees constant background
    pixels. Biases and normalization parameters are never used; no dpkit optimizer applies
    weight decay.

    Returns:
        (index of the tensor among the trainable parameters, its name, (m,) flat indices).
    """
    params = [(i, name, p) for i, (name, p) in
              enumerate((n, p) for n, p in model.named_parameters() if p.requires_grad)]
    weights = [(i, name, p) for i, name, p in params if p.dim() >= 2]
    require(bool(weights), "the model has no weight tensor (>= 2 dimensions) for gradient canaries")
    index, name, tensor = max(weights, key=lambda t: t[2].numel())  # first of the largest
    require(canaries <= tensor.numel(),
            f"canaries={canaries} gradient canaries need distinct coordinates but the largest "
            f"weight tensor ({name}) has {tensor.numel()}; use canaries={tensor.numel()} or fewer")
    flat = np.sort(_rng(seed, _CONTENT).choice(tensor.numel(), size=canaries, replace=False))
    return index, name, flat


class DiracCanaries:
    """White-box gradient canaries for the engine (:class:`~dpkit.engine.CanaryGradients`).

    Canary i owns coordinate ``flat[i]`` of trainable parameter ``param_index``. At every noisy
    step each *included* canary joins the batch independently with probability q (drawn from
    the audit seed's sampling stream) and contributes the gradient C · e_{j_i} (norm exactly C,
    so the engine's clipping keeps it); excluded canaries never do. The engine adds the sum to
    the clipped sum of the examples before the noise; ``records`` (the included canaries) count
    in N, so the accountant is charged for q = B / (examples + included canaries), honestly:
    the canaries are private records like any other.

    The weights of the canaries' coordinates before the first step are kept (``initial``) to
    score them after training.
    """

    def __init__(self, *, param_index: int, flat: np.ndarray, included: np.ndarray,
                 max_grad_norm: float, seed: int) -> None:
        assert flat.shape == included.shape
        self.param_index = param_index
        self.flat = torch.as_tensor(flat, dtype=torch.long)  # (m,)
        self.ids = np.flatnonzero(included)  # canaries that may be sampled
        self.records = int(self.ids.size)
        self.max_grad_norm = max_grad_norm
        self.rng = _rng(seed, _SAMPLING)
        self.initial: torch.Tensor | None = None  # (m,) θ_0 at the canaries' coordinates
        self.times_sampled = np.zeros(flat.shape[0], dtype=np.int64)  # (m,) steps each joined

    def sample(self, params: Sequence[torch.Tensor], sample_rate: float
               ) -> list[torch.Tensor | None]:
        p = params[self.param_index]
        if self.initial is None:  # the weights before the first update
            self.initial = p.detach().reshape(-1)[self.flat.to(p.device)].double().cpu()
        chosen = self.ids[self.rng.random(self.records) < sample_rate]  # (k,)
        self.times_sampled[chosen] += 1
        out: list[torch.Tensor | None] = [None] * len(params)
        if chosen.size == 0:
            return out
        k = chosen.size
        g = p.new_zeros((k, p.numel()))  # (k, numel)
        g[torch.arange(k, device=p.device), self.flat[chosen].to(p.device)] = self.max_grad_norm
        out[self.param_index] = g.view(k, *p.shape)  # (k, *p.shape)
        return out

    def scores(self, final: nn.Module) -> np.ndarray:
        """(m,) θ_0[j_i] − θ_T[j_i] of the trained model ``final``.

        An included canary's gradient +C pushes its coordinate down at every step it joins: with
        SGD (with or without momentum) θ_T[j] moves by −lr · C / B per such step on top of the
        noise and the natural drift, so included canaries score higher. Adam and Adagrad rescale
        each coordinate's update but keep its sign, so the direction holds on average (the
        DP-GAN's discriminator trains with Adam: see :mod:`dpkit.audit.gan`).
        """
        assert self.initial is not None, "the canaries were never sampled: no step was taken"
        p = [q for q in final.parameters() if q.requires_grad][self.param_index]
        last = p.detach().reshape(-1)[self.flat.to(p.device)].double().cpu()
        return (self.initial - last).numpy()
