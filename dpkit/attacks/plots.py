"""PNG pictures of attack results, drawn with Pillow: ROC curves on log-log axes, image grids."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from dpkit.attacks.scores import RocCurve
from dpkit.data.tensors import to_uint8

__all__ = ["roc_png", "grid_png", "paired_grid_png"]

_COLORS = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
           (140, 86, 75)]


def roc_png(curves: dict[str, RocCurve], path: str | Path, *, min_rate: float = 1e-4,
            size: int = 480) -> Path:
    """ROC curves of several attacks on log-log axes, with the chance diagonal.

    Args:
        curves: legend label -> ROC curve.
        path: PNG file to write.
        min_rate: lower end of both axes (rates below it are drawn on the axis).
        size: image width and height in pixels.
    """
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    left, right, top, bottom = 60, size - 15, 15, size - 45
    lo = math.log10(min_rate)

    def to_px(fpr: np.ndarray, tpr: np.ndarray) -> list[tuple[float, float]]:
        fx = (np.log10(np.clip(fpr, min_rate, 1.0)) - lo) / -lo
        ty = (np.log10(np.clip(tpr, min_rate, 1.0)) - lo) / -lo
        return list(zip((left + fx * (right - left)).tolist(),
                        (bottom - ty * (bottom - top)).tolist()))

    for k in range(int(lo), 1):
        t = (k - lo) / -lo
        x, y = left + t * (right - left), bottom - t * (bottom - top)
        draw.line([(x, top), (x, bottom)], fill=(225, 225, 225))
        draw.line([(left, y), (right, y)], fill=(225, 225, 225))
        draw.text((x - 12, bottom + 5), f"1e{k}", fill="black", font=font)
        draw.text((left - 35, y - 6), f"1e{k}", fill="black", font=font)
    draw.rectangle([left, top, right, bottom], outline="black")
    draw.line(to_px(np.array([min_rate, 1.0]), np.array([min_rate, 1.0])), fill=(120, 120, 120))
    for i, (label, curve) in enumerate(curves.items()):
        color = _COLORS[i % len(_COLORS)]
        # step curve: horizontal then vertical segments between ROC points
        fpr = np.repeat(curve.fpr, 2)[1:]
        tpr = np.repeat(curve.tpr, 2)[:-1]
        draw.line(to_px(fpr, tpr), fill=color, width=2)
        draw.text((left + 10, top + 8 + 14 * i), label, fill=color, font=font)
    draw.text(((left + right) // 2 - 50, size - 22), "false positive rate", fill="black",
              font=font)
    draw.text((5, top - 12), "true positive rate", fill="black", font=font)
    path = Path(path)
    img.save(path)
    return path


def grid_png(rows: list[torch.Tensor], path: str | Path, *, scale: int = 1,
             pad: int = 2) -> Path:
    """Rows of images stacked vertically (e.g. originals above reconstructions).

    Args:
        rows: each (N, C, H, W) in [-1, 1], all of the same shape.
        path: PNG file to write.
        scale: integer up-scaling of every pixel (nearest neighbour) for tiny images.
        pad: white pixels between images.
    """
    arrays = [to_uint8(r.detach().cpu().float()).permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
              for r in rows]
    n, h, w, c = arrays[0].shape
    canvas = np.full((len(rows) * (h + pad) + pad, n * (w + pad) + pad, c), 255, np.uint8)
    for r, arr in enumerate(arrays):
        for i in range(n):
            y, x = pad + r * (h + pad), pad + i * (w + pad)
            canvas[y:y + h, x:x + w] = arr[i]
    img = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    img.save(path)
    return path


def paired_grid_png(top: torch.Tensor, bottom: torch.Tensor, path: str | Path, *,
                    columns: int = 16, scale: int = 1) -> Path:
    """``top[i]`` above ``bottom[i]``, ``columns`` pairs per band, bands stacked vertically.

    Args:
        top, bottom: (N, C, H, W) in [-1, 1] (e.g. originals and their reconstructions).
    """
    n = top.shape[0]
    columns = max(1, min(columns, n))
    pad = (-n) % columns
    if pad:  # fill the last band with white
        white = torch.ones((pad, *top.shape[1:]))
        top, bottom = torch.cat([top.cpu(), white]), torch.cat([bottom.cpu(), white])
    rows = []
    for s in range(0, top.shape[0], columns):
        rows += [top[s:s + columns], bottom[s:s + columns]]
    return grid_png(rows, path, scale=scale)
