"""``dpkit attack membership|reconstruct``, run: the attack's options, the attack, its summary."""

from __future__ import annotations

from typing import Any

import click

from dpkit.attacks.inversion import InversionConfig
from dpkit.attacks.kkt import KKTConfig
from dpkit.attacks.runs import (MembershipOptions, ReconstructionOptions, run_membership,
                                run_reconstruction)
from dpkit.commands.runners import emit
from dpkit.engine import resolve_device

__all__ = ["membership", "reconstruct"]


def membership(*, run_dir: str, method: str, shadow_models: int, offline: bool,
               fixed_variance: bool, max_examples: int | None, num_samples: int,
               latent_steps: int, quiet: bool, out: str | None, seed: int, device: str,
               as_json: bool) -> None:
    opts = MembershipOptions.build(method=method, max_examples=max_examples,
                                   shadow_models=shadow_models, fixed_variance=fixed_variance,
                                   offline=offline, num_samples=num_samples,
                                   latent_steps=latent_steps, seed=seed)

    def on_shadow(k: int, seconds: float) -> None:
        if not quiet and not as_json:
            click.echo(f"shadow model {k + 1}/{shadow_models}: {seconds:.1f} s", err=True)

    result = run_membership(run_dir, opts, out=out, device=resolve_device(device),
                            on_shadow=on_shadow)
    emit(result.summary_dict(), as_json=as_json, text=result.summary)


def reconstruct(*, run_dir: str, method: str, candidates: int | None, iterations: int | None,
                lr: float | None, batch_size: int, max_grad_norm: float | None,
                noise_multiplier: float | None, tv_weight: float, grid_size: int,
                quiet: bool, out: str | None, seed: int, device: str, as_json: bool) -> None:
    kkt_kw: dict[str, Any] = {"seed": seed}
    inv_kw: dict[str, Any] = {"seed": seed, "tv_weight": tv_weight}
    if iterations is not None:
        kkt_kw["iterations"] = inv_kw["iterations"] = iterations
    if lr is not None:
        kkt_kw["lr"] = kkt_kw["lambda_lr"] = inv_kw["lr"] = lr
    opts = ReconstructionOptions(method=method, kkt=KKTConfig(**kkt_kw),
                                 inversion=InversionConfig(**inv_kw), batch_size=batch_size,
                                 max_grad_norm=max_grad_norm, noise_multiplier=noise_multiplier,
                                 grid_size=grid_size, candidates=candidates, seed=seed)
    result = run_reconstruction(run_dir, opts, out=out, device=resolve_device(device),
                                quiet=quiet or as_json)
    emit(result.summary_dict(), as_json=as_json, text=result.summary)
