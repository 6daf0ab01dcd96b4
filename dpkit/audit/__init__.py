"""Empirical privacy auditing: the statistics that turn canary scores into ε lower bounds.

Scores follow :mod:`dpkit.attacks.scores` (higher = more likely a member). Three analyses:
Clopper–Pearson on a membership test's counts (:mod:`.clopper_pearson`), one-run ε-DP
(:mod:`.one_run`, Steinke et al. 2023) and one-run f-DP (:mod:`.fdp`, Mahloujifar et al. 2025);
:mod:`.gaussian` audits the ideal Gaussian mechanism with them. numpy and scipy only, no torch.
"""

from dpkit.audit.clopper_pearson import (ClopperPearsonBound, clopper_pearson_best_threshold,
                                         clopper_pearson_epsilon, clopper_pearson_interval,
                                         clopper_pearson_union_bound)
from dpkit.audit.fdp import fdp_epsilon, fdp_margin, fdp_mu
from dpkit.audit.gaussian import gaussian_canaries, simulate_gaussian_audit
from dpkit.audit.gdp import analytic_gaussian_sigma, gaussian_mu, gdp_delta, gdp_epsilon
from dpkit.audit.one_run import (Guesses, OneRunBound, default_candidates, guess_counts,
                                 one_run_bound, steinke_epsilon, steinke_p_value)
from dpkit.audit.report import AuditReport, audit_canaries
from dpkit.names import AUDIT_BOUNDS, AUDIT_VERDICTS

__all__ = [
    "AUDIT_BOUNDS", "AUDIT_VERDICTS",
    "ClopperPearsonBound", "clopper_pearson_interval", "clopper_pearson_epsilon",
    "clopper_pearson_best_threshold", "clopper_pearson_union_bound",
    "Guesses", "OneRunBound", "guess_counts", "default_candidates", "steinke_p_value",
    "steinke_epsilon", "one_run_bound",
    "fdp_margin", "fdp_mu", "fdp_epsilon",
    "gdp_delta", "gdp_epsilon", "gaussian_mu", "analytic_gaussian_sigma",
    "AuditReport", "audit_canaries", "gaussian_canaries", "simulate_gaussian_audit",
]
