"""DAC's per-epoch bookkeeping as a Lightning callback: threshold steps, the stopping rule, and
the history (thresholds, selected pairs, loss, and, when labels exist, ACC/NMI/ARI with the
number of non-empty argmax clusters and the largest one's share: merged or split clusters show
there)."""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch

from src.recording.metrics import evaluate_table
from src.recording.provenance import PROGRESS

log = logging.getLogger("dcrepro")

HISTORY_FIELDS = (
    "epoch",
    "step",
    "lambda",
    "upper",
    "lower",
    "selected_fraction",
    "loss",
    "used_upper",
    "used_lower",
    "acc",
    "nmi",
    "ari",
    "clusters",
    "largest_cluster",
)


def epoch_line(row: dict[str, Any]) -> str:
    """A history row as the log's line: ``DAC epoch 3: ACC 0.9839 NMI 0.9548 ARI 0.9645 ·
    selected 41.2 % · loss 0.1234 · next u 0.9425 l 0.8475`` (what the row has)."""
    parts = [f"DAC epoch {row['epoch']}:"]
    scores = [f"{k.upper()} {row[k]:.4f}" for k in ("acc", "nmi", "ari") if row.get(k) is not None]
    parts += [" ".join(scores)] if scores else []
    if row.get("clusters") is not None:
        parts.append(f"{row['clusters']} clusters, largest {100 * row['largest_cluster']:.1f} %")
    if row.get("selected_fraction") is not None:
        parts.append(f"selected {100 * row['selected_fraction']:.1f} %")
    if row.get("loss") is not None:
        parts.append(f"loss {row['loss']:.4f}")
    parts.append(f"next u {row['upper']:.4f} l {row['lower']:.4f}")
    return parts[0] + " " + " · ".join(parts[1:])


class DACThresholdStop(L.Callback):
    """Before training: an epoch-0 row for the initial network. After every epoch: one
    threshold step (the module's ``lambda_step``), the history row (λ, u, l, the fraction of
    selected pairs and the mean loss of the epoch, and, when ``y`` is given, ACC/NMI/ARI of the
    argmax of the whole data set predicted as the authors do), and the stop once u ≤ l (DAC)
    or after ``max_epochs``. The history is kept in ``self.history`` and, when ``csv_path`` is
    set, rewritten there after every epoch; rows also go to the trainer's logger."""

    def __init__(self, csv_path: str | Path | None = None, y: np.ndarray | None = None) -> None:
        super().__init__()
        self.csv_path = Path(csv_path) if csv_path else None
        self.history: list[dict[str, Any]] = []
        self.stopped_by: str | None = None
        self.y_index: torch.Tensor | None = None
        self.n_classes = 0
        if y is not None:
            classes, inverse = np.unique(np.asarray(y), return_inverse=True)
            self.y_index = torch.from_numpy(inverse.astype(np.int64))
            self.n_classes = len(classes)

    def scores(self, pl_module: Any) -> dict[str, float]:
        """ACC/NMI/ARI of the argmax clusters of the whole data set, how many of them are
        non-empty and the largest one's share of the data (empty without labels)."""
        if self.y_index is None:
            return {}
        _, feats = pl_module.predict_all()
        labels = feats.argmax(1)
        self.y_index = self.y_index.to(labels.device)
        k = feats.shape[1]
        flat = torch.bincount(labels * self.n_classes + self.y_index, minlength=k * self.n_classes)
        table = flat.view(k, self.n_classes).cpu().numpy()
        sizes = table.sum(axis=1)
        # plain Python numbers: the history goes into dac_resume.pt, loaded with weights_only
        shape = {
            "clusters": int((sizes > 0).sum()),
            "largest_cluster": float(sizes.max() / sizes.sum()),
        }
        return evaluate_table(table) | shape

    def on_train_start(self, trainer: L.Trainer, pl_module: Any) -> None:
        if self.history:
            return
        upper, lower = pl_module.current_thresholds()
        row = dict.fromkeys(HISTORY_FIELDS, None)
        row.update(
            {"epoch": 0, "step": pl_module.steps_taken, "lambda": pl_module.lam}
            | {"upper": upper, "lower": lower}
        )
        row.update(self.scores(pl_module))
        self._record(trainer, row)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        used_upper, used_lower = pl_module.current_thresholds()
        selected, loss = pl_module.pop_epoch_stats()
        pl_module.lambda_step()
        upper, lower = pl_module.current_thresholds()
        row = dict.fromkeys(HISTORY_FIELDS, None)
        row.update(
            {
                "epoch": pl_module.epochs_done,
                "step": pl_module.steps_taken,
                "lambda": pl_module.lam,
                "upper": upper,
                "lower": lower,
                "selected_fraction": selected,
                "loss": loss,
                "used_upper": used_upper,
                "used_lower": used_lower,
            }
        )
        row.update(self.scores(pl_module))
        self._record(trainer, row)
        if pl_module.should_stop():
            adaptive_met = pl_module.selection == "adaptive" and upper <= lower + 1e-9
            self.stopped_by = "u<=l" if adaptive_met else "max_epochs"
            trainer.should_stop = True

    def _record(self, trainer: L.Trainer, row: dict[str, Any]) -> None:
        self.history.append(row)
        writer = getattr(trainer, "is_global_zero", True)  # DDP: one process logs and writes
        if writer:
            log.info("%s", epoch_line(row), extra=PROGRESS)
        logged = {
            f"dac/{k}": float(v)
            for k, v in row.items()
            if k not in ("epoch", "step") and v is not None and math.isfinite(float(v))
        }
        if trainer.logger is not None and logged:
            logged["dac/epoch"] = float(row["epoch"])
            trainer.logger.log_metrics(logged, step=row["step"])
        if self.csv_path is not None and writer:
            self.write_csv()

    def write_csv(self) -> None:
        from src.core.io_utils import atomic_write

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(HISTORY_FIELDS))
                w.writeheader()
                w.writerows(self.history)

        if self.history:
            atomic_write(self.csv_path, write)
