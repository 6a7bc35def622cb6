"""What a training phase receives besides the config and the data: the run context."""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from src.engine.run_eta import RunETA
from src.recording.provenance import PhaseTimer


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
        from src.recording.summary import spinner

        logging.getLogger("dcrepro").info(message)
        with spinner(message, self.progress):
            yield

    def log(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Log scalars from code that runs outside a Lightning trainer."""
        if self.logger is not None:
            self.logger.log_metrics(metrics, step=step)
