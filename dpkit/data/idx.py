"""MNIST-format datasets (idx files, optionally gzipped): MNIST, Fashion-MNIST, KMNIST.

Files are looked for in ``--data-root`` (flat, or torchvision's ``<Name>/raw`` layout), then in the
dataset's system folders (Debian's ``dataset-fashion-mnist`` package). ``--download`` lets
torchvision fetch them into ``--data-root``.
"""

from __future__ import annotations

import gzip
import struct
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets as tvd

from dpkit.data.sources import FileCheck, Loader, RawSplit
from dpkit.errors import DPKitError

__all__ = ["read_idx", "find_idx_files", "load_idx_split", "check_distinct_files", "idx_loader",
           "idx_file_check", "IDX_DATASETS"]

# name -> (torchvision class, system folders, how to get it)
IDX_DATASETS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "mnist": ("MNIST", (), "pass data_root=DIR holding the MNIST idx files, or add download=True"),
    "fashion-mnist": ("FashionMNIST", ("/usr/share/datasets/fashion-mnist",),
                      "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), "
                      "pass data_root=DIR holding the idx files, or add download=True"),
    "kmnist": ("KMNIST", (), "pass data_root=DIR holding the KMNIST idx files, or add "
                             "download=True"),
}

_PREFIX = {"train": "train", "test": "t10k"}


def read_idx(path: Path) -> np.ndarray:
    """Read an idx file (plain or .gz) into a NumPy array."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        data = fh.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08:
        raise DPKitError(f"{path} is not an unsigned-byte idx file; check the file")
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(shape)):
        raise DPKitError(f"{path} is truncated ({arr.size} of {int(np.prod(shape))} bytes); "
                         f"download it again")
    return arr.reshape(shape)


def _candidates(name: str, root: Path | None) -> list[Path]:
    tv_name, system, _ = IDX_DATASETS[name]
    dirs: list[Path] = []
    if root is not None:
        dirs += [root / tv_name / "raw", root / name, root]  # the dataset's own folders first
    dirs += [Path(p) for p in system]
    return dirs


def find_idx_files(name: str, split: str, root: Path | None) -> tuple[Path, Path] | None:
    prefix = _PREFIX[split]
    for d in _candidates(name, root):
        for suffix in ("", ".gz"):
            img = d / f"{prefix}-images-idx3-ubyte{suffix}"
            lab = d / f"{prefix}-labels-idx1-ubyte{suffix}"
            if img.is_file() and lab.is_file():
                return img, lab
    return None


def load_idx_split(name: str, split: str, *, root: Path | None = None,
                   download: bool = False) -> RawSplit:
    """Load one split of an MNIST-format dataset as uint8 (N, 1, 28, 28)."""
    found = find_idx_files(name, split, root)
    if found is None and download:
        if root is None:
            raise DPKitError("download=True needs data_root=DIR to download into")
        try:
            getattr(tvd, IDX_DATASETS[name][0])(root=str(root), train=split == "train",
                                                download=True)
        except (OSError, RuntimeError) as exc:  # no network: torchvision's RuntimeError
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise DPKitError(f"downloading {name} failed ({first}); {IDX_DATASETS[name][2]} "
                             f"from a machine with network access") from None
        found = find_idx_files(name, split, root)
    if found is None:
        looked = (", ".join(str(d) for d in _candidates(name, root))
                  or "no folder: no data_root=DIR given")
        raise DPKitError(f"{name} {split} split not found (looked in {looked}); "
                         f"{IDX_DATASETS[name][2]}")
    images = torch.from_numpy(read_idx(found[0]).copy()).unsqueeze(1)
    labels = torch.from_numpy(read_idx(found[1]).astype(np.int64))
    if images.shape[0] != labels.shape[0]:
        raise DPKitError(f"{found[0]} and {found[1]} hold different numbers of examples")
    return RawSplit(images, labels)


def idx_loader(name: str) -> Loader:
    """The split loader of the idx dataset ``name`` (a key of ``IDX_DATASETS``)."""
    return partial(load_idx_split, name)


def check_distinct_files(name: str, other: str | None, root: Path | None) -> None:
    """Refuse a ``data_root`` whose flat idx files both ``name`` and ``other`` would read.

    MNIST-like datasets share file names (``t10k-images-idx3-ubyte``); with one flat folder, the
    private dataset's split would silently be the public dataset's images. ``other`` is the public
    dataset; None, ``"holdout"`` or a dataset that is not idx-format has nothing to clash with.
    """
    if root is None or name not in IDX_DATASETS or other not in IDX_DATASETS:
        return
    public = find_idx_files(other, "test", root)
    for split in ("train", "test"):
        if public is not None and find_idx_files(name, split, root) == public:
            sub = IDX_DATASETS[other][0]
            raise DPKitError(f"data_root={root} holds flat idx files that both {name} and "
                             f"{other} would read; move {other}'s files to "
                             f"{root / sub / 'raw'} (torchvision's layout) so each finds its own")


def idx_file_check(name: str) -> FileCheck:
    """The ``DatasetSource.check_files`` hook of the idx dataset ``name``: ``check(root, public)``."""

    def check(root: Path | None, public: str | None) -> None:
        check_distinct_files(name, public, root)

    return check
