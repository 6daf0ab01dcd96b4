"""Feature-extraction throughput (images/s) of the metric extractors on this machine.

    python benchmarks/metrics_throughput.py [--n 10000] [--image-size 28] [--inception-n 64]

Classifier extractors (dpkit's cnn / mlp / resnet at the given size, random weights — speed does
not depend on them) run through torch-fidelity's extraction loop exactly as ``dpkit evaluate``
does, on uint8 Fashion-MNIST-shaped images. ``--inception-n`` > 0 also times torch-fidelity's
InceptionV3 (random weights, 299x299 after resizing) on that many images.
"""

from __future__ import annotations

import argparse
import time

import torch

from dpkit.classifiers import ModelConfig, build_model
from dpkit.metrics.features import InceptionFeatureExtractor, ModuleFeatureExtractor, extract_features


def _rate(extractor, images, batch_size: int) -> float:
    extract_features(extractor, images[:batch_size], batch_size=batch_size)  # warm-up
    t0 = time.perf_counter()
    extract_features(extractor, images, batch_size=batch_size)
    return images.shape[0] / (time.perf_counter() - t0)


def _blank_inception() -> InceptionFeatureExtractor:
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inc

    class Blank(InceptionFeatureExtractor):
        def load_state_dict(self, state_dict, *args, **kwargs):
            return None if state_dict is None else super().load_state_dict(state_dict)

    real = tf_inc.load_state_dict_from_url
    tf_inc.load_state_dict_from_url = lambda *a, **k: None
    try:
        return Blank("blank", ["2048"]).eval()
    finally:
        tf_inc.load_state_dict_from_url = real


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--image-size", type=int, default=28)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--inception-n", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    s = args.image_size
    images = torch.randint(0, 256, (args.n, 1, s, s), dtype=torch.uint8)
    print(f"CPU, {args.threads} thread(s), batch {args.batch_size}, {args.n} uint8 1x{s}x{s} images")
    print("| extractor | feature dim | images/s |")
    print("|---|---|---|")
    for arch in ("cnn", "mlp", "resnet"):
        model = build_model(ModelConfig(arch=arch, norm="group" if arch == "resnet" else "none"),
                            in_channels=1, image_size=s, num_classes=10)
        ext = ModuleFeatureExtractor(arch, ["features"], module=model, channels=1, image_size=s)
        dim = ext(images[:2])[0].shape[1]
        print(f"| classifier ({arch}) | {dim} | {_rate(ext, images, args.batch_size):,.0f} |",
              flush=True)
    if args.inception_n > 0:
        inc = _blank_inception()
        rate = _rate(inc, images[: args.inception_n], min(32, args.inception_n))
        print(f"| inception (torch-fidelity InceptionV3, 299x299) | 2048 | {rate:,.1f} |")


if __name__ == "__main__":
    main()
