"""The audit directory, shared by every audit of a training run (``dpkit audit train-classifier``,
``dpkit audit train-gan``): its files, the result it holds and the one writer.

================  ==================================================================================
``config.json``   the training configuration (as the training run's) and the canary configuration
``canaries.csv``  one row per canary: index, included, score, and its content (source index and
                  label; or the coordinate it owns and how many steps it joined)
``audit.json``    the :class:`AuditResult` (the audit report, ``audit_dir``, the training run)
``precision.png`` precision of the top-k "in" and bottom-k "out" guesses, k = 1..m/2
``train/``        the training run directory (its split.json lists the canaries trained on)
================  ==================================================================================

Membership is the trainer's secret and lives only here. An audit is not resumable: an
interrupted or failed audit leaves nothing behind (:func:`audit_directory`).
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Protocol

import numpy as np
import torch

from dpkit.audit.canaries import AuditCanaryConfig, DataCanaries, DiracCanaries
from dpkit.audit.plots import plot_guess_precision
from dpkit.audit.report import AuditReport, audit_canaries
from dpkit.data import DatasetBundle, ImageTensorDataset
from dpkit.engine import RunDir, create_run_dir
from dpkit.errors import RunInterrupted

__all__ = ["AUDIT_FILE", "CANARIES_FILE", "PRECISION_FILE", "TRAIN_DIR", "AuditResult",
           "TrainingRun", "augmented_bundle", "canary_split_record", "audit_directory",
           "finish_audit"]

AUDIT_FILE = "audit.json"
CANARIES_FILE = "canaries.csv"
PRECISION_FILE = "precision.png"
TRAIN_DIR = "train"


class TrainingRun(Protocol):
    """The audited training run's result (``TrainResult``, ``GANResult``)."""

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AuditResult:
    """What ``dpkit audit train-classifier --json`` (and ``train-gan``) prints; audit.json.

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
    train: TrainingRun

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "audit_dir": self.audit_dir,
                "canary_type": self.canary_type, "included_canaries": self.included,
                "private_records": self.records, "train": self.train.to_dict()}


def augmented_bundle(bundle: DatasetBundle, canaries: DataCanaries, member: np.ndarray
                     ) -> DatasetBundle:
    """The bundle whose private set is its examples followed by the included canaries."""
    extra = canaries.subset(member)
    train = ImageTensorDataset(torch.cat([bundle.train.images, extra.images]),
                               torch.cat([bundle.train.labels, extra.labels]))
    return dataclasses.replace(bundle, train=train)


def canary_split_record(bundle: DatasetBundle, canaries: AuditCanaryConfig, member: np.ndarray,
                        data: DataCanaries | None) -> dict[str, Any]:
    """split.json of the training run: the bundle's split and the included canaries (appended
    after the examples; a held-out canary trained on is no longer held out)."""
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


@contextlib.contextmanager
def audit_directory(command: str, out: str | Path | None) -> Iterator[RunDir]:
    """Create the audit directory (``runs/<command>-<timestamp>`` by default); remove it again
    if anything inside the block fails or is interrupted (an audit cannot be resumed)."""
    audit = create_run_dir(command, out)
    try:
        yield audit
    except BaseException as exc:
        shutil.rmtree(audit.created_root or audit.path, ignore_errors=True)
        if isinstance(exc, (KeyboardInterrupt, RunInterrupted)):
            raise RunInterrupted("interrupted; the audit directory was removed (an audit "
                                 "cannot be resumed): run it again", None) from None
        raise


def finish_audit(audit: RunDir, *, scores: np.ndarray, member: np.ndarray,
                 canaries: AuditCanaryConfig, claimed_epsilon: float, delta: float,
                 records: int, train: TrainingRun, source: Mapping[str, Any],
                 data: DataCanaries | None = None, dirac: DiracCanaries | None = None,
                 param_name: str | None = None) -> AuditResult:
    """Turn the canaries' scores into the audit report and write canaries.csv, audit.json and
    precision.png.

    Args:
        audit: the audit directory.
        scores: (m,) higher = more likely included.
        member: (m,) bool, the canaries included.
        canaries: the canary configuration (alpha, kind).
        claimed_epsilon, delta: the training run's guarantee.
        records: N, the private records the accountant was charged for.
        train: the training run's result.
        source: what produced the scores (kept in the report).
        data, dirac, param_name: the canaries' content for canaries.csv: data canaries, or
            Dirac canaries and the name of the parameter they live in.
    """
    m, kind = canaries.canaries, canaries.canary_type
    report = audit_canaries(scores, member, claimed_epsilon=claimed_epsilon, delta=delta,
                            alpha=canaries.alpha, source=source)
    result = AuditResult(report=report, audit_dir=str(audit.path), canary_type=kind,
                         included=int(member.sum()), records=records, train=train)
    _write_csv(audit.file(CANARIES_FILE), member, scores, data, dirac, param_name)
    audit.write_json(AUDIT_FILE, result.to_dict())
    eps = "inf" if not math.isfinite(claimed_epsilon) else f"{claimed_epsilon:.3g}"
    plot_guess_precision(audit.file(PRECISION_FILE), scores, member,
                         title=f"{m} {kind} canaries, claimed epsilon = {eps}, "
                               f"epsilon_LB = {max(report.epsilon_lower_bound.values()):.3g}")
    return result
