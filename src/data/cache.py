"""Checksums and the ``.npz`` array cache shared by the file-based loaders.

A cache holds the sha256 of its arrays (``sha256``), written when it is built from the
verified source; on every load the arrays must match it (or a known digest of the data set),
so a cache replaced or cut short is rebuilt, never trained on silently."""

from __future__ import annotations

import hashlib
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from src.core.errors import CorruptedCacheError, UserError
from src.core.io_utils import atomic_write


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def save_npz(path: Path, **arrays: np.ndarray) -> Path:
    """Write arrays to ``path`` atomically (compressed)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    return atomic_write(path, write)


def load_npz(
    path: Path, keys: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """Read ``keys`` (and ``optional`` ones when present) from a cache file, or say plainly
    that the cache is broken."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in keys} | {k: f[k] for k in optional if k in f.files}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CorruptedCacheError(
            f"cache file {path} is corrupted ({type(exc).__name__}); delete it and run again "
            "(it is rebuilt from the source files)"
        ) from exc


DIGEST = "sha256"  # the cache's own record of its arrays' checksum


def arrays_digest(arrays: dict[str, np.ndarray], keys: tuple[str, ...]) -> str:
    """sha256 over each array's name, dtype, shape and bytes (in ``keys``' order)."""
    h = hashlib.sha256()
    for key in keys:
        a = np.ascontiguousarray(arrays[key])
        h.update(f"{key}:{a.dtype.str}:{a.shape};".encode())
        h.update(memoryview(a).cast("B"))
    return h.hexdigest()


def cache_problem(
    arrays: dict[str, np.ndarray], keys: tuple[str, ...], known: tuple[str, ...] = ()
) -> str | None:
    """Why cached ``arrays`` are not what their source gave (None when they are): their
    checksum must match the one recorded at build time or one of ``known``."""
    recorded = str(arrays[DIGEST]) if DIGEST in arrays else None
    if arrays_digest(arrays, keys) in {*known, recorded} - {None}:
        return None
    shapes = ", ".join(f"{k} {arrays[k].dtype}{list(arrays[k].shape)}" for k in keys)
    why = "differ from its recorded checksum" if recorded else "carry no checksum of the source"
    return f"holds {shapes}, which {why}"


def cached_arrays(
    path: Path,
    keys: tuple[str, ...],
    build: Callable[[], dict[str, np.ndarray]],
    known: tuple[str, ...] = (),
) -> dict[str, np.ndarray]:
    """The arrays cached at ``path``, built (once) by ``build()`` when the cache is absent or
    its contents do not match its checksum (rebuilt with one line on stderr; refused with the
    fix when the source is gone)."""
    if path.exists():
        arrays = load_npz(path, keys, optional=(DIGEST,))
        if (problem := cache_problem(arrays, keys, known)) is None:
            return {k: arrays[k] for k in keys}
        try:
            arrays = build()
        except UserError as exc:
            raise CorruptedCacheError(
                f"cache file {path} {problem}; delete it and rebuild it from the source ({exc})"
            ) from None
        print(f"warning: cache file {path} {problem}; rebuilt from the source", file=sys.stderr)
    else:
        arrays = build()
    save_npz(path, **arrays, **{DIGEST: np.array(arrays_digest(arrays, keys))})
    return {k: arrays[k] for k in keys}
