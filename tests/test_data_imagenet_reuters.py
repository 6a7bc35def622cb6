"""ImageNet subsets on small PNG folders; REUTERS-10K on tiny RCV1-format token files."""

import gzip

import numpy as np
import pytest
from PIL import Image

from src.core.errors import DataNotFoundError, UserError
from src.data import imagenet, reuters


def write_png(path, value, size=(12, 10), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    color = (value, 255 - value, 7) if mode == "RGB" else value
    Image.new(mode, size, color).save(path)


def test_imagenet_subset_labels_follow_class_list_and_cache(tmp_path):
    base = tmp_path / "imagenet10"
    classes = ["n07747607", "n02056570"]  # deliberately not sorted
    for k, wnid in enumerate(classes):
        for i in range(2 + k):
            write_png(base / wnid / f"{wnid}_{i}.JPEG.png", 50 * k + i)
    (base / "n02056570" / "notes.txt").write_text("not an image")
    data = imagenet.load_imagenet_subset(tmp_path, "imagenet10", classes, image_size=8)
    assert data.x.shape == (5, 3, 8, 8) and data.y.tolist() == [0, 0, 1, 1, 1]
    assert data.x[2, 0, 0, 0] == 50 and data.x[2, 1, 0, 0] == 205  # resized flat colour
    assert data.class_names == ["n07747607 orange", "n02056570 king penguin"]
    cache = base / "imagenet10_8px.npz"
    assert cache.exists()
    write_png(base / "n02056570" / "extra.png", 99)  # new image: the cache is rebuilt
    again = imagenet.load_imagenet_subset(tmp_path, "imagenet10", classes, image_size=8)
    assert len(again) == 6 and 99 in again.x[:, 0, 0, 0]


def test_imagenet_missing_folders_are_named(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        imagenet.load_imagenet_subset(tmp_path, "imagenet_dog15", image_size=64)
    msg = str(err.value)
    assert "n02085936" in msg and "11 more" in msg and str(tmp_path / "imagenet_dog15") in msg
    assert len(imagenet.IMAGENET10) == 10 and len(imagenet.IMAGENET_DOG15) == 15


# --------------------------------------------------------------------------- REUTERS

DOCS = {  # doc id → (categories, tokens)
    11: ({"CCAT", "C15"}, "share profit rise share"),
    12: ({"GCAT"}, "minist elect vote"),
    13: ({"CCAT", "GCAT"}, "share vote"),  # two root categories: dropped
    14: ({"MCAT", "M14"}, "price oil market price"),
    15: ({"E11"}, "nothing root"),  # no root category: dropped
    16: ({"ECAT"}, "inflat rate bank rate"),
    17: ({"GCAT", "G15"}, "vote elect elect"),
    18: ({"MCAT"}, "oil market"),
    19: ({"CCAT"}, "profit share"),
    20: ({"ECAT"}, "bank inflat"),
}
FILE_OF = {11: 4, 12: 0, 13: 0, 14: 1, 15: 1, 16: 2, 17: 3, 18: 3, 19: 4, 20: 4}


def write_rcv1(folder, gz=(0, 4)):
    folder.mkdir(parents=True)
    qrels = "".join(f"{c} {d} 1\n" for d, (cats, _) in DOCS.items() for c in sorted(cats))
    (folder / "rcv1-v2.topics.qrels").write_text(qrels)
    for k, name in enumerate(reuters.TOKEN_FILES):
        text = "".join(f".I {d}\n.W\n{DOCS[d][1]}\n\n" for d in sorted(DOCS) if FILE_OF[d] == k)
        if k in gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (folder / name).write_text(text)


def kept_in_file_order():
    order = sorted(DOCS, key=lambda d: (FILE_OF[d], d))
    return [d for d in order if len(DOCS[d][0] & set(reuters.CATEGORIES)) == 1]


def test_reuters_built_as_dec_describes(tmp_path):
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    write_rcv1(tmp_path / "rcv1")
    data = reuters.load_reuters10k(tmp_path, n_docs=5, max_features=6, seed=0)
    kept = kept_in_file_order()
    assert 13 not in kept and 15 not in kept and len(kept) == 8
    counts = CountVectorizer(max_features=6).fit_transform([DOCS[d][1] for d in kept])
    full = TfidfTransformer(norm="l2", sublinear_tf=True).fit_transform(counts).toarray()
    pick = np.random.RandomState(0).permutation(8)[:5]
    assert data.x.shape == (5, 6) and data.n_classes == 4
    np.testing.assert_allclose(data.x, full[pick], rtol=1e-6)
    label = {
        d: reuters.CATEGORIES.index((DOCS[d][0] & set(reuters.CATEGORIES)).pop()) for d in kept
    }
    assert data.y.tolist() == [label[kept[i]] for i in pick]
    np.testing.assert_allclose(np.linalg.norm(data.x, axis=1), 1.0, rtol=1e-6)
    first = reuters.load_reuters10k(tmp_path, n_docs=3, max_features=6, selection="first")
    np.testing.assert_allclose(first.x, full[:3], rtol=1e-6)
    assert len(list((tmp_path / "rcv1").glob("reuters10k_*.npz"))) == 2


def test_reuters_missing_files_and_too_few_docs(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        reuters.load_reuters10k(tmp_path)
    assert "rcv1-v2.topics.qrels" in str(err.value) and str(tmp_path / "rcv1") in str(err.value)
    write_rcv1(tmp_path / "rcv1")
    (tmp_path / "rcv1" / "lyrl2004_tokens_test_pt2.dat").unlink()
    with pytest.raises(DataNotFoundError, match="put lyrl2004_tokens_test_pt2.dat "):
        reuters.load_reuters10k(tmp_path)
    write_rcv1(tmp_path / "again")
    with pytest.raises(UserError, match="only 8 single-category documents"):
        reuters.build_reuters(tmp_path / "again", 10_000, 2000, 1234, "random")
