"""DAC's Table 3: cluster the learned label features by argmax, k-means, spectral or
agglomerative clustering. Spectral and agglomerative clustering are fitted on a seeded random
subsample (their memory grows as n² or needs a dense graph); the remaining points are assigned
by their nearest neighbours in the subsample (spectral) or the nearest cluster mean
(agglomerative), so 70,000 points fit in memory.

Spectral clustering on a k-NN graph with more connected components than clusters is
degenerate: its k smallest eigenvectors pick components at random (sharp, near one-hot label
features make such graphs). ``grow_neighbors`` doubles ``n_neighbors`` until the graph has at
most k components; off, such a graph gets a warning naming the option."""

from __future__ import annotations

import logging

import numpy as np

from src.core.errors import UserError
from src.methods.kmeans import nearest_centre

TACTICS = ("argmax", "kmeans", "spectral", "agglomerative")
log = logging.getLogger(__name__)


def knn_components(x: np.ndarray, n_neighbors: int) -> int:
    """Connected components of the symmetric k-NN graph that ``SpectralClustering``
    (``affinity="nearest_neighbors"``) builds on ``x``."""
    from scipy.sparse.csgraph import connected_components
    from sklearn.neighbors import kneighbors_graph

    graph = kneighbors_graph(x, n_neighbors, include_self=True)
    return int(connected_components(graph + graph.T, directed=False)[0])


def spectral_neighbors(x: np.ndarray, k: int, n_neighbors: int, grow: bool) -> int:
    """``n_neighbors`` for spectral clustering of ``x`` into ``k``: as given, or (``grow``)
    doubled until the k-NN graph has at most ``k`` components (at most ``len(x) - 1``)."""
    if n_neighbors >= len(x):  # a graph of everything: one component
        return n_neighbors
    components = knn_components(x, n_neighbors)
    while grow and components > k and n_neighbors < len(x) - 1:
        n_neighbors = min(2 * n_neighbors, len(x) - 1)
        components = knn_components(x, n_neighbors)
    if components > k:
        log.warning(
            "spectral tactic: the %d-NN graph has %d components for %d clusters, so its "
            "clusters are arbitrary; method.tactic_grow_neighbors=true widens the graph",
            n_neighbors,
            components,
            k,
        )
    elif grow:
        log.info("spectral tactic: %d neighbours (%d components)", n_neighbors, components)
    return n_neighbors


def cluster_means(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Per-cluster mean of x (zeros for an empty cluster)."""
    means = np.zeros((k, x.shape[1]), dtype=np.float64)
    counts = np.bincount(labels, minlength=k)
    np.add.at(means, labels, x)
    return (means / np.maximum(counts, 1)[:, None]).astype(np.float32)


def cluster_features(
    feats: np.ndarray,
    k: int,
    tactic: str,
    seed: int,
    subsample: int = 10_000,
    n_init: int = 10,
    n_neighbors: int = 10,
    grow_neighbors: bool = False,
) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, centroids or None) of the label features under ``tactic``; ``grow_neighbors``:
    see :func:`spectral_neighbors`."""
    feats = np.asarray(feats, dtype=np.float32)
    if tactic == "argmax":
        return feats.argmax(1).astype(np.int64), None
    if tactic == "kmeans":
        from src.methods.kmeans import fit_kmeans

        labels, centres, _ = fit_kmeans(feats, k, n_init, seed)
        return labels, centres
    if tactic not in TACTICS:
        raise UserError(f"method.tactic={tactic!r}; choose one of: {', '.join(TACTICS)}")
    rng = np.random.default_rng(seed)
    n = len(feats)
    fit_idx = np.sort(rng.choice(n, size=min(subsample, n), replace=False))
    sub = feats[fit_idx]
    if tactic == "spectral":
        from sklearn.cluster import SpectralClustering
        from sklearn.neighbors import KNeighborsClassifier

        sc = SpectralClustering(
            n_clusters=k,
            affinity="nearest_neighbors",
            n_neighbors=spectral_neighbors(sub, k, n_neighbors, grow_neighbors),
            assign_labels="kmeans",
            n_init=n_init,
            random_state=seed,
        )
        sub_labels = sc.fit_predict(sub).astype(np.int64)
        knn = KNeighborsClassifier(n_neighbors=n_neighbors).fit(sub, sub_labels)
        labels = knn.predict(feats).astype(np.int64)
        labels[fit_idx] = sub_labels
    else:
        from sklearn.cluster import AgglomerativeClustering

        sub_labels = AgglomerativeClustering(n_clusters=k, linkage="ward").fit_predict(sub)
        sub_labels = sub_labels.astype(np.int64)
        labels = nearest_centre(feats, cluster_means(sub, sub_labels, k))
        labels[fit_idx] = sub_labels
    return labels, cluster_means(feats, labels, k)
