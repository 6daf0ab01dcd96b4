"""Library errors name the Python field (``lr=-1.0``); the CLI's one table turns them into flags.

The rule checked by :func:`test_the_library_spells_no_cli_flags`: outside ``dpkit/cli.py`` and
``dpkit/commands/``, no string literal that is not a docstring contains ``--`` followed by a
letter (error messages, the hints they are built from, notes). The exceptions are listed in
``ALLOWED`` with the reason for each.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import torch

from dpkit.classifiers import ClassifierConfig, ModelConfig, PGDConfig
from dpkit.classifiers.training import check_classifier_data, fit_classifier
from dpkit.commands.flags import FIELD_FLAGS, to_cli
from dpkit.data import DataOptions, ImageTensorDataset
from dpkit.engine import PrivacyConfig, plan_privacy
from dpkit.errors import DPKitError
from dpkit.metrics import GenerativeEvalConfig

PACKAGE = Path(__file__).resolve().parents[1] / "dpkit"
FLAG = re.compile(r"(?<![\w-])--[a-zA-Z]")
# (file, literal): strings that may spell a flag, and why.
ALLOWED = {
    # RunInterrupted.resume: the shell command that continues the run, printed to be typed
    ("engine/lifecycle.py", " --resume "),
    # a description the CLI prints as it is
    ("data/builtin.py", "a folder of class sub-folders of PNG/JPEG/BMP images (--data-root)"),
}


def flag_literals(source: str) -> list[tuple[int, str]]:
    """(line, text) of every non-docstring string literal in ``source`` that spells a flag."""
    tree = ast.parse(source)
    docstrings = {id(node.value) for node in ast.walk(tree)
                  if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and id(node) not in docstrings and FLAG.search(node.value)]


def library_files() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py"))
            if p.name != "cli.py" and "commands" not in p.relative_to(PACKAGE).parts]


def test_the_library_spells_no_cli_flags():
    found = [f"dpkit/{rel}:{line}: {text!r}"
             for path in library_files()
             for rel in [path.relative_to(PACKAGE).as_posix()]
             for line, text in flag_literals(path.read_text(encoding="utf-8"))
             if (rel, text) not in ALLOWED]
    assert not found, "library strings speak CLI flags; name the field:\n" + "\n".join(found)


def test_the_scan_finds_a_flag_in_a_message_and_not_in_a_docstring():
    source = ('def f(lr):\n'
              '    """Docstrings may say --lr."""\n'
              '    require(lr > 0, f"--lr {lr} must be > 0")\n'
              '    raise DPKitError("use " + "--batch-size 8")\n')
    assert [line for line, _ in flag_literals(source)] == [3, 4]


# ---------- representative errors: field form for Python, flag form through to_cli ----------

def _data(n: int = 10, size: int = 16) -> ImageTensorDataset:
    return ImageTensorDataset(torch.zeros(n, 1, size, size, dtype=torch.uint8),
                              torch.arange(n) % 2)


def _message(fn) -> str:
    with pytest.raises(DPKitError) as err:
        fn()
    return str(err.value)


@pytest.mark.parametrize("make,python,cli", [
    (lambda: PrivacyConfig(noise_multiplier=1.0, delta=1.5),
     "delta=1.5 must be in (0, 1)", "--delta 1.5 must be in (0, 1)"),
    (lambda: PrivacyConfig(),
     "give exactly one of target_epsilon=EPS and noise_multiplier=SIGMA (or enabled=False",
     "give exactly one of --epsilon EPS and --noise-multiplier SIGMA (or --no-dp"),
    (lambda: PrivacyConfig(noise_multiplier=1.0, max_physical_batch_size=0),
     "max_physical_batch_size=0 must be >= 1", "--physical-batch-size 0 must be >= 1"),
    (lambda: ClassifierConfig(lr=-1), "lr=-1 must be > 0", "--lr -1 must be > 0"),
    (lambda: PGDConfig(steps=0), "pgd.steps=0 must be >= 1", "--pgd-steps 0 must be >= 1"),
    (lambda: ModelConfig(arch="mlp", bias=False, norm="group"),
     "bias=False (a homogeneous mlp) cannot be combined with norm='group'; use norm='none'",
     "--no-bias (a homogeneous mlp) cannot be combined with --norm group; use --norm none"),
    (lambda: ModelConfig(hidden=(256, 0)), "hidden=(256, 0) must be positive widths",
     "--hidden 256,0 must be positive widths, e.g. --hidden 256,256"),
    (lambda: check_classifier_data(ClassifierConfig(batch_size=300), _data()),
     "batch_size=300 must be between 1 and the dataset size 10; use batch_size=10",
     "--batch-size 300 must be between 1 and the dataset size 10; use --batch-size 10"),
    (lambda: fit_classifier(ClassifierConfig(model=ModelConfig(arch="mlp", norm="public-bn"),
                                             batch_size=5, epochs=1), _data()),
     "norm='public-bn' needs public data; add public='holdout'",
     "--norm public-bn needs public data; add --public-data holdout"),
    (lambda: DataOptions(classes=(1, 1)), "classes=(1, 1) must name at least two",
     "--classes 1,1 must name at least two"),
    (lambda: GenerativeEvalConfig(num_samples=1), "num_samples=1 must be at least 2",
     "--num-samples 1 must be at least 2"),
])
def test_errors_name_fields_and_to_cli_names_flags(make, python, cli):
    message = _message(make)
    assert python in message and "--" not in message
    assert cli in to_cli(message)


def test_delta_below_one_over_n_is_one_check_for_the_calculator_and_the_trainers():
    planned = _message(lambda: plan_privacy(dataset_size=100, batch_size=10, epochs=1,
                                            delta=0.05, noise_multiplier=1.0))
    trained = _message(lambda: PrivacyConfig(noise_multiplier=1.0,
                                             delta=0.05).check_dataset_size(100))
    assert planned == trained
    assert to_cli(planned) == ("--delta 0.05 must be in (0, 1/N) = (0, 0.01) for N=100; "
                               "use --delta 0.001 or smaller")


def test_public_bn_without_public_data_is_refused_once_before_the_run_dir(tmp_path):
    from dpkit.classifiers import train_classifier

    out = tmp_path / "run"
    cfg = ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(8,), norm="public-bn"),
                           epochs=1)
    with pytest.raises(DPKitError, match="norm='public-bn' needs public data"):
        train_classifier(cfg, dataset="digits", data=DataOptions(subset=64), out=out)
    assert not out.exists()


# ---------- to_cli ----------

@pytest.mark.parametrize("message,expected", [
    ("delta=0.5 must be < 1/N = 1.7e-05 for N=60000",
     "--delta 0.5 must be < 1/N = 1.7e-05 for N=60000"),
    ("at q=0.01 and lr=0.1", "at q=0.01 and --lr 0.1"),
    ("latent.lr=0 and kid_subsets=0 and public_size=5",
     "latent.lr=0 and kid_subsets=0 and --public-size 5"),
    ("add public='holdout' or public=\"mnist\"",
     "add --public-data holdout or --public-data mnist"),
    ("pgd.eps=2 and pgd_eps=(0.1, 0.2)", "--pgd-eps 2 and --pgd-eps 0.1,0.2"),
    ("metrics=('fid', 'foo') and metrics=()", "--metric fid,foo and --metric ''"),
    ("download=True needs data_root=DIR", "--download needs --data-root DIR"),
    ("grayscale=False, grayscale=True, enabled=True", "--rgb, --grayscale, enabled=True"),
    ("lr = 0.1, lr=", "lr = 0.1, --lr "),
    ("the learning rate (lr) and --lr 0.1", "the learning rate (lr) and --lr 0.1"),
])
def test_to_cli_rewrites_only_table_fields_written_as_field_equals(message, expected):
    assert to_cli(message) == expected


def _cli_flags() -> set[str]:
    import click

    from dpkit.cli import cli

    flags: set[str] = set()
    todo: list[click.Command] = [cli]
    while todo:
        command = todo.pop()
        if isinstance(command, click.Group):  # list/get_command: lazy groups too
            ctx = click.Context(command)
            todo.extend(command.get_command(ctx, name) for name in command.list_commands(ctx))
        for param in command.params:
            if isinstance(param, click.Option):
                flags.update(param.opts + param.secondary_opts)
    return flags


def test_every_flag_in_the_table_is_an_option_of_a_dpkit_command():
    missing = sorted(set(FIELD_FLAGS.values()) - _cli_flags())
    assert not missing, f"FIELD_FLAGS names flags no command has: {missing}"
