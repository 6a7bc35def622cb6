"""What a method receives (the run context) and returns (assignments and extras)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from src.data.base import ClusterData
from src.provenance import PhaseTimer
from src.run_eta import RunETA


@dataclass
class RunContext:
    """Everything a method needs besides the config and the data."""

    run_dir: Path
    cache_dir: Path
    n_clusters: int
    seed: int
    timer: PhaseTimer = field(default_factory=PhaseTimer)
    logger: Any = None  # a Lightning logger (WandbLogger, CSVLogger) or None
    progress: bool = False  # spinners for phases without a progress bar (``progress_bar``)
    eta: RunETA = field(default_factory=RunETA)  # planned phases → the run's ETA on the bars

    @contextmanager
    def status(self, message: str):
        """A phase without a progress bar (k-means, projections): a spinner on a terminal and
        a line in ``run.log``."""
        from src.summary import spinner

        logging.getLogger("dcrepro").info(message)
        with spinner(message, self.progress):
            yield

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log scalars from code that runs outside a Lightning trainer."""
        if self.logger is not None:
            self.logger.log_metrics(metrics, step=step)


@dataclass
class MethodOutput:
    """Hard assignments for every sample, plus what else the method learned."""

    labels: np.ndarray
    embeddings: np.ndarray | None = None  # (n, e): the space the clusters live in
    soft: np.ndarray | None = None  # (n, k) soft assignments, rows sum to 1
    extra: dict[str, Any] = field(default_factory=dict)  # scalars for result.json
    model_path: Path | None = None  # a checkpoint `src.predict` can load
    device: str | None = None  # the torch device that trained ("cuda", "cpu"); None: the CPU


MethodFn = Callable[[DictConfig, ClusterData, RunContext], MethodOutput]
