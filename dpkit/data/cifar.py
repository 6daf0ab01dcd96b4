"""CIFAR-10 from its python pickles (``cifar-10-batches-py``), 50,000 train / 10,000 test 32x32.

The pickles are read with a restricted unpickler that only rebuilds NumPy arrays, so a tampered
file cannot run code. Local files are not checked against torchvision's MD5 sums (so re-packed or
synthetic files load); ``--download`` lets torchvision fetch and verify the archive.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch
import torchvision.datasets as tvd

from dpkit.data.sources import RawSplit
from dpkit.errors import DPKitError

__all__ = ["CIFAR10_CLASSES", "CIFAR10_FOLDER", "find_cifar10", "read_cifar_batch",
           "load_cifar10_split"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")
CIFAR10_FOLDER = "cifar-10-batches-py"
_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
_HOW = ("pass data_root=DIR holding cifar-10-batches-py/ (from "
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz), or add download=True")


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles dicts of NumPy arrays and nothing else."""

    _ALLOWED = {(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
                for n in ("_reconstruct", "scalar")}
    _ALLOWED |= {("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):  # noqa: D102
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module == "numpy.core.multiarray":  # NumPy 2 moved it; skip the deprecation shim
            module = "numpy._core.multiarray" if hasattr(np, "_core") else module
        return super().find_class(module, name)


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR batch file -> (uint8 images (N, 3, 32, 32), int64 labels (N,))."""
    try:
        with open(path, "rb") as fh:
            batch = _ArrayUnpickler(fh, encoding="bytes").load()
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise DPKitError(f"{path} is not a CIFAR-10 python batch ({exc.__class__.__name__}: "
                         f"{exc}); download it again") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or data.shape[0] != labels.shape[0]:
        raise DPKitError(f"{path} holds data of shape {data.shape} and {labels.shape[0]} labels, "
                         f"expected (N, 3072) and N; download it again")
    if labels.size and not (0 <= labels.min() and labels.max() < 10):
        raise DPKitError(f"{path} holds labels outside 0..9; download it again")
    return data.reshape(-1, 3, 32, 32), labels


def _candidates(root: Path | None) -> list[Path]:
    return [] if root is None else [root / CIFAR10_FOLDER, root]


def find_cifar10(split: str, root: Path | None) -> list[Path] | None:
    """The batch files of ``split`` under ``root`` (or ``root`` being the batches folder)."""
    for d in _candidates(root):
        files = [d / f for f in _FILES[split]]
        if all(f.is_file() for f in files):
            return files
    return None


def load_cifar10_split(split: str, *, root: Path | None = None,
                       download: bool = False) -> RawSplit:
    """Load CIFAR-10's ``split`` ("train" or "test") as uint8 (N, 3, 32, 32)."""
    files = find_cifar10(split, root)
    if files is None and download:
        if root is None:
            raise DPKitError("download=True needs data_root=DIR to download CIFAR-10 into")

        try:
            tvd.CIFAR10(root=str(root), train=split == "train", download=True)
        except (OSError, RuntimeError) as exc:
            raise DPKitError(f"downloading CIFAR-10 failed ({exc}); {_HOW}") from None
        files = find_cifar10(split, root)
    if files is None:
        looked = ", ".join(str(d) for d in _candidates(root)) or "no folder: no data_root=DIR given"
        raise DPKitError(f"cifar10 {split} split not found (looked in {looked}); {_HOW}")
    parts = [read_cifar_batch(f) for f in files]
    images = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    labels = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    return RawSplit(images.contiguous(), labels)
