"""Read a folder of images (ImageFolder layout) into one uint8 array.

Layout: ``folder/<class>/<image>`` (one sub-folder per class; labels follow the class order
given, else the sub-folders sorted by name) or ``folder/<image>`` (flat, no labels).
Image files: torchvision's ``IMG_EXTENSIONS`` (.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff
.webp), any case; other files are ignored. Images are grey (1 channel) when every image is
grey, else RGB (3 channels).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from src.core.errors import UserError

GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def is_image(path: Path) -> bool:
    from torchvision.datasets.folder import IMG_EXTENSIONS

    return path.is_file() and path.suffix.lower() in IMG_EXTENSIONS


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image(p))


def class_folders(folder: Path) -> list[str]:
    """Names of the sub-folders of ``folder`` (hidden ones skipped), sorted."""
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def fingerprint(paths: list[Path]) -> str:
    """sha256 over names and sizes: changes when images are added, removed or replaced."""
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p.parent.name}/{p.name}:{p.stat().st_size}\n".encode())
    return h.hexdigest()


def read_images(paths: list[Path], image_size: int | None = None) -> np.ndarray:
    """uint8 ``(n, c, h, w)``; every image resized to ``image_size``² (bilinear) if given,
    else all must already share one size."""
    from PIL import Image, UnidentifiedImageError

    if not paths:
        raise UserError("no images to read")
    try:
        modes = []
        for p in paths:
            with Image.open(p) as img:
                modes.append(img.mode)
    except (UnidentifiedImageError, OSError) as exc:
        raise UserError(f"cannot read image {p}: {exc}; remove or replace it") from exc
    mode = "L" if all(m in GREY_MODES for m in modes) else "RGB"
    out: np.ndarray | None = None
    for i, p in enumerate(paths):
        try:
            with Image.open(p) as img:
                img = img.convert(mode)
                if image_size:
                    img = img.resize((image_size, image_size), Image.BILINEAR)
                arr = np.asarray(img, dtype=np.uint8)
        except OSError as exc:
            raise UserError(f"cannot read image {p}: {exc}; remove or replace it") from exc
        if arr.ndim == 2:
            arr = arr[None]
        else:
            arr = arr.transpose(2, 0, 1)
        if out is None:
            out = np.empty((len(paths), *arr.shape), dtype=np.uint8)
        elif arr.shape != out.shape[1:]:
            raise UserError(
                f"images differ in size: {paths[0].name} is {out.shape[2]}×{out.shape[3]}, "
                f"{p.name} is {arr.shape[1]}×{arr.shape[2]}; set dataset.image_size=N to resize"
            )
        out[i] = arr
    return out  # type: ignore[return-value]


def scan_class_folders(folder: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    """Image paths of the listed class sub-folders, in class order, and their labels."""
    paths: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        found = list_images(folder / name)
        if not found:
            raise UserError(f"class folder {folder / name} holds no images")
        paths += found
        labels += [label] * len(found)
    return paths, np.asarray(labels, dtype=np.int64)
