"""The ``dpkit`` command line: a thin layer over the dpkit Python API.

Each command lives in ``dpkit/commands/<name>.py``; this module builds the group and turns every
user mistake into one line on stderr with exit status 2 (never a traceback).
"""

from __future__ import annotations

import sys
import warnings

import click

from dpkit.commands.attack import attack
from dpkit.commands.privacy import privacy
from dpkit.commands.sample import sample_command
from dpkit.commands.train_gan import train_gan_command
from dpkit.commands.train_classifier import train_classifier_command
from dpkit.commands.evaluate import evaluate
from dpkit.errors import DPKitError, RunInterrupted

__all__ = ["cli", "main"]


class _Group(click.Group):
    def main(self, *args, **kwargs):  # type: ignore[override]
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except RunInterrupted as exc:
            click.echo(str(exc), err=True)
            sys.exit(130)
        except click.Abort as exc:
            click.echo("Aborted.", err=True)
            sys.exit(130 if isinstance(exc.__context__, KeyboardInterrupt) else 1)
        except click.exceptions.NoArgsIsHelpError as exc:  # `dpkit` alone: the help, no error
            assert exc.ctx is not None
            click.echo(exc.ctx.get_help())
            sys.exit(0)
        except click.UsageError as exc:
            hint = ""
            if exc.ctx is not None:
                hint = f" (see '{exc.ctx.command_path} --help')"
            click.echo(f"Error: {exc.format_message()}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code or 2)
        except DPKitError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(2)
        except FileNotFoundError as exc:
            click.echo(f"Error: {exc.strerror}: {exc.filename}", err=True)
            sys.exit(2)
        except KeyboardInterrupt:
            click.echo("Interrupted; the run directory keeps the last finished epoch's "
                       "checkpoint (continue with --resume RUN_DIR).", err=True)
            sys.exit(130)
        if isinstance(rv, int) and rv:
            sys.exit(rv)
        sys.exit(0)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"],
                                           "max_content_width": 100})
@click.version_option(package_name="dpkit")
def cli() -> None:
    """dpkit: differentially private GANs and classifiers, and what they remember.

    Every training command writes a run directory (config.json, metrics.jsonl, privacy.json,
    checkpoints, images); every command takes --json for machine-readable output.
    """
    warnings.filterwarnings("ignore", message="Secure RNG turned off")
    warnings.filterwarnings("ignore", message=".*non-full backward hook.*")
    warnings.filterwarnings("ignore", message="Full backward hook is firing")


cli.add_command(privacy)
cli.add_command(train_gan_command)
cli.add_command(sample_command)
cli.add_command(train_classifier_command)
cli.add_command(evaluate)
cli.add_command(attack)


def main() -> None:
    cli()
