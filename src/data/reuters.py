"""REUTERS-10K, built from RCV1-v2 as DEC describes.

Input: the original RCV1-v2 token files of Lewis et al. (JMLR 2004, appendix 12), gzipped or
not, in ``<root>/rcv1/``:

    rcv1-v2.topics.qrels            lines "<category> <doc id> 1"
    lyrl2004_tokens_test_pt0.dat … lyrl2004_tokens_test_pt3.dat, lyrl2004_tokens_train.dat
                                    documents ".I <doc id>" / ".W" / stemmed tokens

Construction (the DEC authors' script): keep the documents whose topics contain exactly one
of the four root categories CCAT, GCAT, MCAT, ECAT (label = that category, in this order);
count words with ``CountVectorizer(max_features=2000)`` (the 2000 most frequent) and weight
with ``TfidfTransformer(norm="l2", sublinear_tf=True)``, both fitted on *all* those documents
(~685k); then keep ``n_docs`` of them: ``selection=random`` (default, the paper's "random
subset") draws them with ``numpy.random.RandomState(seed)``; ``selection=first`` takes the
first ones in file order (test parts 0–3, then train), as the widely used DEC-Keras script
does. Rows are L2-normalised tf-idf; DEC's ×√2000 is ``dec_scale`` in the config. The result
is cached as ``.npz`` in ``<root>/rcv1/``.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from src.core.errors import DataNotFoundError, UserError
from src.data.base import ClusterData
from src.data.cache import cached_arrays

CATEGORIES = ("CCAT", "GCAT", "MCAT", "ECAT")
QRELS = "rcv1-v2.topics.qrels"
TOKEN_FILES = (
    "lyrl2004_tokens_test_pt0.dat",
    "lyrl2004_tokens_test_pt1.dat",
    "lyrl2004_tokens_test_pt2.dat",
    "lyrl2004_tokens_test_pt3.dat",
    "lyrl2004_tokens_train.dat",
)
HOW = (
    "the RCV1-v2 files of Lewis et al. 2004, JMLR appendices 12 (token files) and 8 "
    "(topics.qrels), .gz or unpacked"
)


def _find(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _open_text(path: Path):
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def source_files(folder: Path) -> tuple[Path, list[Path]]:
    """The qrels file and the five token files, or one error naming the missing ones."""
    names = (QRELS, *TOKEN_FILES)
    found = {n: _find(folder, n) for n in names}
    missing = [n for n in names if found[n] is None]
    if missing:
        raise DataNotFoundError(
            f"REUTERS-10K not found: put {', '.join(missing)} (.gz allowed) into {folder}/ ({HOW})"
        )
    return found[QRELS], [found[n] for n in TOKEN_FILES]  # type: ignore[return-value]


def read_single_category(qrels: Path) -> dict[int, int]:
    """Document id → index in CATEGORIES, for documents with exactly one root category."""
    cats: dict[int, set[int]] = {}
    with _open_text(qrels) as f:
        for line_no, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) < 2 or not parts[1].isdigit():
                raise UserError(f"{qrels} line {line_no}: expected '<category> <doc id> 1'")
            if parts[0] in CATEGORIES:
                cats.setdefault(int(parts[1]), set()).add(CATEGORIES.index(parts[0]))
    return {did: next(iter(c)) for did, c in cats.items() if len(c) == 1}


def iter_documents(path: Path) -> Iterator[tuple[int, str]]:
    """(doc id, token text) for each document of a ``lyrl2004_tokens_*.dat`` file."""
    did, lines = None, []
    with _open_text(path) as f:
        for line in f:
            if line.startswith(".I"):
                if did is not None:
                    yield did, "".join(lines)
                did, lines = int(line.split()[1]), []
            elif line.startswith(".W"):
                continue
            elif did is not None:
                lines.append(line)
    if did is not None:
        yield did, "".join(lines)


def build_reuters(
    folder: Path, n_docs: int, max_features: int, seed: int, selection: str
) -> dict[str, np.ndarray]:
    """tf-idf features (n_docs, max_features) float32, labels and RCV1 doc ids."""
    from sklearn.feature_extraction.text import CountVectorizer, TfidfTransformer

    qrels, token_files = source_files(folder)
    label_of = read_single_category(qrels)
    ids: list[int] = []

    def texts() -> Iterator[str]:
        for path in token_files:
            for did, text in iter_documents(path):
                if did in label_of:
                    ids.append(did)
                    yield text

    counts = CountVectorizer(dtype=np.float64, max_features=max_features).fit_transform(texts())
    tfidf = TfidfTransformer(norm="l2", sublinear_tf=True).fit_transform(counts)
    n = tfidf.shape[0]
    if n < n_docs:
        raise UserError(f"only {n} single-category documents in {folder}; need {n_docs}")
    if selection == "random":
        keep = np.random.RandomState(seed).permutation(n)[:n_docs]
    elif selection == "first":
        keep = np.arange(n_docs)
    else:
        raise UserError(f"dataset.loader.selection must be random or first, got '{selection}'")
    doc_ids = np.asarray(ids, dtype=np.int64)[keep]
    return {
        "x": tfidf[keep].toarray().astype(np.float32),
        "labels": np.asarray([label_of[d] for d in doc_ids], dtype=np.int64),
        "doc_ids": doc_ids,
    }


def load_reuters10k(
    root: str | Path,
    n_docs: int = 10_000,
    max_features: int = 2000,
    seed: int = 1234,
    selection: str = "random",
) -> ClusterData:
    """REUTERS-10K: ``(n_docs, max_features)`` L2-normalised tf-idf, 4 root categories."""
    folder = Path(root) / "rcv1"
    cache = folder / f"reuters10k_n{n_docs}_f{max_features}_{selection}_s{seed}.npz"
    arrays = cached_arrays(
        cache,
        ("x", "labels", "doc_ids"),
        lambda: build_reuters(folder, n_docs, max_features, seed, selection),
    )
    return ClusterData("reuters10k", arrays["x"], arrays["labels"], 4, list(CATEGORIES))
