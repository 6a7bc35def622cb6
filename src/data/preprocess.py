"""Per-paper input scaling, chosen by the ``preprocess`` config key.

Scaling is split in two so that new data at predict time get exactly the training-time
transform: :func:`fit_preprocess` measures the parameters on the training data (the ``auto``
DEC factor, per-feature or per-channel mean/std, min/max) and returns them as a JSON-friendly
dict; :func:`apply_fitted` applies such a dict to any data of the same shape. A run records
the dict in ``data.meta["preprocess_params"]``, its ``result.json`` and its ``model.pt``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from src.core.errors import UserError
from src.data.base import ClusterData

PREPROCESSORS = ("none", "dec_scale", "unit", "unit_center", "channel_norm", "standardize")


def dec_scale_factor(x: np.ndarray, factor: float | str | None) -> float:
    """DEC scales inputs so that (1/d)‖x‖² ≈ 1; the authors use ×0.02 for MNIST bytes."""
    if factor not in (None, "auto"):
        return float(factor)
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean_sq = float(np.mean(np.sum(flat**2, axis=1)) / flat.shape[1])
    return 1.0 / np.sqrt(mean_sq) if mean_sq > 0 else 1.0


def _array_param(a: np.ndarray) -> dict[str, Any]:
    """A float32 array as plain lists: exact through JSON and ``torch.load(weights_only)``."""
    return {"shape": list(a.shape), "values": a.astype(np.float32).ravel().tolist()}


def _array_from(p: dict[str, Any]) -> np.ndarray:
    return np.asarray(p["values"], dtype=np.float32).reshape(p["shape"])


def fit_preprocess(
    data: ClusterData, kind: str, dec_scale: float | str | None = None
) -> dict[str, Any]:
    """The parameters of scaling ``kind`` measured on ``data`` (see :func:`preprocess`)."""
    x = data.x.astype(np.float32, copy=False)
    if kind == "none":
        return {"kind": kind}
    if kind == "dec_scale":
        return {"kind": kind, "factor": float(dec_scale_factor(x, dec_scale))}
    if kind in ("unit", "unit_center"):
        if data.meta.get("bytes", False):
            params = {"kind": kind, "mode": "bytes"}
        else:
            params = {"kind": kind, "mode": "minmax", "lo": float(x.min()), "hi": float(x.max())}
        if kind == "unit_center":  # the DAC authors: the single global pixel mean after /255
            params["mean"] = float(_to_unit(x.astype(np.float64), params).mean())
        return params
    if kind in ("channel_norm", "standardize"):
        axes = (0, 2, 3) if kind == "channel_norm" and data.is_image else 0
        mean = x.mean(axis=axes, keepdims=True)
        std = x.std(axis=axes, keepdims=True)
        scale = np.where(std > 0, std, 1.0).astype(np.float32)
        return {
            "kind": kind,
            "over": "channel" if axes != 0 else "feature",
            "mean": _array_param(mean),
            "scale": _array_param(scale),
        }
    raise UserError(f"unknown preprocess '{kind}'; choose one of: {', '.join(PREPROCESSORS)}")


def _to_unit(x: np.ndarray, params: dict[str, Any]) -> np.ndarray:
    """Bytes to [0, 1], or min-max scaling with the fitted bounds."""
    if params["mode"] == "bytes":
        return x / 255.0
    lo, hi = params["lo"], params["hi"]
    return (x - lo) / (hi - lo if hi > lo else 1.0)


def apply_fitted(data: ClusterData, params: dict[str, Any]) -> ClusterData:
    """A copy of ``data`` scaled with parameters from :func:`fit_preprocess`."""
    kind = params["kind"]
    x = data.x.astype(np.float32, copy=True)
    if kind == "none":
        pass
    elif kind == "dec_scale":
        x *= params["factor"]
    elif kind in ("unit", "unit_center"):
        x = _to_unit(x, params).astype(np.float32)
        if kind == "unit_center":
            x -= np.float32(params["mean"])
    elif kind in ("channel_norm", "standardize"):
        mean, scale = _array_from(params["mean"]), _array_from(params["scale"])
        expected = mean.shape[1:]
        fits = x.ndim == mean.ndim and all(
            e in (1, s) for e, s in zip(expected, x.shape[1:], strict=True)
        )
        if not fits:
            raise UserError(
                f"{data.name}: samples of shape {tuple(x.shape[1:])} do not match the fitted "
                f"'{kind}' statistics of shape {tuple(expected)}; give data shaped like the "
                "training data"
            )
        x = (x - mean) / scale
    else:
        raise UserError(f"unknown preprocess '{kind}'; choose one of: {', '.join(PREPROCESSORS)}")
    out = ClusterData(data.name, x, data.y, data.n_classes, data.class_names, dict(data.meta))
    out.meta["preprocess"] = kind
    out.meta["preprocess_params"] = params
    return out


def preprocess(data: ClusterData, kind: str, dec_scale: float | str | None = None) -> ClusterData:
    """Return a copy of ``data`` with its inputs scaled as ``kind`` says.

    - ``none``: untouched;
    - ``dec_scale``: multiply by ``dec_scale`` (``auto``: so that (1/d)·mean‖x‖² = 1);
    - ``unit``: bytes to [0, 1] (images) or min-max over the whole array;
    - ``unit_center``: ``unit``, then minus the single global mean (the DAC authors' MNIST);
    - ``channel_norm``: zero mean, unit variance per image channel (DAC) or per feature;
    - ``standardize``: zero mean, unit variance per feature.

    The fitted parameters land in ``meta["preprocess_params"]`` (re-apply: :func:`apply_fitted`).
    """
    return apply_fitted(data, fit_preprocess(data, kind, dec_scale))


def preprocess_summary(params: dict[str, Any], max_values: int = 4096) -> dict[str, Any]:
    """``params`` for ``result.json``: arrays longer than ``max_values`` shown by shape only."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, dict) and len(value.get("values", ())) > max_values:
            out[key] = {"shape": value["shape"], "values": "in model.pt (too long for JSON)"}
        else:
            out[key] = value
    return out
