"""``dpkit sample``: export images from a trained generator."""

from __future__ import annotations

import click

from dpkit.commands.options import device_option, emit, json_option, seed_option
from dpkit.engine import create_run_dir, resolve_device
from dpkit.gan.loading import load_gan
from dpkit.gan.sampling import export_npz, export_png, generate


@click.command("sample")
@click.argument("run", type=click.Path(file_okay=False))
@click.option("--n", "n", type=int, default=10000, show_default=True, help="Images to generate.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Directory to create (default: runs/sample-<timestamp>).")
@click.option("--format", "fmt", type=click.Choice(["png", "npz"]), default="png",
              show_default=True,
              help="png: OUT/images/000000.png ...; npz: OUT/samples.npz, key 'images', "
                   "uint8 (N, C, H, W).")
@click.option("--batch-size", type=int, default=256, show_default=True,
              help="Latents per forward pass.")
@seed_option
@device_option
@json_option
def sample_command(run: str, n: int, out: str | None, fmt: str, batch_size: int, seed: int,
                   device: str, as_json: bool) -> None:
    """Generate N images from the generator of a train-gan RUN directory.

    \b
    dpkit sample runs/gan-digits --n 10000 --out samples/digits
    dpkit sample runs/gan-digits --n 10000 --format npz --out samples/digits-npz --json
    """
    dev = resolve_device(device)
    gan = load_gan(run, device=dev, load_data=False)
    target = create_run_dir("sample", out)
    images = generate(gan.generator, n, latent_dim=gan.latent_dim, seed=seed, device=dev,
                      batch_size=batch_size)  # (n, C, H, W)
    path = export_npz(images, target.file("samples.npz")) if fmt == "npz" else target.file("images")
    if fmt == "png":
        export_png(images, path)
    result = {"out": str(target.path), "path": str(path), "n": n, "format": fmt,
              "shape": list(images.shape[1:]), "source_run": str(gan.run_dir),
              "checkpoint_epoch": gan.epoch, "seed": seed}
    target.write_json("config.json", {"command": "sample", **result})
    emit(result, as_json=as_json,
         text=lambda: f"wrote {n} images {tuple(images.shape[1:])} as {fmt} to {path} "
                      f"(generator of {gan.run_dir}, epoch {gan.epoch})")
