"""Privacy accounting: ε for a planned or finished DP-SGD run, and σ for a target ε.

All three accountants are Opacus's: RDP (Mironov et al. 2019, arXiv:1908.10530), PRV (Gopi et al.
2021, arXiv:2106.02848) and GDP (Dong et al. 2019, arXiv:1905.02383). All assume Poisson
subsampling with rate q = B/N, which is what :func:`dpkit.engine.make_private` does by default.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from opacus.accountants import IAccountant, create_accountant

from dpkit.engine.config import ALL_ACCOUNTANTS, check_delta, check_training_accountant
from dpkit.errors import DPKitError, require

__all__ = [
    "INVALID_EPSILON",
    "PrivacyPlan",
    "PrivacyReport",
    "calibrate_noise",
    "epsilon_from_accountant",
    "epsilon_of_history",
    "compute_epsilon",
    "plan_privacy",
    "steps_per_epoch",
]

_MAX_SIGMA = 1e4
# Calibration never goes below this σ: ε there is already in the hundreds for typical runs, and
# the PRV accountant's grid grows without bound as σ -> 0 (σ = 0.05, q = 0.01, 100 steps needs
# more than 6 GB).
_MIN_SIGMA = 0.1
INVALID_EPSILON = "NOT a DP guarantee: batches were not Poisson-sampled"


def steps_per_epoch(dataset_size: int, batch_size: int) -> int:
    """Number of Poisson-sampled steps dpkit takes per epoch: ⌊N/B⌋ (at least 1).

    The calculator and every trainer use this one function, so the ε printed before training is
    the ε the accountant reports after it.
    """
    return max(1, dataset_size // batch_size)


def _validate_sampling(dataset_size: int, batch_size: int) -> float:
    require(dataset_size >= 1, f"dataset_size={dataset_size} must be >= 1")
    require(batch_size >= 1, f"batch_size={batch_size} must be >= 1")
    require(batch_size <= dataset_size,
            f"batch_size={batch_size} is larger than the dataset ({dataset_size} examples); "
            f"use batch_size={dataset_size} or less")
    return batch_size / dataset_size


def epsilon_from_accountant(accountant: IAccountant, delta: float) -> float:
    """ε of an accountant's history at δ; ∞ when any step had no noise. Does not change state."""
    history = getattr(accountant, "history", [])
    if not history:
        return 0.0
    if any(sigma == 0 for sigma, _, _ in history):
        return math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            eps = float(accountant.get_epsilon(delta=delta))
        except (ValueError, RuntimeError, OverflowError, FloatingPointError, MemoryError):
            return math.inf  # e.g. PRV's grid for a tiny σ: no finite bound is claimed
    return eps if math.isfinite(eps) and eps >= 0 else math.inf


def compute_epsilon(*, sample_rate: float, noise_multiplier: float, steps: int, delta: float,
                    accountant: str = "prv",
                    prior: Sequence[tuple[float, float, int]] = ()) -> float:
    """ε after ``steps`` Poisson-sampled Gaussian steps, from one Opacus accountant
    (``"gdp"`` allowed here: the calculator shows it as an approximation).

    ``prior``: Gaussian mechanisms released before these steps on the same data, as the
    accountant's (σ, q, steps) history entries (e.g. DP normalisation statistics); the ε
    returned is the accountant's composition of them and the steps."""
    require(accountant in ALL_ACCOUNTANTS, f"accountant={accountant!r} is unknown; "
                                           f"choose one of {', '.join(ALL_ACCOUNTANTS)}")
    require(noise_multiplier >= 0, f"noise_multiplier={noise_multiplier} must be >= 0")
    require(0 < delta < 1, f"delta={delta} must be in (0, 1)")
    return epsilon_from_accountant(
        _accountant(accountant, [*prior, (noise_multiplier, sample_rate, steps)]), delta)


def epsilon_of_history(history: Sequence[tuple[float, float, int]], *, delta: float,
                       accountant: str = "prv") -> float:
    """ε of the composition of Gaussian mechanisms given as accountant entries (σ, q, steps)
    (0 for none): one part of a run's ε, e.g. its DP normalisation or its training steps."""
    return epsilon_from_accountant(_accountant(accountant, [h for h in history if h[2] > 0]),
                                   delta)


def _accountant(mechanism: str, history: list[tuple[float, float, int]]) -> IAccountant:
    """An Opacus accountant (its warnings silenced) holding ``history`` (σ, q, steps)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        acc = create_accountant(mechanism=mechanism)
    acc.history = list(history)
    return acc


def calibrate_noise(*, target_epsilon: float, delta: float, sample_rate: float, steps: int,
                    accountant: str = "prv", rel_tolerance: float = 0.002,
                    prior: Sequence[tuple[float, float, int]] = ()) -> float:
    """Smallest σ (to ``rel_tolerance`` in ε) whose ε after ``steps`` is at most the target.

    With ``prior`` mechanisms (see :func:`compute_epsilon`), the ε of their composition with
    the steps is what meets the target: a target below the prior's own ε is refused.

    Bisection on σ in [0.1, 1e4], monotone because ε decreases in σ for every accountant.
    Raises DPKitError when no σ up to 1e4 reaches the target, when even σ = 0.1 spends less
    than the target (a target "unreachable from above"), or for ``accountant="gdp"``
    (an approximation that can underestimate ε may not choose the noise).
    """
    check_training_accountant(accountant)
    require(target_epsilon > 0 and math.isfinite(target_epsilon),
            f"target_epsilon={target_epsilon} must be a positive finite number")

    def eps(sigma: float) -> float:
        return compute_epsilon(sample_rate=sample_rate, noise_multiplier=sigma, steps=steps,
                               delta=delta, accountant=accountant, prior=prior)

    if prior:
        spent = compute_epsilon(sample_rate=sample_rate, noise_multiplier=_MAX_SIGMA, steps=1,
                                delta=delta, accountant=accountant, prior=prior)
        require(spent < target_epsilon,
                f"target_epsilon={target_epsilon:g} is spent before training: the mechanisms "
                f"before it (e.g. DP normalisation) already cost epsilon {spent:.4g}; raise "
                f"target_epsilon or the normalisation's noise")
    lo, hi = _MIN_SIGMA, 1.0
    while eps(hi) > target_epsilon:
        lo, hi = hi, hi * 2
        if hi > _MAX_SIGMA:
            raise DPKitError(
                f"target_epsilon={target_epsilon:g} is unreachable at delta={delta:g} with "
                f"q={sample_rate:.4g} and {steps} steps, even with noise multiplier "
                f"{_MAX_SIGMA:g}; raise target_epsilon=EPS, or train for fewer epochs or with a "
                f"smaller batch")
    if lo == _MIN_SIGMA:
        # RDP (cheap at any σ, and an upper bound on the other accountants' ε) at the floor
        floor = compute_epsilon(sample_rate=sample_rate, noise_multiplier=_MIN_SIGMA,
                                steps=steps, delta=delta, accountant="rdp", prior=prior)
        if floor <= target_epsilon:  # even the least noise calibrated here spends less
            raise DPKitError(
                f"target_epsilon={target_epsilon:g} is above what calibration reaches: noise "
                f"multiplier {_MIN_SIGMA:g} already gives epsilon {floor:.4g} "
                f"(q={sample_rate:.4g}, {steps} steps), and less noise is no meaningful privacy; "
                f"use target_epsilon={math.floor(floor)} or less, noise_multiplier=SIGMA, or "
                f"enabled=False")
    tol = rel_tolerance * target_epsilon
    while True:
        mid = (lo + hi) / 2
        e = eps(mid)
        if e <= target_epsilon:
            hi = mid
            if target_epsilon - e <= tol:
                return hi
        else:
            lo = mid
        if hi - lo < 1e-7:
            return hi


@dataclass(frozen=True)
class PrivacyReport:
    """What a (finished or running) DP-SGD training has spent.

    ``epsilon`` is ∞ for non-private training. ``poisson_sampling`` False means the batches were
    not Poisson-sampled and ``epsilon`` is not covered by the accountant's analysis.
    """

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    accountant: str
    max_grad_norm: float
    poisson_sampling: bool = True
    private: bool = True
    grad_sample_mode: str | None = None  # the clipping implementation used (None: not recorded)

    @property
    def epsilon_valid(self) -> bool:
        """False when ``epsilon`` is NOT a DP guarantee (private run without Poisson sampling)."""
        return not (self.private and not self.poisson_sampling)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["epsilon"] = _json_float(self.epsilon)
        d["epsilon_valid"] = self.epsilon_valid
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PrivacyReport":
        """Inverse of :meth:`to_dict` (reads a run's privacy.json)."""
        fields = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        fields["epsilon"] = float(fields["epsilon"])  # "inf" -> inf
        return cls(**fields)

    def summary(self) -> str:
        if not self.private:
            return "non-private (epsilon = inf)"
        text = (f"epsilon = {self.epsilon:.4g} at delta = {self.delta:g} ({self.accountant}, "
                f"sigma = {self.noise_multiplier:.4g}, q = {self.sample_rate:.4g}, "
                f"{self.steps} steps, C = {self.max_grad_norm:g})")
        if not self.epsilon_valid:
            text += f" [{INVALID_EPSILON}]"
        return text


@dataclass(frozen=True)
class PrivacyPlan:
    """The privacy calculator's answer for a planned run."""

    epsilon: float
    delta: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    epochs: float
    accountant: str
    epsilons: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["epsilon"] = _json_float(self.epsilon)
        d["epsilons"] = {k: _json_float(v) for k, v in self.epsilons.items()}
        return d


def plan_privacy(*, dataset_size: int, batch_size: int, epochs: int, delta: float,
                 noise_multiplier: float | None = None, target_epsilon: float | None = None,
                 accountant: str = "prv") -> PrivacyPlan:
    """ε of a planned run for all accountants, calibrating σ first when a target ε is given.

    ``accountant`` (prv or rdp) calibrates σ and gives ``epsilon``; ``epsilons`` also holds
    GDP's approximation, which can underestimate ε and is never a run's reported ε.

    Steps are ``epochs * steps_per_epoch(N, B)`` Poisson-sampled steps at q = B/N, the sampling
    every dpkit trainer does.
    """
    q = _validate_sampling(dataset_size, batch_size)
    require(epochs >= 1, f"epochs={epochs} must be >= 1")
    check_delta(delta, dataset_size)
    check_training_accountant(accountant)
    if (noise_multiplier is None) == (target_epsilon is None):
        raise DPKitError("give exactly one of noise_multiplier=SIGMA and target_epsilon=EPS")
    steps = epochs * steps_per_epoch(dataset_size, batch_size)
    if noise_multiplier is None:
        noise_multiplier = calibrate_noise(target_epsilon=target_epsilon, delta=delta,
                                           sample_rate=q, steps=steps, accountant=accountant)
    require(noise_multiplier >= 0 and math.isfinite(noise_multiplier),
            f"noise_multiplier={noise_multiplier} must be >= 0")
    epsilons = {name: compute_epsilon(sample_rate=q, noise_multiplier=noise_multiplier,
                                      steps=steps, delta=delta, accountant=name)
                for name in ALL_ACCOUNTANTS}
    return PrivacyPlan(epsilon=epsilons[accountant], delta=delta,
                       noise_multiplier=noise_multiplier, sample_rate=q, steps=steps,
                       epochs=epochs, accountant=accountant, epsilons=epsilons)


def _json_float(x: float) -> float | str:
    return x if math.isfinite(x) else "inf"
