"""The shared DP-SGD engine every dpkit trainer uses."""

from dpkit.engine.accounting import (PrivacyPlan, PrivacyReport, calibrate_noise,
                                     compute_epsilon, epsilon_from_accountant, plan_privacy,
                                     steps_per_epoch)
from dpkit.engine.checkpoint import CheckpointInfo, load_checkpoint, save_checkpoint
from dpkit.engine.config import ACCOUNTANTS, GRAD_SAMPLE_MODES, PrivacyConfig
from dpkit.engine.device import DEVICES, resolve_device
from dpkit.engine.private import PrivateSetup, make_private, unwrap_model, validate_private_model
from dpkit.engine.progress import progress
from dpkit.engine.rundir import RunDir, create_run_dir, open_run_dir, to_jsonable
from dpkit.engine.seeding import rng_state, seed_everything, set_rng_state

__all__ = [
    "ACCOUNTANTS", "GRAD_SAMPLE_MODES", "DEVICES",
    "PrivacyConfig", "PrivacyPlan", "PrivacyReport", "PrivateSetup", "CheckpointInfo", "RunDir",
    "calibrate_noise", "compute_epsilon", "epsilon_from_accountant", "plan_privacy",
    "steps_per_epoch", "make_private", "unwrap_model", "validate_private_model",
    "save_checkpoint", "load_checkpoint", "resolve_device", "progress",
    "create_run_dir", "open_run_dir", "to_jsonable", "rng_state", "seed_everything",
    "set_rng_state",
]
