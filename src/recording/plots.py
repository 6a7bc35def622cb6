"""Per-run figures: confusion matrix and a 2-D view of the embedding."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from src.core.errors import UserError  # noqa: E402
from src.core.export_options import PROJECTIONS, umap_available  # noqa: E402
from src.core.io_utils import atomic_write  # noqa: E402
from src.recording.metrics import contingency  # noqa: E402


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight"))
    plt.close(fig)
    return path


CONFUSION_FILE = "confusion.csv"  # the counts behind confusion.png (the ledger keeps them)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray) -> pd.DataFrame:
    """Counts of clusters (rows, ordered by their best-matching class) × true classes."""
    table, clusters, classes = contingency(y_true, y_pred)
    order = np.argsort(table.argmax(axis=1), kind="stable")
    index = pd.Index([str(c) for c in clusters[order]], name="cluster")
    return pd.DataFrame(table[order], index=index, columns=[str(c) for c in classes])


def write_confusion_csv(counts: pd.DataFrame, path: Path) -> Path:
    """``counts`` as CSV: a ``cluster`` column, then one column per true class."""
    atomic_write(path, lambda tmp: counts.to_csv(tmp))
    return path


def read_confusion_csv(path: Path) -> pd.DataFrame:
    """A table :func:`write_confusion_csv` wrote (labels as strings, counts as integers)."""
    counts = pd.read_csv(path, index_col="cluster", dtype={"cluster": str})
    return counts.astype(np.int64)


def draw_confusion(ax: Any, counts: pd.DataFrame, title: str) -> None:
    """Clusters against true classes on ``ax``, each cell's count written in when they fit."""
    table = counts.to_numpy()
    ax.imshow(table, cmap="Blues")
    ax.set_xticks(range(table.shape[1]), list(counts.columns))
    ax.set_yticks(range(table.shape[0]), list(counts.index))
    ax.set_xlabel("true class")
    ax.set_ylabel("cluster")
    ax.set_title(title, fontsize=9)
    if table.size <= 400:
        hi = table.max()
        for (i, j), v in np.ndenumerate(table):
            colour = "white" if v > hi / 2 else "black"
            ax.text(j, i, str(v), ha="center", va="center", fontsize=6, color=colour)


def confusion_png(counts: pd.DataFrame, path: Path, title: str) -> Path:
    """:func:`draw_confusion` as a figure of its own."""
    rows, cols = counts.shape
    fig, ax = plt.subplots(figsize=(1 + 0.45 * cols, 1 + 0.4 * rows))
    draw_confusion(ax, counts, title)
    return _save(fig, path)


MAX_LEGEND_ENTRIES = 20  # more clusters than this: colours only (the legend would not fit)
PROJECTION_NAMES = {"tsne": "t-SNE", "umap": "UMAP", "pca": "PCA"}


# Seconds per shown point of the costly projections on one CPU core (t-SNE measured on digits:
# ~20 s for 2,000 points on an idle core); ``auto`` uses them to stay within a tenth of the
# method's time, so the figure never adds more than 10 % to a run.
SECONDS_PER_POINT = {"tsne": 0.01, "umap": 0.01}
AUTO_BUDGET_FRACTION = 0.1


def resolve_projection(
    kind: str, n_points: int | None = None, budget_s: float | None = None
) -> str:
    """The projection to draw ``n_points`` with; checks explicit choices.

    ``auto`` picks by cost: UMAP (when umap-learn is installed) or t-SNE when its estimated
    time for ``n_points`` fits in a tenth of ``budget_s`` (what the clustering cost), else PCA
    (~0.1 s), so the figure never costs more than a tenth of the clustering. ``tsne``/``umap``:
    always, on request.
    """
    if kind not in PROJECTIONS:
        raise UserError(
            f"unknown export.projection '{kind}'; choose one of: {', '.join(PROJECTIONS)}"
        )
    if kind == "auto":
        costly = "umap" if umap_available() else "tsne"
        if n_points is None or budget_s is None:
            return "pca"
        affordable = SECONDS_PER_POINT[costly] * n_points <= AUTO_BUDGET_FRACTION * budget_s
        return costly if affordable else "pca"
    if kind == "umap" and not umap_available():
        raise UserError(
            "export.projection=umap needs umap-learn (pip install umap-learn); "
            "or use export.projection=tsne or pca"
        )
    return kind


def project_2d(
    embeddings: np.ndarray, seed: int, max_points: int = 10_000, method: str = "pca"
) -> tuple[np.ndarray, np.ndarray]:
    """2-D coordinates of a seeded subset of at most ``max_points`` samples: (index, xy).

    ``method``: ``pca``, ``tsne`` (sklearn, Barnes-Hut, after PCA to 50 dimensions when
    wider) or ``umap`` (umap-learn).
    """
    from sklearn.decomposition import PCA

    n = len(embeddings)
    index = np.arange(n)
    if n > max_points:
        index = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    x = np.asarray(embeddings[index], dtype=np.float32).reshape(len(index), -1)
    if x.shape[1] <= 2:
        return index, np.pad(x, ((0, 0), (0, 2 - x.shape[1])))
    if method == "pca":
        return index, PCA(n_components=2, random_state=seed).fit_transform(x)
    if method == "tsne":
        from sklearn.manifold import TSNE

        if x.shape[1] > 50 and len(x) > 50:
            x = PCA(n_components=50, random_state=seed).fit_transform(x)
        perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3.0)))
        tsne = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed)
        return index, tsne.fit_transform(x)
    if method == "umap":
        import umap  # optional dependency: umap-learn

        return index, umap.UMAP(n_components=2, random_state=seed).fit_transform(x)
    raise ValueError(f"unknown projection method '{method}'")


def embedding_png(
    embeddings: np.ndarray,
    labels: np.ndarray,
    path: Path,
    title: str,
    seed: int = 0,
    method: str = "pca",
    max_points: int = 10_000,
) -> Path:
    """Scatter of a 2-D projection (``method``) of the embedding, coloured by cluster."""
    index, xy = project_2d(embeddings, seed, max_points, method)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    shown = np.asarray(labels)[index]
    cmap = plt.get_cmap("tab10" if shown.max(initial=0) < 10 else "tab20")
    colours = cmap(shown % cmap.N)
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=3, alpha=0.7, linewidths=0)
    present = np.unique(shown)
    if len(present) <= MAX_LEGEND_ENTRIES:
        from matplotlib.lines import Line2D

        handles = [
            Line2D([], [], marker="o", linestyle="", color=cmap(c % cmap.N), label=str(c))
            for c in present
        ]
        ax.legend(
            handles=handles,
            title="cluster",
            fontsize=7,
            title_fontsize=7,
            loc="center left",
            bbox_to_anchor=(1.0, 0.5),
            frameon=False,
        )
    name = PROJECTION_NAMES.get(method, method)
    ax.set_title(f"{title}\n{name} of the embedding, {len(index):,} points", fontsize=9)
    ax.set_xlabel(f"{name} 1")
    ax.set_ylabel(f"{name} 2")
    ax.set_xticks([])
    ax.set_yticks([])
    return _save(fig, path)
