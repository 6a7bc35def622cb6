"""The in-memory form every data set takes: features or images plus optional labels."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from src.core.errors import UserError


@dataclass
class ClusterData:
    """A clustering data set, train and test together as both papers use them.

    ``x`` is float32, shaped ``(n, d)`` for feature vectors or ``(n, c, h, w)`` for images;
    ``y`` holds integer labels (or ``None`` when the data are unlabelled).
    """

    name: str
    x: np.ndarray
    y: np.ndarray | None
    n_classes: int | None = None
    class_names: list[str] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.x = np.ascontiguousarray(self.x, dtype=np.float32)
        if self.y is not None:
            self.y = np.asarray(self.y, dtype=np.int64)
            if self.y.shape != (len(self.x),):
                raise UserError(
                    f"{self.name}: {len(self.x)} samples but labels of shape {self.y.shape}"
                )
            if self.n_classes is None:
                self.n_classes = int(len(np.unique(self.y)))

    def __len__(self) -> int:
        return len(self.x)

    @property
    def is_image(self) -> bool:
        return self.x.ndim == 4

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        return tuple(self.x.shape[1:]) if self.is_image else None  # type: ignore[return-value]

    @property
    def n_features(self) -> int:
        return int(np.prod(self.x.shape[1:]))

    def features(self) -> np.ndarray:
        """Flat ``(n, d)`` view, for the autoencoder and k-means."""
        return self.x.reshape(len(self.x), -1)

    def images(self) -> np.ndarray:
        """``(n, c, h, w)`` view, for ConvNets."""
        if not self.is_image:
            raise UserError(
                f"{self.name} holds feature vectors, not images; choose arch=sae for it"
            )
        return self.x

    def take(self, index: np.ndarray) -> ClusterData:
        """The samples at ``index`` (labels follow)."""
        y = None if self.y is None else self.y[index]
        return replace(self, x=self.x[index], y=y)


def subsample(data: ClusterData, n: int | None, seed: int) -> ClusterData:
    """A seeded random subset of ``n`` samples (all of them when ``n`` is None or ≥ len)."""
    if n is None or n >= len(data):
        return data
    if n < 1:
        raise UserError(f"dataset.subset must be a positive number of samples, got {n}")
    index = np.sort(np.random.default_rng(seed).choice(len(data), size=n, replace=False))
    return data.take(index)


def imbalance(data: ClusterData, r_min: float | None, seed: int) -> ClusterData:
    """DEC's imbalanced sampling: class c kept with probability linear from r_min to 1.

    Classes are taken in sorted order (class 0 keeps r_min of its samples, the last class all).
    """
    if r_min is None:
        return data
    if data.y is None:
        raise UserError("dataset.imbalance needs labelled data")
    if not 0.0 < r_min <= 1.0:
        raise UserError(f"dataset.imbalance must be in (0, 1], got {r_min}")
    classes = np.unique(data.y)
    keep_prob = np.linspace(r_min, 1.0, len(classes))
    rng = np.random.default_rng(seed)
    prob = keep_prob[np.searchsorted(classes, data.y)]
    return data.take(np.flatnonzero(rng.random(len(data)) < prob))
