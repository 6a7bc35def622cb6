"""Lightning's Rich progress bar, labelled with the run's phase instead of ``Epoch 0/0``."""

from __future__ import annotations

import re
from typing import Any

from lightning.pytorch.callbacks import RichProgressBar


def phase_label(phase: str) -> str:
    """``pretrain_layer2`` → ``SAE layer 2``; ``pretrain_finetune`` → ``SAE fine-tune``."""
    if match := re.fullmatch(r"pretrain_layer(\d+)", phase):
        return f"SAE layer {match.group(1)}"
    return {"pretrain_finetune": "SAE fine-tune", "dec": "DEC (KL)", "dac": "DAC"}.get(
        phase, phase.replace("_", " ")
    )


def planned_iterations(trainer: Any) -> int | None:
    """Optimiser iterations a chunked phase will run (``src.fast.chunk_plan``), if it is one."""
    loader = getattr(trainer, "train_dataloader", None)
    plan = getattr(loader, "dataset", None)
    if isinstance(plan, list) and plan and all(isinstance(c, tuple) and len(c) == 2 for c in plan):
        return int(sum(length for _, length in plan))
    return None


class PhaseProgressBar(RichProgressBar):
    """One bar per phase, described by its name, iterations and (DAC) epoch; no ``v_num``.

    Rich's columns add done/total, elapsed time, time remaining (the phase's ETA) and speed.
    """

    def __init__(self, phase: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.phase = phase

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        label = phase_label(self.phase)
        iterations = planned_iterations(trainer)
        if iterations is not None:
            return f"{label} · {iterations:,} it"
        epochs = getattr(trainer.lightning_module, "max_epochs", None)  # DAC's epoch cap
        if isinstance(epochs, int) and epochs > 0:
            return f"{label} epoch {current_epoch + 1}/{epochs}"
        return f"{label} epoch {current_epoch + 1}"

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items
