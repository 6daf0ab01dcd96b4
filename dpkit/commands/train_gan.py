"""``dpkit train-gan``: a DCGAN whose discriminator is trained with DP-SGD."""

from __future__ import annotations

from typing import Any

import click

from dpkit.commands.options import (data_options, device_option, emit, json_option,
                                    out_option, parse_int_list, privacy_config_from, privacy_notes,
                                    privacy_options, quiet_option, refuse_options_with_resume,
                                    seed_option)
from dpkit.data import DataOptions
from dpkit.engine import resolve_device
from dpkit.errors import DPKitError
from dpkit.gan import GANConfig, GANResult, resume_gan, train_gan


def _betas(text: str) -> tuple[float, float]:
    try:
        parts = tuple(float(t) for t in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 2:
        raise DPKitError(f"--betas {text!r} must be two comma-separated numbers, e.g. 0.5,0.999")
    return parts  # type: ignore[return-value]


def _grayscale(channels: str, grayscale: bool | None) -> bool | None:
    if channels == "auto":
        return grayscale
    wanted = channels == "1"
    if grayscale is not None and grayscale != wanted:
        raise DPKitError(f"--channels {channels} contradicts --{'grayscale' if grayscale else 'rgb'}; "
                         f"give only one of them")
    return wanted


def _config(kw: dict[str, Any]) -> GANConfig:
    privacy = privacy_config_from(kw)
    data = DataOptions(data_root=kw["data_root"], download=kw["download"],
                       image_size=kw["image_size"],
                       grayscale=_grayscale(kw["channels"], kw["grayscale"]), subset=kw["subset"],
                       classes=parse_int_list(kw["classes"], name="--classes"), seed=kw["seed"])
    return GANConfig(dataset=kw["dataset"], data=data, privacy=privacy,
                     latent_dim=kw["latent_dim"], g_width=kw["g_width"], d_width=kw["d_width"],
                     epochs=kw["epochs"] if kw["epochs"] is not None else GANConfig.epochs,
                     batch_size=kw["batch_size"], lr_d=kw["lr_d"], lr_g=kw["lr_g"],
                     betas=_betas(kw["betas"]), d_steps=kw["d_steps"],
                     clip_fake=kw["clip_fake"], seed=kw["seed"])


def _text(result: GANResult) -> str:
    last = result.history[-1] if result.history else {}
    lines = [f"trained {result.epochs} epochs ({result.steps} discriminator steps) on "
             f"{result.train_size} images -> {result.run_dir}"]
    if last:
        lines.append(f"last epoch: D(real) = {last['d_real']:.3f}, D(fake) = {last['d_fake']:.3f}, "
                     f"G loss = {last['g_loss']:.3f}; samples in "
                     f"{result.run_dir}/samples/epoch_{result.epochs:03d}.png")
    lines.append("privacy: " + result.report.summary())
    lines.append(f"generator weights: {result.run_dir}/final.pt")
    lines += privacy_notes(noise_reproducible=result.noise_reproducible)
    return "\n".join(lines)


@click.command("train-gan")
@data_options(default_image_size=32)
@click.option("--channels", type=click.Choice(["auto", "1", "3"]), default="auto",
              show_default=True, help="Image channels (auto: the dataset's own).")
@click.option("--latent-dim", type=int, default=100, show_default=True, help="Latent size Z.")
@click.option("--g-width", type=int, default=GANConfig.g_width, show_default=True,
              help="Generator width (ngf); 64 for larger data such as CelebA.")
@click.option("--d-width", type=int, default=GANConfig.d_width, show_default=True,
              help="Discriminator width (ndf).")
@click.option("--epochs", type=int, default=None,
              help=f"Epochs of discriminator steps [default: {GANConfig.epochs}].")
@click.option("--batch-size", type=int, default=GANConfig.batch_size, show_default=True,
              help="Expected real batch size B (q = B/N); also the generated batch size.")
@click.option("--lr-d", type=float, default=2e-4, show_default=True, help="Discriminator Adam lr.")
@click.option("--lr-g", type=float, default=2e-4, show_default=True, help="Generator Adam lr.")
@click.option("--betas", default="0.5,0.999", show_default=True, help="Adam betas of both.")
@click.option("--d-steps", type=int, default=1, show_default=True,
              help="Discriminator steps per generator step.")
@click.option("--clip-fake/--no-clip-fake", default=True, show_default=True,
              help="Clip generated examples' gradients at C too (no noise), so the real and "
                   "generated halves of the discriminator loss stay balanced.")
@privacy_options
@out_option
@click.option("--resume", type=click.Path(file_okay=False), default=None,
              help="Continue this run directory from its last checkpoint (its own settings; "
                   "only --epochs may change).")
@seed_option
@device_option
@quiet_option
@json_option
def train_gan_command(**kw: Any) -> None:
    """Train a DCGAN whose GroupNorm discriminator is trained with DP-SGD.

    Each discriminator step draws one Poisson batch of real images; their per-example gradients
    are clipped and noised, the generated half of the loss is added without noise (clipped at C
    too unless --no-clip-fake), and the accountant is charged once per step at q = B/N. The
    generator is private by post-processing. Every epoch writes a sample grid, metrics and a
    checkpoint.

    \b
    dpkit train-gan --dataset digits --no-dp --out runs/gan-digits
    dpkit train-gan --dataset fashion-mnist --epsilon 10 --epochs 5 --json
    dpkit train-gan --resume runs/gan-digits --epochs 40
    """
    device, quiet, as_json = resolve_device(kw.pop("device")), kw.pop("quiet"), kw.pop("as_json")
    if kw["resume"] is not None:
        if kw["out"] is not None:
            raise DPKitError("--resume continues the run in its own directory; drop --out")
        refuse_options_with_resume(click.get_current_context(), allowed=("epochs",))
        result = resume_gan(kw["resume"], epochs=kw["epochs"], device=device,
                            quiet=quiet or as_json)
    else:
        result = train_gan(_config(kw), out=kw["out"], device=device, quiet=quiet or as_json)
    emit(result, as_json=as_json, text=lambda: _text(result))
