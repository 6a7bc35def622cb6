"""k-means on the (preprocessed) raw features, the papers' first baseline."""

from __future__ import annotations

import numpy as np
from omegaconf import DictConfig
from sklearn.cluster import KMeans

from src.data.base import ClusterData
from src.methods.base import MethodOutput, RunContext


def fit_kmeans(
    x: np.ndarray, k: int, n_init: int, seed: int, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray, float]:
    """sklearn k-means with explicit restarts: (labels, centres, inertia)."""
    km = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=seed)
    labels = km.fit_predict(np.asarray(x, dtype=np.float32))
    return labels.astype(np.int64), km.cluster_centers_.astype(np.float32), float(km.inertia_)


def run(cfg: DictConfig, data: ClusterData, ctx: RunContext) -> MethodOutput:
    x = data.features()
    with ctx.timer("kmeans"):
        labels, centres, inertia = fit_kmeans(
            x, ctx.n_clusters, cfg.method.n_init, ctx.seed, cfg.method.max_iter
        )
    return MethodOutput(labels=labels, embeddings=x, extra={"inertia": inertia})
