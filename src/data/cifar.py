"""CIFAR-10 (60,000, 10 classes) and CIFAR-100 with its 20 super-classes (60,000, 20).

Reads the official "python version" batches (torchvision's layout and file list):
``<root>/cifar-10-batches-py/{data_batch_1..5, test_batch, batches.meta}`` and
``<root>/cifar-100-python/{train, test, meta}``. Each file's md5 is checked against the list
torchvision publishes; the pickles are read with a numpy-only unpickler (torchvision's own
reader would drop CIFAR-100's coarse labels). ``download=true`` fetches the archive with
torchvision when online. Train then test, in file order.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from src.core.errors import DataNotFoundError, UserError
from src.data.base import ClusterData
from src.data.files import require_files, verify_md5
from src.data.safe_pickle import load_numpy_pickle

SOURCE = "unpack cifar-{v}-python.tar.gz from https://www.cs.toronto.edu/~kriz/cifar.html, or pass dataset.download=true when online"


def _tv_class(version: int):
    from torchvision.datasets import CIFAR10, CIFAR100

    return CIFAR10 if version == 10 else CIFAR100


def read_batch(path: Path) -> dict:
    with open(path, "rb") as f:
        try:
            return load_numpy_pickle(f)
        except Exception as exc:  # a truncated or foreign file: say which
            raise UserError(f"{path} is not a readable CIFAR batch ({exc}); replace it") from exc


def read_cifar(
    root: Path, version: int, label_key: str, names_key: str, download: bool
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """uint8 images (n, 3, 32, 32), int64 labels and class names from the official batches."""
    cls = _tv_class(version)
    folder = root / cls.base_folder
    how = SOURCE.format(v=version)
    if download:
        try:
            cls(str(root), train=True, download=True)
        except (RuntimeError, OSError) as exc:
            raise DataNotFoundError(f"CIFAR-{version} download failed ({exc}); {how}") from exc
    files = [*cls.train_list, *cls.test_list, [cls.meta["filename"], cls.meta["md5"]]]
    paths = require_files(folder, [name for name, _ in files], f"CIFAR-{version}", how)
    for path, (_, md5) in zip(paths, files, strict=True):
        verify_md5(path, md5, f"delete it and {how}")
    images, labels = [], []
    for path in paths[:-1]:
        batch = read_batch(path)
        x = np.asarray(batch["data"], dtype=np.uint8)
        y = np.asarray(batch[label_key], dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != 3072 or y.shape != x.shape[:1]:
            raise UserError(
                f"{path}: data {x.shape} and {label_key} {y.shape} are not CIFAR-shaped"
            )
        images.append(x.reshape(-1, 3, 32, 32))
        labels.append(y)
    names = [str(n) for n in read_batch(paths[-1])[names_key]]
    return np.concatenate(images), np.concatenate(labels), names


def load_cifar10(root: str | Path, download: bool = False) -> ClusterData:
    """CIFAR-10 train + test: ``(60000, 3, 32, 32)`` float32 bytes 0–255, 10 classes."""
    x, y, names = read_cifar(Path(root), 10, "labels", "label_names", download)
    return ClusterData("cifar10", x, y, 10, names, {"bytes": True})


def load_cifar100_20(root: str | Path, download: bool = False) -> ClusterData:
    """CIFAR-100 train + test labelled by its 20 super-classes (the pickles' coarse labels)."""
    x, y, names = read_cifar(Path(root), 100, "coarse_labels", "coarse_label_names", download)
    return ClusterData("cifar100_20", x, y, 20, names, {"bytes": True})
