"""What every run (and ``src.predict``) leaves for the user: assignments, embeddings, 2-D view.

- ``assignments.csv``: ``index`` (row of the run's data), ``cluster``, ``confidence`` (the
  largest soft assignment; 1.0 for methods without soft assignments) and ``label`` when known;
- ``soft_assignments.npy``: the ``(n, k)`` soft assignments, when the method has them;
- ``embeddings.npy``: the ``(n, e)`` space the clusters live in (k-means: the preprocessed
  features). ``export.embeddings=auto`` skips it only when it is the preprocessed input itself
  and larger than 64 MB (MNIST: 220 MB that ``src.data`` rebuilds in seconds);
- ``embedding_2d.png``: the embedding projected to 2-D (``export.projection``), by cluster.
"""

from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from src.core.errors import UserError
from src.core.export_options import EMBEDDING_POLICIES
from src.core.io_utils import atomic_write, atomic_write_text
from src.data.base import ClusterData

AUTO_SKIP_INPUT_BYTES = 64 * 2**20


def write_assignments(
    path: Path, labels: np.ndarray, soft: np.ndarray | None = None, y: np.ndarray | None = None
) -> Path:
    """``assignments.csv``: index, cluster, confidence and, when known, the true label."""
    import pandas as pd

    labels = np.asarray(labels, dtype=np.int64)
    confidence = np.ones(len(labels)) if soft is None else np.asarray(soft).max(axis=1)
    table = pd.DataFrame(
        {"index": np.arange(len(labels)), "cluster": labels, "confidence": confidence}
    )
    if y is not None:
        table["label"] = np.asarray(y, dtype=np.int64)
    text = table.to_csv(index=False, float_format="%.6g", lineterminator="\n")
    return atomic_write_text(path, text)


def write_npy(path: Path, array: np.ndarray) -> Path:
    """``np.save`` to ``path`` atomically."""

    array = np.asarray(array)

    def write(tmp: Path) -> None:
        with tmp.open("wb") as f:
            np.save(f, array)

    return atomic_write(path, write, size=array.nbytes + 128)  # + the .npy header


def embedding_decision(
    embeddings: np.ndarray, data: ClusterData, policy: str
) -> tuple[bool, str | None]:
    """(write embeddings.npy?, reason when not) under ``export.embeddings=policy``."""
    if policy not in EMBEDDING_POLICIES:
        raise UserError(
            f"unknown export.embeddings '{policy}'; choose one of: {', '.join(EMBEDDING_POLICIES)}"
        )
    if policy == "never":
        return False, "skipped (export.embeddings=never)"
    if (
        policy == "auto"
        and np.shares_memory(embeddings, data.x)
        and embeddings.nbytes > AUTO_SKIP_INPUT_BYTES
    ):
        return False, (
            f"skipped: the embedding is the preprocessed input ({embeddings.nbytes / 2**20:.0f} "
            "MB); export.embeddings=always writes it"
        )
    return True, None


def export_run(
    cfg: Any,
    data: ClusterData,
    labels: np.ndarray,
    embeddings: np.ndarray,
    soft: np.ndarray | None,
    run_dir: Path,
    title: str,
    status: Any = None,
    projection_budget_s: float | None = None,
) -> dict[str, str]:
    """Write a run's exports; returns {output name: path, or why it was skipped}.

    ``status(message)``: an optional context manager (a Rich spinner) around the 2-D view.
    ``projection_budget_s``: what the clustering cost (the method's time plus a cached SAE's
    pretraining), so every method on one SAE draws the same kind of view;
    ``export.projection=auto`` stays within a tenth of it.
    """
    export_cfg = cfg.get("export") or {}
    outputs: dict[str, str] = {}
    outputs["assignments"] = str(
        write_assignments(run_dir / "assignments.csv", labels, soft, data.y)
    )
    if soft is not None:
        outputs["soft_assignments"] = str(write_npy(run_dir / "soft_assignments.npy", soft))
    write, why = embedding_decision(embeddings, data, str(export_cfg.get("embeddings", "auto")))
    outputs["embeddings"] = str(write_npy(run_dir / "embeddings.npy", embeddings)) if write else why
    if cfg.get("plots", True):
        from src.recording.plots import PROJECTION_NAMES, embedding_png, resolve_projection

        costly_points = min(len(embeddings), int(export_cfg.get("projection_points", 2000)))
        method = resolve_projection(
            str(export_cfg.get("projection", "auto")), costly_points, projection_budget_s
        )
        max_points = 10_000 if method == "pca" else costly_points
        n_shown = min(len(embeddings), max_points)
        message = f"{PROJECTION_NAMES[method]} 2-D view of {n_shown:,} points"
        with status(message) if status is not None else nullcontext():
            outputs["embedding_2d"] = str(
                embedding_png(
                    embeddings,
                    labels,
                    run_dir / "embedding_2d.png",
                    title,
                    int(cfg.get("seed", 0)),
                    method,
                    max_points,
                )
            )
    return outputs
