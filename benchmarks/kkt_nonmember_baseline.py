"""Do KKT reconstructions match the training images better than images the model never saw?

Usage:
    python benchmarks/kkt_nonmember_baseline.py ATTACK_DIR [ATTACK_DIR ...]

For each result directory of ``dpkit attack reconstruct RUN --method kkt``, scores the reconstructions (stretched to [-1, 1], as the attack does) against
(a) the N training images and (b) N random held-out images of the same classes (the run must be
trained with --subset, so held-out images exist), averaged over 20 draws. If (a) is not above (b),
an SSIM above 0.4 shows that the search found images of the right kind (a "0", a "1"), not that
it recovered particular training images.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from dpkit.attacks.image_quality import pairwise_ssim, rescale_per_image
from dpkit.attacks.runs import GOOD_SSIM as GOOD
from dpkit.classifiers import load_classifier
from dpkit.engine import open_run_dir


def baseline(attack_dir: Path, draws: int = 20) -> str:
    run = Path(open_run_dir(attack_dir).config["target"])
    target = load_classifier(run)
    train = target.bundle.train.tensors()[0]  # (N, C, H, W)
    assert target.bundle.heldout is not None, f"{run} has no held-out images; train with --subset"
    held = target.bundle.heldout.tensors()[0]  # (H, C, H, W)
    recon = rescale_per_image(torch.load(attack_dir / "reconstructions.pt"))  # (M, C, H, W)
    members = pairwise_ssim(recon, train).max(1).values  # (M,)
    to_held = pairwise_ssim(recon, held)  # (M, H)
    gen = torch.Generator().manual_seed(0)
    means, goods = [], []
    for _ in range(draws):
        idx = torch.randperm(held.shape[0], generator=gen)[:train.shape[0]]
        best = to_held[:, idx].max(1).values
        means.append(float(best.mean()))
        goods.append(float((best > GOOD).sum()))
    return (f"{run.name}: vs {train.shape[0]} members mean SSIM {members.mean():.3f}, "
            f"{int((members > GOOD).sum())}/{recon.shape[0]} > {GOOD}; vs {train.shape[0]} random "
            f"non-members ({draws} draws) mean SSIM {sum(means) / draws:.3f}, "
            f"{sum(goods) / draws:.1f} > {GOOD}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("attack_dirs", nargs="+", type=Path)
    for attack_dir in parser.parse_args().attack_dirs:
        print(baseline(attack_dir))


if __name__ == "__main__":
    main()
