"""sklearn's embedded 8×8 digits (1,797 images, 10 classes): needs no download."""

from __future__ import annotations

from pathlib import Path

from src.data.base import ClusterData


def load_digits(root: str | Path | None = None) -> ClusterData:
    """Digits as ``(n, 1, 8, 8)`` images with grey levels 0–16."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    x = bunch.images.reshape(-1, 1, 8, 8)
    return ClusterData("digits", x, bunch.target, 10, [str(c) for c in range(10)])
