"""The ``dpkit`` command line: a thin layer over the dpkit Python API.

Each command lives in ``dpkit/commands/<name>.py``; this module builds the group and turns every
user mistake into one line on stderr with exit status 2 (never a traceback).
"""

from __future__ import annotations

import importlib
import sys
import warnings

import click

from dpkit.commands.flags import to_cli
from dpkit.errors import DPKitError, RunInterrupted

__all__ = ["cli", "main", "COMMANDS"]

# name -> (module, attribute, one-line help). Commands are imported only when run (or asked for
# their own --help), so `dpkit --help` does not load torch: click's lazy-group pattern.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "attack": ("dpkit.commands.attack", "attack",
               "Privacy attacks on a trained model: membership inference, reconstruction."),
    "audit": ("dpkit.commands.audit", "audit", "Empirical epsilon lower bounds from canaries."),
    "evaluate": ("dpkit.commands.evaluate", "evaluate",
                 "Evaluate a run directory (accuracy, robustness, FID, KID, PRC, MiFID)."),
    "privacy": ("dpkit.commands.privacy", "privacy",
                "Epsilon of a planned DP-SGD run, or the sigma that reaches a target epsilon."),
    "report": ("dpkit.commands.report", "report_command",
               "One self-contained HTML page (summary, warnings, plots) for a set of runs."),
    "sample": ("dpkit.commands.sample", "sample_command",
               "Generate images from the generator of a train-gan run."),
    "study": ("dpkit.commands.study", "study_command",
              "A grid of runs (epsilons x models x options x seeds): trained, evaluated, "
              "attacked, reported; resumable."),
    "train-classifier": ("dpkit.commands.train_classifier", "train_classifier_command",
                         "Train a classifier with DP-SGD, optionally with PGD adversarial "
                         "training."),
    "train-gan": ("dpkit.commands.train_gan", "train_gan_command",
                  "Train a DCGAN whose GroupNorm discriminator is trained with DP-SGD."),
}


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute, _ = COMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][2]) for name in self.list_commands(ctx)])

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
        except DPKitError as exc:  # the library names fields; the user typed flags
            click.echo(f"Error: {to_cli(str(exc))}", err=True)
            sys.exit(2)
        except FileNotFoundError as exc:
            click.echo(f"Error: {exc.strerror}: {exc.filename}", err=True)
            sys.exit(2)
        except PermissionError as exc:
            click.echo(f"Error: permission denied: {exc.filename}; choose a location you can "
                       f"write to (--out) or read from", err=True)
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




def main() -> None:
    cli()
