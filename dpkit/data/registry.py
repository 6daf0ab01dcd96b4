"""One registry of image datasets, with fixed splits and recorded membership.

Every dataset is loaded as uint8 tensors, optionally resized / converted in channels, and split into
a private training set, a test set and optionally a public set. The indices of the private
training examples (into the source's training split) are recorded, so attacks know exactly which
records were members. ``DataOptions.split_test`` builds both splits from the source's test files
(for a data set whose training files are not at hand); the indices then point into their
training part.

The table starts with dpkit's own datasets (``builtin.BUILTIN_SOURCES``); ``register`` adds more.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from dpkit.data.builtin import BUILTIN_SOURCES
from dpkit.data.sources import DatasetSource, RawSplit
from dpkit.data.tensors import ImageTensorDataset, resize_uint8, to_channels
from dpkit.errors import DPKitError, require

__all__ = [
    "DataOptions", "DatasetBundle", "register", "register_builtin_datasets", "get", "names",
    "load_dataset", "dataset_from_record", "SPLIT_TEST_SEED",
]


_REGISTRY: dict[str, DatasetSource] = {source.name: source for source in BUILTIN_SOURCES}

SPLIT_TEST_SEED = 10_000  # fixed: DataOptions.split_test's test examples never change


def register_builtin_datasets() -> None:
    """Register again any of dpkit's own datasets missing from the registry (idempotent).

    The registry starts with all of them (``builtin.BUILTIN_SOURCES``); this restores them after
    the table was cleared.
    """
    for source in BUILTIN_SOURCES:
        if source.name not in _REGISTRY:
            register(source)


def register(source: DatasetSource) -> DatasetSource:
    """Add a dataset to the registry; its name must be new."""
    require(source.name not in _REGISTRY, f"dataset {source.name!r} is already registered")
    _REGISTRY[source.name] = source
    return source


def get(name: str) -> DatasetSource:
    """The registered dataset ``name``; unknown names fail with the list of valid ones."""
    if name not in _REGISTRY:
        raise DPKitError(f"unknown dataset {name!r}; choose one of {', '.join(names())}")
    return _REGISTRY[name]


def names() -> list[str]:
    """Names of all registered datasets, in registration order."""
    return list(_REGISTRY)


@dataclass(frozen=True)
class DataOptions:
    """How to load and split a dataset.

    Attributes:
        data_root: folder to look in first (and to download into with ``download``).
        download: let torchvision download a missing dataset.
        image_size: resize to (size, size); None keeps the native size.
        grayscale: True converts to 1 channel, False to 3; None keeps the native channels.
        subset: use only this many private training examples (a fixed random subset).
        classes: keep only these class labels, relabelled 0..k-1 in the given order.
        public: None, "holdout" (a slice of the training split, disjoint from the private set) or
            the name of another dataset (its test split, resized/converted to match).
        public_size: number of public examples.
        seed: seeds the choice of subset and public hold-out (not the training).
        split_test: use the source's test files only (for a data set whose training files are
            not at hand, e.g. MNIST's t10k files alone): this many of them, a fixed choice that
            no seed changes (:data:`SPLIT_TEST_SEED`), are the test split, the others the
            training split. None: the source's own train/test split.
    """

    data_root: str | None = None
    download: bool = False
    image_size: int | None = None
    grayscale: bool | None = None
    subset: int | None = None
    classes: tuple[int, ...] | None = None
    public: str | None = None
    public_size: int = 1000
    seed: int = 0
    split_test: int | None = None

    def __post_init__(self) -> None:
        if self.image_size is not None:
            require(4 <= self.image_size <= 1024,
                    f"image_size={self.image_size} must be in [4, 1024]")
        if self.subset is not None:
            require(self.subset >= 1, f"subset={self.subset} must be >= 1")
        require(self.public_size >= 1, f"public_size={self.public_size} must be >= 1")
        if self.split_test is not None:
            require(self.split_test >= 1, f"split_test={self.split_test} must be >= 1")
        if self.classes is not None:
            require(len(set(self.classes)) == len(self.classes) and len(self.classes) >= 2,
                    f"classes={tuple(self.classes)} must name at least two distinct classes")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["classes"] = list(self.classes) if self.classes is not None else None
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DataOptions":
        d = dict(d)
        if d.get("classes") is not None:
            d["classes"] = tuple(d["classes"])
        return cls(**d)


@dataclass
class DatasetBundle:
    """A loaded dataset: private training set, test set, optional public set, and membership.

    ``train_indices`` index the source's training split: those examples are the members.
    ``heldout_indices`` are training-split examples used for nothing (clean non-members).
    ``class_names[k]`` names label k (empty when the source has no names).
    """

    name: str
    options: DataOptions
    train: ImageTensorDataset
    test: ImageTensorDataset
    public: ImageTensorDataset | None
    num_classes: int
    train_indices: torch.Tensor
    heldout_indices: torch.Tensor
    public_indices: torch.Tensor | None = None
    heldout: ImageTensorDataset | None = field(default=None, repr=False)
    class_names: tuple[str, ...] = ()

    @property
    def channels(self) -> int:
        return self.train.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.train.images.shape[-1]

    def split_record(self) -> dict[str, Any]:
        """What a run directory stores to reload exactly this split (``split.json``)."""
        return {
            "dataset": self.name,
            "options": self.options.to_dict(),
            "train_indices": self.train_indices.tolist(),
            "heldout_indices": self.heldout_indices.tolist(),
            "public_indices": None if self.public_indices is None else self.public_indices.tolist(),
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "channels": self.channels,
            "image_size": self.image_size,
        }


def _prepare(raw: RawSplit, opts: DataOptions) -> RawSplit:
    images, labels = raw.images, raw.labels
    if opts.classes is not None:
        keep = torch.zeros_like(labels, dtype=torch.bool)
        new = torch.full_like(labels, -1)
        for k, c in enumerate(opts.classes):
            keep |= labels == c
            new[labels == c] = k
        images, labels = images[keep], new[keep]
    if opts.grayscale is not None:
        images = to_channels(images, 1 if opts.grayscale else 3)
    if opts.image_size is not None:
        images = resize_uint8(images, opts.image_size)
    return RawSplit(images.contiguous(), labels, raw.class_names)


def _load_split(source: DatasetSource, split: str, opts: DataOptions,
                image_size: int | None) -> RawSplit:
    root = Path(opts.data_root) if opts.data_root else None
    if source.sized_loader:
        return source.loader(split, root=root, download=opts.download, image_size=image_size)
    return source.loader(split, root=root, download=opts.download)


def _split_test_files(raw: RawSplit, n_test: int) -> tuple[RawSplit, RawSplit]:
    """The (train, test) splits of one split's examples: ``n_test`` of them, drawn with the
    fixed :data:`SPLIT_TEST_SEED`, are test; both keep the files' order."""
    n = raw.labels.shape[0]
    require(n_test < n, f"split_test={n_test} leaves no training examples (the test files hold "
                        f"{n}); use split_test={n // 5} or less")
    chosen = torch.zeros(n, dtype=torch.bool)
    chosen[torch.randperm(n, generator=torch.Generator().manual_seed(SPLIT_TEST_SEED))[:n_test]] \
        = True
    return (RawSplit(raw.images[~chosen], raw.labels[~chosen], raw.class_names),
            RawSplit(raw.images[chosen], raw.labels[chosen], raw.class_names))


def _check_classes(name: str, classes: tuple[int, ...] | None, num_classes: int) -> None:
    if classes is not None:
        bad = [c for c in classes if not 0 <= c < num_classes]
        require(not bad, f"classes={tuple(classes)} has {bad} out of range for {name} "
                         f"(0..{num_classes - 1})")


def _count_classes(*splits: RawSplit) -> int:
    return max((int(s.labels.max()) + 1 for s in splits if s.labels.numel()), default=0)


def load_dataset(name: str, opts: DataOptions | None = None) -> DatasetBundle:
    """Load a registered dataset and split it as ``opts`` says (deterministic given ``opts``)."""
    opts = opts or DataOptions()
    source = get(name)
    if source.check_files is not None:
        source.check_files(Path(opts.data_root) if opts.data_root else None, opts.public)
    if source.num_classes:
        _check_classes(name, opts.classes, source.num_classes)
    if opts.split_test is not None:
        train_raw, test_raw = _split_test_files(
            _load_split(source, "test", opts, opts.image_size), opts.split_test)
    else:
        train_raw = _load_split(source, "train", opts, opts.image_size)
        test_raw = _load_split(source, "test", opts, opts.image_size)
    source_classes = source.num_classes or _count_classes(train_raw, test_raw)
    if not source.num_classes:
        _check_classes(name, opts.classes, source_classes)
    train_raw, test_raw = _prepare(train_raw, opts), _prepare(test_raw, opts)
    n = train_raw.labels.shape[0]
    gen = torch.Generator().manual_seed(opts.seed)
    perm = torch.randperm(n, generator=gen)
    public = public_idx = None
    if opts.public == "holdout":
        require(opts.public_size < n, f"public_size={opts.public_size} leaves no private data "
                                      f"(training split has {n}); use "
                                      f"public_size={max(1, n // 2)} or less")
        public_idx = perm[:opts.public_size].sort().values
        perm = perm[opts.public_size:]
        public = ImageTensorDataset(train_raw.images[public_idx], train_raw.labels[public_idx])
    elif opts.public is not None:
        require(opts.public != name, f"public={name!r} is the private dataset itself; use "
                                     f"public='holdout' or another dataset")
        other = get(opts.public)
        ref = train_raw.images
        pub_opts = DataOptions(data_root=opts.data_root, download=opts.download,
                               image_size=ref.shape[-1], grayscale=ref.shape[1] == 1)
        pub_raw = _prepare(_load_split(other, "test", pub_opts, pub_opts.image_size), pub_opts)
        k = min(opts.public_size, pub_raw.labels.shape[0])
        public_idx = torch.randperm(pub_raw.labels.shape[0], generator=gen)[:k].sort().values
        public = ImageTensorDataset(pub_raw.images[public_idx], pub_raw.labels[public_idx])
    if opts.subset is not None:
        require(opts.subset <= perm.numel(), f"subset={opts.subset} is larger than the "
                                             f"{perm.numel()} training examples available")
        train_idx, heldout_idx = perm[:opts.subset], perm[opts.subset:]
    else:
        train_idx, heldout_idx = perm, perm[:0]
    train_idx, heldout_idx = train_idx.sort().values, heldout_idx.sort().values
    num_classes = len(opts.classes) if opts.classes is not None else source_classes
    class_names = source.class_names or train_raw.class_names
    if class_names and opts.classes is not None:
        class_names = tuple(class_names[c] for c in opts.classes)
    return DatasetBundle(
        name=name, options=opts,
        train=ImageTensorDataset(train_raw.images[train_idx], train_raw.labels[train_idx]),
        test=ImageTensorDataset(test_raw.images, test_raw.labels),
        public=public, num_classes=num_classes, train_indices=train_idx,
        heldout_indices=heldout_idx, public_indices=public_idx,
        heldout=ImageTensorDataset(train_raw.images[heldout_idx], train_raw.labels[heldout_idx]),
        class_names=class_names,
    )


def dataset_from_record(record: dict[str, Any]) -> DatasetBundle:
    """Reload the exact split a run trained on, from its ``split.json`` record."""
    bundle = load_dataset(record["dataset"], DataOptions.from_dict(record["options"]))
    if bundle.train_indices.tolist() != record["train_indices"]:
        raise DPKitError(f"the {record['dataset']} data found now differs from the data the run "
                         f"was trained on; point data_root=DIR at the original files")
    return bundle
