"""``dpkit train-gan``: a DCGAN whose discriminator is trained with DP-SGD."""

from __future__ import annotations

from typing import Any

import click

from dpkit.commands.options import (data_options, device_option, json_option, out_option,
                                    privacy_options, quiet_option, refuse_options_with_resume,
                                    seed_option)
from dpkit.errors import DPKitError
from dpkit.names import CONDITIONINGS, D_STEPS_SCHEDULES

__all__ = ["train_gan_command"]

# The options' defaults are dpkit.gan.GANConfig's, written out so that --help needs no torch;
# tests/test_cli_startup.py checks each of them against it. Options shown with
# "[default: X; RECIPE]" default to None: left out, they come from the dataset's recipe
# (dpkit.gan.recipes: Fashion-MNIST, MNIST, KMNIST), else from GANConfig.
_EPOCHS, _BATCH, _IMAGE_SIZE, _D_STEPS, _EMA, _SCHEDULE = 30, 64, 32, 1, 0.0, "constant"
_RECIPE = "fashion-mnist/mnist/kmnist: their recipe"


@click.command("train-gan")
@data_options(default_image_size=None,
              image_size_help=f"Resize images to this size [default: {_IMAGE_SIZE}; "
                              f"fashion-mnist/mnist/kmnist: 28].")
@click.option("--channels", type=click.Choice(["auto", "1", "3"]), default="auto",
              show_default=True, help="Image channels (auto: the dataset's own).")
@click.option("--latent-dim", type=int, default=100, show_default=True, help="Latent size Z.")
@click.option("--g-width", type=int, default=32, show_default=True,
              help="Generator width (ngf); 64 for larger data such as CelebA.")
@click.option("--d-width", type=int, default=32, show_default=True,
              help="Discriminator width (ndf).")
@click.option("--epochs", type=int, default=None,
              help=f"Epochs of discriminator steps [default: {_EPOCHS}; {_RECIPE}].")
@click.option("--batch-size", type=int, default=None,
              help=f"Expected real batch size B (q = B/N); also the generated batch size "
                   f"[default: {_BATCH}; {_RECIPE}].")
@click.option("--lr-d", type=float, default=2e-4, show_default=True, help="Discriminator Adam lr.")
@click.option("--lr-g", type=float, default=2e-4, show_default=True, help="Generator Adam lr.")
@click.option("--betas", default="0.5,0.999", show_default=True, help="Adam betas of both.")
@click.option("--d-steps", type=int, default=None,
              help=f"Discriminator steps per generator step (the start value when adaptive: "
                   f"1, 2, 5, 10, 20, 50, ...). Each draws its own Poisson batch and is charged "
                   f"[default: {_D_STEPS}; {_RECIPE}].")
@click.option("--d-steps-schedule", type=click.Choice(D_STEPS_SCHEDULES), default=None,
              help=f"adaptive: raise --d-steps along 1, 2, 5, 10, 20, 50, ... whenever the "
                   f"discriminator's averaged accuracy on generated images falls to "
                   f"--d-steps-threshold (Bie et al. 2023); reads generated images only, so "
                   f"it costs no epsilon [default: {_SCHEDULE}; {_RECIPE}].")
@click.option("--d-steps-threshold", type=float, default=0.6, show_default=True,
              help="Adaptive schedule: raise n_D when D's accuracy on generated images is at "
                   "or below this.")
@click.option("--d-steps-grace", type=int, default=200, show_default=True,
              help="Adaptive schedule: generator steps at each n_D before it may rise.")
@click.option("--d-steps-beta", type=float, default=0.99, show_default=True,
              help="Adaptive schedule: smoothing of the accuracy's moving average.")
@click.option("--conditional/--no-conditional", default=None,
              help="Class-conditional generator and discriminator [default: when the data "
                   "has labels]. The labels of generated images come from the uniform public "
                   "prior.")
@click.option("--conditioning", type=click.Choice(CONDITIONINGS), default="labelmap",
              show_default=True,
              help="How the discriminator sees the label: one-hot label maps stacked on the "
                   "image, or a projection term.")
@click.option("--ema", type=float, default=None,
              help=f"Decay of a moving average of the generator's weights (e.g. 0.999; 0: off); "
                   f"the average is what final.pt, sample and evaluate use. Free of privacy "
                   f"cost (post-processing) [default: {_EMA}; {_RECIPE}].")
@click.option("--save-every", type=int, default=1, show_default=True,
              help="Write the checkpoint, the sample grid and epsilon every N epochs (and after "
                   "the last): for long runs on small data, where an epoch is a few steps.")
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
    dpkit train-gan --dataset fashion-mnist --epsilon 10 --d-steps-schedule adaptive
    dpkit train-gan --resume runs/gan-digits --epochs 40
    """
    if kw["resume"] is not None:
        if kw["out"] is not None:
            raise DPKitError("--resume continues the run in its own directory; drop --out")
        refuse_options_with_resume(click.get_current_context(), allowed=("epochs",))
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import train_gan as runner

    runner.run(kw)
