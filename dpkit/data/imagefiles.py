"""Decoding image files (PNG/JPEG/BMP) into uint8 tensors with PIL: crop, resize, stack.

Used by the sources that read individual picture files (CelebA, image folders). JPEGs are decoded
at a reduced scale when the target is much smaller (PIL's ``draft``), which makes loading CelebA at
64x64 several times faster than decoding at full size.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm.std import tqdm

from dpkit.errors import DPKitError

__all__ = ["IMAGE_SUFFIXES", "GRAY_MODES", "image_header", "read_image", "read_images"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
GRAY_MODES = frozenset({"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"})


def _open(path: Path):

    try:
        return Image.open(path)
    except (UnidentifiedImageError, OSError) as exc:
        raise DPKitError(f"{path} is not a readable image ({exc.__class__.__name__}); "
                         f"remove or replace the file") from None


def image_header(path: Path) -> tuple[str, tuple[int, int]]:
    """(PIL mode, (width, height)) of an image file, reading only its header."""
    with _open(path) as img:
        return img.mode, img.size


def _central_box(w: float, h: float, aspect: float) -> tuple[float, float, float, float]:
    """The largest centred box of width/height ratio ``aspect`` inside a (w, h) image."""
    cw, ch = (h * aspect, h) if w / h > aspect else (w, w / aspect)
    left, top = (w - cw) / 2, (h - ch) / 2
    return left, top, left + cw, top + ch


def read_image(path: Path, *, mode: str, size: tuple[int, int],
               crop: tuple[int, int] | None = None) -> np.ndarray:
    """Decode one image as uint8 (C, H, W).

    Args:
        path: the image file.
        mode: "L" (1 channel) or "RGB" (3 channels).
        size: output (width, height).
        crop: a centred (width, height) box, in the file's pixels, cut before resizing; None cuts
            the largest centred box with the output's aspect ratio.
    """

    tw, th = size
    with _open(path) as img:
        w0, h0 = img.size
        if crop is None:
            box = _central_box(w0, h0, tw / th)
        else:
            cw, ch = min(crop[0], w0), min(crop[1], h0)
            box = ((w0 - cw) / 2, (h0 - ch) / 2, (w0 + cw) / 2, (h0 + ch) / 2)
        scale = max(tw / (box[2] - box[0]), th / (box[3] - box[1]))
        if img.format == "JPEG" and scale < 0.5:  # decode at 1/2, 1/4 or 1/8 scale
            img.draft(mode, (math.ceil(w0 * scale), math.ceil(h0 * scale)))
        try:
            img = img.convert(mode)
        except OSError as exc:
            raise DPKitError(f"{path} could not be decoded ({exc}); the file may be truncated; "
                             f"remove or replace it") from None
        f = img.size[0] / w0  # draft may have shrunk the image
        box = tuple(round(b * f) for b in box)
        if box != (0, 0, *img.size):
            img = img.crop(box)  # crop first: resizing with box= would blend in outside pixels
        if img.size != (tw, th):
            img = img.resize((tw, th), Image.Resampling.BILINEAR)
        arr = np.array(img, dtype=np.uint8)
    return arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1)


def read_images(paths: Sequence[Path], *, mode: str, size: tuple[int, int],
                crop: tuple[int, int] | None = None, desc: str = "",
                workers: int | None = None) -> torch.Tensor:
    """Decode many images into one uint8 tensor (N, C, H, W); a progress bar on terminals.

    PIL releases the GIL while decoding and resizing, so ``workers`` threads (default: the CPU
    count, at most 8) decode in parallel.
    """
    channels = 1 if mode == "L" else 3
    out = torch.empty(len(paths), channels, size[1], size[0], dtype=torch.uint8)

    def decode(i: int) -> None:
        out[i] = torch.from_numpy(read_image(paths[i], mode=mode, size=size, crop=crop))

    workers = workers or min(8, os.cpu_count() or 1)
    bar = tqdm(total=len(paths), desc=desc, leave=False, dynamic_ncols=True, unit="img",
               disable=None if len(paths) > 1000 else True)
    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        with bar:
            for _ in pool.map(decode, range(len(paths))):  # re-raises a worker's error
                bar.update()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # stop at the first unreadable file
    return out
