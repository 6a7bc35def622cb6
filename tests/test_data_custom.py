"""dataset=custom: every supported format, every bad-input case, and CLI runs with/without labels."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from src.core.errors import UserError
from src.data.custom import load_custom
from src.run import resolve_n_clusters


def write(path, text):
    path.write_text(text)
    return path


# ------------------------------------------------------------------ formats that load


def test_csv_with_header_and_string_labels(tmp_path):
    f = write(tmp_path / "d.csv", "a,b,kind\n1,2,dog\n3,4.5,cat\n\n5,6,dog\n")
    d = load_custom(path=str(f), label_column="kind")
    np.testing.assert_array_equal(d.x, [[1, 2], [3, 4.5], [5, 6]])
    assert d.y.tolist() == [1, 0, 1] and d.class_names == ["cat", "dog"] and d.n_classes == 2


def test_headerless_csv_and_label_by_position(tmp_path):
    f = write(tmp_path / "d.csv", "1,2,0\n3,4,1\n5,6,1\n")
    d = load_custom(path=str(f), label_column=-1)
    assert d.x.shape == (3, 2) and d.y.tolist() == [0, 1, 1] and d.class_names == ["0", "1"]
    assert load_custom(path=str(f)).x.shape == (3, 3) and load_custom(path=str(f)).y is None


def test_npy_npz_and_labels_file(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    np.save(tmp_path / "x.npy", x)
    write(tmp_path / "y.txt", "b\na\nb\nc\n")
    d = load_custom(path=str(tmp_path / "x.npy"), labels=str(tmp_path / "y.txt"))
    np.testing.assert_array_equal(d.x, x)
    assert d.y.tolist() == [1, 0, 1, 2] and d.n_classes == 3
    np.savez(tmp_path / "d.npz", x=x, y=np.array([3, 3, 7, 7]))
    assert load_custom(path=str(tmp_path / "d.npz")).y.tolist() == [0, 0, 1, 1]
    np.savez(tmp_path / "e.npz", feats=x, target=np.array([1, 2, 1, 2]))
    e = load_custom(path=str(tmp_path / "e.npz"), label_column="target")
    assert e.x.shape == (4, 3) and e.y.tolist() == [0, 1, 0, 1]
    img = np.zeros((5, 6, 7), dtype=np.uint8)
    np.save(tmp_path / "img.npy", img)
    g = load_custom(path=str(tmp_path / "img.npy"))
    assert g.x.shape == (5, 1, 6, 7) and g.is_image and g.meta["bytes"]


def test_parquet_and_missing_pyarrow(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    df = pd.DataFrame({"u": [1.0, 2.0, 3.0], "v": [0, 1, 0], "lab": ["x", "y", "x"]})
    df.to_parquet(tmp_path / "d.parquet")
    d = load_custom(path=str(tmp_path / "d.parquet"), label_column="lab")
    np.testing.assert_array_equal(d.x, [[1, 0], [2, 1], [3, 0]])
    assert d.y.tolist() == [0, 1, 0]
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(UserError, match=r"needs pyarrow: pip install 'dcrepro\[parquet\]'"):
        load_custom(path=str(tmp_path / "d.parquet"))


def png(path, color, size=(6, 5), mode="RGB"):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path)


def test_image_folders_with_and_without_classes(tmp_path):
    for cls, color in (("cat", (200, 0, 0)), ("dog", (0, 0, 90))):
        for i in range(2):
            png(tmp_path / "byclass" / cls / f"{i}.png", color)
    d = load_custom(path=str(tmp_path / "byclass"))
    assert d.x.shape == (4, 3, 5, 6) and d.y.tolist() == [0, 0, 1, 1]
    assert d.class_names == ["cat", "dog"] and d.x[2, 2, 0, 0] == 90 and d.meta["bytes"]
    png(tmp_path / "flat" / "a.png", 10, mode="L")
    png(tmp_path / "flat" / "b.png", 20, size=(9, 9), mode="L")
    with pytest.raises(UserError, match="differ in size.*dataset.image_size"):
        load_custom(path=str(tmp_path / "flat"))
    f = load_custom(path=str(tmp_path / "flat"), image_size=4)
    assert f.x.shape == (2, 1, 4, 4) and f.y is None and f.x[1, 0, 2, 2] == 20


# ------------------------------------------------------------------ bad input, one line each


@pytest.mark.parametrize(
    "text, match",
    [
        ("", "is empty"),
        ("a,b,c\n", "is empty: no data rows"),
        ("a,b\n1,2\n3\n", r"line 3 has 1 fields, expected 2"),
        ("a,b\n1,2\n3,4,5\n", r"line 3 has 3 fields, expected 2"),
        ("a,b\n1,2\n\n3,\n", r"line 4, column 'b' is NaN or missing \(1 such"),
        ("a,b\n1,inf\n", r"line 2, column 'b' is infinite"),
        (
            "a,name,b,city\n1,x,2,Paris\n",
            r"non-numeric columns 'name', 'city' \(e.g. 'x' at line 2\)",
        ),
    ],
)
def test_bad_csv_names_row_or_column(tmp_path, text, match):
    f = write(tmp_path / "bad.csv", text)
    with pytest.raises(UserError, match=match) as err:
        load_custom(path=str(f))
    assert "\n" not in str(err.value)


def test_bad_arrays(tmp_path):
    x = np.ones((4, 3))
    x[2, 1] = np.nan
    np.save(tmp_path / "nan.npy", x)
    with pytest.raises(UserError, match=r"row 2, column 1 is NaN"):
        load_custom(path=str(tmp_path / "nan.npy"))
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    with pytest.raises(UserError, match="is empty"):
        load_custom(path=str(tmp_path / "empty.npy"))
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    with pytest.raises(UserError, match="not numbers"):
        load_custom(path=str(tmp_path / "text.npy"))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="without unpickling"):
        load_custom(path=str(tmp_path / "obj.npy"))
    np.save(tmp_path / "deep.npy", np.zeros((2, 1, 1, 1, 1)))
    with pytest.raises(UserError, match=r"shape \(2, 1, 1, 1, 1\)"):
        load_custom(path=str(tmp_path / "deep.npy"))


def test_path_and_label_mistakes(tmp_path):
    with pytest.raises(UserError, match="needs dataset.path="):
        load_custom(path=None)
    with pytest.raises(UserError, match="does not exist"):
        load_custom(path=str(tmp_path / "nope.csv"))
    with pytest.raises(UserError, match="not .npy, .npz, .csv, .parquet"):
        load_custom(path=str(write(tmp_path / "d.xlsx", "x")))
    f = write(tmp_path / "d.csv", "a,b\n1,2\n3,4\n")
    with pytest.raises(UserError, match="label_column=lab is not a column .* columns: a, b"):
        load_custom(path=str(f), label_column="lab")
    labels = write(tmp_path / "y.txt", "label\n0\n1\n")
    with pytest.raises(UserError, match=r"3 labels but .* 2 samples \(a header line\? remove it\)"):
        load_custom(path=str(f), labels=str(labels))
    g = write(tmp_path / "g.csv", "a,lab\n1,x\n2,\n")
    with pytest.raises(UserError, match="line 3: label column 'lab' is empty"):
        load_custom(path=str(g), label_column="lab")
    (tmp_path / "imgs").mkdir()
    with pytest.raises(UserError, match="is empty: no images"):
        load_custom(path=str(tmp_path / "imgs"))
    png(tmp_path / "imgs" / "a.png", 1, mode="L")
    png(tmp_path / "imgs" / "cls" / "b.png", 1, mode="L")
    with pytest.raises(UserError, match="both images and class sub-folders"):
        load_custom(path=str(tmp_path / "imgs"))


def test_fewer_samples_than_clusters(tmp_path):
    d = load_custom(path=str(write(tmp_path / "d.csv", "a\n1\n2\n")))
    with pytest.raises(UserError, match="n_clusters=3 exceeds the 2 samples"):
        resolve_n_clusters(3, d)
    with pytest.raises(UserError, match="has no labels; set n_clusters=K"):
        resolve_n_clusters(None, d)


# ------------------------------------------------------------------ end to end


REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "blobs.csv"


def test_example_csv_is_what_the_script_writes():
    sys.path.insert(0, str(REPO / "scripts"))
    from make_example_csv import make_blobs_frame

    pd.testing.assert_frame_equal(pd.read_csv(EXAMPLE), make_blobs_frame(), check_exact=False)


def test_cli_readme_example_with_labels(cli, tmp_path):
    """The README's "Your own data" command, verbatim apart from the run directory."""
    proc = cli("method=kmeans", "dataset=custom", "dataset.path=examples/blobs.csv",
               "dataset.label_column=species", "preprocess=standardize", "logger=none",
               f"hydra.run.dir={tmp_path}")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["n_samples"] == 150 and result["n_clusters"] == 3
    assert result["metrics"]["acc"] > 0.95  # 1.0 measured; 0.79 without standardising


def test_cli_csv_without_labels(cli, tmp_path):
    unlabelled = tmp_path / "without.csv"
    pd.read_csv(EXAMPLE).drop(columns="species").to_csv(unlabelled, index=False)
    args = ("method=kmeans", "dataset=custom", f"dataset.path={unlabelled}",
            "method.n_init=5", "logger=none", f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    proc = cli(*args, "n_clusters=3")
    assert proc.returncode == 0, proc.stderr
    assert "no labels: ACC/NMI/ARI skipped" in proc.stdout
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert "acc" not in result["metrics"] and result["metrics"]["n_nonempty_clusters"] == 3


def test_cli_bad_file_is_one_line(cli, tmp_path):
    bad = write(tmp_path / "bad.csv", "a,b\n1,2\n3,x\n")
    proc = cli("dataset=custom", f"dataset.path={bad}", "logger=none", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {bad}: non-numeric columns 'b' (e.g. 'x' at line 3); drop them, "
        "or name a label column with dataset.label_column="
    ]
