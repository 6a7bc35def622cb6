"""``dataset=custom``: your own feature matrix or image folder, validated with clear errors.

``dataset.path`` is one of
- ``.npy``: an array ``(n, d)`` (``(n,)`` is one feature; ``(n, h, w)`` / ``(n, c, h, w)`` are images);
- ``.npz``: its only array, or the arrays ``x`` (features) and ``y`` (labels, optional);
- ``.csv``: one row per sample, numeric columns; a header line is optional (a first line
  that is all numbers is data);
- ``.parquet``: numeric columns (needs pyarrow: ``pip install 'dcrepro[parquet]'``);
- a folder of images: one sub-folder per class (labels = sorted sub-folder names), or flat
  (no labels); ``dataset.image_size=N`` resizes every image to N×N.

Labels (optional, for ACC/NMI/ARI only): ``dataset.label_column`` names a column of the
CSV/parquet file (or an array of the ``.npz``; an int picks a column by position), or
``dataset.labels`` is a file with one label per sample (``.npy``, or text with one label per
line, no header). Labels may be any values (strings too); they are numbered in sorted order.
Scaling is the run's ``preprocess`` key (e.g. ``preprocess=standardize``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from src.core.errors import UserError
from src.data.base import ClusterData
from src.data.image_folder import class_folders, list_images, read_images, scan_class_folders

TABLES = (".csv", ".parquet")
ARRAYS = (".npy", ".npz")


def _fmt_label(value) -> str:
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def encode_labels(values: np.ndarray, source: str) -> tuple[np.ndarray, list[str]]:
    """Any label values → int64 codes 0..k-1 (sorted order) and the class names."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise UserError(f"{source}: labels must be one value per sample, got shape {values.shape}")
    import pandas as pd

    missing = np.flatnonzero(pd.isna(values))
    if missing.size:
        raise UserError(f"{source}: label missing at row {missing[0]} ({missing.size} in all)")
    if values.dtype == object:
        values = values.astype(str)
    classes, codes = np.unique(values, return_inverse=True)
    return codes.astype(np.int64), [_fmt_label(c) for c in classes]


# ---------------------------------------------------------------- numeric checks


def check_finite(x: np.ndarray, where) -> None:
    """Raise naming the first NaN/inf entry; ``where(index_tuple)`` phrases its position."""
    bad = ~np.isfinite(x)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        kind = "NaN or missing" if np.isnan(x[first]) else "infinite"
        raise UserError(
            f"{where(first)} is {kind} ({int(bad.sum())} such values in all); "
            "fill or drop them before clustering"
        )


def array_to_x(arr: np.ndarray, source: str) -> np.ndarray:
    """Check shape and dtype of a loaded array and bring it to (n, d) or (n, c, h, w)."""
    if arr.dtype.kind not in "biuf":
        raise UserError(f"{source} holds {arr.dtype} values, not numbers")
    if arr.ndim == 0 or arr.ndim > 4:
        raise UserError(
            f"{source} has shape {arr.shape}; expected (n, d) features or (n, [c,] h, w) images"
        )
    if len(arr) == 0 or arr.size == 0:
        raise UserError(f"{source} is empty: no samples")
    if arr.ndim == 1:
        arr = arr[:, None]
    elif arr.ndim == 3:
        arr = arr[:, None]
    if arr.dtype.kind == "f":
        check_finite(
            arr, lambda i: f"{source}: row {i[0]}, column {i[1]}" if arr.ndim == 2
            else f"{source}: sample {i[0]}, entry {i[1:]}"
        )  # fmt: skip
    return arr


# ---------------------------------------------------------------- tables


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _binary_reason(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "it holds bytes that are not UTF-8 text"
    return str(exc).splitlines()[0][:80]


def scan_csv(path: Path) -> tuple[bool, list[int]]:
    """One pass over a CSV: whether line 1 is a header, and the file line of each data row.

    Raises on an empty file and on ragged rows (naming the line)."""
    lines: list[int] = []
    width, header = None, False
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            for row in reader:
                if not row:
                    continue
                if width is None:
                    width = len(row)
                    header = not all(_is_number(cell) for cell in row)
                    if header:
                        continue
                elif len(row) != width:
                    raise UserError(
                        f"{path} line {reader.line_num} has {len(row)} fields, expected "
                        f"{width} (as in its first line): fix that row"
                    )
                lines.append(reader.line_num)
    except (UnicodeDecodeError, csv.Error) as exc:  # a binary file named .csv
        raise UserError(
            f"{path} is not a text CSV ({_binary_reason(exc)}); give comma-separated numbers "
            "in UTF-8 text, or save the array as .npy"
        ) from None
    if not lines:
        raise UserError(f"{path} is empty: no data rows")
    return header, lines


OTHER_DELIMITERS = {";": "semicolon", "\t": "tab", "|": "pipe"}


def check_delimiter(df, path: Path) -> None:
    """A CSV read as one column whose text holds another delimiter: said as such (it would
    otherwise be reported as a non-numeric column)."""
    if df.shape[1] != 1:
        return
    text = f"{df.columns[0]} {df.iloc[0, 0] if len(df) else ''}"
    for sep, name in OTHER_DELIMITERS.items():
        if sep in text:
            raise UserError(
                f"{path} looks {name}-separated ({sep!r}); dcrepro reads comma-separated CSV: "
                f"convert it (e.g. pandas: read_csv(sep={sep!r}).to_csv(...)) and run again"
            )


def read_table(path: Path):
    """The file as a pandas DataFrame, and a function naming the file position of a row."""
    import pandas as pd

    if path.suffix.lower() == ".csv":
        header, lines = scan_csv(path)
        df = pd.read_csv(path, header=0 if header else None, skip_blank_lines=True,
                         encoding="utf-8-sig")  # fmt: skip
        if len(df) != len(lines):  # quoted newlines: fall back to row numbers
            lines = [i + 1 + header for i in range(len(df))]
        check_delimiter(df, path)
        return df, lambda row: f"{path} line {lines[row]}"
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:
        raise UserError(
            f"reading {path} needs pyarrow: pip install 'dcrepro[parquet]' (or pyarrow)"
        ) from exc
    df = pd.read_parquet(path)
    if len(df) == 0 or df.shape[1] == 0:
        raise UserError(f"{path} is empty: no rows")
    return df, lambda row: f"{path} row {row}"


def _pick_column(df, label_column, path: Path):
    columns = [str(c) for c in df.columns]
    if isinstance(label_column, int) and label_column not in df.columns:
        if -len(columns) <= label_column < len(columns):
            return df.columns[label_column]
    elif str(label_column) in columns:
        return df.columns[columns.index(str(label_column))]
    raise UserError(
        f"dataset.label_column={label_column} is not a column of {path}; "
        f"columns: {', '.join(columns[:20])}"
    )


def table_to_arrays(df, position, label_column, path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Numeric feature matrix and raw label values (or None) from a DataFrame."""
    import pandas as pd

    y = None
    if label_column is not None:
        col = _pick_column(df, label_column, path)
        y = df[col].to_numpy()
        missing = np.flatnonzero(pd.isna(y))
        if missing.size:
            raise UserError(f"{position(missing[0])}: label column '{col}' is empty")
        df = df.drop(columns=[col])
    if df.shape[1] == 0:
        raise UserError(f"{path} has no feature columns besides the labels")
    bad = [c for c in df.columns if not (pd.api.types.is_numeric_dtype(df[c])
                                         or pd.api.types.is_bool_dtype(df[c]))]  # fmt: skip
    if bad:
        row = int(np.flatnonzero(pd.to_numeric(df[bad[0]], errors="coerce").isna()
                                 & df[bad[0]].notna())[0])  # fmt: skip
        names = ", ".join(f"'{c}'" for c in bad[:5]) + (" …" if len(bad) > 5 else "")
        hint = (
            ""
            if label_column is not None
            else ", or name a label column with dataset.label_column="
        )
        raise UserError(
            f"{path}: non-numeric columns {names} (e.g. {df[bad[0]].iloc[row]!r} at "
            f"{position(row).split(' ', 1)[1]}); drop them{hint}"
        )
    x = df.to_numpy(dtype=np.float64)
    names = [str(c) for c in df.columns]
    check_finite(x, lambda i: f"{position(i[0])}, column '{names[i[1]]}'")
    return x, y


# ---------------------------------------------------------------- arrays and labels files


def read_arrays(path: Path, label_column) -> tuple[np.ndarray, np.ndarray | None]:
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as exc:
        raise UserError(
            f"{path} cannot be read without unpickling ({exc}); save plain arrays"
        ) from exc
    except (OSError, EOFError) as exc:
        raise UserError(f"{path} is not a readable {path.suffix} file ({exc})") from exc
    if isinstance(loaded, np.ndarray):
        return array_to_x(loaded, str(path)), None
    with loaded:
        keys = list(loaded.files)
        if not keys:
            raise UserError(f"{path} is empty: no arrays")
        y_key = str(label_column) if label_column is not None else ("y" if "y" in keys else None)
        if y_key is not None and y_key not in keys:
            raise UserError(f"{path} has no array '{y_key}'; arrays: {', '.join(keys)}")
        x_keys = [k for k in keys if k != y_key]
        x_key = "x" if "x" in x_keys else (x_keys[0] if len(x_keys) == 1 else None)
        if x_key is None:
            raise UserError(f"{path}: name the features array 'x' (arrays: {', '.join(keys)})")
        x = array_to_x(loaded[x_key], f"{path}[{x_key}]")
        return x, (loaded[y_key] if y_key else None)


def read_labels_file(path: Path) -> np.ndarray:
    if not path.exists():
        raise UserError(f"dataset.labels: {path} does not exist")
    if path.suffix.lower() == ".npy":
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise UserError(f"{path} cannot be read without unpickling; save plain arrays") from exc
    import pandas as pd

    try:
        frame = pd.read_csv(path, header=None, skip_blank_lines=True)
    except pd.errors.EmptyDataError as exc:
        raise UserError(f"{path} is empty: no labels") from exc
    if frame.shape[1] != 1:
        raise UserError(f"{path}: expected one label per line, found {frame.shape[1]} columns")
    return frame[0].to_numpy()


# ---------------------------------------------------------------- image folders


def read_image_folder(
    path: Path, image_size: int | None
) -> tuple[np.ndarray, np.ndarray | None, list[str] | None]:
    flat = list_images(path)
    classes = [c for c in class_folders(path) if list_images(path / c)]
    if flat and classes:
        raise UserError(
            f"{path} holds both images and class sub-folders ({', '.join(classes[:3])}); "
            "use one layout: all images in class sub-folders, or all in the folder itself"
        )
    if flat:
        return read_images(flat, image_size), None, None
    if not classes:
        raise UserError(f"{path} is empty: no images in it or in its sub-folders")
    paths, labels = scan_class_folders(path, classes)
    return read_images(paths, image_size), labels, classes


# ---------------------------------------------------------------- entry point


def load_custom(
    root: str | Path | None = None,
    path: str | None = None,
    label_column: str | int | None = None,
    labels: str | None = None,
    image_size: int | None = None,
) -> ClusterData:
    """Your data set as ``ClusterData`` (``root`` is unused: ``path`` is taken as given)."""
    if not path:
        raise UserError(
            "dataset=custom needs dataset.path=<file or folder> "
            "(.npy, .npz, .csv, .parquet, or a folder of images)"
        )
    src = Path(str(path)).expanduser()
    if not src.exists():
        raise UserError(f"dataset.path: {src} does not exist")
    class_names = None
    meta: dict = {"source": str(src)}
    if src.is_dir():
        if label_column is not None:
            raise UserError(
                "dataset.label_column is for tables; an image folder's labels are its sub-folders"
            )
        x, y, class_names = read_image_folder(src, image_size)
        meta["bytes"] = True
    else:
        suffix = src.suffix.lower()
        if suffix not in TABLES + ARRAYS:
            raise UserError(
                f"dataset.path: {src.name} is not .npy, .npz, .csv, .parquet or an image folder"
            )
        if src.stat().st_size == 0:
            raise UserError(f"{src} is empty (0 bytes)")
        if suffix in TABLES:
            df, position = read_table(src)
            x, y = table_to_arrays(df, position, label_column, src)
        else:
            if label_column is not None and suffix == ".npy":
                raise UserError(
                    "a .npy file holds one array: give labels with dataset.labels=<file>"
                )
            x, y = read_arrays(src, label_column)
            meta["bytes"] = x.dtype == np.uint8
    if labels is not None:
        if y is not None:
            raise UserError(
                "labels given twice: use dataset.labels or the file's own labels, not both"
            )
        y = read_labels_file(Path(str(labels)).expanduser())
        source = str(labels)
    else:
        source = str(src)
    if y is not None:
        if len(y) != len(x):
            raise UserError(
                f"{source} has {len(y)} labels but {src} has {len(x)} samples"
                + (" (a header line? remove it)" if len(y) == len(x) + 1 else "")
            )
        if class_names is None:
            y, class_names = encode_labels(y, source)
    n_classes = len(class_names) if (y is not None and class_names) else None
    return ClusterData("custom", x, y, n_classes, class_names, meta)
