"""k-means on the (preprocessed) raw features, the papers' first baseline."""

from __future__ import annotations

from typing import Any

import numpy as np
from omegaconf import DictConfig
from sklearn.cluster import KMeans

from src.core.errors import UserError
from src.data.base import ClusterData
from src.engine.context import RunContext
from src.methods.base import MethodOutput
from src.recording.checkpoints import save_checkpoint


def fit_kmeans(
    x: np.ndarray, k: int, n_init: int, seed: int, max_iter: int = 300
) -> tuple[np.ndarray, np.ndarray, float]:
    """sklearn k-means with explicit restarts: (labels, centres, inertia)."""
    km = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=seed)
    labels = km.fit_predict(np.asarray(x, dtype=np.float32))
    return labels.astype(np.int64), km.cluster_centers_.astype(np.float32), float(km.inertia_)


def kmeans_message(n_init: int, x: np.ndarray, k: int) -> str:
    """What a k-means phase is doing, for its spinner and ``run.log``."""
    return f"k-means: k={k}, {int(n_init)} restarts on {len(x):,} points of {x.shape[1]} dims"


def nearest_centre(x: np.ndarray, centres: np.ndarray, chunk: int = 8192) -> np.ndarray:
    """Index of the nearest centre (squared Euclidean, float64) for every row of ``x``.

    The one assignment rule of every k-means model (k-means on the features, AE+k-means in the
    SAE's embedding, DAC's k-means tactic): training and ``predict`` both use it, so the same
    data get the same clusters.
    """
    c = np.asarray(centres, dtype=np.float64)
    c_sq = np.sum(c**2, axis=1)
    out = np.empty(len(x), dtype=np.int64)
    for start in range(0, len(x), chunk):
        block = np.asarray(x[start : start + chunk], dtype=np.float64)
        out[start : start + chunk] = np.argmin(c_sq - 2.0 * block @ c.T, axis=1)
    return out


def run(cfg: DictConfig, data: ClusterData, ctx: RunContext) -> MethodOutput:
    x = data.features()
    with ctx.timer("kmeans"), ctx.status(kmeans_message(cfg.method.n_init, x, ctx.n_clusters)):
        _, centres, inertia = fit_kmeans(
            x, ctx.n_clusters, cfg.method.n_init, ctx.seed, cfg.method.max_iter
        )
        labels = nearest_centre(x, centres)
    model_path = save_checkpoint(
        ctx.run_dir / "model.pt",
        {
            "method": "kmeans",
            "centroids": centres,
        },
    )
    return MethodOutput(
        labels=labels, embeddings=x, extra={"inertia": inertia}, model_path=model_path
    )


def predict(checkpoint: dict[str, Any], data: ClusterData, device: Any = None) -> MethodOutput:
    """Nearest saved centroid for each sample of (already preprocessed) ``data``."""
    centres = np.asarray(checkpoint["centroids"], dtype=np.float32)
    x = data.features()
    if x.shape[1] != centres.shape[1]:
        raise UserError(
            f"{data.name} has {x.shape[1]} features per sample but the k-means model was "
            f"trained on {centres.shape[1]}; give data shaped like the training data"
        )
    return MethodOutput(labels=nearest_centre(x, centres), embeddings=x)
