"""``run_audit_classifier``: audit one real DP-SGD classifier training run with canaries.

m canaries (:mod:`dpkit.audit.canaries`) are each included in the private data with probability
1/2; the classifier is trained once with the real trainer
(:func:`~dpkit.classifiers.runs.train_loaded_classifier`, the same code as ``dpkit
train-classifier``); the canaries are scored on the published weights (final.pt) and the guesses
become ε lower bounds (:func:`~dpkit.audit.report.audit_canaries`) against the ε the run reports.

The audit directory (``runs/audit-train-classifier-<timestamp>/`` by default) holds:

================  ==================================================================================
``config.json``   the training configuration (as the training run's) and the canary configuration
``canaries.csv``  one row per canary: index, included, score, and its content (source index and
                  wrong label; or the coordinate it owns and how many steps it joined)
``audit.json``    the :class:`AuditResult` (the audit report, ``audit_dir``, the training run)
``precision.png`` precision of the top-k "in" and bottom-k "out" guesses, k = 1..m/2
``train/``        the training run directory (its split.json lists the canaries trained on)
================  ==================================================================================

Membership is the trainer's secret and lives only here. An audit is not resumable: an
interrupted or failed audit leaves nothing behind.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dpkit.audit.canaries import (AuditCanaryConfig, DataCanaries, DiracCanaries,
                                  choose_coordinates, draw_membership, loss_scores,
                                  mislabeled_canaries, ood_canaries)
from dpkit.audit.plots import plot_guess_precision
from dpkit.audit.report import AuditReport, audit_canaries
from dpkit.classifiers.loading import load_classifier
from dpkit.classifiers.models import build_model
from dpkit.classifiers.runs import (TrainResult, fit_defaults, run_config,
                                    train_loaded_classifier)
from dpkit.classifiers.training import ClassifierConfig, check_classifier_data
from dpkit.data import DataOptions, DatasetBundle, ImageTensorDataset, load_dataset
from dpkit.engine import check_new_run_dir, create_run_dir
from dpkit.errors import RunInterrupted, require

__all__ = ["AUDIT_COMMAND", "AUDIT_FILE", "CANARIES_FILE", "PRECISION_FILE", "TRAIN_DIR",
           "AuditResult", "run_audit_classifier"]

AUDIT_COMMAND = "audit-train-classifier"
AUDIT_FILE = "audit.json"
CANARIES_FILE = "canaries.csv"
PRECISION_FILE = "precision.png"
TRAIN_DIR = "train"


@dataclass(frozen=True)
class AuditResult:
    """What ``dpkit audit train-classifier --json`` prints (and audit.json holds).

    Attributes:
        report: the ε lower bounds against the run's claimed (ε, δ).
        audit_dir: the audit directory.
        canary_type: the kind of canaries.
        included: how many canaries were included (trained on).
        records: N, the private records the accountant was charged for: the examples plus the
            included canaries.
        train: the training run's result (its run directory is ``audit_dir/train``).
    """

    report: AuditReport
    audit_dir: str
    canary_type: str
    included: int
    records: int
    train: TrainResult

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "audit_dir": self.audit_dir,
                "canary_type": self.canary_type, "included_canaries": self.included,
                "private_records": self.records, "train": self.train.to_dict()}


def _augmented(bundle: DatasetBundle, canaries: DataCanaries, member: np.ndarray
               ) -> DatasetBundle:
    """The bundle whose private set is its examples followed by the included canaries."""
    extra = canaries.subset(member)
    train = ImageTensorDataset(torch.cat([bundle.train.images, extra.images]),
                               torch.cat([bundle.train.labels, extra.labels]))
    return dataclasses.replace(bundle, train=train)


def _split_record(bundle: DatasetBundle, canaries: AuditCanaryConfig, member: np.ndarray,
                  data: DataCanaries | None) -> dict[str, Any]:
    """split.json of the training run: the bundle's split and the included canaries (appended
    after the examples; a mislabeled canary trained on is no longer held out)."""
    record = bundle.split_record()
    info: dict[str, Any] = {"canary_type": canaries.canary_type, "included": int(member.sum()),
                            "audit_seed": canaries.seed}
    if data is not None and data.source_indices is not None:
        used = data.source_indices[torch.from_numpy(member)]
        info["source_indices"] = used.tolist()
        record["heldout_indices"] = [i for i in record["heldout_indices"]
                                     if i not in set(info["source_indices"])]
    record["audit_canaries"] = info
    return record


def _write_csv(path: Path, member: np.ndarray, scores: np.ndarray, data: DataCanaries | None,
               dirac: DiracCanaries | None, param_name: str | None) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        if dirac is not None:
            w.writerow(["index", "included", "score", "parameter", "coordinate", "times_sampled"])
            for i in range(member.size):
                w.writerow([i, int(member[i]), repr(float(scores[i])), param_name,
                            int(dirac.flat[i]), int(dirac.times_sampled[i])])
        else:
            assert data is not None
            w.writerow(["index", "included", "score", "label", "source_index"])
            for i in range(member.size):
                src = int(data.source_indices[i]) if data.source_indices is not None else ""
                w.writerow([i, int(member[i]), repr(float(scores[i])), int(data.labels[i]), src])


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
    require(kind != "gradient" or cfg.privacy.enabled,
            "gradient canaries join DP-SGD's clipped sum, which enabled=False skips; for the "
            "non-private baseline train with noise_multiplier=0 (clipping, no noise, "
            "epsilon = inf)")
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
        trained = _augmented(bundle, data_canaries, member)
    check_classifier_data(cfg, trained.train, public=trained.public,
                          num_classes=trained.num_classes)
    records = len(trained.train) + (dirac.records if dirac is not None else 0)

    audit = create_run_dir(AUDIT_COMMAND, out)
    try:
        audit.write_config({"command": AUDIT_COMMAND, "training": run_config(cfg, dataset, data),
                            "canaries": canaries.to_dict()})
        train = train_loaded_classifier(
            cfg, trained, dataset=dataset, data=data, out=audit.file(TRAIN_DIR), device=device,
            quiet=quiet, notes=notes, canary_gradients=dirac,
            split=_split_record(bundle, canaries, member, data_canaries))
        model = load_classifier(train.run_dir, device=device, load_data=False).model  # final.pt
        scores = (dirac.scores(model) if dirac is not None else
                  loss_scores(model, data_canaries, device=device))  # type: ignore[arg-type]
        report = audit_canaries(scores, member, claimed_epsilon=train.epsilon, delta=train.delta,
                                alpha=canaries.alpha,
                                source={"kind": "train-classifier", "canary_type": kind,
                                        "dataset": dataset, "included": int(member.sum()),
                                        "private_records": records,
                                        "audit_seed": canaries.seed})
        result = AuditResult(report=report, audit_dir=str(audit.path), canary_type=kind,
                             included=int(member.sum()), records=records, train=train)
        _write_csv(audit.file(CANARIES_FILE), member, scores, data_canaries, dirac, param_name)
        audit.write_json(AUDIT_FILE, result.to_dict())
        eps = "inf" if not math.isfinite(train.epsilon) else f"{train.epsilon:.3g}"
        plot_guess_precision(audit.file(PRECISION_FILE), scores, member,
                             title=f"{m} {kind} canaries, claimed epsilon = {eps}, "
                                   f"epsilon_LB = {max(report.epsilon_lower_bound.values()):.3g}")
        return result
    except BaseException as exc:
        shutil.rmtree(audit.created_root or audit.path, ignore_errors=True)
        if isinstance(exc, (KeyboardInterrupt, RunInterrupted)):
            raise RunInterrupted("interrupted; the audit directory was removed (an audit "
                                 "cannot be resumed): run it again", None) from None
        raise
