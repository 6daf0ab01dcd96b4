"""Per-step cost of DP-SGD's per-example clipping, every grad-sample mode against non-private.

All modes of one model live in ONE process, on the same fixed batches (exactly B examples, no
Poisson size jitter), with the same threads (``torch.set_num_threads(1)`` by default), and are
timed round-robin: each round runs one step of every mode (in a rotated order), so a shared
machine's load hits every mode alike. Warm-up rounds are discarded. A repeat is ``--steps``
rounds; per repeat and mode the median step time and its ratio to non-private are taken, and
the table shows the median ratio over ``--repeats`` repeats with its min-max spread.
``--clock cpu`` times steps by the process's CPU time instead of wall time: on a shared,
oversubscribed machine the time a step waits for a core is then not counted (CPU only; the
step must not run work in other processes).

A step is: zero_grad, forward, backward, optimizer step (clipping + noise + accountant) for the
classifiers; ``gan.discriminator_step`` on B real + B generated images (generated once, outside
the timing) for the DCGAN discriminator. ``bk-unfrozen`` is bk with the parameters left
requiring grad during the pass (autograd then also computes the discarded unclipped gradients):
it shows what freezing them buys.

Memory is measured after the timing, one mode at a time, over two steps: on CPU the peak RSS
above the RSS before the steps (sampled every 0.5 ms; the allocator may reuse freed memory, so
this is a lower bound of the step's working set); on CUDA ``torch.cuda.max_memory_allocated``
above the allocation before the steps, and the largest power-of-two batch that fits
``--cuda-budget-gib``.

    OMP_NUM_THREADS=1 python benchmarks/clipping_speed.py                  # all three models
    OMP_NUM_THREADS=1 python benchmarks/clipping_speed.py --models cnn --steps 10 --json
    OMP_NUM_THREADS=1 python benchmarks/clipping_speed.py --models dcgan-d --modes non-private,bk \
        --clock cpu
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import gc
import json
import os
import statistics
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

import torch
from torch import nn

from dpkit.classifiers import ModelConfig, build_model
from dpkit.data import ImageTensorDataset
from dpkit.engine import PrivacyConfig, PrivateSetup, make_private
from dpkit.gan import Discriminator, Generator, discriminator_step

MODES = ("non-private", "hooks", "functorch", "ghost", "bk", "bk-unfrozen")


@dataclass(frozen=True)
class Workload:
    """One model and batch: ``build()`` gives a fresh model, ``images`` the input shape."""

    name: str
    batch_size: int
    channels: int
    size: int
    build: Callable[[], nn.Module]
    gan: bool = False


WORKLOADS = {
    "cnn": Workload("cnn (Tramer-Boneh, 28 px)", 512, 1, 28,
                    lambda: build_model(ModelConfig(arch="cnn"), in_channels=1, image_size=28,
                                        num_classes=10)),
    "dcgan-d": Workload("DCGAN D step (28 px, d_width 32)", 128, 1, 28,
                        lambda: Discriminator(channels=1, image_size=28, width=32), gan=True),
    "resnet": Workload("GroupNorm ResNet (32 px)", 256, 3, 32,
                       lambda: build_model(ModelConfig(arch="resnet", norm="group"),
                                           in_channels=3, image_size=32, num_classes=10)),
}


@dataclass(frozen=True)
class ModeResult:
    mode: str
    median_ms: float  # median over repeats of the per-repeat median step time
    ratio: float  # median over repeats of (mode median / non-private median)
    ratio_min: float
    ratio_max: float
    peak_mib: float | None
    largest_batch: int | None = None  # CUDA only: largest power-of-two batch within the budget

    def to_dict(self) -> dict:
        return asdict(self)


def _setup(w: Workload, mode: str, model: nn.Module, device: torch.device,
           batch_size: int) -> PrivateSetup:
    n = 20 * batch_size
    data = ImageTensorDataset(torch.zeros(n, w.channels, w.size, w.size, dtype=torch.uint8),
                              torch.zeros(n, dtype=torch.long))
    cfg = (PrivacyConfig(enabled=False) if mode == "non-private" else
           PrivacyConfig(noise_multiplier=1.0, max_grad_norm=0.1, delta=1e-6,
                         grad_sample_mode="bk" if mode == "bk-unfrozen" else mode))
    opt = (torch.optim.Adam(model.parameters(), lr=2e-4, betas=(0.5, 0.999)) if w.gan
           else torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
    setup = make_private(model, opt, data, cfg, batch_size=batch_size, epochs=1,
                         criterion=nn.BCEWithLogitsLoss() if w.gan else None, seed=0)
    if mode == "bk-unfrozen":
        setup.model.freeze_params = False
    return setup


def _step_fn(w: Workload, setup: PrivateSetup, x: torch.Tensor, y: torch.Tensor,
             fake: torch.Tensor | None) -> Callable[[], None]:
    def step() -> None:
        if setup.private:
            setup._batch_sampler.drawn += 1  # fixed batches, not drawn from the loader
        if w.gan:
            discriminator_step(setup, fake, x)
            return
        setup.optimizer.zero_grad(set_to_none=True)
        setup.criterion(setup.model(x), y).backward()
        setup.optimizer.step()
    return step


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _batch(w: Workload, b: int, device: torch.device, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, w.channels, w.size, w.size, generator=g).to(device)
    y = torch.randint(0, 10, (b,), generator=g).to(device)
    fake = None
    if w.gan:
        with torch.no_grad():
            fake = Generator(latent_dim=100, channels=w.channels, image_size=w.size, width=32
                             ).to(device)(torch.randn(b, 100, generator=g).to(device))
    return x, y, fake


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_mib(step: Callable[[], None], device: torch.device) -> float:
    """Peak memory of two steps above the memory before them (see the module docstring)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        step(), step()
        _sync(device)
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass
    base, peak, done = _rss_mib(), [0.0], threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mib())
            time.sleep(0.0005)

    t = threading.Thread(target=poll)
    t.start()
    step(), step()
    done.set()
    t.join()
    return max(peak[0], _rss_mib()) - base


def _largest_batch(w: Workload, mode: str, device: torch.device, budget_gib: float) -> int:
    best, b = 0, w.batch_size
    while b <= 2 ** 16:
        try:
            torch.manual_seed(0)
            setup = _setup(w, mode, w.build().to(device), device, b)
            x, y, fake = _batch(w, b, device)
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
            _step_fn(w, setup, x, y, fake)()
            _sync(device)
            if torch.cuda.max_memory_allocated() > budget_gib * 2**30:
                break
            best, b = b, 2 * b
        except torch.OutOfMemoryError:
            break
        finally:
            setup = x = y = fake = None  # noqa: F841
            gc.collect()
            torch.cuda.empty_cache()
    return best


def run_workload(w: Workload, modes: tuple[str, ...], *, steps: int, warmup: int, repeats: int,
                 device: torch.device, budget_gib: float, clock: str = "wall"
                 ) -> list[ModeResult]:
    """Round-robin timing of ``modes`` on one workload, then memory per mode."""
    now = time.process_time if clock == "cpu" else time.perf_counter
    torch.manual_seed(0)
    init = w.build().to(device)
    x, y, fake = _batch(w, w.batch_size, device)
    setups, steps_of = {}, {}
    for mode in modes:
        try:
            setups[mode] = _setup(w, mode, copy.deepcopy(init), device, w.batch_size)
            steps_of[mode] = _step_fn(w, setups[mode], x, y, fake)
            steps_of[mode]()  # fails early if a mode cannot run this model
        except Exception as e:  # noqa: BLE001 - reported, the other modes still run
            print(f"  {mode}: cannot run ({type(e).__name__}: {str(e)[:120]})", flush=True)
            setups.pop(mode, None)
            steps_of.pop(mode, None)
    live = [m for m in modes if m in steps_of]
    times = {m: [[] for _ in range(repeats)] for m in live}
    for r in range(-1, repeats):  # r = -1: warm-up rounds, discarded
        for k in range(warmup if r < 0 else steps):
            order = live[k % len(live):] + live[:k % len(live)]
            for mode in order:
                _sync(device)
                t0 = now()
                steps_of[mode]()
                _sync(device)
                if r >= 0:
                    times[mode][r].append(now() - t0)
    medians = {m: [statistics.median(t) for t in times[m]] for m in live}
    base = medians.get("non-private")
    results = []
    for mode in live:
        ratios = ([a / b for a, b in zip(medians[mode], base)] if base else [float("nan")])
        results.append(ModeResult(
            mode=mode, median_ms=1e3 * statistics.median(medians[mode]),
            ratio=statistics.median(ratios), ratio_min=min(ratios), ratio_max=max(ratios),
            peak_mib=_peak_mib(steps_of[mode], device),
            largest_batch=(_largest_batch(w, mode, device, budget_gib)
                           if device.type == "cuda" else None)))
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="cnn,dcgan-d,resnet",
                    help=f"comma-separated, of {', '.join(WORKLOADS)}")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--steps", type=int, default=3, help="timed rounds per repeat")
    ap.add_argument("--warmup", type=int, default=1, help="discarded rounds")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cuda-budget-gib", type=float, default=16.0)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="step time: wall clock, or this process's CPU time (CPU device only)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if args.clock == "cpu" and args.device != "cpu":
        ap.error(f"--clock cpu times the host process; use --clock wall for --device {args.device}")
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    modes = tuple(args.modes.split(","))
    out = {}
    for key in args.models.split(","):
        w = WORKLOADS[key]
        t0 = time.perf_counter()
        results = run_workload(w, modes, steps=args.steps, warmup=args.warmup,
                               repeats=args.repeats, device=device, budget_gib=args.cuda_budget_gib,
                               clock=args.clock)
        out[key] = [r.to_dict() for r in results]
        mem = "CUDA allocated" if device.type == "cuda" else "RSS"
        print(f"\n{w.name}, B = {w.batch_size}, {device}, {args.threads} thread(s), "
              f"{args.repeats} x {args.steps} rounds, {args.clock} clock "
              f"({time.perf_counter() - t0:.0f} s)")
        print(f"| mode | median step (ms) | x non-private (min-max) | peak {mem} (MiB) |"
              + (" largest batch |" if device.type == "cuda" else ""))
        print("|---|---|---|---|" + ("---|" if device.type == "cuda" else ""))
        for r in results:
            print(f"| {r.mode} | {r.median_ms:.1f} | {r.ratio:.2f} ({r.ratio_min:.2f}-"
                  f"{r.ratio_max:.2f}) | {r.peak_mib:.0f} |"
                  + (f" {r.largest_batch} |" if r.largest_batch is not None else ""), flush=True)
        dp = [r for r in results if r.mode not in ("non-private", "bk-unfrozen")]
        if dp:
            print(f"fastest DP mode: {min(dp, key=lambda r: r.median_ms).mode}")
    if args.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
