"""train-classifier --recipe: the table's values are defaults, typed options override them, the
name is recorded; unknown names are refused with the list."""

from __future__ import annotations

import json

import dpkit.classifiers.scattering as scattering
from dpkit.classifiers import CLASSIFIER_RECIPES, ClassifierConfig
from dpkit.classifiers.recipes import RECIPE_KEYS
from dpkit.cli import cli
from dpkit.commands.options import typed_options
from dpkit.commands.runners.train_classifier import settings_from
from dpkit.commands.train_classifier import train_classifier_command


def _settings(*argv: str):
    ctx = train_classifier_command.make_context("train-classifier", list(argv))
    return settings_from(dict(ctx.params) | {"given": typed_options(ctx)})


def test_recipe_values_are_the_defaults():
    cfg, dataset, _ = _settings("--recipe", "fmnist-scatternet-eps3")
    r = CLASSIFIER_RECIPES["fmnist-scatternet-eps3"]
    assert dataset == "fashion-mnist" and cfg.recipe == "fmnist-scatternet-eps3"
    assert (cfg.model.arch, cfg.batch_size, cfg.lr, cfg.momentum, cfg.epochs) == (
        r["arch"], r["batch_size"], r["lr"], r["momentum"], r["epochs"])
    assert cfg.privacy.target_epsilon == 3.0 and cfg.privacy.max_grad_norm == 0.1
    assert cfg.privacy.grad_sample_mode == "auto" and cfg.model.scatter_groups == 27
    assert ClassifierConfig.from_dict(cfg.to_dict()) == cfg  # config.json keeps the name
    cfg, _, _ = _settings("--recipe", "cifar10-resnet-augmult-eps8")  # a mode unlike the default
    assert cfg.privacy.grad_sample_mode == "hooks" and cfg.augmult == 4


def test_typed_options_override_the_recipe():
    cfg, dataset, _ = _settings("--recipe", "fmnist-scatternet-eps3", "--epochs", "5",
                                "--lr", "2", "--dataset", "mnist", "--noise-multiplier", "1")
    assert (cfg.epochs, cfg.lr, dataset) == (5, 2.0, "mnist")
    assert cfg.batch_size == 8192  # not typed: from the recipe
    assert cfg.privacy.noise_multiplier == 1.0 and cfg.privacy.target_epsilon is None
    cfg, _, _ = _settings("--recipe", "fmnist-scatternet-eps3", "--no-dp")
    assert not cfg.privacy.enabled


def test_no_recipe_leaves_the_command_defaults():
    default, _, _ = _settings("--epsilon", "3")
    none, _, _ = _settings("--recipe", "none", "--epsilon", "3")
    assert default == none and default.recipe is None and default.model.arch == "cnn"


def test_unknown_recipe_is_one_line_listing_the_valid_ones(cli_runner):
    res = cli_runner.invoke(cli, ["train-classifier", "--recipe", "fmnist-best"])
    assert res.exit_code == 2
    line = [ln for ln in res.output.splitlines() if "fmnist-best" in ln]
    assert len(line) == 1 and all(name in line[0] for name in CLASSIFIER_RECIPES)


def test_recipe_list(cli_runner):
    res = cli_runner.invoke(cli, ["train-classifier", "--recipe", "list"])
    assert res.exit_code == 0
    assert [ln.split(":")[0] for ln in res.output.splitlines()] == list(CLASSIFIER_RECIPES)


def test_every_recipe_builds_a_valid_configuration():
    for name, recipe in CLASSIFIER_RECIPES.items():
        assert set(recipe) <= set(RECIPE_KEYS), name
        cfg, dataset, _ = _settings("--recipe", name)
        assert dataset == recipe["dataset"] and cfg.recipe == name


def test_recipe_name_in_config_json(tmp_path, monkeypatch, cli_runner):
    monkeypatch.setenv(scattering.CACHE_ENV, str(tmp_path / "cache"))
    out = tmp_path / "run"
    res = cli_runner.invoke(cli, ["train-classifier", "--recipe", "fmnist-scatternet-eps3",
                                  "--dataset", "digits", "--subset", "600", "--epochs", "1",
                                  "--batch-size", "128", "--quiet", "--out", str(out)],
                            catch_exceptions=False)
    assert res.exit_code == 0, res.output
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == "fmnist-scatternet-eps3"
    assert config["training"]["lr"] == 16.0 and config["training"]["batch_size"] == 128
    assert config["model"]["arch"] == "scatternet-linear"


def test_auto_recipe_is_the_datasets_measured_one_at_the_typed_epsilon():
    for eps, name in (("3", "fmnist-scatternet-eps3"), ("1", "fmnist-scatternet-eps1"),
                      ("1.5", "fmnist-scatternet-eps1"), ("8", "fmnist-scatternet-eps3")):
        cfg, dataset, _ = _settings("--dataset", "fashion-mnist", "--epsilon", eps)
        r = CLASSIFIER_RECIPES[name]
        assert (dataset, cfg.recipe, cfg.model.arch) == ("fashion-mnist", name, r["arch"])
        assert (cfg.batch_size, cfg.lr, cfg.epochs, cfg.ema) == (
            r["batch_size"], r["lr"], r["epochs"], r["ema"])
        assert cfg.privacy.target_epsilon == float(eps)  # the typed epsilon, not the recipe's
    cfg, _, _ = _settings("--dataset", "fashion-mnist", "--epsilon", "3", "--epochs", "5")
    assert cfg.recipe == "fmnist-scatternet-eps3" and cfg.epochs == 5 and cfg.batch_size == 8192


def test_default_recipes_name_real_recipes_in_increasing_epsilon_and_help_shows_them():
    from dpkit.names import DEFAULT_RECIPES, default_recipes_text
    for dataset, steps in DEFAULT_RECIPES.items():
        bounds = [largest for largest, _ in steps]
        assert bounds == sorted(bounds) and bounds[-1] == float("inf"), dataset
        for _, name in steps:
            assert CLASSIFIER_RECIPES[name]["dataset"] == dataset, name
    text = default_recipes_text()
    assert text == "fashion-mnist: fmnist-scatternet-eps1 up to 1.5, else fmnist-scatternet-eps3"
    recipe_option = next(p for p in train_classifier_command.params if p.name == "recipe")
    assert text in recipe_option.help


def test_auto_recipe_steps_aside_for_another_model_objective_or_no_target_epsilon():
    plain, _, _ = _settings("--recipe", "none", "--dataset", "fashion-mnist", "--epsilon", "3")
    assert plain.recipe is None and plain.model.arch == "cnn" and plain.batch_size == 256
    for extra in (["--model", "cnn"], ["--pgd"], ["--noise-augment", "0.25"],
                  ["--norm", "group"], ["--augmult", "2"], ["--optimizer", "adam"]):
        cfg, _, _ = _settings("--dataset", "fashion-mnist", "--epsilon", "3", *extra)
        assert cfg.recipe is None and cfg.batch_size == 256, extra
    for privacy in (["--noise-multiplier", "1"], ["--no-dp"]):
        cfg, _, _ = _settings("--dataset", "fashion-mnist", *privacy)
        assert cfg.recipe is None and cfg.model.arch == "cnn", privacy
    cfg, _, _ = _settings("--dataset", "digits", "--epsilon", "3")  # no measured recipe
    assert cfg.recipe is None and cfg.model.arch == "cnn"


def test_a_study_keeps_one_model_along_its_epsilon_axis():
    from dpkit.commands.runners.study import _parse
    kw = _parse("classifier", ["--dataset", "fashion-mnist", "--epsilon", "3"])
    assert kw["recipe"] == "none"
    kw = _parse("classifier", ["--dataset", "fashion-mnist", "--epsilon", "3",
                               "--recipe", "fmnist-scatternet-eps3"])
    assert kw["recipe"] == "fmnist-scatternet-eps3"


def test_auto_recipe_is_announced_and_recorded(tmp_path, monkeypatch, cli_runner):
    import dpkit.classifiers.recipes as recipes
    monkeypatch.setenv(scattering.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setitem(recipes.DEFAULT_RECIPES, "digits",
                        ((float("inf"), "fmnist-scatternet-eps3"),))
    out = tmp_path / "run"
    res = cli_runner.invoke(cli, ["train-classifier", "--dataset", "digits", "--epsilon", "3",
                                  "--subset", "600", "--epochs", "1", "--batch-size", "128",
                                  "--quiet", "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "recipe: fmnist-scatternet-eps3 (the default for digits at epsilon 3;" in res.output
    config = json.loads((out / "config.json").read_text())
    assert config["recipe"] == "fmnist-scatternet-eps3"
    assert config["model"]["arch"] == "scatternet-linear" and config["training"]["epochs"] == 1
