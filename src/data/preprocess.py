"""Per-paper input scaling, chosen by the ``preprocess`` config key."""

from __future__ import annotations

import numpy as np

from src.data.base import ClusterData
from src.errors import UserError

PREPROCESSORS = ("none", "dec_scale", "unit", "channel_norm", "standardize")


def dec_scale_factor(x: np.ndarray, factor: float | str | None) -> float:
    """DEC scales inputs so that (1/d)‖x‖² ≈ 1; the authors use ×0.02 for MNIST bytes."""
    if factor not in (None, "auto"):
        return float(factor)
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean_sq = float(np.mean(np.sum(flat**2, axis=1)) / flat.shape[1])
    return 1.0 / np.sqrt(mean_sq) if mean_sq > 0 else 1.0


def preprocess(data: ClusterData, kind: str, dec_scale: float | str | None = None) -> ClusterData:
    """Return a copy of ``data`` with its inputs scaled as ``kind`` says.

    - ``none``: untouched;
    - ``dec_scale``: multiply by ``dec_scale`` (``auto``: so that (1/d)·mean‖x‖² = 1);
    - ``unit``: bytes to [0, 1] (images) or min-max over the whole array;
    - ``channel_norm``: zero mean, unit variance per image channel (DAC) or per feature;
    - ``standardize``: zero mean, unit variance per feature.
    """
    x = data.x.astype(np.float32, copy=True)
    if kind == "none":
        pass
    elif kind == "dec_scale":
        x *= dec_scale_factor(x, dec_scale)
    elif kind == "unit":
        if data.meta.get("bytes", False):
            x /= 255.0
        else:
            lo, hi = float(x.min()), float(x.max())
            x = (x - lo) / (hi - lo if hi > lo else 1.0)
    elif kind == "channel_norm" and data.is_image:
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        std = x.std(axis=(0, 2, 3), keepdims=True)
        x = (x - mean) / np.where(std > 0, std, 1.0)
    elif kind in ("channel_norm", "standardize"):
        axes = 0
        mean = x.mean(axis=axes, keepdims=True)
        std = x.std(axis=axes, keepdims=True)
        x = (x - mean) / np.where(std > 0, std, 1.0)
    else:
        raise UserError(f"unknown preprocess '{kind}'; choose one of: {', '.join(PREPROCESSORS)}")
    out = ClusterData(data.name, x, data.y, data.n_classes, data.class_names, dict(data.meta))
    out.meta["preprocess"] = kind
    return out
