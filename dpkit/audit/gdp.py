"""Gaussian differential privacy (μ-GDP, Dong, Roth & Su 2019, arXiv:1905.02383) and the
analytical Gaussian mechanism (Balle & Wang 2018, arXiv:1805.06530).

The Gaussian mechanism with sensitivity 1 and noise σ is μ-GDP with μ = 1/σ; it is (ε, δ)-DP
exactly for

    δ(ε; μ) = Φ(−ε/μ + μ/2) − e^ε Φ(−ε/μ − μ/2)                   (Dong et al., Cor. 2.13)

which is Balle & Wang's analytical calibration. Its tradeoff curve is
f_μ(x) = Φ(Φ⁻¹(1 − x) − μ). Both directions are solved by bracketing and Brent's method in the
log domain, so ε up to hundreds stays accurate.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.optimize
from scipy.special import log_ndtr

from dpkit.audit._validate import check_delta
from dpkit.errors import require

__all__ = ["gdp_delta", "gdp_epsilon", "gaussian_mu", "analytic_gaussian_sigma"]

_LOG_ZERO = -1e6


def _log_delta(epsilon: float, mu: float) -> float:
    """log δ(ε; μ); a finite floor where δ is 0 to double precision (keeps Brent's method
    finite)."""
    a = log_ndtr(-epsilon / mu + mu / 2)
    b = epsilon + log_ndtr(-epsilon / mu - mu / 2)
    if b >= a:  # only by rounding, where δ is 0 to double precision
        return _LOG_ZERO
    return max(float(a + np.log1p(-np.exp(b - a))), _LOG_ZERO)


def gdp_delta(epsilon: float, mu: float) -> float:
    """δ(ε) of μ-GDP (equivalently of the Gaussian mechanism with σ = 1/μ)."""
    require(mu > 0 and epsilon >= 0, f"need mu > 0 and epsilon >= 0, got mu={mu}, "
                                     f"epsilon={epsilon}")
    log_delta = _log_delta(epsilon, mu)
    return 0.0 if log_delta <= _LOG_ZERO else math.exp(log_delta)


def gdp_epsilon(mu: float, delta: float) -> float:
    """The smallest ε ≥ 0 with δ(ε; μ) ≤ delta: the (ε, δ) guarantee of μ-GDP. 0 for μ = 0."""
    require(mu >= 0, f"mu={mu} must be >= 0")
    check_delta(delta, positive=True)
    if mu == 0 or _log_delta(0.0, mu) <= math.log(delta):
        return 0.0
    gap = lambda eps: _log_delta(eps, mu) - math.log(delta)  # noqa: E731  decreasing in ε
    hi = mu * mu / 2 + 10 * mu + 1
    while gap(hi) > 0:
        hi *= 2
    return float(scipy.optimize.brentq(gap, 0.0, hi, xtol=1e-12, rtol=1e-12))


def gaussian_mu(epsilon: float, delta: float) -> float:
    """The largest μ whose μ-GDP curve is (ε, δ)-DP: μ = 1/σ of the analytical Gaussian
    mechanism (sensitivity 1) calibrated to exactly (ε, δ)."""
    require(epsilon >= 0, f"epsilon={epsilon} must be >= 0")
    check_delta(delta, positive=True)
    gap = lambda mu: _log_delta(epsilon, mu) - math.log(delta)  # noqa: E731  increasing in μ
    lo, hi = 1e-3, 1.0
    while gap(lo) > 0:
        lo /= 2
    while gap(hi) < 0:
        lo, hi = hi, hi * 2
    return float(scipy.optimize.brentq(gap, lo, hi, xtol=1e-14, rtol=1e-13))


def analytic_gaussian_sigma(epsilon: float, delta: float, *, sensitivity: float = 1.0) -> float:
    """Noise σ of the analytical Gaussian mechanism (Balle & Wang 2018, arXiv:1805.06530)."""
    require(sensitivity > 0, f"sensitivity={sensitivity} must be > 0")
    return sensitivity / gaussian_mu(epsilon, delta)
