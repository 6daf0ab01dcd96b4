"""Generated images from anywhere: a folder of image files or an ``.npz``/``.npy`` array, read as
uint8 (N, C, H, W) and reconciled with a dataset's channels.

Accepted:
  * a folder of PNG/JPEG/BMP files (searched recursively, hidden entries skipped), all of one
    size; grayscale and colour files may mix (all are then read as RGB);
  * a ``dpkit sample`` output directory (its ``images/`` folder or ``samples.npz``);
  * an ``.npz`` holding ``images`` (or a single array), or an ``.npy``: uint8, shaped (N, H, W),
    (N, C, H, W) or (N, H, W, C) with C in {1, 3}.
Anything else (an empty folder, non-image files, mixed sizes, float arrays, other channel counts)
is refused with a one-line :class:`~dpkit.errors.DPKitError` naming the file and the fix.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dpkit.data.imagefiles import GRAY_MODES, IMAGE_SUFFIXES, image_header, read_images
from dpkit.errors import DPKitError

__all__ = ["SampleImages", "load_sample_images", "match_channels", "ARRAY_SUFFIXES"]

ARRAY_SUFFIXES = (".npz", ".npy")


@dataclass(frozen=True)
class SampleImages:
    """Images read from ``source`` (uint8 (N, C, H, W)) and the format they came in."""

    images: torch.Tensor
    source: Path
    format: str  # "folder" or "array"

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])

    def to_dict(self) -> dict[str, object]:
        n, c, h, w = self.images.shape
        return {"samples": str(self.source), "format": self.format, "count": n,
                "shape": [c, h, w]}


def _sample_run_target(path: Path) -> Path | None:
    """The images of a ``dpkit sample`` directory (``images/`` or ``samples.npz``), else None."""
    config = path / "config.json"
    if not config.is_file():
        return None
    try:
        command = json.loads(config.read_text()).get("command")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return None
    if command != "sample":
        raise DPKitError(f"{path} is a dpkit '{command}' run, not generated samples; pass the "
                         f"directory 'dpkit sample' wrote, or a folder of images")
    for target in (path / "samples.npz", path / "images"):
        if target.exists():
            return target
    raise DPKitError(f"{path} is a 'dpkit sample' directory without images/ or samples.npz; "
                     f"sample again")


def _read_folder(folder: Path) -> torch.Tensor:
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and not any(part.startswith(".")
                                              for part in p.relative_to(folder).parts))
    if not files:
        raise DPKitError(f"{folder} holds no images; pass a folder of PNG/JPEG/BMP files or an "
                         f".npz of uint8 images")
    others = [p for p in files if p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        raise DPKitError(f"{folder} holds files that are not images ({others[0].name}"
                         f"{f' and {len(others) - 1} more' if len(others) > 1 else ''}); "
                         f"keep only PNG/JPEG/BMP files in it")
    headers = [image_header(p) for p in files]  # (mode, (w, h))
    sizes = {size for _, size in headers}
    if len(sizes) > 1:
        (s0, p0), (s1, p1) = [(s, next(p for p, (_, z) in zip(files, headers) if z == s))
                              for s in sorted(sizes)[:2]]
        raise DPKitError(f"{folder} mixes image sizes ({p0.name} is {s0[0]}x{s0[1]}, {p1.name} "
                         f"is {s1[0]}x{s1[1]}); resize them to one size")
    w, h = sizes.pop()
    mode = "L" if all(m in GRAY_MODES for m, _ in headers) else "RGB"
    return read_images(files, mode=mode, size=(w, h), desc="samples")


def _read_array(path: Path) -> torch.Tensor:
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise DPKitError(f"{path} is not a readable {path.suffix} file ({exc}); write it with "
                         f"numpy.savez(path, images=uint8_array)") from None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            if "images" in keys:
                arr = loaded["images"]
            elif len(keys) == 1:
                arr = loaded[keys[0]]
            else:
                raise DPKitError(f"{path} holds arrays {keys} and none is named 'images'; save "
                                 f"the samples as numpy.savez(path, images=...)")
    else:
        arr = loaded
    if arr.dtype != np.uint8:
        raise DPKitError(f"{path}: images are {arr.dtype}, not uint8; save them as uint8 in "
                         f"[0, 255] (e.g. (x * 255).round().astype('uint8') for x in [0, 1])")
    if arr.ndim == 3:
        arr = arr[:, None]  # (N, H, W) -> (N, 1, H, W)
    elif arr.ndim == 4 and arr.shape[1] not in (1, 3) and arr.shape[-1] in (1, 3):
        arr = arr.transpose(0, 3, 1, 2)  # (N, H, W, C) -> (N, C, H, W)
    if arr.ndim != 4 or arr.shape[1] not in (1, 3):
        raise DPKitError(f"{path}: images of shape {tuple(arr.shape)} are not (N, H, W), "
                         f"(N, C, H, W) or (N, H, W, C) with 1 or 3 channels")
    if arr.shape[0] == 0:
        raise DPKitError(f"{path} holds no images")
    return torch.from_numpy(np.ascontiguousarray(arr))


def load_sample_images(path: str | Path) -> SampleImages:
    """Read generated images from a folder, a ``dpkit sample`` directory or an array file."""
    path = Path(path)
    if not path.exists():
        raise DPKitError(f"{path} does not exist; pass a folder of images or an .npz file")
    if path.is_dir():
        path = _sample_run_target(path) or path
    if path.is_dir():
        images, fmt = _read_folder(path), "folder"
    elif path.suffix.lower() in ARRAY_SUFFIXES:
        images, fmt = _read_array(path), "array"
    else:
        raise DPKitError(f"{path} is neither a folder of images nor an .npz/.npy file; pass "
                         f"one of those")
    n, _, h, w = images.shape
    if h != w:
        raise DPKitError(f"{path}: images are {w}x{h}, not square; crop them to squares")
    if n < 2:
        raise DPKitError(f"{path} holds {n} image; the metrics need at least 2")
    return SampleImages(images, path, fmt)


def match_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) -> (N, channels, H, W): grayscale repeated to RGB, RGB to grayscale by
    ITU-R 601 luma (what PIL's ``convert("L")``, and so every dpkit dataset, uses)."""
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1 and channels == 3:
        return images.expand(-1, 3, -1, -1).contiguous()
    if c == 3 and channels == 1:
        weights = torch.tensor([299, 587, 114], dtype=torch.int64).view(1, 3, 1, 1)
        luma = (images.to(torch.int64) * weights).sum(1, keepdim=True)  # (N, 1, H, W) x 1000
        return ((luma + 500) // 1000).to(torch.uint8)
    raise DPKitError(f"images with {c} channels cannot be matched to {channels}")
