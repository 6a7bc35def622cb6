"""The MNIST loader on a tiny wheel in the real format (a Python-2 style pickle in a zip)."""

import gzip
import hashlib
import pickle
import zipfile

import numpy as np
import pytest

from src.core.errors import CorruptedCacheError, DataNotFoundError, UserError
from src.data import mnist


def write_fake_wheel(path, n_per_split=(5, 3, 2), payload=None):
    rng = np.random.default_rng(0)
    splits, all_bytes, all_labels = [], [], []
    for n in n_per_split:
        b = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).astype(np.int64)
        splits.append((b.astype(np.float32) / 256.0, y))
        all_bytes.append(b)
        all_labels.append(y)
    blob = gzip.compress(
        payload if payload is not None else pickle.dumps(tuple(splits), protocol=2)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(mnist.PICKLE_MEMBER, blob)
    sums = (hashlib.sha256(path.read_bytes()).hexdigest(), hashlib.sha256(blob).hexdigest())
    return np.concatenate(all_bytes).reshape(-1, 28, 28), np.concatenate(all_labels), sums


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    images, labels, (wsum, psum) = write_fake_wheel(tmp_path / "raw" / mnist.WHEEL_NAME)
    monkeypatch.setattr(mnist, "WHEEL_SHA256", wsum)
    monkeypatch.setattr(mnist, "PICKLE_SHA256", psum)
    return tmp_path, images, labels


def test_wheel_roundtrip_gives_exact_bytes_and_order(fake_root):
    root, images, labels = fake_root
    data = mnist.load_mnist(root)
    assert data.x.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(data.x[:, 0].astype(np.uint8), images)
    np.testing.assert_array_equal(data.y, labels)
    assert (root / "mnist" / "mnist.npz").exists()


def test_cache_is_used_second_time(fake_root):
    root, images, _ = fake_root
    mnist.load_mnist(root)
    (root / "raw" / mnist.WHEEL_NAME).unlink()  # only the cache is left
    np.testing.assert_array_equal(mnist.load_mnist(root).x[:, 0].astype(np.uint8), images)


def test_corrupted_cache_names_the_file(fake_root):
    root, _, _ = fake_root
    mnist.load_mnist(root)
    (root / "mnist" / "mnist.npz").write_bytes(b"not a zip")
    with pytest.raises(CorruptedCacheError, match="delete it"):
        mnist.load_mnist(root)


def test_wrong_checksum_is_refused(fake_root, monkeypatch):
    root, _, _ = fake_root
    monkeypatch.setattr(mnist, "WHEEL_SHA256", "0" * 64)
    with pytest.raises(UserError, match="sha256"):
        mnist.load_mnist(root)


def test_malicious_pickle_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    wheel = tmp_path / mnist.WHEEL_NAME
    _, _, (wsum, psum) = write_fake_wheel(wheel, payload=pickle.dumps(Evil(), protocol=2))
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        mnist.arrays_from_wheel(wheel, wsum, psum)


def test_missing_offline_says_make_data(tmp_path):
    with pytest.raises(DataNotFoundError, match="make data"):
        mnist.load_mnist(tmp_path)


def test_real_mnist_if_prepared():
    """The checks data-sources.md lists, when `make data` has run on this machine."""
    from pathlib import Path

    cache = Path("data/mnist/mnist.npz")
    if not cache.exists():
        pytest.skip("real MNIST not prepared (make data)")
    data = mnist.load_mnist("data")
    assert data.x.shape == (70_000, 1, 28, 28)
    assert np.bincount(data.y).tolist() == [
        6903,
        7877,
        6990,
        7141,
        6824,
        6313,
        6876,
        7293,
        6825,
        6958,
    ]
    assert data.y[:6].tolist() == [5, 0, 4, 1, 9, 2]
    assert data.y[60_000:60_006].tolist() == [7, 2, 1, 0, 4, 1]
