"""Batched inference: a function over a whole resident data set in large batches."""

from __future__ import annotations

from collections.abc import Callable

import torch


@torch.no_grad()
def batched(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """``fn`` over ``x`` in large batches, concatenated (whole-data-set passes)."""
    return torch.cat([fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
