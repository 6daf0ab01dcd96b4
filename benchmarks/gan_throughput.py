"""Discriminator steps per second of the DP DCGAN: DP (per grad-sample mode) vs non-private.

All variants are built in ONE process and timed in interleaved rounds (variant A for S steps,
then B, then C, ..., repeated R times); the figure is each variant's median round. Timing the
variants side by side in rounds makes the DP/non-DP ratio robust to a shared machine's load
(separate processes at different moments mostly measure the neighbours). One D step = one
Poisson batch of expected size B of real images (with labels for the conditional model) plus B
generated images, forward + backward + clip + noise + Adam; the generator is not stepped.

    python benchmarks/gan_throughput.py                          # Fashion-MNIST 28 px, B = 128
    python benchmarks/gan_throughput.py --batch-size 512 --d-width 64 --device cuda

``benchmarks/clipping_speed.py --models dcgan-d`` times the same step round-robin (one step of
every mode per round) with the ratio's spread over repeats.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from dpkit.data import DataOptions, load_dataset
from dpkit.engine import PrivacyConfig, make_private, resolve_device, seed_everything
from dpkit.gan import build_models, discriminator_step

MODES = ("non-private", "hooks", "functorch", "ghost", "bk")


def _setup(mode: str, train, args, device):
    seed_everything(0)
    k = args.num_classes
    g, d = build_models(latent_dim=args.latent_dim, channels=1, image_size=28,
                        g_width=args.g_width, d_width=args.d_width, num_classes=k,
                        conditioning=args.conditioning)
    g, d = g.to(device).eval(), d.to(device)
    opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    cfg = (PrivacyConfig(enabled=False) if mode == "non-private"
           else PrivacyConfig(noise_multiplier=1.0, grad_sample_mode=mode))
    setup = make_private(d, opt, train, cfg, batch_size=args.batch_size, epochs=1000,
                         criterion=torch.nn.BCEWithLogitsLoss())
    return g, setup


def _steps(g, setup, n: int, args, device, it) -> float:
    k = args.num_classes
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(n):
        x, y = next(it)
        x, y = x.to(device), y.to(device)
        with torch.no_grad():
            fy = torch.randint(k, (args.batch_size,), device=device) if k else None
            fake = g(torch.randn(args.batch_size, args.latent_dim, device=device), fy)
        discriminator_step(setup, fake, x, real_labels=y if k else None, fake_labels=fy)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def _batches(setup):
    while True:
        with setup.epoch_loader() as loader:
            yield from loader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--d-width", type=int, default=32)
    ap.add_argument("--g-width", type=int, default=32)
    ap.add_argument("--latent-dim", type=int, default=100)
    ap.add_argument("--num-classes", type=int, default=10, help="0: unconditional")
    ap.add_argument("--conditioning", default="labelmap")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=10, help="D steps per round")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--subset", type=int, default=10000)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    device = resolve_device(args.device)
    train = load_dataset(args.dataset, DataOptions(image_size=28, subset=args.subset)).train
    modes = args.modes.split(",")
    built = {m: _setup(m, train, args, device) for m in modes}
    iters = {m: _batches(built[m][1]) for m in modes}
    for m in modes:  # warm-up, not timed
        _steps(*built[m], 2, args, device, iters[m])
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.rounds):
        for m in modes:
            times[m].append(_steps(*built[m], args.steps, args, device, iters[m]))
    base = statistics.median(times[modes[0]]) / args.steps
    print("| variant | D steps/s | ms per D step | × first variant |")
    print("|---|---|---|---|")
    rows = []
    for m in modes:
        per = statistics.median(times[m]) / args.steps
        rows.append({"mode": m, "d_steps_per_s": 1 / per, "ms_per_step": 1000 * per,
                     "ratio": per / base})
        print(f"| {m} | {1 / per:.2f} | {1000 * per:.1f} | {per / base:.2f} |")
    print(json.dumps({"args": vars(args), "device": str(device),
                      "threads": torch.get_num_threads(), "rows": rows}))


if __name__ == "__main__":
    main()
