"""Progress bars for long loops (tqdm on a terminal), silenced by ``--quiet``.

Output flags never touch randomness: the bar is tqdm's plain class, which iterates the wrapped
loader exactly once (``tqdm.auto``'s asyncio variant calls ``iter()`` on it at construction,
and a DataLoader draws a seed from the global RNG per iterator, so ``--quiet`` used to change the
trained model). Off a terminal (a log file, CI) no bar is drawn, so no ``\\r`` lines are written.
"""

from __future__ import annotations

from typing import Iterable, TypeVar

from tqdm.std import tqdm

__all__ = ["progress"]

T = TypeVar("T")


def progress(iterable: Iterable[T], *, quiet: bool, desc: str = "", total: int | None = None,
             leave: bool = False) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar on stderr unless ``quiet`` or stderr is not a terminal."""
    if quiet:
        return iterable
    return tqdm(iterable, desc=desc, total=total, leave=leave, dynamic_ncols=True, disable=None)
