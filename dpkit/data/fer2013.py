"""FER-2013 facial expressions from Kaggle's ``fer2013.csv`` (48x48 grayscale, 7 emotions).

The file has columns ``emotion`` (0..6), ``pixels`` (2,304 space-separated grey levels) and
``Usage`` (``Training``, ``PublicTest``, ``PrivateTest``). dpkit's train split is ``Training``
(28,709 images); its test split is ``PublicTest`` + ``PrivateTest`` (3,589 + 3,589 = 7,178).
Kaggle needs a login, so there is no ``--download``.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from dpkit.data.sources import RawSplit
from dpkit.errors import DPKitError

__all__ = ["FER2013_CLASSES", "FER2013_USAGE", "find_fer2013", "load_fer2013_split"]

FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
FER2013_USAGE = {"train": ("Training",), "test": ("PublicTest", "PrivateTest")}
_SIDE = 48
_HOW = ("download fer2013.csv from Kaggle (https://www.kaggle.com/datasets/deadskull7/fer2013 or "
        "the 'challenges-in-representation-learning-facial-expression-recognition-challenge' "
        "competition; needs a login, so download=True cannot fetch it) and pass data_root=DIR "
        "holding it")


def _candidates(root: Path | None) -> list[Path]:
    if root is None:
        return []
    return [root, root / "fer2013.csv", root / "fer2013" / "fer2013.csv",
            root / "icml_face_data.csv"]


def find_fer2013(root: Path | None) -> Path | None:
    """``root`` itself if it is a file, else ``root/fer2013.csv``, ``root/fer2013/fer2013.csv`` or
    ``root/icml_face_data.csv`` (the same data with spaces after the commas of the header)."""
    for p in _candidates(root):
        if p.is_file():
            return p
    return None


def _parse(path: Path, usages: tuple[str, ...]) -> RawSplit:
    images: list[np.ndarray] = []
    labels: list[int] = []
    known = {u for us in FER2013_USAGE.values() for u in us}
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [h.strip() for h in next(reader, [])]
        missing = {"emotion", "pixels", "Usage"} - set(header)
        if missing:
            raise DPKitError(f"{path} lacks the column(s) {', '.join(sorted(missing))} (header "
                             f"{header}); expected Kaggle's fer2013.csv with emotion,pixels,Usage")
        col_e, col_p, col_u = (header.index(c) for c in ("emotion", "pixels", "Usage"))
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            try:
                usage = row[col_u].strip()
                if usage not in known:
                    raise ValueError(f"Usage {usage!r} is not one of {sorted(known)}")
                if usage not in usages:
                    continue
                emotion = int(row[col_e])
                if not 0 <= emotion < len(FER2013_CLASSES):
                    raise ValueError(f"emotion {emotion} is not in 0..6")
                pixels = np.array(row[col_p].split(), dtype=np.int64)
                if pixels.size != _SIDE * _SIDE:
                    raise ValueError(f"{pixels.size} pixels instead of {_SIDE * _SIDE}")
                if pixels.min() < 0 or pixels.max() > 255:
                    raise ValueError("pixel values outside 0..255")
            except (ValueError, IndexError) as exc:
                raise DPKitError(f"{path} line {line} is malformed ({exc}); fix or remove that "
                                 f"row, or download fer2013.csv again") from None
            images.append(pixels.astype(np.uint8).reshape(1, _SIDE, _SIDE))
            labels.append(emotion)
    if not images:
        raise DPKitError(f"{path} holds no rows with Usage {' or '.join(usages)}; check the file")
    return RawSplit(torch.from_numpy(np.stack(images)), torch.tensor(labels, dtype=torch.int64))


def load_fer2013_split(split: str, *, root: Path | None = None,
                       download: bool = False) -> RawSplit:
    """Load FER-2013's ``split`` as uint8 (N, 1, 48, 48); see the module doc for the split."""
    path = find_fer2013(root)
    if path is None:
        looked = ", ".join(str(p) for p in _candidates(root)) or "no folder: no data_root=DIR given"
        extra = " (download=True cannot fetch it: Kaggle needs a login)" if download else ""
        raise DPKitError(f"fer2013.csv not found{extra} (looked in {looked}); {_HOW}")
    return _parse(path, FER2013_USAGE[split])
