"""``dpkit audit``, run: compute the audit and print its report."""

from __future__ import annotations

from typing import Any

from dpkit.audit import AuditReport, simulate_gaussian_audit
from dpkit.audit.canaries import AuditCanaryConfig
from dpkit.audit.classifier import run_audit_classifier
from dpkit.audit.directory import AuditResult
from dpkit.audit.gan import run_audit_gan
from dpkit.commands.flags import to_cli
from dpkit.commands.options import fmt_eps, privacy_notes
from dpkit.commands.runners import emit
from dpkit.commands.runners.train_classifier import settings_from
from dpkit.commands.runners.train_gan import config_from
from dpkit.engine import resolve_device

__all__ = ["gaussian", "report_text", "train_classifier", "train_gan"]

_NAMES = {"steinke": "Steinke et al. 2023 (epsilon-DP)",
          "fdp": "Mahloujifar et al. 2025 (f-DP, Gaussian)"}


def report_text(report: AuditReport) -> str:
    lines = [f"claimed epsilon = {fmt_eps(report.claimed_epsilon)}, delta = {report.delta:g}, "
             f"{report.canaries} canaries, confidence {report.confidence:g}"]
    for name, bound in report.bounds.items():
        lines.append(f"  {name}: epsilon >= {bound.epsilon_lower_bound:.4f}  "
                     f"({_NAMES.get(name, name)}; {bound.correct}/{bound.guesses} guesses "
                     f"correct, k+ = {bound.k_plus}, k- = {bound.k_minus}, best of "
                     f"{bound.candidates} k by union bound)")
    lines.append(f"verdict: {report.verdict}")
    return "\n".join(lines)


def gaussian(*, epsilon: float, delta: float, canaries: int, alpha: float, seed: int,
             as_json: bool) -> None:
    report = simulate_gaussian_audit(epsilon=epsilon, delta=delta, canaries=canaries, seed=seed,
                                     alpha=alpha)
    emit(report, as_json=as_json, text=lambda: report_text(report))


def _audit_text(result: AuditResult, *, notes: list[str], examples: str = "examples") -> str:
    lines = [f"audit directory: {result.audit_dir}",
             f"{result.included} of {result.report.canaries} {result.canary_type} canaries "
             f"trained on, with {result.records - result.included} {examples}"]
    report = result.report
    lines += report_text(report).splitlines()[:-1]  # the bounds; the verdict says more here
    best = max(report.epsilon_lower_bound.values())
    lines.append(f"verdict: VIOLATION: epsilon_LB = {best:.4f} > epsilon = "
                 f"{fmt_eps(report.claimed_epsilon)}" if report.verdict == "violation" else
                 f"verdict: consistent with the claim (epsilon_LB = {best:.4f} <= epsilon = "
                 f"{fmt_eps(report.claimed_epsilon)})")
    lines += notes
    return "\n".join(lines)


def train_classifier(kw: dict[str, Any]) -> None:
    """``dpkit audit train-classifier``: train-classifier's options plus the canaries'."""
    device = resolve_device(kw.pop("device"))
    as_json, quiet, out = kw.pop("as_json"), kw.pop("quiet"), kw.pop("out")
    canaries = AuditCanaryConfig(canaries=kw.pop("canaries"), canary_type=kw.pop("canary_type"),
                                 alpha=kw.pop("alpha"), seed=kw.pop("audit_seed"))
    cfg, dataset, data = settings_from(kw)
    result = run_audit_classifier(cfg, canaries=canaries, dataset=dataset, data=data, out=out,
                                  device=device, quiet=quiet)
    emit(result, as_json=as_json, text=lambda: _audit_text(
        result, notes=[f"note: {to_cli(n)}" for n in result.train.notes]))


def train_gan(kw: dict[str, Any]) -> None:
    """``dpkit audit train-gan``: train-gan's options plus the canaries'."""
    device = resolve_device(kw.pop("device"))
    as_json, quiet, out = kw.pop("as_json"), kw.pop("quiet"), kw.pop("out")
    canaries = AuditCanaryConfig(canaries=kw.pop("canaries"), canary_type=kw.pop("canary_type"),
                                 alpha=kw.pop("alpha"), seed=kw.pop("audit_seed"))
    result = run_audit_gan(config_from(kw), canaries=canaries, out=out, device=device,
                           quiet=quiet or as_json)
    emit(result, as_json=as_json, text=lambda: _audit_text(
        result, examples="images",
        notes=privacy_notes(noise_reproducible=result.train.noise_reproducible)))
