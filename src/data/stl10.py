"""STL-10, the labelled images only: train 5,000 + test 8,000 = 13,000, 3×96×96, 10 classes.

Reads the official binaries in ``<root>/stl10_binary/`` (torchvision's layout):
``train_X.bin, train_y.bin, test_X.bin, test_y.bin`` (md5-checked against torchvision's list),
plus ``class_names.txt`` if present. The 100,000-image ``unlabeled_X.bin`` is neither needed nor
read (torchvision's own class insists on it, so it is used only to download when
``download=true``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.core.errors import DataNotFoundError, UserError
from src.data.base import ClusterData
from src.data.files import require_files, verify_md5

CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
FILES = ("train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin")
HOW = (
    "unpack stl10_binary.tar.gz from https://cs.stanford.edu/~acoates/stl10/, "
    "or pass dataset.download=true when online"
)
SIDE = 96


def read_images(path: Path) -> np.ndarray:
    """An STL-10 image file: uint8, each image channel-major and column-major → (n, 3, 96, 96)."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % (3 * SIDE * SIDE):
        raise UserError(f"{path}: {raw.size} bytes is not a whole number of 3×96×96 images")
    return raw.reshape(-1, 3, SIDE, SIDE).transpose(0, 1, 3, 2)


def read_labels(path: Path) -> np.ndarray:
    """An STL-10 label file: one byte per image, classes 1–10 → 0–9."""
    y = np.fromfile(path, dtype=np.uint8).astype(np.int64) - 1
    if y.size and (y.min() < 0 or y.max() > 9):
        raise UserError(f"{path}: labels outside 1–10; replace it")
    return y


def load_stl10(root: str | Path, download: bool = False) -> ClusterData:
    """STL-10 train + test as ``(13000, 3, 96, 96)`` float32 bytes 0–255."""
    root = Path(root)
    folder = root / "stl10_binary"
    if download:
        from torchvision.datasets import STL10

        try:
            STL10(str(root), split="test", download=True)
        except (RuntimeError, OSError) as exc:
            raise DataNotFoundError(f"STL-10 download failed ({exc}); {HOW}") from exc
    paths = require_files(folder, FILES, "STL-10", HOW)
    from torchvision.datasets import STL10

    md5 = dict(STL10.train_list + STL10.test_list)
    images, labels = [], []
    for x_path, y_path in (paths[:2], paths[2:]):
        for p in (x_path, y_path):
            verify_md5(p, md5[p.name], f"delete it and {HOW}")
        x, y = read_images(x_path), read_labels(y_path)
        if len(x) != len(y):
            raise UserError(f"{x_path} holds {len(x)} images but {y_path} {len(y)} labels")
        images.append(x)
        labels.append(y)
    names_file = folder / "class_names.txt"
    names = names_file.read_text().split() if names_file.is_file() else list(CLASSES)
    return ClusterData("stl10", np.concatenate(images), np.concatenate(labels), 10, names,
                       {"bytes": True})  # fmt: skip
