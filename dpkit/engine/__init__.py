"""The shared DP-SGD engine every dpkit trainer uses."""

from dpkit.engine.accounting import (INVALID_EPSILON, PrivacyPlan, PrivacyReport, calibrate_noise,
                                     compute_epsilon, epsilon_from_accountant, epsilon_of_history, plan_privacy,
                                     steps_per_epoch)
from dpkit.engine.augmult import AugmultConfig, augment_views
from dpkit.engine.averaging import WeightAverage
from dpkit.engine.bookkeeping import (BKRule, BookKeepingModule, LayerNorms,
                                      materialized_rule, register_bookkeeping_rule)
from dpkit.engine.checkpoint import (CheckpointInfo, load_checkpoint, load_weights,
                                     read_torch_file, save_checkpoint)
from dpkit.engine.config import (ACCOUNTANTS, ALL_ACCOUNTANTS, GRAD_SAMPLE_MODES, PrivacyConfig,
                                 check_delta, check_training_accountant)
from dpkit.engine.device import DEVICES, resolve_device
from dpkit.engine.distributed import (World, all_reduce_sum, barrier, broadcast_parameters,
                                      current_world, launched, rank_seed, world_from_env)
from dpkit.engine.private import (CanaryGradients, PrivateSetup, hooks_off, make_private,
                                  register_grad_sampler, resolve_grad_sample_mode,
                                  unwrap_model, validate_private_model)
from dpkit.engine.randomness import RandomSource, SecureSource, SeededSource, make_source
from dpkit.engine.progress import progress
from dpkit.engine.curves import plot_curves
from dpkit.engine.lifecycle import (checkpoint_epoch, evaluation_file, record_evaluation,
                                    resume_run, running, start_run)
from dpkit.engine.loop import StepFunction, train_epochs
from dpkit.engine.rundir import (CHECKPOINT_FILE, CONFIG_FILE, CURVES_FILE, EVALUATIONS_LOG, FINAL_FILE,
                                 FORMAT_VERSION, METRICS_FILE, NOT_COVERED_KEY, PRIVACY_FILE,
                                 RESULT_FILE, RUN_KINDS, SPLIT_FILE, RunDir, check_new_run_dir,
                                 create_run_dir, open_run_dir, to_jsonable)
from dpkit.engine.seeding import rng_state, seed_everything, set_rng_state

__all__ = [
    "ACCOUNTANTS", "ALL_ACCOUNTANTS", "GRAD_SAMPLE_MODES", "DEVICES", "INVALID_EPSILON",
    "RandomSource", "SecureSource", "SeededSource", "make_source", "hooks_off",
    "check_delta", "check_training_accountant", "NOT_COVERED_KEY", "check_new_run_dir",
    "checkpoint_epoch", "evaluation_file", "record_evaluation", "resume_run", "running",
    "start_run",
    "StepFunction", "train_epochs", "CHECKPOINT_FILE", "CONFIG_FILE", "EVALUATIONS_LOG",
    "FINAL_FILE", "FORMAT_VERSION", "METRICS_FILE", "PRIVACY_FILE", "RESULT_FILE", "RUN_KINDS",
    "SPLIT_FILE", "CURVES_FILE", "plot_curves", "load_weights", "read_torch_file", "register_grad_sampler",
    "CanaryGradients", "PrivacyConfig", "PrivacyPlan", "PrivacyReport", "PrivateSetup", "CheckpointInfo", "RunDir",
    "calibrate_noise", "compute_epsilon", "epsilon_from_accountant", "epsilon_of_history",
    "plan_privacy", "AugmultConfig", "augment_views",
    "steps_per_epoch", "make_private", "resolve_grad_sample_mode", "unwrap_model",
    "validate_private_model",
    "save_checkpoint", "load_checkpoint", "resolve_device", "progress",
    "create_run_dir", "open_run_dir", "to_jsonable", "rng_state", "seed_everything",
    "set_rng_state", "WeightAverage", "World", "all_reduce_sum", "barrier",
    "broadcast_parameters", "current_world", "launched", "rank_seed", "world_from_env",
    "BKRule", "BookKeepingModule", "LayerNorms", "materialized_rule", "register_bookkeeping_rule",
]
