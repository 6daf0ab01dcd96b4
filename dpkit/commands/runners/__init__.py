"""What each command does once its options are parsed: the half of ``dpkit/commands/`` that
imports the library (torch, Opacus, torch-fidelity).

``dpkit/commands/<name>.py`` declares a command's options and help with click and torch-free
modules only, and imports its runner here inside the command's callback — the one import of the
library per command — so that ``dpkit <command> --help`` answers without loading torch
(``tests/test_cli_startup.py`` checks it). A runner builds the library's configuration from the
options, calls the library and prints the result; it holds no logic a Python user would need.
"""

from __future__ import annotations

import json
from typing import Any, Callable

import click

from dpkit.engine import PrivacyConfig, to_jsonable

__all__ = ["emit", "privacy_config_from"]


def emit(result: Any, *, as_json: bool, text: Callable[[], str]) -> None:
    """Print ``result`` as one JSON object, or the human-readable ``text()``."""
    if as_json:
        click.echo(json.dumps(to_jsonable(result), sort_keys=False))
    else:
        click.echo(text())


def privacy_config_from(kw: dict[str, Any]) -> PrivacyConfig:
    """Build the PrivacyConfig from the options added by
    :func:`~dpkit.commands.options.privacy_options` (pops them)."""
    no_dp = kw.pop("no_dp")
    eps, sigma = kw.pop("epsilon"), kw.pop("noise_multiplier")
    if no_dp and (eps is not None or sigma is not None):
        raise click.UsageError("--no-dp cannot be combined with --epsilon or --noise-multiplier")
    return PrivacyConfig(enabled=not no_dp, target_epsilon=eps, noise_multiplier=sigma,
                         delta=kw.pop("delta"), max_grad_norm=kw.pop("max_grad_norm"),
                         accountant=kw.pop("accountant"),
                         grad_sample_mode=kw.pop("grad_sample_mode"),
                         max_physical_batch_size=kw.pop("physical_batch_size"),
                         secure_mode=kw.pop("secure_mode"),
                         poisson_sampling=not kw.pop("no_poisson"))
