"""Errors that dpkit raises for user mistakes.

Every user-facing mistake raises :class:`DPKitError` (a ``ValueError``) whose message names the
offending value and the fix. The CLI prints it as one line and exits with status 2.
"""

from __future__ import annotations

__all__ = ["DPKitError", "PrivacyViolation", "require"]


class DPKitError(ValueError):
    """A user mistake: bad option, missing file, impossible request."""


class PrivacyViolation(DPKitError):
    """A request that would silently break the differential-privacy guarantee."""


def require(condition: bool, message: str, *, error: type[DPKitError] = DPKitError) -> None:
    """Raise ``error(message)`` unless ``condition`` holds."""
    if not condition:
        raise error(message)
