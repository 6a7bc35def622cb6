"""What a method receives (the run context) and returns (assignments and extras)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from src.data.base import ClusterData
from src.engine.context import RunContext


@dataclass
class MethodOutput:
    """Hard assignments for every sample, plus what else the method learned."""

    labels: np.ndarray
    embeddings: np.ndarray | None = None  # (n, e): the space the clusters live in
    soft: np.ndarray | None = None  # (n, k) soft assignments, rows sum to 1
    extra: dict[str, Any] = field(default_factory=dict)  # scalars for result.json
    model_path: Path | None = None  # a checkpoint `src.predict` can load
    device: str | None = None  # the torch device that trained ("cuda", "cpu"); None: the CPU
    # seconds of shared work this run reused instead of doing (a cached SAE's pretraining):
    # what the clustering cost, for weighing extras such as the 2-D view (export.projection=auto)
    reused_s: float = 0.0


MethodFn = Callable[[DictConfig, ClusterData, RunContext], MethodOutput]
