"""What a dataset source is: the raw split its loader returns, and its registry entry.

The loaders (``digits.py``, ``idx.py``, ...) return :class:`RawSplit`; ``builtin.py`` describes
dpkit's own datasets as :class:`DatasetSource`; ``registry.py`` keeps them. This module imports
none of them, so none of them imports another to reach these types.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

__all__ = ["RawSplit", "Loader", "FileCheck", "DatasetSource"]


@dataclass(frozen=True)
class RawSplit:
    """One split of a source: uint8 images (N, C, H, W) and int64 labels (N,).

    ``class_names`` is set by sources whose classes depend on the files (image folders).
    """

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        assert self.images.dtype == torch.uint8 and self.images.dim() == 4
        assert self.labels.shape == (self.images.shape[0],)


Loader = Callable[..., RawSplit]  # loader(split, *, root: Path | None, download: bool)
FileCheck = Callable[[Path | None, str | None], None]  # check(root, public) -> None


@dataclass(frozen=True)
class DatasetSource:
    """A registered dataset: how to load a split, and what it holds.

    Attributes:
        num_classes: number of classes, or 0 when it depends on the files found (image folders):
            the bundle then counts ``max(label) + 1`` over the train and test splits.
        sized_loader: the loader takes an ``image_size`` keyword (None = its default size) and
            resizes while decoding, which saves memory for large photographs (CelebA, folders).
        check_files: called as ``check_files(root, public)`` before any split is loaded, with the
            data root (None: none given) and the ``public`` option (None, ``"holdout"`` or a
            dataset name); raises :class:`dpkit.errors.DPKitError` when the files found there
            cannot serve this dataset as asked. None: nothing to check.
    """

    name: str
    loader: Loader
    num_classes: int
    description: str
    class_names: tuple[str, ...] = ()
    sized_loader: bool = False
    check_files: FileCheck | None = None
