"""Run a study: train, evaluate and attack each planned run in its own run directory, skip what
is finished, resume what was interrupted, and write ``study.json``, ``results.csv`` and
``report.html``.

The study directory::

    OUT/study.json      the spec and, per run, its status (pending, running, done, failed with the
                        error's line), privacy figures and the results of each metric and attack
    OUT/results.csv     one row per run x metric/attack value (see :data:`RESULT_COLUMNS`)
    OUT/report.html     ``dpkit report`` of every finished run
    OUT/runs/<name>/    normal run directories (evaluations and attacks recorded inside them)
    OUT/.lock           the pid of the study running on OUT (refuses a second one)

Training state is read from each run directory (result.json: trained; checkpoint.pt only:
resumed), the evaluations and attacks already done from study.json: a re-run of a finished study
touches no run directory.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import json
import multiprocessing
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch

from dpkit.attacks.runs import MembershipOptions, run_membership
from dpkit.classifiers import ClassifierConfig, resume_classifier, train_classifier
from dpkit.data import DataOptions
from dpkit.engine import CHECKPOINT_FILE, RESULT_FILE, open_run_dir, to_jsonable
from dpkit.errors import DPKitError, RunInterrupted
from dpkit.evaluation import evaluate_run, register_builtin_metrics
from dpkit.gan import GANConfig, resume_gan, train_gan
from dpkit.report import build_report
from dpkit.study.plan import PlannedRun, epsilon_text
from dpkit.study.spec import split_axis
from dpkit.study.spec import StudySpec, spec_differences

__all__ = ["STUDY_FILE", "RESULTS_FILE", "REPORT_FILE", "LOCK_FILE", "RUNS_DIR", "RESULT_COLUMNS",
           "StudyRun", "RunOutcome", "StudyResult", "run_study", "study_lock", "metric_values"]

STUDY_FILE = "study.json"
RESULTS_FILE = "results.csv"
REPORT_FILE = "report.html"
LOCK_FILE = ".lock"
RUNS_DIR = "runs"
# results.csv: these, with the grid's options between ``seed`` and ``metric``
RESULT_COLUMNS = ("run", "model", "epsilon", "delta", "sigma", "seed", "metric", "value",
                  "seconds")
PENDING, RUNNING, DONE, FAILED = "pending", "running", "done", "failed"

# metric -> its rows in results.csv: row name -> key of the evaluation's to_dict()
_METRIC_KEYS: dict[str, dict[str, str]] = {
    "accuracy": {"accuracy": "accuracy"}, "robust-accuracy": {"robust-accuracy": "robust_accuracy"},
    "fid": {"fid": "fid"}, "kid": {"kid": "kid_mean"},
    "prc": {"precision": "precision", "recall": "recall"}, "mifid": {"mifid": "mifid"},
    "ct": {"ct": "ct"}, "authenticity": {"authenticity": "authenticity"},
    "downstream": {"downstream": "downstream_accuracy"},
}


def metric_values(metric: str, result: dict[str, Any]) -> dict[str, float]:
    """The numbers results.csv shows for ``metric`` from its evaluation's ``to_dict()``
    (``certified``: certified accuracy at the first radius; ``autoattack``: robust accuracy;
    ``prc``: precision and recall)."""
    if metric == "certified":
        return {"certified": float(result["certified"]["certified_accuracy"][0])}
    if metric == "autoattack":
        return {"autoattack": float(result["autoattack"]["robust_accuracy"])}
    return {row: float(result[key]) for row, key in _METRIC_KEYS[metric].items()}


@dataclass(frozen=True)
class StudyRun:
    """A planned run with everything it needs as configurations (picklable: a worker process
    receives it).

    Attributes:
        plan: its name, model kind, ε, seed, grid values, metrics and attacks.
        config: the training configuration (:class:`ClassifierConfig` or :class:`GANConfig`).
        data: a classifier's data options (a GAN's are in its config).
        evaluations: ``(family, metrics, config)`` per metric family, computed together.
        attacks: one membership attack each.
    """

    plan: PlannedRun
    config: ClassifierConfig | GANConfig
    data: DataOptions | None = None
    dataset: str = ""
    evaluations: tuple[tuple[str, tuple[str, ...], Any], ...] = ()
    attacks: tuple[MembershipOptions, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """What it computes, as study.json names them: metrics, then ``attack:<method>``."""
        return tuple(m for _, ms, _ in self.evaluations for m in ms) + tuple(
            f"attack:{a.method}" for a in self.attacks)


@dataclass(frozen=True)
class RunOutcome:
    """One run's turn in this invocation (for the progress display)."""

    name: str
    status: str
    seconds: float
    skipped: bool = False
    error: str | None = None
    headline: tuple[str, float] | None = None

    def summary(self) -> str:
        if self.skipped:
            return f"{self.name} already done"
        if self.status == FAILED:
            return f"{self.name} FAILED after {self.seconds:.0f} s: {self.error}"
        head = f", {self.headline[0]} {self.headline[1]:.4g}" if self.headline else ""
        return f"{self.name} done in {self.seconds:.0f} s{head}"


@dataclass(frozen=True)
class StudyResult:
    """What ``dpkit study --json`` prints."""

    study: Path
    runs: int
    done: int
    failed: int
    results: Path
    report: Path | None
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"study": str(self.study), "runs": self.runs, "done": self.done,
                "failed": self.failed, "results": str(self.results),
                "report": None if self.report is None else str(self.report)}

    def summary(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        lines = [f"study {self.study}: {self.done}/{self.runs} runs done{failed}"]
        lines += [f"  failed: {name}: {err}" for name, err in self.errors.items()]
        lines.append(f"results: {self.results}")
        lines.append(f"report: {self.report}" if self.report is not None else
                     "report: none (no run finished)")
        return "\n".join(lines)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def study_lock(out: Path) -> Iterator[Path]:
    """Hold ``OUT/.lock`` (created atomically, holding this pid) while the block runs; a lock
    whose process is gone is stale and taken over."""
    lock = out / LOCK_FILE
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                text = lock.read_text().strip()
                age = time.time() - lock.stat().st_mtime
            except FileNotFoundError:
                continue
            pid = int(text) if text.isdigit() else None
            if (pid is not None and _pid_alive(pid)) or (pid is None and age < 10):
                raise DPKitError(f"another study (pid {pid if pid is not None else '?'}) is "
                                 f"running on {out} ({lock}); wait for it to finish, or use "
                                 f"another out=DIR") from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as fh:
            fh.write(f"{os.getpid()}\n")
        break
    else:
        raise DPKitError(f"could not take {lock}; remove it if no study is running on {out}")
    try:
        yield lock
    finally:
        lock.unlink(missing_ok=True)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(obj), indent=2) + "\n")
    os.replace(tmp, path)


def _open_study(out: Path, spec: StudySpec, runs: Sequence[StudyRun]) -> dict[str, Any]:
    """study.json's state: the existing one (same spec) or a fresh one."""
    path = out / STUDY_FILE
    state: dict[str, Any] = {"spec": to_jsonable(spec.to_dict()), "runs": {}}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DPKitError(f"{path} is corrupt ({exc}); use a new out=DIR") from None
        diff = spec_differences(old.get("spec", {}), state["spec"])
        if diff:
            raise DPKitError(f"{out} holds a study with another spec ({', '.join(diff)} "
                             f"differ); use a new out=DIR for this study, or re-run that "
                             f"study's own spec")
        state["runs"] = old.get("runs", {})
    for run in runs:
        entry = state["runs"].setdefault(run.plan.name, {"status": PENDING, "results": {}})
        entry.update({k: v for k, v in run.plan.to_dict().items() if k != "name"})
    state["runs"] = {r.plan.name: state["runs"][r.plan.name] for r in runs}
    return state


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise DPKitError(f"out={out} is a file; give a directory for the study")
    if out.is_dir() and not (out / STUDY_FILE).is_file() and any(
            p.name != LOCK_FILE for p in out.iterdir()):
        raise DPKitError(f"out={out} exists and holds no study ({STUDY_FILE}); choose a new "
                         f"directory")


def _train(run: StudyRun, path: Path, device: str) -> None:
    if (path / RESULT_FILE).is_file():
        return  # trained by an earlier invocation
    gan = run.plan.model == "gan"
    if (path / CHECKPOINT_FILE).is_file():
        if gan:
            resume_gan(path, device=device)
        else:
            resume_classifier(path, device=device)
        return
    if path.exists():  # killed before its first checkpoint: nothing to keep
        shutil.rmtree(path)
    if gan:
        assert isinstance(run.config, GANConfig)
        train_gan(run.config, out=path, device=device)
    else:
        assert isinstance(run.config, ClassifierConfig) and run.data is not None
        train_classifier(run.config, dataset=run.dataset, data=run.data, out=path, device=device)


def _constant(config: Any) -> Callable[[tuple[str, ...]], Any]:
    return lambda names: config


def _execute(run: StudyRun, path: Path, entry: dict[str, Any], device: str) -> dict[str, Any]:
    """Train (or resume), evaluate and attack one run; returns its updated study.json entry
    (``failed`` with the error's first line when a step raised)."""
    entry = dict(entry, results=dict(entry.get("results", {})))
    t0 = time.perf_counter()
    try:
        _train(run, path, device)
        report = open_run_dir(path).read_privacy()
        entry["privacy"] = {"epsilon": report.epsilon, "delta": report.delta,
                            "sigma": report.noise_multiplier}
        for family, metrics, config in run.evaluations:
            if all(m in entry["results"] for m in metrics):
                continue
            started = time.perf_counter()
            (result,) = evaluate_run(path, metrics, configs={family: _constant(config)},
                                     device=device)
            seconds = time.perf_counter() - started
            d = result.to_dict()
            for m in metrics:
                entry["results"][m] = {"values": metric_values(m, d), "seconds": seconds}
        for opts in run.attacks:
            key = f"attack:{opts.method}"
            if key in entry["results"]:
                continue
            res = run_membership(path, opts, device=device)
            entry["results"][key] = {"values": {key: res.metrics.auc},
                                     "seconds": float(res.extra.get("seconds", 0.0))}
    except Exception as exc:  # recorded; the other runs go on
        lines = str(exc).strip().splitlines() or [type(exc).__name__]
        entry.update(status=FAILED, error=lines[0])
    else:
        entry.update(status=DONE, error=None)
    entry["seconds"] = entry.get("seconds", 0.0) + time.perf_counter() - t0
    return entry


def _init_worker() -> None:
    torch.set_num_threads(1)
    register_builtin_metrics()
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message=".*non-full backward hook.*")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")


def _worker(run: StudyRun, path: Path, entry: dict[str, Any], device: str
            ) -> tuple[str, dict[str, Any], float]:
    t0 = time.perf_counter()
    return run.plan.name, _execute(run, path, entry, device), time.perf_counter() - t0


def _write_results(out: Path, state: dict[str, Any], runs: Sequence[StudyRun]) -> Path:
    grid = [o for axis in state["spec"]["grid"] for o in split_axis(axis)]
    header = list(RESULT_COLUMNS[:6]) + grid + list(RESULT_COLUMNS[6:])
    path = out / RESULTS_FILE
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for run in runs:
            entry = state["runs"][run.plan.name]
            privacy = entry.get("privacy")
            if privacy is None:
                continue
            values = dict(run.plan.grid)
            for key in run.keys:
                done = entry["results"].get(key)
                if done is None:
                    continue
                for row, value in done["values"].items():
                    writer.writerow([run.plan.name, run.plan.model,
                                     epsilon_text(float(privacy["epsilon"])), privacy["delta"],
                                     privacy["sigma"], run.plan.seed]
                                    + [values.get(o, "") for o in grid]
                                    + [row, value, f"{done['seconds']:.2f}"])
    os.replace(tmp, path)
    return path


def _outcome(run: StudyRun, entry: dict[str, Any], seconds: float) -> RunOutcome:
    headline = None
    for key in run.keys:
        if key in entry["results"]:
            headline = next(iter(entry["results"][key]["values"].items()))
            break
    return RunOutcome(name=run.plan.name, status=entry["status"], seconds=seconds,
                      error=entry.get("error"), headline=headline)


def _run_all(todo: Sequence[StudyRun], state: dict[str, Any], out: Path, jobs: int, device: str,
             record: Callable[[StudyRun, dict[str, Any], float], None]) -> None:
    """Execute ``todo`` in this process (one job) or in ``jobs`` spawned workers."""
    if jobs == 1 or len(todo) <= 1:
        for run in todo:
            entry = dict(state["runs"][run.plan.name], status=RUNNING)
            state["runs"][run.plan.name] = entry
            _write_json(out / STUDY_FILE, state)
            t0 = time.perf_counter()
            entry = _execute(run, out / RUNS_DIR / run.plan.name, entry, device)
            record(run, entry, time.perf_counter() - t0)
    else:
        by_name = {r.plan.name: r for r in todo}
        ctx = multiprocessing.get_context("spawn")
        with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                    initializer=_init_worker) as pool:
            futures = []
            for run in todo:
                state["runs"][run.plan.name] = dict(state["runs"][run.plan.name],
                                                    status=RUNNING)
                futures.append(pool.submit(_worker, run, out / RUNS_DIR / run.plan.name,
                                           state["runs"][run.plan.name], device))
            _write_json(out / STUDY_FILE, state)
            try:
                for future in cf.as_completed(futures):
                    name, entry, seconds = future.result()
                    record(by_name[name], entry, seconds)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise


def run_study(spec: StudySpec, runs: Sequence[StudyRun], out: str | Path, *, jobs: int = 1,
              device: str = "cpu",
              on_progress: Callable[[int, int, RunOutcome], None] | None = None) -> StudyResult:
    """Execute the study's runs in ``out`` (see the module doc), ``jobs`` runs at a time (worker
    processes, spawned, one torch thread each), then write ``report.html``.

    A re-run with the same spec skips finished runs, evaluations and attacks, resumes training
    runs from their checkpoint and retries failed runs; another spec is refused, and so is a
    second study while one runs on ``out``. A run that fails is recorded (study.json) and the
    others go on.

    Args:
        spec: the study (recorded in study.json and compared on a re-run).
        runs: its runs, with their configurations (see :class:`StudyRun`).
        out: the study directory.
        jobs: runs executed at once.
        device: where to compute.
        on_progress: called ``(k, n, outcome)`` as each run finishes (or is skipped).
    """
    if jobs < 1:
        raise DPKitError(f"jobs={jobs} must be >= 1")
    out = Path(out)
    _check_out(out)
    register_builtin_metrics()
    out.mkdir(parents=True, exist_ok=True)
    with study_lock(out):
        state = _open_study(out, spec, runs)
        _write_json(out / STUDY_FILE, state)
        (out / RUNS_DIR).mkdir(exist_ok=True)
        total, finished = len(runs), 0

        def record(run: StudyRun, entry: dict[str, Any], seconds: float) -> None:
            nonlocal finished
            state["runs"][run.plan.name] = entry
            _write_json(out / STUDY_FILE, state)
            _write_results(out, state, runs)
            finished += 1
            if on_progress is not None:
                on_progress(finished, total, _outcome(run, entry, seconds))

        todo = []
        for run in runs:
            entry = state["runs"][run.plan.name]
            if entry["status"] == DONE and all(k in entry["results"] for k in run.keys):
                finished += 1
                if on_progress is not None:
                    on_progress(finished, total, RunOutcome(run.plan.name, DONE, 0.0,
                                                            skipped=True))
            else:
                todo.append(run)
        _write_results(out, state, runs)
        try:
            _run_all(todo, state, out, jobs, device, record)
        except (KeyboardInterrupt, RunInterrupted):
            raise RunInterrupted(f"study interrupted; {out / STUDY_FILE} keeps what finished: "
                                 f"run the same study again to continue it", None) from None
        statuses = [state["runs"][r.plan.name]["status"] for r in runs]
        report = None
        if DONE in statuses:
            report = build_report([out], out / REPORT_FILE, force=True,
                                  title=f"dpkit study: {out.name}").path
        errors = {r.plan.name: state["runs"][r.plan.name].get("error") or ""
                  for r in runs if state["runs"][r.plan.name]["status"] == FAILED}
        return StudyResult(study=out, runs=total, done=statuses.count(DONE),
                           failed=statuses.count(FAILED), results=out / RESULTS_FILE,
                           report=report, errors=errors)
