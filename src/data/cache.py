"""Checksums and the ``.npz`` array cache shared by the file-based loaders."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import numpy as np

from src.errors import CorruptedCacheError
from src.io_utils import atomic_write


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


def load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Read ``keys`` from a cache file, or say plainly that the cache is broken."""
    try:
        with np.load(path, allow_pickle=False) as f:
            return {k: f[k] for k in keys}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise CorruptedCacheError(
            f"cache file {path} is corrupted ({type(exc).__name__}); delete it and run again "
            "(it is rebuilt from the source files)"
        ) from exc
