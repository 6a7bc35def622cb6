"""Fashion-MNIST on tiny IDX files in the real (gzipped) format, and `make data`'s unpacking."""

import gzip
import os
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from src.core.errors import DataNotFoundError, UserError
from src.data import fashion_mnist as fm
from src.data import prepare


def idx_bytes(arr: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + arr.astype(np.uint8).tobytes()


def write_idx_set(folder: Path, n=(5, 3), gz=True, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    images, labels = [], []
    for (img_stem, lab_stem), k in zip(fm.SPLITS, n, strict=True):
        x = rng.integers(0, 256, (k, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, k).astype(np.uint8)
        for stem, arr in ((img_stem, x), (lab_stem, y)):
            blob = idx_bytes(arr)
            if gz:
                (folder / f"{stem}.gz").write_bytes(gzip.compress(blob))
            else:
                (folder / stem).write_bytes(blob)
        images.append(x)
        labels.append(y)
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


@pytest.fixture(autouse=True)
def no_system_package(monkeypatch, tmp_path):
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "not-installed")


def test_idx_roundtrip_train_then_test(tmp_path):
    images, labels = write_idx_set(tmp_path / "fashion-mnist")
    data = fm.load_fashion_mnist(tmp_path)
    assert data.x.shape == (8, 1, 28, 28) and data.n_classes == 10
    np.testing.assert_array_equal(data.x[:, 0].astype(np.uint8), images)
    np.testing.assert_array_equal(data.y, labels)
    assert data.class_names[0] == "T-shirt/top" and data.meta["bytes"]
    assert (tmp_path / "fashion-mnist" / "fashion_mnist.npz").exists()


def test_installed_package_and_torchvision_layout_are_found(tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "usr-share")
    images, _ = write_idx_set(tmp_path / "usr-share", seed=1)
    np.testing.assert_array_equal(fm.load_fashion_mnist(tmp_path).x[:, 0], images)
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "not-installed")
    other = tmp_path / "other"
    images, _ = write_idx_set(other / "FashionMNIST" / "raw", gz=False, seed=2)
    np.testing.assert_array_equal(fm.load_fashion_mnist(other).x[:, 0], images)


def test_truncated_idx_is_refused(tmp_path):
    write_idx_set(tmp_path / "fashion-mnist")
    path = tmp_path / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes())[:-10]))
    with pytest.raises(UserError, match="truncated"):
        fm.load_fashion_mnist(tmp_path)


def test_missing_names_make_data_and_the_files(tmp_path):
    with pytest.raises(DataNotFoundError, match="make data") as err:
        fm.load_fashion_mnist(tmp_path)
    assert "train-images-idx3-ubyte.gz" in str(err.value)
    assert str(tmp_path / "fashion-mnist") in str(err.value)


def test_prepare_reports_apt_failure(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise FileNotFoundError("apt-get")

    monkeypatch.setattr(prepare.subprocess, "run", fail)
    with pytest.raises(UserError, match="apt-get download dataset-fashion-mnist"):
        prepare.fetch_fashion_mnist_deb(tmp_path)


@pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb")
def test_prepare_unpacks_a_deb(tmp_path):
    """A tiny .deb with the package's layout, as `apt-get download` leaves it in <root>/raw."""
    pkg = tmp_path / "pkg"
    images, _ = write_idx_set(pkg / "usr/share/datasets/fashion-mnist")
    (pkg / "DEBIAN").mkdir()
    (pkg / "DEBIAN" / "control").write_text(
        "Package: dataset-fashion-mnist\nVersion: 0.1\nArchitecture: all\n"
        "Maintainer: t <t@t>\nDescription: test\n"
    )
    root = tmp_path / "root"
    (root / "raw").mkdir(parents=True)
    deb = root / "raw" / "dataset-fashion-mnist_0.1_all.deb"
    subprocess.run(["dpkg-deb", "--build", str(pkg), str(deb)], check=True, capture_output=True)
    assert prepare.fetch_fashion_mnist_deb(root) == root / "fashion-mnist"
    np.testing.assert_array_equal(fm.load_fashion_mnist(root).x[:, 0], images)


def test_real_fashion_mnist_if_prepared(monkeypatch):
    """The counts data-sources.md lists, when `make data` has run (or the package is installed)."""
    monkeypatch.undo()  # the real system location too
    root = Path(os.environ.get("DCREPRO_DATA", "data"))
    if fm.find_idx_folder(root) is None and not (root / "fashion-mnist/fashion_mnist.npz").exists():
        pytest.skip("Fashion-MNIST not prepared (make data)")
    data = fm.load_fashion_mnist(root)
    assert data.x.shape == (70_000, 1, 28, 28)
    assert np.bincount(data.y[:60_000]).tolist() == [6000] * 10
    assert np.bincount(data.y[60_000:]).tolist() == [1000] * 10
    assert data.y[:5].tolist() == [9, 0, 0, 3, 0] and data.y[60_000:60_005].tolist() == [
        9,
        2,
        1,
        1,
        6,
    ]
