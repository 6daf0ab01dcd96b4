"""Training curves as a PNG, drawn with Pillow (no plotting library needed)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

from PIL import Image, ImageDraw

__all__ = ["plot_curves"]

_COLORS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))


def plot_curves(path: str | Path, series: Mapping[str, Sequence[float]], *, title: str,
                ylim: tuple[float, float] | None = None, size: tuple[int, int] = (640, 400)) -> Path:
    """Draw one line per series against the epoch (1..n) and save a PNG.

    Args:
        path: the PNG to write.
        series: name -> values per epoch (non-finite values are skipped).
        title: drawn at the top.
        ylim: y range; default: the data's range.
        size: image size in pixels.
    """
    w, h = size
    left, right, top, bottom = 60, 20, 40, 40
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    vals = [v for s in series.values() for v in s if math.isfinite(v)]
    lo, hi = ylim if ylim is not None else (min(vals, default=0.0), max(vals, default=1.0))
    if hi <= lo:
        hi = lo + 1.0
    n = max((len(s) for s in series.values()), default=1)

    def px(i: int, v: float) -> tuple[float, float]:
        x = left + (w - left - right) * (i / max(n - 1, 1))
        y = top + (h - top - bottom) * (1 - (v - lo) / (hi - lo))
        return x, y
    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        _, y = px(0, v)
        d.line([left - 4, y, left, y], fill="black")
        d.text((4, y - 6), f"{v:.3g}", fill="black")
    for i in range(0, n, max(1, n // 10)):
        x, _ = px(i, lo)
        d.text((x - 4, h - bottom + 6), str(i + 1), fill="black")
    d.text((left, 12), title, fill="black")
    d.text((w // 2 - 15, h - 18), "epoch", fill="black")
    for j, (name, s) in enumerate(series.items()):
        color = _COLORS[j % len(_COLORS)]
        pts = [px(i, v) for i, v in enumerate(s) if math.isfinite(v)]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        for x, y in pts:
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=color)
        width = d.textlength(name)  # legend right-aligned inside the frame, whatever its length
        d.text((w - right - 8 - width, top + 8 + 14 * j), name, fill=color)
    path = Path(path)
    img.save(path)
    return path
