"""DEC's stopping rule: stop when fewer than ``tol`` of the points change cluster between
two consecutive target-distribution updates (Xie et al. 2016, §3.1.2)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import lightning as L
import numpy as np
import torch

from src.recording.metrics import evaluate_table


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
        log_fn: Callable[[dict, int], None] | None = None,
        log_metrics: bool = True,
    ) -> None:
        self.update_interval = int(update_interval)
        self.tracker = LabelChangeTracker(tol)
        # class ids 0..C-1 of the true labels; moved to the labels' device at the first update
        self.y_index: torch.Tensor | None = None
        self.n_classes = 0
        if y is not None:
            classes, inverse = np.unique(np.asarray(y), return_inverse=True)
            self.y_index, self.n_classes = torch.from_numpy(inverse.astype(np.int64)), len(classes)
        self.log_fn = log_fn
        self.log_metrics = log_metrics
        self.stopped_at: int | None = None
        self.n_updates = 0
        self.last_metrics: dict[str, float] = {}

    def count_table(self, labels: torch.Tensor) -> np.ndarray:
        """Clusters × classes counts, counted where the labels live (one small host copy)."""
        assert self.y_index is not None
        self.y_index = self.y_index.to(labels.device)
        labels = labels.long()
        n_clusters = int(labels.max()) + 1
        flat = torch.bincount(
            labels * self.n_classes + self.y_index, minlength=n_clusters * self.n_classes
        )
        return flat.view(n_clusters, self.n_classes).cpu().numpy()

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
        if self.log_metrics and self.y_index is not None:
            metrics = evaluate_table(self.count_table(labels))
            self.last_metrics = metrics
            logged.update({f"dec/{k}": v for k, v in metrics.items()})
        if self.log_fn is not None:
            self.log_fn(logged, start)
        if self.tracker.converged:
            self.stopped_at = start
            pl_module.stopped = True  # skip this chunk's iterations
            trainer.should_stop = True
