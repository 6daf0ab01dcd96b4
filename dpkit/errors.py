"""Errors that dpkit raises for user mistakes.

Every user-facing mistake raises :class:`DPKitError` (a ``ValueError``) whose message names the
offending value and the fix. The CLI prints it as one line and exits with status 2.
"""

from __future__ import annotations

__all__ = ["DPKitError", "PrivacyViolation", "RunInterrupted", "require"]


class DPKitError(ValueError):
    """A user mistake: bad option, missing file, impossible request."""


class PrivacyViolation(DPKitError):
    """A request that would silently break the differential-privacy guarantee."""


class RunInterrupted(Exception):
    """Training was interrupted (Ctrl-C). ``resume`` is the command that continues it exactly,
    or None when no epoch had finished (the run directory was then removed)."""

    def __init__(self, message: str, resume: str | None) -> None:
        super().__init__(message)
        self.resume = resume


def require(condition: bool, message: str, *, error: type[DPKitError] = DPKitError) -> None:
    """Raise ``error(message)`` unless ``condition`` holds."""
    if not condition:
        raise error(message)
