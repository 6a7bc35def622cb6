"""``python -m src.checkpoints migrate PATH [PATH ...]``: convert checkpoints of an older
dcrepro (numpy arrays inside) to the current schema without running code from them. The
schema and the conversion live in :mod:`src.recording.checkpoints`."""

from __future__ import annotations

import sys

from src.core.errors import UserError, exit_with
from src.recording.checkpoints import migrate_checkpoint


def main(argv: list[str] | None = None) -> None:
    """``python -m src.checkpoints migrate PATH [PATH ...]``."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2 or argv[0] != "migrate":
        exit_with(UserError("usage: python -m src.checkpoints migrate PATH [PATH ...]"))
    try:
        for path in argv[1:]:
            print(f"migrated {migrate_checkpoint(path)}")
    except UserError as exc:
        exit_with(exc)


if __name__ == "__main__":
    main()
