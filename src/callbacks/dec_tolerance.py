"""DEC's stopping rule: stop when fewer than ``tol`` of the points change cluster between
two consecutive target-distribution updates (Xie et al. 2016, §3.1.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch


class LabelChangeTracker:
    """The pure rule: feed the hard labels of each target update, in order.

    ``update`` returns the fraction of samples whose label changed since the previous update
    (``None`` at the first one) and sets ``converged`` once that fraction is ``< tol``, as the
    authors' code does (``delta_label < tol`` → stop; never at the first update).
    """

    def __init__(self, tol: float) -> None:
        self.tol = float(tol)
        self.previous: torch.Tensor | None = None
        self.converged = False
        self.history: list[float] = []

    def update(self, labels: torch.Tensor) -> float | None:
        labels = torch.as_tensor(labels)
        fraction = None
        if self.previous is not None:
            fraction = float((labels != self.previous).sum().item()) / labels.numel()
            self.history.append(fraction)
            self.converged = fraction < self.tol
        self.previous = labels.clone()
        return fraction


class DECToleranceStop(L.Callback):
    """At every target update (iteration multiple of ``update_interval``): refresh P on the
    whole data set, log the label-change fraction (and ACC/NMI/ARI when labels are known),
    and stop training when the change is below ``tol``.

    The iteration cap is the chunk plan's length (``method.max_iter``): training ends there if
    the tolerance is never met. The module must provide ``update_target() -> labels`` and skip
    its ``training_step`` once its ``stopped`` flag is set.
    """

    def __init__(
        self,
        update_interval: int,
        tol: float,
        y: np.ndarray | None = None,
        evaluate: Callable[[np.ndarray, np.ndarray], dict[str, float]] | None = None,
        log_fn: Callable[[dict, int], None] | None = None,
        log_metrics: bool = True,
    ) -> None:
        self.update_interval = int(update_interval)
        self.tracker = LabelChangeTracker(tol)
        self.y = y
        self.evaluate = evaluate
        self.log_fn = log_fn
        self.log_metrics = log_metrics
        self.stopped_at: int | None = None
        self.n_updates = 0
        self.last_metrics: dict[str, float] = {}

    def on_train_batch_start(
        self, trainer: L.Trainer, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        start = int(batch[0])
        if start % self.update_interval or getattr(pl_module, "stopped", False):
            return
        labels = pl_module.update_target()
        self.n_updates += 1
        fraction = self.tracker.update(labels)
        logged: dict[str, float] = {"dec/target_updates": float(self.n_updates)}
        if fraction is not None:
            logged["dec/label_change"] = fraction
        if self.log_metrics and self.y is not None and self.evaluate is not None:
            metrics = self.evaluate(self.y, labels.cpu().numpy())
            self.last_metrics = metrics
            logged.update({f"dec/{k}": v for k, v in metrics.items()})
        if self.log_fn is not None:
            self.log_fn(logged, start)
        if self.tracker.converged:
            self.stopped_at = start
            pl_module.stopped = True  # skip this chunk's iterations
            trainer.should_stop = True
