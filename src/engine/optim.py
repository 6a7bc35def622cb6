"""The optimiser factory: SGD with momentum or Adam, fused or multi-tensor."""

from __future__ import annotations

from typing import Any

import torch

from src.engine.switches import FastOptions


def make_optimizer(
    kind: str,
    params: list[torch.nn.Parameter],
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    fast: FastOptions = FastOptions(),  # noqa: B008 - frozen
) -> torch.optim.Optimizer:
    """SGD (momentum) or Adam, fused when ``fast.fused_optimizer`` (same update rule, float
    rounding may differ), else ``foreach`` (multi-tensor kernels: no Python loop over the
    parameters, and the arithmetic of the per-parameter loop bit for bit)."""
    impl: dict[str, Any] = {"fused": True} if fast.fused_optimizer else {"foreach": True}
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **impl)
    if kind == "adam":
        if fast.cuda_graphs:
            impl["capturable"] = True  # Adam's step counter must live on the GPU in a graph
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **impl)
    raise ValueError(f"unknown optimizer '{kind}'; choose sgd or adam")
