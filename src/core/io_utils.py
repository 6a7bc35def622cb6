"""Atomic file writes: a reader never sees a half-written result or checkpoint, and a full
disk (or a file size limit, ``ulimit -f``) is said in one line naming the file and the space
that was missing, with nothing half-written left behind."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from src.core.errors import UserError

SPACE_ERRNOS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}


class OutOfSpaceError(UserError):
    """A file could not be written for want of space (disk, quota or file size limit)."""


def out_of_space(exc: OSError) -> bool:
    """A write that failed for want of space (numpy's short writes carry no errno)."""
    if exc.errno in SPACE_ERRNOS:
        return True
    return exc.errno is None and "requested and" in str(exc) and "written" in str(exc)


def space_message(path: Path, written: int, size: int | None) -> str:
    """Which file, how many bytes it needed and got, and what limited it."""
    if size:
        need = f"{size:,} bytes needed, {written:,} written: {size - written:,} missing"
    else:
        need = f"{written:,} bytes written before it stopped"
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and written >= limit:
        where = f"the file size limit (ulimit -f) is {limit:,} bytes"
    else:
        where = f"{shutil.disk_usage(path.parent).free:,} bytes free on its disk"
    return (
        f"cannot write {path}: out of space ({need}; {where}); nothing was left half-written: "
        "free some space (or raise the limit, or write elsewhere) and run again"
    )


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once at import, before any other thread creates files


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], None], size: int | None = None
) -> Path:
    """Call ``write(tmp_path)`` and move the finished file onto ``path`` in one step;
    ``size`` (the bytes it will take, when known) goes into an out-of-space message."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except OSError as exc:
        written = _size_of(Path(tmp))
        Path(tmp).unlink(missing_ok=True)
        if out_of_space(exc):
            raise OutOfSpaceError(space_message(path, written, size)) from exc
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    data = text.encode()
    return atomic_write(path, lambda tmp: tmp.write_bytes(data), size=len(data))


def rewrite_marked(path: str | os.PathLike, begin: str, end: str, inner: str) -> bool:
    """Replace what lies between the marker lines ``begin`` and ``end`` of a text file with
    ``inner`` (atomically); False, and nothing written, when a marker is missing."""
    text = Path(path).read_text()
    if begin not in text or end not in text:
        return False
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(path, f"{head}{begin}\n{inner}\n{end}{tail}")
    return True


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda tmp: torch.save(obj, tmp))
