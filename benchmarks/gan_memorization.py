"""Memorization made visible: a non-private DCGAN that copies a small training set, and the same
setting under DP (issue 13).

Trains one GAN per setting on ``--subset`` Fashion-MNIST images (unconditional, widths 64, no
EMA, n_D = 1), then evaluates each with dpkit's memorization metrics on one feature space
(``--features``, default ``random-cnn``): MiFID with the auto threshold (0.9 x the held-out test
images' distance to the training set), the data-copying test C_T, authenticity, and the
nearest-neighbour gallery (generated on top, nearest training image below). One JSON line per
setting; ``--table`` prints the Markdown table of every finished setting and copies the galleries
and last sample grids to ``--figures``.

    python benchmarks/gan_memorization.py --setting non-private --subset 128 --epochs 2000
    python benchmarks/gan_memorization.py --setting eps10 --subset 128 --epochs 2000
    python benchmarks/gan_memorization.py --table --subset 128 --epochs 2000
    python benchmarks/gan_memorization.py --table --rows LOG...   # rows printed elsewhere

Settings: ``non-private``, ``eps10``, ``eps1`` (ε at δ = 1e-5 over the whole run; the RDP
accountant: with q = B/N = 1/2 and thousands of steps its calibration is quick where PRV's grid
gets large).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

from dpkit.data import DataOptions
from dpkit.engine import PrivacyConfig, resolve_device
from dpkit.evaluation import evaluate_generative_run
from dpkit.gan import GANConfig, train_gan
from dpkit.metrics import GenerativeEvalConfig, choose_threshold, mifid, resolve_features
from dpkit.metrics.mifid import AUTO, AUTO_FRACTION

SETTINGS = {"non-private": None, "eps10": 10.0, "eps1": 1.0}
CT_FLAG = -3.0  # C_T below this: copying (Meehan et al. read C_T << 0; -3 is a 3-sigma Z-score)
AUTH_FLAG = 0.5  # authenticity below this: most samples inside a training image's ball


def run_name(args: argparse.Namespace, setting: str) -> str:
    return f"mem-{args.dataset}-n{args.subset}-e{args.epochs}-{setting}"


def train_and_evaluate(args: argparse.Namespace, setting: str) -> dict:
    eps = SETTINGS[setting]
    privacy = (PrivacyConfig(enabled=False) if eps is None
               else PrivacyConfig(target_epsilon=eps, accountant="rdp"))
    cfg = GANConfig(dataset=args.dataset, data=DataOptions(image_size=28, subset=args.subset),
                    privacy=privacy, epochs=args.epochs, batch_size=args.batch_size,
                    g_width=args.width, d_width=args.width, conditional=False, ema=0.0,
                    save_every=args.save_every, seed=args.seed)
    out = Path(args.runs) / run_name(args, setting)
    device = resolve_device(args.device)
    t0 = time.perf_counter()
    result = train_gan(cfg, out=out, device=device, quiet=True)
    train_seconds = time.perf_counter() - t0
    resolved = resolve_features(args.features)
    ecfg = GenerativeEvalConfig(metrics=("fid", "mifid", "ct", "authenticity"),
                                num_samples=args.samples, reference="test", seed=0,
                                use_cache=False)
    t0 = time.perf_counter()
    ev = evaluate_generative_run(out, ecfg, resolved.spec, device=device)
    row = {"setting": setting, "train_size": result.train_size, "epochs": args.epochs,
           "steps": result.steps, "epsilon": result.report.epsilon,
           "sigma": result.report.noise_multiplier, "train_seconds": round(train_seconds),
           "eval_seconds": round(time.perf_counter() - t0), "device": str(device),
           "run_dir": str(out)} | ev.to_dict()
    (out / "memorization-benchmark.json").write_text(json.dumps(row, indent=2) + "\n")
    return row


def _rows(args: argparse.Namespace) -> list[dict]:
    """Finished settings: JSON lines of ``--rows`` files (e.g. logs of runs on another machine),
    else each setting's ``memorization-benchmark.json`` in ``--runs``."""
    if args.rows:
        return [json.loads(line) for f in args.rows for line in Path(f).read_text().splitlines()
                if line.startswith("{")]
    paths = [Path(args.runs) / run_name(args, s) / "memorization-benchmark.json" for s in SETTINGS]
    return [json.loads(p.read_text()) for p in paths if p.is_file()]


def table(args: argparse.Namespace) -> None:
    """The Markdown table; MiFID and its threshold are recomputed from the recorded distances
    with the library's current rule (``choose_threshold``), so the table follows it."""
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    print("| N | setting | ε | σ | steps | FID (test) | memorization d | d held-out | MiFID eps | "
          "MiFID | C_T | authenticity | flagged by |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in _rows(args):
        eps_rule = choose_threshold(AUTO, features=r["features"],
                                    heldout_distance=r["heldout_memorization_distance"])
        m = mifid(r["fid"], r["memorization_distance"], eps=eps_rule.eps)
        flags = [name for name, hit in (("MiFID", m.memorization_distance_thresholded < 1),
                                        ("C_T", r["ct"] < CT_FLAG),
                                        ("authenticity", r["authenticity"] < AUTH_FLAG)) if hit]
        eps = "∞" if r["epsilon"] in ("inf", float("inf")) else f"{float(r['epsilon']):.3g}"
        sigma = "—" if r["sigma"] in (None, 0) else f"{r['sigma']:.3g}"
        print(f"| {r['train_size']} | {r['setting']} | {eps} | {sigma} | {r['steps']} | "
              f"{r['fid']:.4g} | {r['memorization_distance']:.4g} | "
              f"{r['heldout_memorization_distance']:.4g} | {eps_rule.eps:.4g} | {m.mifid:.4g} | "
              f"{r['ct']:.3g} | {r['authenticity']:.3f} | {', '.join(flags) or 'none'} |")
        out = Path(r["run_dir"])
        stem = f"gan-memorization-n{r['train_size']}-{r['setting']}"
        if (out / "memorization-gallery.png").is_file():
            shutil.copy(out / "memorization-gallery.png", figures / f"{stem}-pairs.png")
            grids = sorted((out / "samples").glob("epoch_*.png"))
            if grids:
                shutil.copy(grids[-1], figures / f"{stem}-grid.png")
    print(f"\nfeatures: {args.features}; held-out: the 10,000 test images; MiFID flags d below "
          f"eps = {AUTO_FRACTION:g} x d held-out; C_T flagged below {CT_FLAG:g}, authenticity "
          f"below {AUTH_FLAG:g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--setting", choices=list(SETTINGS), action="append")
    ap.add_argument("--table", action="store_true")
    ap.add_argument("--rows", nargs="*", help="--table: JSON-line files of finished settings")
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--subset", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--save-every", type=int, default=100)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--features", default="random-cnn")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--runs", default="benchmarks/runs")
    ap.add_argument("--figures", default="benchmarks/figures")
    args = ap.parse_args()
    if args.table:
        table(args)
        return
    for setting in args.setting or list(SETTINGS):
        print(json.dumps(train_and_evaluate(args, setting)), flush=True)


if __name__ == "__main__":
    main()
