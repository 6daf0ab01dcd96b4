"""DP-vs-non-private table of train-gan runs: ε, FID, MiFID, memorization distance, with features.

    python benchmarks/metrics_gan_table.py RUN [RUN ...] --features classifier:CLF_RUN \
        [--num-samples 10000] [--reference train] [--calibrate] [--record]

Each run is evaluated with dpkit's pipeline (seeded samples, cached reference features) and one
markdown row is printed; ε comes from the run's privacy.json. ``--calibrate`` adds two reference
rows computed on the first run's data: the real test split as a "generator" that memorizes
nothing, and the training images themselves (a perfect copier) — they show where the memorization
distance of a fresh and of a copying generator lies for these features. ``--record`` also writes
each evaluation into its run directory (as ``dpkit evaluate`` does).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from dpkit.engine import open_run_dir, resolve_device
from dpkit.evaluation import evaluate_generative_run
from dpkit.metrics import GenerativeEvalConfig, evaluate_images, parse_features


def _eps(run: Path) -> str:
    eps = json.loads((run / "privacy.json").read_text()).get("epsilon")
    return "∞ (no DP)" if eps in ("inf", None) or not math.isfinite(float(eps)) else f"{float(eps):.3g}"


def _row(label: str, eps: str, r, seconds: float) -> str:
    return (f"| {label} | {eps} | {r.fid:.4g} | {r.mifid:.4g} | {r.memorization_distance:.4g} | "
            f"{r.memorization_distance_thresholded:.4g} | {seconds:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--features", default="inception")
    ap.add_argument("--inception-weights", default=None)
    ap.add_argument("--num-samples", type=int, default=10000)
    ap.add_argument("--reference", choices=("train", "test"), default="train")
    ap.add_argument("--mifid-threshold", type=float, default=0.1)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--calibrate", action="store_true")
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

    spec = parse_features(args.features, inception_weights=args.inception_weights)
    cfg = GenerativeEvalConfig(metrics=("fid", "mifid"), num_samples=args.num_samples,
                               reference=args.reference, mifid_threshold=args.mifid_threshold,
                               cache_dir=args.cache_dir)
    device = resolve_device(args.device)
    print(f"features: {spec.name}; {args.num_samples} samples per run; FID vs the "
          f"{args.reference} split; memorization vs the training split; eps = "
          f"{args.mifid_threshold}\n")
    print("| run | ε | FID | MiFID | memorization d | d_thr | seconds |")
    print("|---|---|---|---|---|---|---|")
    for run in args.runs:
        t0 = time.perf_counter()
        r = evaluate_generative_run(run, cfg, spec, device=device, record=args.record)
        print(_row(run.name, _eps(run), r, time.perf_counter() - t0), flush=True)
    if args.calibrate:
        from dpkit.data import dataset_from_record

        bundle = dataset_from_record(open_run_dir(args.runs[0]).read_json("split.json"))
        train, test = bundle.train.images, bundle.test.images
        ref = train if args.reference == "train" else test
        for label, images in (("real test split (memorizes nothing)", test),
                              ("training images (copier)", train[: args.num_samples])):
            t0 = time.perf_counter()
            r = evaluate_images(images, ref, train, spec, cfg, dataset=bundle.name, device=device)
            print(_row(label, "—", r, time.perf_counter() - t0), flush=True)


if __name__ == "__main__":
    main()
