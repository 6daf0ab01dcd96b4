"""DP-SGD throughput across processes (torchrun, gloo on the CPU): samples/s and RSS per process.

Each configuration is started with ``python -m torch.distributed.run --standalone`` as
``--nproc-per-node P`` processes of ``--threads T`` torch threads each, and trains the Tramèr–Boneh
CNN with DP-SGD (hooks, σ = 1) on the same data with the same logical batch B (every process
draws its shard of one Poisson batch: see dpkit/engine/distributed.py). Throughput counts the
examples of all processes per second of wall time after the warm-up steps; memory is each
process's peak RSS.

    python benchmarks/distributed_throughput.py                    # 1x2, 1x1, 2x1 on digits
    python benchmarks/distributed_throughput.py --configs 1x2,2x1 --steps 40 --batch-size 512
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import torch

from dpkit.classifiers import ModelConfig, build_model
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import (PrivacyConfig, all_reduce_sum, barrier, launched, make_private,
                          seed_everything)
from dpkit.engine.distributed import gather_objects


def worker(args: argparse.Namespace) -> None:
    """One process of a torchrun world: timed DP-SGD steps; rank 0 prints one JSON line."""
    torch.set_num_threads(args.threads)
    with launched("cpu") as (world, device):
        seed_everything(0)
        bundle = load_dataset(args.dataset, DataOptions(image_size=28, grayscale=True))
        model = build_model(ModelConfig(arch="cnn"), in_channels=1, image_size=28,
                            num_classes=bundle.num_classes).to(device)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        cfg = PrivacyConfig(noise_multiplier=1.0, max_grad_norm=0.1, delta=1e-5,
                            accountant="rdp")
        setup = make_private(model, opt, bundle.train, cfg, batch_size=args.batch_size,
                             epochs=1, seed=0)
        seen, done, t0 = 0, 0, 0.0
        while done < args.warmup + args.steps:
            for x, y in setup.loader:
                if done == args.warmup:
                    barrier(world)  # every process starts the clock together
                    t0, seen = time.perf_counter(), 0
                setup.optimizer.zero_grad(set_to_none=True)
                setup.criterion(setup.model(x), y).backward()
                setup.optimizer.step()
                seen += x.shape[0]
                done += 1
                if done == args.warmup + args.steps:
                    break
        seconds = time.perf_counter() - t0
        total = torch.tensor([float(seen)])
        all_reduce_sum([total], world)
        rss = gather_objects(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, world)
        if world.is_main:
            print(json.dumps({"processes": world.size, "threads": args.threads,
                              "batch_size": args.batch_size, "steps": args.steps,
                              "examples": int(total), "seconds": round(seconds, 2),
                              "samples_per_s": round(float(total) / seconds, 1),
                              "rss_mib_per_process": [round(r) for r in rss]}))


def launch(processes: int, threads: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", str(processes), os.path.abspath(__file__), "--worker",
           "--threads", str(threads), "--batch-size", str(args.batch_size),
           "--steps", str(args.steps), "--warmup", str(args.warmup), "--dataset", args.dataset]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads([ln for ln in done.stdout.splitlines() if ln.startswith("{")][-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="1x2,1x1,2x1",
                        help="PROCESSESxTHREADS per run, comma-separated")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    for item in args.configs.split(","):
        processes, threads = (int(v) for v in item.split("x"))
        print(json.dumps(launch(processes, threads, args)), flush=True)


if __name__ == "__main__":
    main()
