"""``dpkit study``: a declared grid of runs (dataset x ε x models x grid x seeds), trained,
evaluated, attacked and reported in one study directory, resumable.

``spec`` declares the study (TOML or flat settings), ``plan`` expands it into runs with stable
names (both torch-free), ``execute`` runs them (skip, resume, worker processes) and writes
study.json, results.csv and report.html.
"""

from __future__ import annotations

from dpkit.study.execute import (LOCK_FILE, REPORT_FILE, RESULTS_FILE, RUNS_DIR, STUDY_FILE,
                                 RunOutcome, StudyResult, StudyRun, run_study, study_lock)
from dpkit.study.plan import PlannedRun, epsilon_text, plan_runs
from dpkit.study.spec import (MODEL_ATTACKS, MODEL_METRICS, MODELS, PRIVACY_KEYS, SPEC_KEYS,
                              TABLES, StudySpec, axis_values, load_spec, option_key, option_text,
                              parse_list, spec_differences, split_axis)

__all__ = ["MODELS", "MODEL_METRICS", "MODEL_ATTACKS", "SPEC_KEYS", "PRIVACY_KEYS", "TABLES",
           "StudySpec", "load_spec", "option_key", "option_text", "parse_list", "split_axis",
           "axis_values", "spec_differences",
           "PlannedRun", "plan_runs", "epsilon_text", "StudyRun", "RunOutcome", "StudyResult",
           "run_study", "study_lock", "STUDY_FILE", "RESULTS_FILE", "REPORT_FILE", "LOCK_FILE",
           "RUNS_DIR"]

