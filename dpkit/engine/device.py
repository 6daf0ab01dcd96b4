"""Device selection: ``--device auto|cpu|cuda``."""

from __future__ import annotations

import torch

from dpkit.errors import DPKitError
from dpkit.names import DEVICES

__all__ = ["DEVICES", "resolve_device"]


def resolve_device(name: str = "auto") -> torch.device:
    """CUDA when asked for (or when ``auto`` and present), else CPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DPKitError(f"device={name!r} was asked for but no CUDA device is visible; "
                             f"use device='cpu' (or device='auto')")
        return torch.device(name)
    raise DPKitError(f"device={name!r} is unknown; use 'auto', 'cpu' or 'cuda'")
