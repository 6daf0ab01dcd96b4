"""DP-SGD throughput of the Tramèr–Boneh CNN: samples/s per grad-sample mode vs non-private.

Each mode runs in its own subprocess (so peak RSS / CUDA memory is per mode) on the same
Fashion-MNIST examples with the same expected batch size; Poisson batches vary in size, so
throughput counts the examples actually processed. Warm-up steps are not timed.

    python benchmarks/classifier_throughput.py                    # B=512, 30 timed steps per mode
    python benchmarks/classifier_throughput.py --steps 200 --device cuda

For the interleaved comparison of every mode in one process (round-robin steps, median step time,
ratio to non-private with its spread over repeats), see ``benchmarks/clipping_speed.py``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from dpkit.classifiers import ModelConfig, build_model
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import PrivacyConfig, make_private, resolve_device, seed_everything

MODES = ("non-private", "hooks", "functorch", "ghost", "bk")


def measure(mode: str, *, batch_size: int, steps: int, warmup: int, dataset: str,
            device: torch.device) -> dict:
    seed_everything(0)
    n = batch_size * (steps + warmup)
    bundle = load_dataset(dataset, DataOptions(subset=n, image_size=28, grayscale=True))
    model = build_model(ModelConfig(arch="cnn"), in_channels=1, image_size=28,
                        num_classes=10).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    cfg = (PrivacyConfig(enabled=False) if mode == "non-private"
           else PrivacyConfig(noise_multiplier=1.0, max_grad_norm=0.1, grad_sample_mode=mode,
                              delta=1e-6))
    setup = make_private(model, opt, bundle.train, cfg, batch_size=batch_size, epochs=1)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seen, t0 = 0, None
    for i, (x, y) in enumerate(setup.loader):
        if i == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0, seen = time.perf_counter(), 0
        x, y = x.to(device), y.to(device)
        setup.optimizer.zero_grad(set_to_none=True)
        setup.criterion(setup.model(x), y).backward()
        setup.optimizer.step()
        seen += x.shape[0]
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - t0
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda"
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"mode": mode, "samples_per_s": seen / seconds, "examples": seen, "seconds": seconds,
            "peak_mib": peak, "memory": "cuda allocated" if device.type == "cuda" else "max RSS"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--single", choices=MODES, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    common = dict(batch_size=args.batch_size, steps=args.steps, warmup=args.warmup,
                  dataset=args.dataset)
    if args.single:
        print(json.dumps(measure(args.single, device=resolve_device(args.device), **common)))
        return
    rows = []
    for mode in MODES:
        cmd = [sys.executable, __file__, "--single", mode, "--device", args.device,
               "--batch-size", str(args.batch_size), "--steps", str(args.steps),
               "--warmup", str(args.warmup), "--dataset", args.dataset]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        rows.append(json.loads(out.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["samples_per_s"]
    print(f"\n| mode | samples/s | slowdown vs non-private | peak memory (MiB, {rows[0]['memory']}) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['mode']} | {r['samples_per_s']:.0f} | {base / r['samples_per_s']:.2f}x "
              f"| {r['peak_mib']:.0f} |")


if __name__ == "__main__":
    main()
