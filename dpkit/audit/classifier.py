"""``run_audit_classifier``: audit one real DP-SGD classifier training run with canaries.

m canaries (:mod:`dpkit.audit.canaries`) are each included in the private data with probability
1/2; the classifier is trained once with the real trainer
(:func:`~dpkit.classifiers.runs.train_loaded_classifier`, the same code as ``dpkit
train-classifier``); the canaries are scored on the published weights (final.pt) and the guesses
become ε lower bounds (:func:`~dpkit.audit.report.audit_canaries`) against the ε the run reports.

The audit directory (``runs/audit-train-classifier-<timestamp>/`` by default) is described in
:mod:`dpkit.audit.directory`: config.json, canaries.csv, audit.json, precision.png and the training
run in train/. Membership is the trainer's secret and lives only there. An audit is not
resumable: an interrupted or failed audit leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dpkit.audit.canaries import (CANARY_TYPES, AuditCanaryConfig, DataCanaries, DiracCanaries,
                                  choose_coordinates, draw_membership, loss_scores,
                                  mislabeled_canaries, ood_canaries)
from dpkit.audit.directory import (AUDIT_FILE, CANARIES_FILE, PRECISION_FILE, TRAIN_DIR,
                                   AuditResult, audit_directory, augmented_bundle,
                                   canary_split_record, finish_audit)
from dpkit.classifiers.loading import load_classifier
from dpkit.classifiers.models import build_model
from dpkit.classifiers.runs import fit_defaults, run_config, train_loaded_classifier
from dpkit.classifiers.training import ClassifierConfig, check_classifier_data
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import check_new_run_dir

__all__ = ["AUDIT_COMMAND", "AUDIT_FILE", "CANARIES_FILE", "PRECISION_FILE", "TRAIN_DIR",
           "AuditResult", "run_audit_classifier"]

AUDIT_COMMAND = "audit-train-classifier"


def run_audit_classifier(cfg: ClassifierConfig, *, canaries: AuditCanaryConfig, dataset: str,
                         data: DataOptions, out: str | Path | None = None,
                         device: torch.device | str = "cpu", quiet: bool = True) -> AuditResult:
    """Audit DP-SGD training of a classifier in one run (Steinke, Nasr & Jagielski 2023,
    arXiv:2305.08846; f-DP analysis of Mahloujifar et al. 2025).

    Args:
        cfg: the classifier's training configuration (as for ``train_classifier``).
        canaries: number, kind, significance and seed of the canaries.
        dataset, data: the data, as for ``train_classifier``.
        out: the audit directory to create (default: runs/audit-train-classifier-<timestamp>).
        device: where to train and score.
        quiet: no progress bars.

    Returns:
        :class:`AuditResult`; the claimed (ε, δ) are the trained run's (ε = ∞ without DP, and
        the verdict is then always "consistent").

    Raises:
        DPKitError: refused settings (nothing is written): too few held-out examples for
            mislabeled canaries, more gradient canaries than coordinates, gradient canaries
            without DP-SGD, or anything ``train_classifier`` refuses.
    """
    m, kind = canaries.canaries, canaries.canary_type
    canaries.check_for("classifier", CANARY_TYPES, private=cfg.privacy.enabled)
    check_new_run_dir(out)
    bundle = load_dataset(dataset, data)
    cfg, data, bundle, notes = fit_defaults(cfg, data, dataset, bundle)
    member = draw_membership(m, canaries.seed)  # (m,) the trainer's secret
    data_canaries: DataCanaries | None = None
    dirac: DiracCanaries | None = None
    param_name: str | None = None
    if kind == "gradient":
        shapes = build_model(cfg.model, in_channels=bundle.channels, image_size=bundle.image_size,
                             num_classes=bundle.num_classes)
        index, param_name, flat = choose_coordinates(shapes, canaries=m, seed=canaries.seed)
        dirac = DiracCanaries(param_index=index, flat=flat, included=member,
                              max_grad_norm=cfg.privacy.max_grad_norm, seed=canaries.seed)
        trained = bundle
    else:
        data_canaries = (mislabeled_canaries(bundle, canaries=m, seed=canaries.seed)
                         if kind == "mislabeled" else
                         ood_canaries(bundle.train.shape, canaries=m,
                                      num_classes=bundle.num_classes, seed=canaries.seed))
        trained = augmented_bundle(bundle, data_canaries, member)
    check_classifier_data(cfg, trained.train, public=trained.public,
                          num_classes=trained.num_classes)
    records = len(trained.train) + (dirac.records if dirac is not None else 0)

    with audit_directory(AUDIT_COMMAND, out) as audit:
        audit.write_config({"command": AUDIT_COMMAND, "training": run_config(cfg, dataset, data),
                            "canaries": canaries.to_dict()})
        train = train_loaded_classifier(
            cfg, trained, dataset=dataset, data=data, out=audit.file(TRAIN_DIR), device=device,
            quiet=quiet, notes=notes, canary_gradients=dirac,
            split=canary_split_record(bundle, canaries, member, data_canaries))
        model = load_classifier(train.run_dir, device=device, load_data=False).model  # final.pt
        scores = (dirac.scores(model) if dirac is not None else
                  loss_scores(model, data_canaries, device=device))  # type: ignore[arg-type]
        return finish_audit(audit, scores=scores, member=member, canaries=canaries,
                            claimed_epsilon=train.epsilon, delta=train.delta, records=records,
                            train=train, data=data_canaries, dirac=dirac, param_name=param_name,
                            source={"kind": "train-classifier", "canary_type": kind,
                                    "dataset": dataset, "included": int(member.sum()),
                                    "private_records": records, "audit_seed": canaries.seed})
