"""``dpkit train-gan``, run: build the GAN's configuration, train (or resume) it and print the
result."""

from __future__ import annotations

from typing import Any

from dpkit.commands.options import parse_int_list, privacy_notes
from dpkit.commands.runners import emit, privacy_config_from
from dpkit.data import DataOptions
from dpkit.engine import launched
from dpkit.errors import DPKitError
from dpkit.gan import (RECIPE_FIELDS, GANConfig, GANResult, gan_recipe_config, resume_gan,
                       train_gan)

__all__ = ["run", "config_from"]


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


def config_from(kw: dict[str, Any]) -> GANConfig:
    """The GAN's configuration from train-gan's options ``kw`` (``dpkit audit train-gan``
    shares them)."""
    privacy = privacy_config_from(kw)
    data = DataOptions(data_root=kw["data_root"], download=kw["download"],
                       image_size=kw["image_size"] if kw["image_size"] is not None
                       else GANConfig().data.image_size,
                       grayscale=_grayscale(kw["channels"], kw["grayscale"]), subset=kw["subset"],
                       classes=parse_int_list(kw["classes"], name="--classes"),
                       split_test=kw["split_test"], seed=kw["seed"])
    cfg = GANConfig(dataset=kw["dataset"], data=data, privacy=privacy,
                     latent_dim=kw["latent_dim"], g_width=kw["g_width"], d_width=kw["d_width"],
                     epochs=_given(kw, "epochs"), batch_size=_given(kw, "batch_size"),
                     lr_d=kw["lr_d"], lr_g=kw["lr_g"],
                     betas=_betas(kw["betas"]), d_steps=_given(kw, "d_steps"),
                     d_steps_schedule=_given(kw, "d_steps_schedule"),
                     d_steps_threshold=kw["d_steps_threshold"],
                     d_steps_grace=kw["d_steps_grace"], d_steps_beta=kw["d_steps_beta"],
                     conditional=kw["conditional"], conditioning=kw["conditioning"],
                     ema=_given(kw, "ema"), clip_fake=kw["clip_fake"],
                     save_every=kw["save_every"], seed=kw["seed"])
    # what the user left out comes from the dataset's recipe (else GANConfig's defaults)
    return gan_recipe_config(cfg, {f for f in RECIPE_FIELDS if kw[f] is not None})


def _given(kw: dict[str, Any], name: str) -> Any:
    """The option's value, or GANConfig's default when it was left out (None)."""
    return kw[name] if kw[name] is not None else getattr(GANConfig, name)


def _text(result: GANResult) -> str:
    last = result.history[-1] if result.history else {}
    g_steps = sum(int(r.get("g_steps", 0)) for r in result.history)
    lines = [f"trained {result.epochs} epochs ({result.steps} discriminator steps, {g_steps} "
             f"generator steps) on {result.train_size} images -> {result.run_dir}"]
    if last:
        lines.append(f"last epoch: D(real) = {last['d_real']:.3f}, D(fake) = {last['d_fake']:.3f}, "
                     f"G loss = {last['g_loss']:.3f}, discriminator steps per generator step = "
                     f"{last.get('d_steps_per_g_step', '?')}; samples in "
                     f"{result.run_dir}/samples/epoch_{result.epochs:03d}.png")
    lines.append("privacy: " + result.report.summary())
    lines.append(f"generator weights: {result.run_dir}/final.pt")
    lines += privacy_notes(noise_reproducible=result.noise_reproducible)
    return "\n".join(lines)


def run(kw: dict[str, Any]) -> None:
    """Train (or with ``resume``, resume) a GAN from the command's options ``kw``; under
    torchrun, across its processes (rank 0 prints)."""
    quiet, as_json = kw.pop("quiet"), kw.pop("as_json")
    with launched(kw.pop("device")) as (world, device):
        if kw["resume"] is not None:
            result = resume_gan(kw["resume"], epochs=kw["epochs"], device=device,
                                quiet=quiet or as_json)
        else:
            result = train_gan(config_from(kw), out=kw["out"], device=device,
                               quiet=quiet or as_json)
        if world.is_main:
            emit(result, as_json=as_json, text=lambda: _text(result))
