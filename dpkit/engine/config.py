"""The privacy configuration shared by every dpkit trainer."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from dpkit.errors import DPKitError, require
from dpkit.names import ACCOUNTANTS, ALL_ACCOUNTANTS, GRAD_SAMPLE_MODES

__all__ = ["ACCOUNTANTS", "ALL_ACCOUNTANTS", "GRAD_SAMPLE_MODES", "PrivacyConfig",
           "check_delta", "check_training_accountant"]


def check_training_accountant(accountant: str) -> None:
    """Refuse an accountant that may not calibrate σ or report a training run's ε."""
    if accountant == "gdp":
        raise DPKitError("accountant='gdp' is a central-limit approximation that can "
                         "underestimate epsilon, so it may not calibrate noise or report a "
                         "training run's epsilon; use 'prv' (tight) or 'rdp'")
    require(accountant in ACCOUNTANTS, f"accountant={accountant!r} is unknown; choose one of "
                                       f"{', '.join(ACCOUNTANTS)}")


def check_delta(delta: float, dataset_size: int) -> None:
    """Refuse a δ outside (0, 1/N): a δ ≥ 1/N allows publishing a whole record.

    The one δ < 1/N check: the privacy calculator and every trainer (through
    :meth:`PrivacyConfig.check_dataset_size`) call it.
    """
    require(0 < delta < 1 / dataset_size,
            f"delta={delta:g} must be in (0, 1/N) = (0, {1 / dataset_size:.2g}) for "
            f"N={dataset_size}; use delta={10 ** math.floor(math.log10(1 / dataset_size) - 1):g} "
            f"or smaller")


@dataclass(frozen=True)
class PrivacyConfig:
    """How a model is trained with DP-SGD (Abadi et al. 2016, arXiv:1607.00133).

    Exactly one of ``target_epsilon`` and ``noise_multiplier`` is set unless ``enabled`` is False.

    Attributes:
        enabled: False trains without any privacy (ε = ∞); nothing else is then used.
        target_epsilon: calibrate σ so that the planned training spends exactly this ε.
        noise_multiplier: σ, the noise std divided by the clipping norm.
        delta: δ of the (ε, δ) guarantee; must be < 1/N (checked against the dataset size).
        max_grad_norm: C, the per-example L2 clipping norm.
        accountant: "prv" or "rdp" (Opacus accountants); "gdp" is refused, it can
            underestimate ε.
        grad_sample_mode: how per-example gradients are clipped: Opacus's "hooks",
            "functorch" (materialised per-example gradients) or "ghost" (ghost clipping, two
            backward passes), or "bk" (book-keeping, one backward pass: see
            :mod:`dpkit.engine.bookkeeping`); "auto" is bk when the model's layers allow it,
            else hooks (the mode used is in the privacy report).
        poisson_sampling: sample each example independently with q = B/N (what the accountant
            assumes). False iterates shuffled fixed-size batches, and every ε is then flagged as
            not covered by the analysis.
        secure_mode: sampling and noise drawn from the OS CSPRNG, with Opacus's
            floating-point-attack mitigation; no generator state exists to be saved, so runs are
            not reproducible and a resumed run continues with fresh randomness (ε unchanged).
            Without it, the noise is a function of the seed: see :mod:`dpkit.engine.randomness`.
        max_physical_batch_size: split each sampled (logical) batch into chunks of at most this
            many examples, so large batches fit in memory (Opacus BatchMemoryManager).
    """

    enabled: bool = True
    target_epsilon: float | None = None
    noise_multiplier: float | None = None
    delta: float = 1e-5
    max_grad_norm: float = 1.0
    accountant: str = "prv"
    grad_sample_mode: str = "auto"
    poisson_sampling: bool = True
    secure_mode: bool = False
    max_physical_batch_size: int | None = None

    def __post_init__(self) -> None:
        check_training_accountant(self.accountant)
        require(self.grad_sample_mode in GRAD_SAMPLE_MODES,
                f"grad_sample_mode={self.grad_sample_mode!r} is unknown; "
                f"choose one of {', '.join(GRAD_SAMPLE_MODES)}")
        require(0 < self.delta < 1, f"delta={self.delta} must be in (0, 1); use e.g. 1e-5")
        require(self.max_grad_norm > 0 and math.isfinite(self.max_grad_norm),
                f"max_grad_norm={self.max_grad_norm} must be a positive number")
        if self.max_physical_batch_size is not None:
            require(self.max_physical_batch_size >= 1,
                    f"max_physical_batch_size={self.max_physical_batch_size} must be >= 1")
        if not self.enabled:
            return
        if (self.target_epsilon is None) == (self.noise_multiplier is None):
            raise DPKitError("give exactly one of target_epsilon=EPS and noise_multiplier=SIGMA "
                             "(or enabled=False to train without privacy)")
        if self.target_epsilon is not None:
            require(self.target_epsilon > 0 and math.isfinite(self.target_epsilon),
                    f"target_epsilon={self.target_epsilon} must be a positive finite number")
        if self.noise_multiplier is not None:
            require(self.noise_multiplier >= 0 and math.isfinite(self.noise_multiplier),
                    f"noise_multiplier={self.noise_multiplier} must be >= 0")

    def check_dataset_size(self, n: int) -> None:
        """Refuse a δ that is not below 1/N (such a δ allows publishing a whole record)."""
        if self.enabled:
            check_delta(self.delta, n)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "PrivacyConfig":
        return cls(**data)
