"""DAC's Table 3: cluster the learned label features by argmax, k-means, spectral or
agglomerative clustering. Spectral and agglomerative clustering are fitted on a seeded random
subsample (their memory grows as n² or needs a dense graph); the remaining points are assigned
by their nearest neighbours in the subsample (spectral) or the nearest cluster mean
(agglomerative), so 70,000 points fit in memory."""

from __future__ import annotations

import numpy as np

from src.core.errors import UserError
from src.methods.kmeans import nearest_centre

TACTICS = ("argmax", "kmeans", "spectral", "agglomerative")


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
) -> tuple[np.ndarray, np.ndarray | None]:
    """(labels, centroids or None) of the label features under ``tactic``."""
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
            n_neighbors=n_neighbors,
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
