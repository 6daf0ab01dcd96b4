"""Evaluating run directories: the metric registry and the adapters between runs and metrics."""

from dpkit.evaluation.generative import (EVALUATION_FAMILY, evaluate_gan_run,
                                         evaluate_generative_run)
from dpkit.evaluation.registry import (METRICS, GenerativeRunConfig, MetricFamily, evaluate_run,
                                       get, names, register, register_builtin_metrics)
from dpkit.evaluation.samples import (SAMPLES_RUN_KIND, SamplesEvaluation, evaluate_samples,
                                      evaluate_samples_to_dir)

__all__ = ["EVALUATION_FAMILY", "evaluate_gan_run", "evaluate_generative_run", "METRICS",
           "GenerativeRunConfig", "MetricFamily", "evaluate_run", "get", "names", "register",
           "register_builtin_metrics", "SAMPLES_RUN_KIND", "SamplesEvaluation",
           "evaluate_samples", "evaluate_samples_to_dir"]
