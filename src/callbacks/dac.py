"""DAC's stopping rule as a Lightning callback, with the λ/u/l/selected-pairs history."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import lightning as L

HISTORY_FIELDS = ("epoch", "step", "lambda", "upper", "lower", "selected_fraction", "loss")


class DACThresholdStop(L.Callback):
    """After every epoch: one λ step (the module's ``lambda_step``), log λ, u(λ), l(λ) and the
    fraction of selected pairs, and stop training once u(λ) ≤ l(λ) (DAC) or after
    ``max_epochs`` (DAC*). The history is kept in ``self.history`` and, when ``csv_path`` is
    set, written there after every update (a later plot reads it)."""

    def __init__(self, csv_path: str | Path | None = None) -> None:
        super().__init__()
        self.csv_path = Path(csv_path) if csv_path else None
        self.history: list[dict[str, Any]] = []
        self.stopped_by: str | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: Any) -> None:
        used_upper, used_lower = pl_module.current_thresholds()
        selected, loss = pl_module.pop_epoch_stats()
        pl_module.lambda_step()
        upper, lower = pl_module.current_thresholds()
        row = {
            "epoch": pl_module.epochs_done,
            "step": trainer.global_step,
            "lambda": pl_module.lam,
            "upper": upper,
            "lower": lower,
            "selected_fraction": selected,
            "loss": loss,
            "used_upper": used_upper,
            "used_lower": used_lower,
        }
        self.history.append(row)
        if trainer.logger is not None:
            trainer.logger.log_metrics(
                {f"dac/{k}": float(v) for k, v in row.items() if k not in ("epoch", "step")},
                step=trainer.global_step,
            )
        if self.csv_path is not None:
            self.write_csv()
        if pl_module.should_stop():
            self.stopped_by = "u<=l" if pl_module.selection == "adaptive" else "max_epochs"
            trainer.should_stop = True

    def write_csv(self) -> None:
        from src.io_utils import atomic_write

        def write(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                w = csv.DictWriter(fh, fieldnames=list(self.history[0]))
                w.writeheader()
                w.writerows(self.history)

        if self.history:
            atomic_write(self.csv_path, write)
