"""Fashion-MNIST, all 70,000 images (train then test, canonical order).

Sources, first found wins:
1. the array cache ``<root>/fashion-mnist/fashion_mnist.npz``;
2. the four gzipped IDX files of the Debian package ``dataset-fashion-mnist``, either installed
   (``/usr/share/datasets/fashion-mnist/``) or unpacked by ``make data`` into
   ``<root>/fashion-mnist/``; torchvision's ``<root>/FashionMNIST/raw/`` is also searched;
3. torchvision's download (only with ``download=true``, needs internet).
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from src.core.errors import DataNotFoundError, UserError
from src.data.base import ClusterData
from src.data.cache import cached_arrays

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
# the 70,000 images and labels as cached (src.data.cache.arrays_digest)
ARRAYS_SHA256 = "e891ebce2bc4748f9c693431e43a8c84a1a27003bff1b9c6522a22be59ad39df"
SPLITS = (
    ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
)
CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (``.gz`` or raw) of unsigned bytes as a numpy array of its stated shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4 or blob[0] != 0 or blob[1] != 0 or blob[2] != 0x08:
        raise UserError(f"{path} is not an IDX file of unsigned bytes; replace it")
    ndim = blob[3]
    dims = tuple(int(d) for d in np.frombuffer(blob, ">u4", count=ndim, offset=4))
    data = np.frombuffer(blob, np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UserError(f"{path} is truncated: {data.size} bytes for shape {dims}; replace it")
    return data.reshape(dims)


def _idx_file(folder: Path, stem: str) -> Path | None:
    for name in (f"{stem}.gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def find_idx_folder(root: Path) -> Path | None:
    """The first folder that holds all four IDX files (gzipped or not)."""
    for folder in (root / "fashion-mnist", DEBIAN_DIR, root / "FashionMNIST" / "raw"):
        if all(_idx_file(folder, stem) for pair in SPLITS for stem in pair):
            return folder
    return None


def arrays_from_idx(folder: Path) -> dict[str, np.ndarray]:
    """Train then test images (n, 28, 28) uint8 and labels int64 from the IDX files."""
    images, labels = [], []
    for image_stem, label_stem in SPLITS:
        x = read_idx(_idx_file(folder, image_stem))  # type: ignore[arg-type]
        y = read_idx(_idx_file(folder, label_stem))  # type: ignore[arg-type]
        if x.ndim != 3 or x.shape[1:] != (28, 28) or y.shape != x.shape[:1]:
            raise UserError(f"{folder}: {image_stem} {x.shape} and {label_stem} {y.shape} disagree")
        images.append(x)
        labels.append(y.astype(np.int64))
    return {"images": np.concatenate(images), "labels": np.concatenate(labels)}


def arrays_from_torchvision(root: Path) -> dict[str, np.ndarray]:
    from torchvision.datasets import FashionMNIST

    try:
        parts = [FashionMNIST(str(root), train=t, download=True) for t in (True, False)]
    except (RuntimeError, OSError) as exc:
        raise DataNotFoundError(f"{_missing_message(root)} (download failed: {exc})") from exc
    return {
        "images": np.concatenate([p.data.numpy() for p in parts]).astype(np.uint8),
        "labels": np.concatenate([p.targets.numpy() for p in parts]).astype(np.int64),
    }


def _missing_message(root: Path) -> str:
    files = ", ".join(f"{stem}.gz" for pair in SPLITS for stem in pair)
    return (
        f"Fashion-MNIST not found: run `make data` (unpacks the Debian package "
        f"dataset-fashion-mnist), or put {files} into {root / 'fashion-mnist'}/, "
        "or pass dataset.download=true when online"
    )


def load_fashion_mnist(root: str | Path, download: bool = False) -> ClusterData:
    """All 70,000 Fashion-MNIST images as ``(n, 1, 28, 28)`` float32 grey levels 0–255."""
    root = Path(root)

    def build() -> dict[str, np.ndarray]:
        if folder := find_idx_folder(root):
            return arrays_from_idx(folder)
        if download:
            return arrays_from_torchvision(root)
        raise DataNotFoundError(_missing_message(root))

    arrays = cached_arrays(
        root / "fashion-mnist" / "fashion_mnist.npz",
        ("images", "labels"),
        build,
        known=(ARRAYS_SHA256,),
    )
    x = arrays["images"].reshape(-1, 1, 28, 28)
    return ClusterData("fashion_mnist", x, arrays["labels"], 10, list(CLASSES), {"bytes": True})
