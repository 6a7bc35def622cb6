"""Per-run figures: confusion matrix and a 2-D view of the embedding."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from src.io_utils import atomic_write  # noqa: E402
from src.metrics import contingency  # noqa: E402


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    plt.close(fig)
    return path


def confusion_png(y_true: np.ndarray, y_pred: np.ndarray, path: Path, title: str) -> Path:
    """Clusters (rows, ordered by their best-matching class) against true classes."""
    table, clusters, classes = contingency(y_true, y_pred)
    order = np.argsort(table.argmax(axis=1), kind="stable")
    table, clusters = table[order], clusters[order]
    fig, ax = plt.subplots(figsize=(1 + 0.45 * len(classes), 1 + 0.4 * len(clusters)))
    ax.imshow(table, cmap="Blues")
    ax.set_xticks(range(len(classes)), [str(c) for c in classes])
    ax.set_yticks(range(len(clusters)), [str(c) for c in clusters])
    ax.set_xlabel("true class")
    ax.set_ylabel("cluster")
    ax.set_title(title, fontsize=9)
    if table.size <= 400:
        hi = table.max()
        for (i, j), v in np.ndenumerate(table):
            ax.text(
                j,
                i,
                str(v),
                ha="center",
                va="center",
                fontsize=6,
                color="white" if v > hi / 2 else "black",
            )
    return _save(fig, path)


def project_2d(
    embeddings: np.ndarray, seed: int, max_points: int = 10_000
) -> tuple[np.ndarray, np.ndarray]:
    """PCA to 2-D of at most ``max_points`` samples: (index, coordinates)."""
    from sklearn.decomposition import PCA

    n = len(embeddings)
    index = np.arange(n)
    if n > max_points:
        index = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    x = embeddings[index].reshape(len(index), -1)
    if x.shape[1] <= 2:
        return index, np.pad(x, ((0, 0), (0, 2 - x.shape[1])))
    return index, PCA(n_components=2, random_state=seed).fit_transform(x)


def embedding_png(
    embeddings: np.ndarray, labels: np.ndarray, path: Path, title: str, seed: int = 0
) -> Path:
    """Scatter of a 2-D projection of the embedding, coloured by cluster."""
    index, xy = project_2d(embeddings, seed)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.scatter(xy[:, 0], xy[:, 1], c=labels[index], cmap="tab20", s=3, alpha=0.7, linewidths=0)
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)
