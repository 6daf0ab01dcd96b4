"""CelebA aligned faces (Liu et al. 2015, arXiv:1411.7766), label = the attribute "Male".

Files (torchvision's layout, or Kaggle's ``.csv`` variants):
  ``<root>/celeba/img_align_celeba/*.jpg`` (or ``<root>/img_align_celeba/``),
  ``list_eval_partition.txt`` (0 = train, 1 = valid, 2 = test) next to the image folder,
  optionally ``list_attr_celeba.txt`` (labels: Male = 1, female = 0; without it every label is 0).
dpkit's train split is partition 0 (162,770 images), its test split partition 2 (19,962); the
validation partition is unused. Each 178x218 image is centre-cropped to 178x178 and resized to
64x64 (or ``--image-size``) while decoding; loading the train split decodes all 162,770 files
(minutes; a progress bar shows on a terminal).
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import torch
import torchvision.datasets as tvd

from dpkit.data.imagefiles import read_images
from dpkit.data.sources import RawSplit
from dpkit.errors import DPKitError

__all__ = ["CELEBA_PARTITION", "CELEBA_CROP", "CELEBA_DEFAULT_SIZE", "find_celeba",
           "read_celeba_table", "load_celeba_split"]

CELEBA_PARTITION = {"train": 0, "test": 2}
CELEBA_CROP = 178
CELEBA_DEFAULT_SIZE = 64
_IMAGES = "img_align_celeba"
_HOW = ("pass data_root=DIR holding celeba/img_align_celeba/ and celeba/list_eval_partition.txt "
        "(+ list_attr_celeba.txt for labels), from the CelebA Google Drive or Kaggle "
        "'jessicali9530/celeba-dataset'; download=True tries torchvision (Google Drive quotas "
        "often make it fail: then place the files by hand)")


def _candidates(root: Path | None) -> list[Path]:
    return [] if root is None else [root / "celeba", root]


def _table(folder: Path, stem: str) -> Path | None:
    for suffix in (".txt", ".csv"):
        if (folder / (stem + suffix)).is_file():
            return folder / (stem + suffix)
    return None


def find_celeba(root: Path | None) -> tuple[Path, Path, Path | None] | None:
    """(image folder, partition file, attribute file or None) under ``root``."""
    for d in _candidates(root):
        images, partition = d / _IMAGES, _table(d, "list_eval_partition")
        if images.is_dir() and partition is not None:
            if (images / _IMAGES).is_dir():  # Kaggle's archive nests the folder
                images = images / _IMAGES
            return images, partition, _table(d, "list_attr_celeba")
    return None


def read_celeba_table(path: Path) -> tuple[list[str], dict[str, list[str]]]:
    """Column names and file name -> values, for CelebA's .txt (space) or Kaggle's .csv tables."""
    rows: dict[str, list[str]] = {}
    with open(path, newline="", encoding="utf-8") as fh:
        if path.suffix == ".csv":
            reader = csv.reader(fh)
            header = next(reader, [])[1:]
            lines = list(reader)
        else:
            lines = [line.split() for line in fh if line.strip()]
            header = []
            if lines and len(lines[0]) == 1 and lines[0][0].isdigit():  # attr: count, then names
                header, lines = lines[1], lines[2:]
    for lineno, values in enumerate(lines, start=1):
        if len(values) < 2 or (header and len(values) != len(header) + 1):
            raise DPKitError(f"{path} row {lineno} is malformed ({' '.join(values)[:80]!r}); "
                             f"download the file again")
        rows[values[0]] = values[1:]
    return header, rows


def _labels(attr: Path | None, files: list[str]) -> torch.Tensor:
    if attr is None:
        warnings.warn("CelebA: list_attr_celeba.txt not found, every label is 0 (fine for GANs, "
                      "useless for classifiers)", stacklevel=3)
        return torch.zeros(len(files), dtype=torch.int64)
    header, rows = read_celeba_table(attr)
    if "Male" not in header:
        raise DPKitError(f"{attr} has no 'Male' column; download list_attr_celeba.txt again")
    col = header.index("Male")
    missing = [f for f in files if f not in rows]
    if missing:
        raise DPKitError(f"{attr} lacks {len(missing)} image(s), e.g. {missing[0]}; download it "
                         f"again")
    return torch.tensor([int(rows[f][col]) == 1 for f in files], dtype=torch.int64)


def load_celeba_split(split: str, *, root: Path | None = None, download: bool = False,
                      image_size: int | None = None) -> RawSplit:
    """Load CelebA's ``split`` as uint8 (N, 3, S, S), S = ``image_size`` or 64."""
    found = find_celeba(root)
    if found is None and download:
        if root is None:
            raise DPKitError("download=True needs data_root=DIR to download CelebA into")

        try:
            tvd.CelebA(root=str(root), split="all", target_type="attr", download=True)
        except Exception as exc:  # noqa: BLE001 - gdown/network failures come in many types
            raise DPKitError(f"downloading CelebA failed ({exc.__class__.__name__}: "
                             f"{str(exc)[:120]}); {_HOW}") from None
        found = find_celeba(root)
    if found is None:
        looked = ", ".join(str(d) for d in _candidates(root)) or "no folder: no data_root=DIR given"
        raise DPKitError(f"celeba not found (looked in {looked}); {_HOW}")
    images_dir, partition, attr = found
    _, parts = read_celeba_table(partition)
    want = str(CELEBA_PARTITION[split])
    files = sorted(f for f, v in parts.items() if v[0].strip() == want)
    if not files:
        raise DPKitError(f"{partition} lists no image in partition {want} ({split}); download it "
                         f"again")
    paths = [images_dir / f for f in files]
    absent = [p for p in paths if not p.is_file()]
    if absent:
        raise DPKitError(f"{len(absent)} CelebA image(s) listed in {partition.name} are missing "
                         f"from {images_dir}, e.g. {absent[0].name}; unpack img_align_celeba again")
    size = image_size or CELEBA_DEFAULT_SIZE
    images = read_images(paths, mode="RGB", size=(size, size), crop=(CELEBA_CROP, CELEBA_CROP),
                         desc=f"celeba {split}")
    return RawSplit(images, _labels(attr, files))
