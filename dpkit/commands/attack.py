"""``dpkit attack membership|reconstruct``: privacy attacks against a run directory."""

from __future__ import annotations

import click

from dpkit.commands.options import device_option, json_option, quiet_option, seed_option
from dpkit.names import MEMBERSHIP_METHODS, RECONSTRUCTION_METHODS

__all__ = ["attack"]

_out = click.option("--out", type=click.Path(file_okay=False), default=None,
                    help="Directory for the results (default: RUN/attacks/<method>-<timestamp>).")


@click.group()
def attack() -> None:
    """Privacy attacks on a trained model: what DP-SGD actually protects.

    \b
    dpkit attack membership RUN --method loss|lira|discriminator|gan-leaks|gan-leaks-latent
    dpkit attack reconstruct RUN --method kkt|gradient-inversion
    """


@attack.command("membership")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--method", type=click.Choice(MEMBERSHIP_METHODS), default="loss", show_default=True,
              help="loss/lira for train-classifier runs; discriminator/gan-leaks/"
                   "gan-leaks-latent for train-gan runs.")
@click.option("--shadow-models", type=int, default=8, show_default=True,
              help="LiRA: shadow models K (even); each trains like the target on half the data.")
@click.option("--offline", is_flag=True, help="LiRA: report the offline variant (OUT shadows only).")
@click.option("--fixed-variance", is_flag=True,
              help="LiRA: one variance for all examples (stronger with few shadows).")
@click.option("--max-examples", type=int, default=None,
              help="Score at most this many members and as many non-members (LiRA's "
                   "shadows still train on as many examples as the target).")
@click.option("--num-samples", type=int, default=10000, show_default=True,
              help="gan-leaks: generated samples searched for each record's closest one.")
@click.option("--latent-steps", type=int, default=200, show_default=True,
              help="gan-leaks-latent: optimisation steps on z per record.")
@click.option("--quiet", is_flag=True, help="No progress bars or lines.")
@_out
@seed_option
@device_option
@json_option
def membership(run_dir: str, method: str, shadow_models: int, offline: bool,
               fixed_variance: bool, max_examples: int | None, num_samples: int,
               latent_steps: int, quiet: bool, out: str | None, seed: int, device: str,
               as_json: bool) -> None:
    """Membership inference: can an attacker tell the run's training examples from others?

    Members are the run's training examples; non-members are its held-out examples (train with
    --subset) or else its test set, in equal numbers. Scores go through one module into AUC,
    balanced accuracy and TPR at 0.1% / 1% FPR; the ROC curve (log-log) is saved as a PNG.

    \b
    dpkit attack membership runs/train-classifier-X --method lira --shadow-models 16 --json
    dpkit attack membership runs/train-gan-X --method gan-leaks
    """
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import attack as runner

    runner.membership(run_dir=run_dir, method=method, shadow_models=shadow_models,
                      offline=offline, fixed_variance=fixed_variance, max_examples=max_examples,
                      num_samples=num_samples, latent_steps=latent_steps, quiet=quiet, out=out,
                      seed=seed, device=device, as_json=as_json)


@attack.command("reconstruct")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--method", type=click.Choice(RECONSTRUCTION_METHODS), default="kkt",
              show_default=True, help="kkt: from the trained weights (binary homogeneous mlp); "
                                      "gradient-inversion: from one gradient update.")
@click.option("--candidates", type=int, default=None,
              help="kkt: candidates per class (default: as many as training images, i.e. 2x "
                   "the training set in all as in the paper, at most 100 per class).")
@click.option("--iterations", type=int, default=None,
              help="Optimisation steps (default: kkt 2000, gradient-inversion 1000).")
@click.option("--lr", type=float, default=None, help="Step size (default: kkt 0.1, inversion 0.1).")
@click.option("--batch-size", type=int, default=1, show_default=True,
              help="gradient-inversion: training images in the attacked gradient.")
@click.option("--max-grad-norm", type=float, default=None,
              help="gradient-inversion: per-example clipping norm C (default: the run's; none "
                   "for a non-private run).")
@click.option("--noise-multiplier", type=float, default=None,
              help="gradient-inversion: sigma (default: the run's; 0 for a non-private run).")
@click.option("--tv-weight", type=float, default=1e-2, show_default=True,
              help="gradient-inversion: total-variation prior weight.")
@click.option("--grid-size", type=int, default=32, show_default=True,
              help="Pairs shown in the PNG grid (best SSIM first).")
@_out
@seed_option
@device_option
@quiet_option
@json_option
def reconstruct(run_dir: str, method: str, candidates: int | None, iterations: int | None,
                lr: float | None, batch_size: int, max_grad_norm: float | None,
                noise_multiplier: float | None, tv_weight: float, grid_size: int,
                out: str | None, seed: int, device: str, quiet: bool, as_json: bool) -> None:
    """Reconstruct training images from a trained classifier and score them by SSIM.

    Every reconstruction is matched to its nearest training image; SSIM and PSNR per pair, and a
    PNG with originals above reconstructions, sorted by SSIM.

    \b
    dpkit train-classifier --dataset digits --image-size 8 --model mlp --no-bias \\
        --hidden 64,64 --classes 0,1 --subset 20 --init-scale 0.01 --lr 0.5 --momentum 0 \\
        --batch-size 2 --epochs 200 --no-dp
    dpkit attack reconstruct runs/train-classifier-X --method kkt --json
    dpkit attack reconstruct runs/train-classifier-X --method gradient-inversion
    """
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import attack as runner

    runner.reconstruct(run_dir=run_dir, method=method, candidates=candidates,
                       iterations=iterations, lr=lr, batch_size=batch_size,
                       max_grad_norm=max_grad_norm, noise_multiplier=noise_multiplier,
                       tv_weight=tv_weight, grid_size=grid_size, quiet=quiet, out=out, seed=seed,
                       device=device, as_json=as_json)
