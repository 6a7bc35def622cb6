"""User-facing errors: one line that names the fix, no traceback by default."""

from __future__ import annotations


class UserError(Exception):
    """Bad input or missing files; the message tells the user what to do."""


class DataNotFoundError(UserError):
    """A data set's files are not present (and cannot be downloaded offline)."""


class CorruptedCacheError(UserError):
    """A cached file exists but cannot be read; the message says what to delete."""
