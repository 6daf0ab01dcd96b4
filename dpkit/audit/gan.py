"""``run_audit_gan``: audit one real DP-GAN training run with canaries.

The DP-GAN's private network is its discriminator, trained with DP-SGD
(:mod:`dpkit.gan.steps`); the generator only sees the discriminator's responses to generated
images and is private by post-processing. So the audit is an audit of the discriminator's DP-SGD:
m canaries (:mod:`dpkit.audit.canaries`), each included with probability 1/2, one training run
with the real trainer (:func:`~dpkit.gan.runs.train_gan`, the same code as ``dpkit train-gan``),
and scores from the final discriminator (checkpoint.pt). Two kinds (``GAN_CANARY_TYPES``):

* ``gradient`` (white-box): Dirac canaries (:class:`~dpkit.audit.canaries.DiracCanaries`) in the
  discriminator's largest weight tensor, added to every discriminator step's clipped sum before
  the noise through the engine's :class:`~dpkit.engine.private.CanaryGradients`; score
  θ_0[j_i] − θ_T[j_i]. The discriminator trains with Adam, which divides each coordinate's
  update by the root of its running mean square gradient: a canary's push keeps its sign, so
  included canaries still score higher on average, but its size depends on the coordinate's own
  gradient history (noise and the examples'), not only on lr · C / B as with SGD.
* ``image`` (black-box from the discriminator): held-out training-split images (never in the
  private set) with their own labels, each added to the private set with probability 1/2; score
  = the final discriminator's logit D(x) (D(x, y) when conditional): higher = more "real" = more
  likely trained on (LOGAN, Hayes et al. 2019, arXiv:1705.07663).

What is published is the generator (final.pt); the discriminator lives in checkpoint.pt, which
is the trainer's secret. Scoring the discriminator therefore tests the DP-SGD implementation
that the claimed ε rests on (the generator inherits ε from it), not what an outsider could learn
from the generator alone, which is at most as much. The audit directory is the one of
:mod:`dpkit.audit.directory`; the training run is its ``train/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from dpkit.attacks.gan_membership import discriminator_logits
from dpkit.audit.canaries import (GAN_CANARY_TYPES, AuditCanaryConfig, DataCanaries,
                                  DiracCanaries, choose_coordinates, draw_membership,
                                  heldout_canaries)
from dpkit.audit.directory import (TRAIN_DIR, AuditResult, audit_directory, augmented_bundle,
                                   canary_split_record, finish_audit)
from dpkit.data import load_dataset
from dpkit.engine import check_new_run_dir
from dpkit.gan.loading import load_gan
from dpkit.gan.models import build_models
from dpkit.gan.runs import train_gan
from dpkit.gan.training import GANConfig, check_gan_data

__all__ = ["AUDIT_COMMAND", "run_audit_gan"]

AUDIT_COMMAND = "audit-train-gan"


def run_audit_gan(cfg: GANConfig, *, canaries: AuditCanaryConfig,
                  out: str | Path | None = None, device: torch.device | str = "cpu",
                  quiet: bool = True) -> AuditResult:
    """Audit DP-SGD training of a DP-GAN's discriminator in one run (Steinke, Nasr & Jagielski
    2023, arXiv:2305.08846; f-DP analysis of Mahloujifar et al. 2025).

    Args:
        cfg: the GAN's training configuration (as for ``train_gan``; its dataset is loaded).
        canaries: number, kind (``"gradient"`` or ``"image"``), significance and seed.
        out: the audit directory to create (default: runs/audit-train-gan-<timestamp>).
        device: where to train and score.
        quiet: no progress bars.

    Returns:
        :class:`~dpkit.audit.directory.AuditResult`; the claimed (ε, δ) are the trained run's
        (ε = ∞ without DP or without noise, and the verdict is then always "consistent").

    Raises:
        DPKitError: refused settings (nothing is written): a classifier's canary type, too few
            held-out images for image canaries, more gradient canaries than coordinates,
            gradient canaries without DP-SGD, or anything ``train_gan`` refuses.
    """
    m, kind = canaries.canaries, canaries.canary_type
    canaries.check_for("GAN", GAN_CANARY_TYPES, private=cfg.privacy.enabled)
    check_new_run_dir(out)
    bundle = load_dataset(cfg.dataset, cfg.data)
    if cfg.num_classes is None:
        cfg = cfg.resolved(bundle.num_classes)
    member = draw_membership(m, canaries.seed)  # (m,) the trainer's secret
    data_canaries: DataCanaries | None = None
    dirac: DiracCanaries | None = None
    param_name: str | None = None
    if kind == "gradient":
        _, shapes = build_models(latent_dim=cfg.latent_dim, channels=bundle.channels,
                                 image_size=bundle.image_size, g_width=cfg.g_width,
                                 d_width=cfg.d_width, num_classes=cfg.classes,
                                 conditioning=cfg.conditioning)  # the discriminator's shapes
        index, param_name, flat = choose_coordinates(shapes, canaries=m, seed=canaries.seed)
        dirac = DiracCanaries(param_index=index, flat=flat, included=member,
                              max_grad_norm=cfg.privacy.max_grad_norm, seed=canaries.seed)
        trained = bundle
    else:
        data_canaries = heldout_canaries(bundle, canaries=m, seed=canaries.seed)
        trained = augmented_bundle(bundle, data_canaries, member)
    check_gan_data(cfg, trained.train)
    records = len(trained.train) + (dirac.records if dirac is not None else 0)

    with audit_directory(AUDIT_COMMAND, out) as audit:
        audit.write_config({"command": AUDIT_COMMAND, "training": cfg.to_dict(),
                            "canaries": canaries.to_dict()})
        train = train_gan(cfg, out=audit.file(TRAIN_DIR), device=device, quiet=quiet,
                          bundle=trained, canary_gradients=dirac,
                          split=canary_split_record(bundle, canaries, member, data_canaries))
        # the final discriminator (checkpoint.pt, written after the last epoch)
        disc = load_gan(train.run_dir, device=device, load_data=False).discriminator
        if dirac is not None:
            scores = dirac.scores(disc)  # (m,)
        else:
            assert data_canaries is not None
            everything = data_canaries.subset(np.ones(m, dtype=bool))
            scores = discriminator_logits(disc, everything, device=device).double().numpy()
        return finish_audit(audit, scores=scores, member=member, canaries=canaries,
                            claimed_epsilon=train.report.epsilon, delta=train.report.delta,
                            records=records, train=train, data=data_canaries, dirac=dirac,
                            param_name=param_name,
                            source={"kind": "train-gan", "canary_type": kind,
                                    "dataset": cfg.dataset, "included": int(member.sum()),
                                    "private_records": records, "audit_seed": canaries.seed})
