"""The command line answers ``--help`` without loading torch, and the torch-free names it shows are
the library's.

Every command module declares its options from :mod:`dpkit.names` and imports its runner (the
library) only when it runs; these tests hold both halves to that.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pytest

from dpkit import names

# Renders the help of every command and sub-command (groups walked through their lazy
# list_commands / get_command), then reports what was imported.
_RENDER_ALL_HELP = """
import json, sys
import click
from click.testing import CliRunner
from dpkit.cli import cli

def paths(command, prefix):
    yield prefix
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from paths(command.get_command(ctx, name), prefix + [name])

runner = CliRunner()
helps = {}
for path in paths(cli, []):
    result = runner.invoke(cli, path + ["--help"])
    helps[" ".join(path)] = [result.exit_code, result.output]
print(json.dumps({"helps": helps, "torch": "torch" in sys.modules,
                  "runners": [m for m in sys.modules if m.startswith("dpkit.commands.runners")],
                  "dpkit": sorted(m for m in sys.modules if m.startswith("dpkit"))}))
"""


@pytest.fixture(scope="module")
def rendered() -> dict:
    out = subprocess.run([sys.executable, "-c", _RENDER_ALL_HELP], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout)


def test_every_help_renders_without_loading_torch(rendered):
    helps = rendered["helps"]
    assert {"", "attack", "attack membership", "attack reconstruct", "evaluate", "privacy",
            "sample", "train-classifier", "train-gan"} <= set(helps)
    for path, (code, text) in helps.items():
        assert code == 0 and "Usage:" in text, (path, text)
    assert rendered["torch"] is False, rendered["dpkit"]
    assert rendered["runners"] == [], "a command imported its runner to declare its options"


def test_help_lists_every_metric_dataset_and_method(rendered):
    # one line per help, words cut at a hyphen by click's wrapping joined again
    helps = {path: re.sub(r"-\s+", "-", " ".join(text.split()))
             for path, (_, text) in rendered["helps"].items()}
    for metric in names.METRICS:
        assert metric in helps["evaluate"], metric
    for dataset in names.DATASETS:
        assert dataset in helps["train-classifier"] and dataset in helps["train-gan"], dataset
    for method in names.MEMBERSHIP_METHODS:
        assert method in helps["attack membership"], method
    for method in names.RECONSTRUCTION_METHODS:
        assert method in helps["attack reconstruct"], method


def test_library_validates_against_the_names_the_cli_shows():
    from dpkit import attacks, classifiers, engine
    from dpkit.classifiers import evaluate_run

    assert engine.ACCOUNTANTS is names.ACCOUNTANTS
    assert engine.ALL_ACCOUNTANTS is names.ALL_ACCOUNTANTS
    assert engine.GRAD_SAMPLE_MODES is names.GRAD_SAMPLE_MODES
    assert engine.DEVICES is names.DEVICES
    assert classifiers.ARCHITECTURES is names.ARCHITECTURES
    assert classifiers.NORMS is names.NORMS
    assert classifiers.OPTIMIZERS is names.OPTIMIZERS
    assert evaluate_run.CLASSIFIER_METRICS is names.CLASSIFIER_METRICS
    assert attacks.MEMBERSHIP_METHODS is names.MEMBERSHIP_METHODS
    assert attacks.RECONSTRUCTION_METHODS is names.RECONSTRUCTION_METHODS


def test_names_built_by_registries_match_the_library():
    from dpkit.data.builtin import BUILTIN_SOURCES
    from dpkit.evaluation import register_builtin_metrics, registry
    from dpkit.gan import sampling
    from dpkit.metrics import generative

    assert tuple(s.name for s in BUILTIN_SOURCES) == names.DATASETS
    register_builtin_metrics()
    assert tuple(registry.names()) == names.METRICS
    for kind, shown in (("train-classifier", names.CLASSIFIER_METRICS),
                        ("train-gan", names.GAN_METRICS)):
        assert tuple(n for n, f in registry.METRICS.items() if f.run_kind == kind) == shown
    assert tuple(generative.GENERATIVE_METRICS) == names.GENERATIVE_METRICS
    assert tuple(sampling.SAMPLE_FORMATS) == names.SAMPLE_FORMATS


def _options(command: click.Command) -> dict[str, click.Option]:
    return {p.name: p for p in command.params if isinstance(p, click.Option)}


def test_train_gan_defaults_are_gan_config_defaults():
    """train-gan writes GANConfig's defaults out (no torch for --help); they must not drift."""
    from dpkit.commands import train_gan
    from dpkit.gan import RECIPE_FIELDS, GANConfig

    options = _options(train_gan.train_gan_command)
    cfg = GANConfig()
    for field in ("latent_dim", "g_width", "d_width", "lr_d", "lr_g", "clip_fake", "seed",
                  "d_steps_threshold", "d_steps_grace", "d_steps_beta",
                  "conditional", "conditioning"):
        assert options[field].default == getattr(cfg, field), field
    assert tuple(float(b) for b in options["betas"].default.split(",")) == cfg.betas
    assert options["dataset"].default == cfg.dataset
    # left out (None): the dataset's recipe, else GANConfig's default, shown in the help
    shown = {"epochs": train_gan._EPOCHS, "batch_size": train_gan._BATCH,
             "d_steps": train_gan._D_STEPS, "ema": train_gan._EMA,
             "d_steps_schedule": train_gan._SCHEDULE}
    for field, value in shown.items():
        assert options[field].default is None and value == getattr(cfg, field), field
        assert re.search(rf"\[default: {value};", options[field].help), field
    assert options["image_size"].default is None
    assert train_gan._IMAGE_SIZE == cfg.data.image_size
    assert set(RECIPE_FIELDS) == set(shown) | {"image_size"}
