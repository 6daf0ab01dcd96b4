"""The audit's picture: how precise the membership guesses are as the auditor makes more of them
(drawn with Pillow, like :mod:`dpkit.engine.curves`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["guess_precision", "plot_guess_precision"]

_COLORS = ((214, 39, 40), (31, 119, 180))


def guess_precision(scores: np.ndarray, is_member: np.ndarray) -> dict[str, np.ndarray]:
    """Precision of the k highest scores guessed "in" and of the k lowest guessed "out", for
    k = 1..m/2. Ties are ordered by canary index (for the picture only; the bounds break ties
    at random).

    Args:
        scores: (m,) higher = more likely included.
        is_member: (m,) bool.

    Returns:
        {"in": (m//2,), "out": (m//2,)}: element k-1 is the precision of k guesses.
    """
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")  # (m,) high first
    member = np.asarray(is_member, dtype=bool)[order]
    half = member.size // 2
    k = np.arange(1, half + 1)
    return {"in": np.cumsum(member[:half]) / k, "out": np.cumsum(~member[::-1][:half]) / k}


def plot_guess_precision(path: str | Path, scores: np.ndarray, is_member: np.ndarray, *,
                         title: str, size: tuple[int, int] = (640, 400)) -> Path:
    """Draw :func:`guess_precision` against k (with the 1/2 of blind guessing) into a PNG."""
    curves = guess_precision(scores, is_member)
    w, h = size
    left, right, top, bottom = 60, 20, 40, 40
    img = Image.new("RGB", size, "white")
    d = ImageDraw.Draw(img)
    n = max(len(curves["in"]), 1)

    def px(k: float, v: float) -> tuple[float, float]:  # k in 1..n, v in [0, 1]
        return (left + (w - left - right) * ((k - 1) / max(n - 1, 1)),
                top + (h - top - bottom) * (1 - v))

    d.rectangle([left, top, w - right, h - bottom], outline="black")
    for v in (0.0, 0.25, 0.5, 0.75, 1.0):
        _, y = px(1, v)
        d.line([left - 4, y, left, y], fill="black")
        d.text((4, y - 6), f"{v:.2f}", fill="black")
    for k in np.unique(np.linspace(1, n, 6).round().astype(int)):
        x, _ = px(k, 0)
        d.text((x - 4, h - bottom + 6), str(k), fill="black")
    d.line([px(1, 0.5), px(n, 0.5)], fill=(150, 150, 150))
    d.text((left, 12), title, fill="black")
    d.text((w // 2 - 80, h - 18), "number of guesses k (of each kind)", fill="black")
    labels = {"in": "precision of the k top scores guessed 'in'",
              "out": "precision of the k bottom scores guessed 'out'"}
    for j, (key, values) in enumerate(curves.items()):
        color = _COLORS[j]
        pts = [px(i + 1, float(v)) for i, v in enumerate(values)]
        if len(pts) > 1:
            d.line(pts, fill=color, width=2)
        else:
            d.point(pts, fill=color)
        width = d.textlength(labels[key])
        d.text((w - right - 8 - width, h - bottom - 20 - 14 * j), labels[key], fill=color)
    path = Path(path)
    img.save(path)
    return path
