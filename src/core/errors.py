"""User-facing errors: one line that names the fix, no traceback by default."""

from __future__ import annotations

import sys
from typing import NoReturn


class UserError(Exception):
    """Bad input or missing files; the message tells the user what to do."""


class DataNotFoundError(UserError):
    """A data set's files are not present (and cannot be downloaded offline)."""


class CorruptedCacheError(UserError):
    """A cached file exists but cannot be read; the message says what to delete."""


def exit_with(exc: UserError) -> NoReturn:
    """Print ``error: …`` on stderr, one line per problem the message lists, and exit 2."""
    for line in str(exc).splitlines() or [type(exc).__name__]:
        print(f"error: {line}", file=sys.stderr)
    sys.exit(2)
