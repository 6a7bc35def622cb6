"""Clustering metrics: Hungarian-matched accuracy, NMI and ARI, and their one printed line."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import mutual_info_score


def _as_labels(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
    return a.astype(np.int64)


def contingency(
    y_true: np.ndarray, y_pred: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts table (clusters × classes) with the sorted unique cluster and class ids."""
    y_true = _as_labels(y_true, "y_true")
    y_pred = _as_labels(y_pred, "y_pred")
    if y_true.shape != y_pred.shape:
        raise ValueError(f"label arrays differ in length: {y_true.shape} vs {y_pred.shape}")
    classes, t = np.unique(y_true, return_inverse=True)
    clusters, p = np.unique(y_pred, return_inverse=True)
    table = np.zeros((len(clusters), len(classes)), dtype=np.int64)
    np.add.at(table, (p, t), 1)
    return table, clusters, classes


def cluster_to_class_map(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, int]:
    """The one-to-one cluster→class mapping that maximises matches (Hungarian algorithm).

    Works when the number of clusters differs from the number of classes: unmatched clusters
    map to no class (they count as errors in ACC).
    """
    table, clusters, classes = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols, strict=True)}


def cluster_acc(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """ACC = max over one-to-one maps m of (1/n) Σ 1[y_i = m(c_i)]."""
    table, _, _ = contingency(y_true, y_pred)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return float(table[rows, cols].sum() / table.sum())


def evaluate(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """ACC, NMI (arithmetic normalisation, as sklearn's default) and ARI."""
    table, _, _ = contingency(y_true, y_pred)
    return evaluate_table(table)


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _pairs(counts: np.ndarray) -> float:
    counts = counts.astype(np.float64)
    return float((counts * (counts - 1) / 2).sum())


def evaluate_table(table: np.ndarray) -> dict[str, float]:
    """ACC, NMI and ARI from a clusters × classes count table (sklearn's definitions).

    All three depend on the labels only through this table, so a training loop can count it
    on the device (one small copy) instead of moving every label to the host.
    """
    table = np.asarray(table, dtype=np.int64)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]  # drop absent ids
    n = table.sum()
    rows, cols = linear_sum_assignment(table, maximize=True)
    acc = float(table[rows, cols].sum() / n)
    clusters, classes = table.sum(axis=1), table.sum(axis=0)
    if len(clusters) == len(classes) == 1:
        nmi = 1.0
    else:
        mi = float(mutual_info_score(None, None, contingency=table))
        normaliser = (_entropy(clusters) + _entropy(classes)) / 2
        nmi = 0.0 if mi <= 0 else mi / max(normaliser, np.finfo(np.float64).eps)
    index, expected_rows, expected_cols = _pairs(table), _pairs(clusters), _pairs(classes)
    expected = expected_rows * expected_cols / (n * (n - 1) / 2) if n > 1 else 0.0
    mean = (expected_rows + expected_cols) / 2
    ari = 1.0 if mean == expected else (index - expected) / (mean - expected)
    return {"acc": acc, "nmi": float(nmi), "ari": float(ari)}


def cluster_sizes(y_pred: np.ndarray, k: int) -> list[int]:
    """Samples per cluster id ``0 … k-1`` (empty clusters count 0; ids ≥ k extend the list)."""
    return np.bincount(_as_labels(y_pred, "y_pred"), minlength=k).astype(int).tolist()


def silhouette(
    embeddings: np.ndarray, y_pred: np.ndarray, seed: int, max_points: int = 10_000
) -> tuple[float | None, int]:
    """Mean silhouette (Euclidean) of the clusters in ``embeddings``: (score, points used).

    Computed on a seeded random subset of at most ``max_points`` samples so that it stays a
    few seconds at 70,000 points; ``None`` when undefined (fewer than 2 or as many clusters
    as points in the subset).
    """
    from sklearn.metrics import silhouette_score

    y_pred = _as_labels(y_pred, "y_pred")
    x = np.asarray(embeddings).reshape(len(embeddings), -1)
    n = len(x)
    index = np.arange(n)
    if n > max_points:
        index = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    labels = y_pred[index]
    if not 2 <= len(np.unique(labels)) <= len(index) - 1:
        return None, len(index)
    return float(silhouette_score(x[index], labels, metric="euclidean")), len(index)


def internal_measures(
    embeddings: np.ndarray, y_pred: np.ndarray, k: int, seed: int, max_points: int = 10_000
) -> dict:
    """Label-free measures for every run: silhouette on the embedding and cluster sizes."""
    score, used = silhouette(embeddings, y_pred, seed, max_points)
    sizes = cluster_sizes(y_pred, k)
    return {
        "silhouette": score,
        "silhouette_points": used,
        "cluster_sizes": sizes,
        "n_nonempty_clusters": int(sum(s > 0 for s in sizes)),
    }


def metrics_line(record: dict[str, Any]) -> str:
    """The one metrics line of a record (a run's ``result.json``, a ``prediction.json``):
    ``ACC … NMI … ARI …``, or ``no labels: ACC/NMI/ARI skipped`` for data without labels, with
    the silhouette when the record holds the run's internal measures.

    Every place that shows a run's numbers formats them here: the summary lines of ``src.run``
    and ``src.predict``, and the harness's ``done:`` lines (read from ``result.json``).
    """
    metrics = record.get("metrics") or {}
    shown = "  ".join(
        f"{m.upper()} {metrics[m]:.4f}" for m in ("acc", "nmi", "ari") if m in metrics
    )
    if shown:
        return shown
    shown = "no labels: ACC/NMI/ARI skipped"
    internal = record.get("internal")
    if internal:
        sil = internal.get("silhouette")
        shown += "; silhouette " + ("n/a" if sil is None else f"{sil:.4f}")
    return shown
