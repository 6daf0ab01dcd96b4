"""Your own images: a folder of class sub-folders (``--dataset imagefolder --data-root DIR``).

Layouts:
  * ``DIR/train/<class>/*.png`` and ``DIR/test/<class>/*.png``: those splits are used as they are;
  * ``DIR/<class>/*.png``: a fixed split, per class, of 80% train / 20% test (``n // 5`` files
    of each class, chosen with a fixed seed, go to test; a class with < 5 images is all train).

Classes are the sub-folder names sorted alphabetically (label 0 = first; hidden folders such as
``.ipynb_checkpoints`` are skipped). Images (PNG, JPEG, BMP)
are converted to one mode (grayscale "L" if every image is grayscale, else RGB) and to one size:
``--image-size S`` gives SxS; otherwise the size of the first image (in sorted order). An image of
another shape is centre-cropped to the target's aspect ratio, then resized.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from dpkit.data.imagefiles import GRAY_MODES, IMAGE_SUFFIXES, image_header, read_images
from dpkit.data.sources import RawSplit
from dpkit.errors import DPKitError

__all__ = ["FolderLayout", "scan_image_folder", "load_image_folder_split", "TEST_FRACTION_DIVISOR",
           "SPLIT_SEED"]

TEST_FRACTION_DIVISOR = 5  # n // 5 images of each class go to the test split
SPLIT_SEED = 20_200  # fixed: the split of a folder never changes between runs


def _images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _class_dirs(folder: Path) -> dict[str, list[Path]]:
    """Class name -> sorted image files, for every sub-folder that holds images."""
    out: dict[str, list[Path]] = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = _images_in(d)
        if files:
            out[d.name] = files
    return out


@dataclass(frozen=True)
class FolderLayout:
    """The files of an image folder: class names (label order) and (file, label) per split."""

    classes: list[str]
    splits: dict[str, list[tuple[Path, int]]]


def _split_files(per_class: dict[str, list[Path]]) -> dict[str, list[tuple[Path, int]]]:
    gen = torch.Generator().manual_seed(SPLIT_SEED)
    splits: dict[str, list[tuple[Path, int]]] = {"train": [], "test": []}
    for label, files in enumerate(per_class.values()):
        perm = torch.randperm(len(files), generator=gen).tolist()
        n_test = len(files) // TEST_FRACTION_DIVISOR
        test = set(perm[:n_test])
        for i, f in enumerate(files):
            splits["test" if i in test else "train"].append((f, label))
    return splits


def scan_image_folder(root: Path | None) -> FolderLayout:
    """Find the classes and the train/test files of an image folder (see the module doc)."""
    if root is None or not root.is_dir():
        where = "no data_root=DIR given" if root is None else f"{root} is not a folder"
        raise DPKitError(f"imagefolder needs data_root=DIR holding one sub-folder of images per "
                         f"class ({where}); e.g. DIR/cat/1.png, DIR/dog/2.png")
    if (root / "train").is_dir() and (root / "test").is_dir():
        train, test = _class_dirs(root / "train"), _class_dirs(root / "test")
        unknown = sorted(set(test) - set(train))
        if unknown:
            raise DPKitError(f"{root / 'test'} has classes {unknown} that {root / 'train'} lacks; "
                             f"every test class needs training images")
        classes = list(train)
        index = {c: i for i, c in enumerate(classes)}
        splits = {"train": [(f, index[c]) for c, fs in train.items() for f in fs],
                  "test": [(f, index[c]) for c, fs in test.items() for f in fs]}
    else:
        per_class = _class_dirs(root)
        classes = list(per_class)
        splits = _split_files(per_class)
    if not classes:
        raise DPKitError(f"no class sub-folders with images ({', '.join(IMAGE_SUFFIXES)}) in "
                         f"{root} (looked in {root}/<class>/ and {root}/train|test/<class>/); "
                         f"put each class's images in its own sub-folder")
    if not splits["test"]:
        raise DPKitError(f"{root} yields an empty test split (each class needs >= "
                         f"{TEST_FRACTION_DIVISOR} images for the 80/20 split, or use "
                         f"{root}/train and {root}/test)")
    return FolderLayout(classes, splits)


def _target(layout: FolderLayout, image_size: int | None) -> tuple[str, tuple[int, int]]:
    """The common mode and (width, height) of all images of the folder (both splits)."""
    files = [f for s in ("train", "test") for f, _ in layout.splits[s]]
    headers = [image_header(f) for f in files]
    mode = "L" if all(m in GRAY_MODES for m, _ in headers) else "RGB"
    size = (image_size, image_size) if image_size is not None else headers[0][1]
    return mode, size


def load_image_folder_split(split: str, *, root: Path | None = None, download: bool = False,
                            image_size: int | None = None) -> RawSplit:
    """Load one split of an image folder as uint8 (N, C, H, W); ``download`` is ignored."""
    layout = scan_image_folder(root)
    mode, size = _target(layout, image_size)
    files = layout.splits[split]
    images = read_images([f for f, _ in files], mode=mode, size=size, desc=f"imagefolder {split}")
    labels = torch.tensor([y for _, y in files], dtype=torch.int64)
    return RawSplit(images, labels, tuple(layout.classes))

