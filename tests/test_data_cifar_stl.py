"""CIFAR-10/100 and STL-10 on tiny files in the official formats (md5 lists patched to match)."""

import hashlib
import pickle

import numpy as np
import pytest
from torchvision.datasets import CIFAR10, CIFAR100, STL10

from src.core.errors import DataNotFoundError, UserError
from src.data import cifar, stl10


def md5(path):
    return hashlib.md5(path.read_bytes()).hexdigest()


def dump(path, obj):
    path.write_bytes(pickle.dumps(obj, protocol=2))


def make_cifar10(root, monkeypatch, n=3):
    """Five train batches + test batch + meta, as in cifar-10-python.tar.gz."""
    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    images, labels = [], []
    names = [b[0] for b in CIFAR10.train_list + CIFAR10.test_list]
    for name in names:
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = rng.integers(0, 10, n).tolist()
        dump(folder / name, {"batch_label": name, "data": x, "labels": y, "filenames": ["a"] * n})
        images.append(x)
        labels += y
    classes = ["airplane", "automobile", "bird", "cat", "deer"] + list("fghij")
    dump(folder / "batches.meta", {"label_names": classes, "num_vis": 3072})
    monkeypatch.setattr(CIFAR10, "train_list", [[b, md5(folder / b)] for b in names[:5]])
    monkeypatch.setattr(CIFAR10, "test_list", [[names[5], md5(folder / names[5])]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": md5(folder / "batches.meta")})
    return np.concatenate(images), np.asarray(labels), folder


def test_cifar10_order_layout_and_names(tmp_path, monkeypatch):
    images, labels, _ = make_cifar10(tmp_path, monkeypatch)
    data = cifar.load_cifar10(tmp_path)
    assert data.x.shape == (18, 3, 32, 32) and data.n_classes == 10
    np.testing.assert_array_equal(data.y, labels)
    # a row is 1024 red, then 1024 green, then 1024 blue bytes, each 32×32 row-major
    assert data.x[4, 1, 2, 5] == images[4, 1024 + 2 * 32 + 5]
    assert data.class_names[1] == "automobile" and data.meta["bytes"]


def test_cifar_wrong_md5_and_missing_files(tmp_path, monkeypatch):
    _, _, folder = make_cifar10(tmp_path, monkeypatch)
    (folder / "data_batch_3").write_bytes(b"garbage")
    with pytest.raises(UserError, match="data_batch_3 has the wrong md5"):
        cifar.load_cifar10(tmp_path)
    (folder / "data_batch_3").unlink()
    (folder / "test_batch").unlink()
    with pytest.raises(DataNotFoundError) as err:
        cifar.load_cifar10(tmp_path)
    msg = str(err.value)
    assert "data_batch_3, test_batch" in msg and str(folder) in msg and "\n" not in msg


def test_cifar100_uses_the_20_superclasses(tmp_path, monkeypatch):
    folder = tmp_path / CIFAR100.base_folder
    folder.mkdir()
    rng = np.random.default_rng(1)
    coarse = {}
    for name in ("train", "test"):
        fine = rng.integers(0, 100, 4).tolist()
        coarse[name] = [f // 5 for f in fine]
        x = rng.integers(0, 256, (4, 3072), dtype=np.uint8)
        dump(folder / name, {"data": x, "fine_labels": fine, "coarse_labels": coarse[name]})
    dump(folder / "meta", {"fine_label_names": ["f"] * 100,
                           "coarse_label_names": [f"super{i}" for i in range(20)]})  # fmt: skip
    monkeypatch.setattr(CIFAR100, "train_list", [["train", md5(folder / "train")]])
    monkeypatch.setattr(CIFAR100, "test_list", [["test", md5(folder / "test")]])
    monkeypatch.setattr(CIFAR100, "meta", {**CIFAR100.meta, "md5": md5(folder / "meta")})
    data = cifar.load_cifar100_20(tmp_path)
    assert data.x.shape == (8, 3, 32, 32) and data.n_classes == 20
    assert data.y.tolist() == coarse["train"] + coarse["test"]
    assert data.class_names[19] == "super19"


def test_cifar_pickle_with_code_is_refused(tmp_path, monkeypatch):
    _, _, folder = make_cifar10(tmp_path, monkeypatch)

    class Evil:
        def __reduce__(self):
            import os

            return (os.system, ("echo pwned",))

    dump(folder / "test_batch", Evil())
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", md5(folder / "test_batch")]])
    with pytest.raises(UserError, match="refusing to unpickle"):
        cifar.load_cifar10(tmp_path)


def write_stl(root, monkeypatch, n_train=2, n_test=3):
    folder = root / "stl10_binary"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(2)
    images, labels = [], []
    for split, n in (("train", n_train), ("test", n_test)):
        img = rng.integers(0, 256, (n, 3, 96, 96), dtype=np.uint8)  # (c, row, col)
        y = rng.integers(1, 11, n).astype(np.uint8)
        (folder / f"{split}_X.bin").write_bytes(img.transpose(0, 1, 3, 2).tobytes())  # column-major
        (folder / f"{split}_y.bin").write_bytes(y.tobytes())
        images.append(img)
        labels.append(y.astype(np.int64) - 1)
    sums = {f: md5(folder / f) for f in stl10.FILES}
    monkeypatch.setattr(STL10, "train_list", [[f, sums[f]] for f in stl10.FILES[:2]])
    monkeypatch.setattr(STL10, "test_list", [[f, sums[f]] for f in stl10.FILES[2:]])
    return np.concatenate(images), np.concatenate(labels), folder


def test_stl10_labelled_splits_orientation_and_labels(tmp_path, monkeypatch):
    images, labels, folder = write_stl(tmp_path, monkeypatch)
    data = stl10.load_stl10(tmp_path)
    assert data.x.shape == (5, 3, 96, 96)
    np.testing.assert_array_equal(data.x.astype(np.uint8), images)
    np.testing.assert_array_equal(data.y, labels)
    assert data.class_names == stl10.CLASSES
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)) + "\n")
    assert stl10.load_stl10(tmp_path).class_names[9] == "c9"


def test_stl10_missing_and_mismatched(tmp_path, monkeypatch):
    with pytest.raises(
        DataNotFoundError, match=r"train_X.bin, train_y.bin, test_X.bin, test_y.bin"
    ):
        stl10.load_stl10(tmp_path)
    _, _, folder = write_stl(tmp_path, monkeypatch)
    (folder / "test_y.bin").write_bytes(bytes([1, 2]))
    monkeypatch.setattr(STL10, "test_list", [["test_X.bin", md5(folder / "test_X.bin")],
                                             ["test_y.bin", md5(folder / "test_y.bin")]])  # fmt: skip
    with pytest.raises(UserError, match="3 images but .* 2 labels"):
        stl10.load_stl10(tmp_path)
