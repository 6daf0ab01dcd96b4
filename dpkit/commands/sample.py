"""``dpkit sample``: export images from a trained generator."""

from __future__ import annotations

import click

from dpkit.commands.options import device_option, json_option, seed_option
from dpkit.names import SAMPLE_FORMATS

__all__ = ["sample_command"]


@click.command("sample")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--num-samples", "--n", "n", type=int, default=10000, show_default=True,
              help="Images to generate (--n is the older name).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory to create (default: runs/sample-<timestamp>).")
@click.option("--format", "fmt", type=click.Choice(SAMPLE_FORMATS), default="png",
              show_default=True,
              help="png: OUT/images/000000.png ...; npz: OUT/samples.npz, key 'images', "
                   "uint8 (N, C, H, W), and 'labels' (N,) for a class-conditional generator.")
@click.option("--class", "label", type=int, default=None,
              help="Only this class (class-conditional generators) [default: the classes in "
                   "turn, balanced].")
@click.option("--batch-size", type=int, default=256, show_default=True,
              help="Latents per forward pass.")
@seed_option
@device_option
@json_option
def sample_command(run: str, n: int, out: str | None, fmt: str, batch_size: int, seed: int,
                   device: str, as_json: bool, label: int | None) -> None:
    """Generate N images from the generator of a train-gan RUN directory.

    \b
    dpkit sample runs/gan-digits --n 10000 --out samples/digits
    dpkit sample runs/gan-digits --n 10000 --format npz --out samples/digits-npz --json
    dpkit sample runs/gan-fashion --class 3 --n 64 --out samples/dresses
    """
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import sample as runner

    runner.run(run_dir=run, n=n, out=out, fmt=fmt, batch_size=batch_size, seed=seed,
               device=device, as_json=as_json, label=label)
