"""Feature extractors for the generative metrics, registered with torch-fidelity.

Three kinds, named by a spec string that every result carries (numbers computed with different
features are never comparable):

- ``inception``: torch-fidelity's InceptionV3 (TF-ported FID network), 2048-d pool features. Its
  weights come from torch-fidelity's cache (``$TORCH_HOME/hub/checkpoints``), a download, or a
  ``.pth`` path. Grayscale images are repeated to 3 channels; the network resizes to 299x299.
- ``classifier:RUN_DIR``: the penultimate-layer features ``model.features(x)`` of a classifier
  trained by ``dpkit train-classifier`` — the offline choice for MNIST-like data.
- ``random-cnn`` / ``random-cnn:SEED``: a randomly initialised, fixed-seed CNN
  (:class:`~dpkit.metrics.random_cnn.RandomCNN`, 512-d) — any data, offline, no training.

``auto`` (:func:`resolve_features`) is Inception when its weights are on disk, else ``random-cnn``.

torch-fidelity feeds extractors uint8 images (B, C, H, W) in [0, 255]; the classifier and
random-CNN extractors map them back to dpkit's float [-1, 1] range and to the network's channels
and size.
"""

from __future__ import annotations

import hashlib
import pickle
import urllib.error
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torch_fidelity import FeatureExtractorBase, FeatureExtractorInceptionV3
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor
from torch_fidelity.utils import create_feature_extractor

from dpkit.classifiers.loading import load_classifier
from dpkit.data.tensors import to_channels, to_unit_range
from dpkit.engine.progress import progress
from dpkit.engine.rundir import CONFIG_FILE
from dpkit.errors import DPKitError
from dpkit.metrics.random_cnn import MAX_SEED, RANDOM_CNN_SIZE, RANDOM_CNN_VERSION, RandomCNN

__all__ = ["FeatureSpec", "parse_features", "inception_weights_path", "build_extractor",
           "extract_features", "UInt8Images", "ModuleFeatureExtractor",
           "ClassifierFeatureExtractor", "InceptionFeatureExtractor", "register_extractors",
           "extractor_identity", "RandomCNNFeatureExtractor", "ResolvedFeatures",
           "resolve_features", "cached_inception_path",
           "INCEPTION_NAME", "CLASSIFIER_NAME", "RANDOM_CNN_NAME", "FEATURE_LAYER",
           "FEATURE_KINDS", "AUTO_FEATURES"]

INCEPTION_NAME = "dpkit-inception-v3"
CLASSIFIER_NAME = "dpkit-classifier"
RANDOM_CNN_NAME = "dpkit-random-cnn"
FEATURE_KINDS = ("inception", "classifier", "random-cnn")
AUTO_FEATURES = "auto"  # Inception if its weights are on disk, else random-cnn
_EXTRACTOR_NAMES = {"inception": INCEPTION_NAME, "classifier": CLASSIFIER_NAME,
                    "random-cnn": RANDOM_CNN_NAME}
_CHOICES = "'auto', 'inception', 'classifier:RUN_DIR' or 'random-cnn[:SEED]'"
FEATURE_LAYER = "features"  # the one feature layer the classifier extractor provides
_INCEPTION_LAYER = "2048"


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a metric uses.

    Attributes:
        kind: ``"inception"``, ``"classifier"`` or ``"random-cnn"``.
        source: Inception weights file, or the classifier's run directory (None for random-cnn).
        seed: the random CNN's seed (random-cnn only).
    """

    kind: str
    source: Path | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FEATURE_KINDS:
            raise DPKitError(f"kind={self.kind!r} is not a feature kind; choose from "
                             f"{', '.join(FEATURE_KINDS)}")
        if self.kind != "random-cnn" and self.source is None:
            raise DPKitError(f"kind={self.kind!r} needs a source (weights file or run directory)")

    @property
    def name(self) -> str:
        """The label every result carries: ``inception``, ``classifier:runs/clf``,
        ``random-cnn`` (seed 0) or ``random-cnn:SEED``."""
        if self.kind == "random-cnn":
            return "random-cnn" if self.seed == 0 else f"random-cnn:{self.seed}"
        return "inception" if self.kind == "inception" else f"classifier:{self.source}"

    @property
    def extractor_name(self) -> str:
        return _EXTRACTOR_NAMES[self.kind]

    @property
    def layer(self) -> str:
        return _INCEPTION_LAYER if self.kind == "inception" else FEATURE_LAYER

    def to_dict(self) -> dict[str, str | int]:
        if self.kind == "random-cnn":
            return {"features": self.name, "kind": self.kind, "seed": self.seed,
                    "version": RANDOM_CNN_VERSION}
        return {"features": self.name, "kind": self.kind, "source": str(self.source)}


@dataclass(frozen=True)
class ResolvedFeatures:
    """The features a spec string names and, for ``auto``, a one-line note on the choice.

    Attributes:
        spec: the features.
        note: e.g. ``"features auto: random-cnn (no InceptionV3 weights found in ...)"``; None
            unless ``auto`` chose.
    """

    spec: FeatureSpec
    note: str | None = None


def cached_inception_path() -> Path:
    """Where torch-fidelity keeps its InceptionV3 weights (``$TORCH_HOME/hub/checkpoints/...``),
    whether or not the file is there."""
    return Path(torch.hub.get_dir()) / "checkpoints" / URL_INCEPTION_V3.rsplit("/", 1)[-1]


def inception_weights_path(weights: str | Path | None = None, *, download: bool = True) -> Path:
    """The InceptionV3 weights file: ``weights`` if given, else torch-fidelity's cached copy.

    Downloads into torch's hub cache when missing and ``download`` is true; without network the
    error says how to get the file.
    """
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise DPKitError(f"inception_weights={path} does not exist; pass the path of "
                             f"torch-fidelity's {URL_INCEPTION_V3.rsplit('/', 1)[-1]}")
        return path
    cached = cached_inception_path()
    if cached.is_file():
        return cached
    hint = (f"Inception weights not found in {cached.parent} and could not be downloaded; "
            f"download {URL_INCEPTION_V3} and pass inception_weights=PATH (or put it in that "
            f"folder), or use features='random-cnn' (no weights needed) or "
            f"features='classifier:RUN_DIR'")
    if not download:
        raise DPKitError(hint)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(URL_INCEPTION_V3, str(cached), progress=False)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        raise DPKitError(f"{hint} ({type(exc).__name__})") from None
    return cached


def parse_features(text: str, *, inception_weights: str | Path | None = None,
                   download: bool = True) -> FeatureSpec:
    """Parse ``inception``, ``classifier:RUN_DIR``, ``random-cnn[:SEED]`` or ``auto`` (see
    :func:`resolve_features`, which also says what ``auto`` chose) into a :class:`FeatureSpec`."""
    if text == AUTO_FEATURES:
        return resolve_features(text, inception_weights=inception_weights).spec
    if text == "random-cnn" or text.startswith("random-cnn:"):
        seed = text[len("random-cnn:"):] if ":" in text else "0"
        if not (seed.isascii() and seed.isdigit()) or int(seed) > MAX_SEED:
            raise DPKitError(f"features={text!r}: the seed must be an integer in [0, 2**63 - 1], "
                             f"e.g. 'random-cnn:1'")
        return FeatureSpec("random-cnn", seed=int(seed))
    if text == "inception":
        return FeatureSpec("inception", inception_weights_path(inception_weights, download=download))
    if text.startswith("classifier:") and len(text) > len("classifier:"):
        run_dir = Path(text[len("classifier:"):])
        if not (run_dir / CONFIG_FILE).is_file():
            raise DPKitError(f"features={text!r}: {run_dir} is not a dpkit run directory; pass "
                             f"the run directory of a train-classifier run")
        return FeatureSpec("classifier", run_dir)
    raise DPKitError(f"features={text!r} is not valid; use {_CHOICES}")


def resolve_features(text: str, *,
                     inception_weights: str | Path | None = None) -> ResolvedFeatures:
    """:func:`parse_features`, where ``auto`` means Inception if its weights are on disk, else
    ``random-cnn``, with a note saying which and why.

    ``auto`` never downloads: it takes ``inception_weights`` (which must exist) or
    torch-fidelity's cached file (:func:`cached_inception_path`), else seed-0 ``random-cnn``.
    Any other ``text`` is parsed as is (``inception`` may download) and has no note.
    """
    if text != AUTO_FEATURES:
        return ResolvedFeatures(parse_features(text, inception_weights=inception_weights))
    if inception_weights is not None:
        path = inception_weights_path(inception_weights)
        return ResolvedFeatures(FeatureSpec("inception", path),
                                f"features auto: inception (InceptionV3 weights given: {path})")
    cached = cached_inception_path()
    if cached.is_file():
        return ResolvedFeatures(FeatureSpec("inception", cached),
                                f"features auto: inception (InceptionV3 weights found at {cached})")
    return ResolvedFeatures(FeatureSpec("random-cnn"),
                            f"features auto: random-cnn (no InceptionV3 weights found in "
                            f"{cached.parent}; pass inception_weights=PATH for Inception)")


class UInt8Images(Dataset):
    """uint8 images (N, C, H, W) as the tensor dataset torch-fidelity reads (no labels)."""

    def __init__(self, images: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("images must be uint8 of shape (N, C, H, W)")
        self.images = images

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


class InceptionFeatureExtractor(FeatureExtractorInceptionV3):
    """torch-fidelity's InceptionV3, also accepting 1-channel images (repeated to RGB)."""

    def forward(self, x: torch.Tensor):  # (B, 1|3, H, W) uint8
        if x.dim() == 4 and x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return super().forward(x)


class ModuleFeatureExtractor(FeatureExtractorBase):
    """Any module with ``features(x) -> (B, D)`` on float [-1, 1] images of a fixed shape.

    Args:
        name: torch-fidelity's name for this extractor.
        features_list: must be ``["features"]``.
        module: the network (put in eval mode, gradients off).
        channels: channels the module expects (1 or 3); inputs are converted.
        image_size: side the module expects; inputs are resized bilinearly.
    """

    def __init__(self, name: str, features_list: list[str], *, module: nn.Module, channels: int,
                 image_size: int, **kwargs) -> None:
        super().__init__(name, features_list)
        if not callable(getattr(module, "features", None)):
            raise DPKitError(f"{type(module).__name__} has no features(x) method; the classifier "
                             f"extractor needs a dpkit classifier")
        self.module = module.eval().requires_grad_(False)
        self.channels, self.image_size = channels, image_size

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return (FEATURE_LAYER,)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return FEATURE_LAYER

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:  # (B, C, H, W) uint8
        if x.dtype != torch.uint8 or x.dim() != 4:
            raise ValueError(f"expected uint8 (B, C, H, W) images, got {x.dtype} {tuple(x.shape)}")
        x = to_channels(x.cpu(), self.channels).to(x.device)
        x = to_unit_range(x)  # (B, C, H, W) float in [-1, 1]
        if x.shape[-1] != self.image_size or x.shape[-2] != self.image_size:
            x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bilinear",
                              antialias=True, align_corners=False)
        feats = self.module.features(x)  # (B, D)
        return (feats.flatten(1).float(),)


class ClassifierFeatureExtractor(ModuleFeatureExtractor):
    """Penultimate features of the classifier in run directory ``feature_extractor_weights_path``.

    The run directory plays the role of torch-fidelity's weights path, so plain
    ``torch_fidelity.calculate_metrics(feature_extractor="dpkit-classifier",
    feature_extractor_weights_path=RUN_DIR, ...)`` works too.
    """

    def __init__(self, name: str, features_list: list[str], feature_extractor_weights_path=None,
                 **kwargs) -> None:
        if feature_extractor_weights_path is None:
            raise DPKitError("the classifier feature extractor needs a run directory "
                             "(features='classifier:RUN_DIR')")

        loaded = load_classifier(feature_extractor_weights_path)
        super().__init__(name, features_list, module=loaded.model,
                         channels=loaded.bundle.channels, image_size=loaded.bundle.image_size)


class RandomCNNFeatureExtractor(ModuleFeatureExtractor):
    """512-d features of :class:`~dpkit.metrics.random_cnn.RandomCNN` with seed ``seed``.

    Any uint8 images (B, 1|3, H, W): grayscale is repeated to RGB, values mapped to [-1, 1] and
    resized (bilinear, antialiased) to 32x32. Works in plain
    ``torch_fidelity.calculate_metrics(feature_extractor="dpkit-random-cnn", ...)`` (seed 0).
    """

    def __init__(self, name: str, features_list: list[str], seed: int = 0, **kwargs) -> None:
        super().__init__(name, features_list, module=RandomCNN(seed), channels=3,
                         image_size=RANDOM_CNN_SIZE)
        self.seed = seed

    @property
    def cache_identity(self) -> str:
        """Architecture version and seed, part of the reference cache's key."""
        return f"{RANDOM_CNN_VERSION}:seed={self.seed}"


def register_extractors() -> None:
    """Register dpkit's extractors with torch-fidelity (idempotent)."""
    for name, cls in ((INCEPTION_NAME, InceptionFeatureExtractor),
                      (CLASSIFIER_NAME, ClassifierFeatureExtractor),
                      (RANDOM_CNN_NAME, RandomCNNFeatureExtractor)):
        if name not in FEATURE_EXTRACTORS_REGISTRY:
            register_feature_extractor(name, cls)


def build_extractor(spec: FeatureSpec, *, device: torch.device | str = "cpu") -> FeatureExtractorBase:
    """Create the torch-fidelity feature extractor for ``spec`` on ``device``."""
    register_extractors()
    device = torch.device(device)
    if device.type != "cuda":  # torch-fidelity moves batches to CUDA or leaves them on the CPU
        device = torch.device("cpu")
    source = ({"seed": spec.seed} if spec.kind == "random-cnn"
              else {"feature_extractor_weights_path": str(spec.source)})
    try:
        extractor = create_feature_extractor(spec.extractor_name, [spec.layer], cuda=False,
                                             verbose=False, **source)
    except (RuntimeError, pickle.UnpicklingError, EOFError) as exc:  # not the right weights file
        first = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DPKitError(f"{spec.source} does not hold {spec.name} weights ({first})") from None
    return extractor.to(device)


def extractor_identity(extractor: nn.Module) -> str:
    """A hash of the extractor's class, its ``cache_identity`` if it has one (the random CNN's
    version and seed) and its weights, for cache keys (hex, 16 chars)."""
    h = hashlib.sha256(type(extractor).__name__.encode())
    identity = getattr(extractor, "cache_identity", None)
    if identity is not None:
        h.update(str(identity).encode())
    for key, tensor in sorted(extractor.state_dict().items()):
        h.update(key.encode())
        h.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def extract_features(extractor: FeatureExtractorBase, images: torch.Tensor | Dataset, *,
                     batch_size: int = 256, device: torch.device | str = "cpu",
                     quiet: bool = True) -> torch.Tensor:
    """Features (N, D) of uint8 images (N, C, H, W), batch by batch.

    The loop of torch-fidelity's ``get_featuresdict_from_dataset`` (same loader, same batches,
    so the same features), with dpkit's progress bar: one step per batch unless ``quiet``.
    """
    dataset = UInt8Images(images) if isinstance(images, torch.Tensor) else images
    if len(dataset) == 0:
        raise DPKitError("no images to extract features from")
    layer = extractor.get_requested_features_list()[0]
    cuda = torch.device(device).type == "cuda"
    loader = DataLoader(dataset, batch_size=min(batch_size, len(dataset)), drop_last=False,
                        num_workers=0, pin_memory=cuda)
    chunks = []
    with torch.no_grad():
        for batch in progress(loader, quiet=quiet, desc="features", total=len(loader)):
            if cuda:
                batch = batch.cuda(non_blocking=True)
            features = extractor.convert_features_tuple_to_dict(extractor(batch))
            chunks.append(features[layer].cpu())  # (b, D)
    return torch.cat(chunks).float()
