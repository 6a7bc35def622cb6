"""Checks shared by the file-based loaders: required files present, checksums right."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from src.core.errors import DataNotFoundError, UserError


def require_files(folder: Path, names: Iterable[str], what: str, how: str) -> list[Path]:
    """The paths ``folder/name``; one DataNotFoundError listing every missing one otherwise."""
    paths = [folder / n for n in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataNotFoundError(
            f"{what} not found: put {', '.join(missing)} into {folder}/ ({how})"
        )
    return paths


def verify_md5(path: Path, md5: str, how: str) -> None:
    """Refuse a file whose md5 differs from the published one (truncated or wrong file)."""
    from torchvision.datasets.utils import check_integrity

    if not check_integrity(str(path), md5):
        raise UserError(f"{path} has the wrong md5 (corrupted or a different file); {how}")
