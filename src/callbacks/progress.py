"""Lightning's Rich progress bar, labelled with the run's phase instead of ``Epoch 0/0``,
counting optimiser iterations (not Lightning's chunks) and showing the run's ETA; where no
terminal watches (a background run), a progress line in the log every minute instead."""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

from lightning.pytorch.callbacks import RichProgressBar

from src.engine.run_eta import RunETA
from src.recording.provenance import PROGRESS

REPORT_EVERY_S = 60.0  # a background run's progress line in the log, at most this often
log = logging.getLogger("dcrepro")


def phase_label(phase: str) -> str:
    """``pretrain_layer2`` → ``SAE layer 2``; ``pretrain_finetune`` → ``SAE fine-tune``."""
    if match := re.fullmatch(r"pretrain_layer(\d+)", phase):
        return f"SAE layer {match.group(1)}"
    return {"pretrain_finetune": "SAE fine-tune", "dec": "DEC (KL)", "dac": "DAC"}.get(
        phase, phase.replace("_", " ")
    )


def planned_iterations(trainer: Any) -> int | None:
    """Optimiser iterations a chunked phase will run (``src.engine.chunks.chunk_plan``), if it is one."""
    loader = getattr(trainer, "train_dataloader", None)
    plan = getattr(loader, "dataset", None)
    if isinstance(plan, list) and plan and all(isinstance(c, tuple) and len(c) == 2 for c in plan):
        return int(sum(length for _, length in plan))
    return None


def chunk_end(batch: Any) -> int | None:
    """The iteration a ``(start, length)`` chunk ends at, or ``None`` for any other batch."""
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        try:
            return int(batch[0]) + int(batch[1])
        except (TypeError, ValueError):
            return None
    return None


class PhaseProgressBar(RichProgressBar):
    """One bar per phase, described by its name, iterations and (DAC) epoch; no ``v_num``.

    A chunked phase (``src.engine.chunks.chunk_plan``) counts optimiser iterations, so done/total and the
    speed read in iterations whatever ``fast.steps_per_call`` is. Rich's columns add elapsed
    time, the phase's time remaining and speed; the description adds the run's ETA
    (``src.engine.run_eta``) once the run has planned phases, and each phase's end writes it to
    ``run.log``. ``report_every_s``: a chunked phase's ``done/total it (%); ETA`` line in the
    log at most this often; by default every minute when stderr is no terminal (a background
    run's log has no live bar), never on a terminal.
    """

    def __init__(
        self,
        phase: str,
        eta: RunETA | None = None,
        report_every_s: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.phase = phase
        self.eta = eta
        if report_every_s is None and not sys.stderr.isatty():
            report_every_s = REPORT_EVERY_S
        self.report_every_s = report_every_s
        self._last_report = time.monotonic()

    @property
    def total_train_batches(self) -> int | float:
        iterations = planned_iterations(self.trainer)
        return super().total_train_batches if iterations is None else iterations

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        super().on_train_start(trainer, pl_module)
        if self.eta is not None:
            self.eta.start(self.phase)
        self._last_report = time.monotonic()

    def on_train_batch_end(
        self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        planned = planned_iterations(trainer)
        end = chunk_end(batch) if planned is not None else None
        if end is None:  # an epoch-based phase (DAC): its optimiser steps in the current epoch
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
            calls = trainer.num_training_batches
            if isinstance(calls, int) and self._report_due():  # the step count only when due
                module = trainer.lightning_module  # DAC: ``inner_steps`` steps per call
                per_call = int(getattr(module, "inner_steps", 1))
                total = int(getattr(module, "steps_per_epoch", lambda: calls * per_call)())
                done = min((batch_idx + 1) * per_call, total)
                self._report(done, total, self._epoch_label(trainer.current_epoch), "steps")
            return
        if self.eta is not None:
            self.eta.advance(self.phase, end)
        if self._report_due():
            self._report(end, planned or end, phase_label(self.phase), "it")
        if not self.is_disabled and self.train_progress_bar_id is None:
            self._initialize_train_progress_bar_id()
        if self.progress is not None and self.train_progress_bar_id is not None:
            description = self._get_train_description(trainer.current_epoch)
            self.progress.update(self.train_progress_bar_id, description=description)
        self._update(self.train_progress_bar_id, end)
        self._update_metrics(trainer, pl_module)
        self.refresh()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        if self.eta is not None:
            self.eta.stop(self.phase)
            if (left := self.eta.describe()) is not None:
                log.info("%s: done; %s", self.phase, left)
        super().on_train_end(trainer, pl_module)

    def _report_due(self) -> bool:
        """Whether the log's next progress line is due (every ``report_every_s``); restarts the
        interval when it is."""
        if self.report_every_s is None:
            return False
        now = time.monotonic()
        if now - self._last_report < self.report_every_s:
            return False
        self._last_report = now
        return True

    def _report(self, done: int, total: int, label: str, unit: str) -> None:
        """The log's progress line (when :meth:`_report_due`)."""
        left = self.eta.describe() if self.eta is not None else None
        log.info(
            "%s: %s/%s %s (%d %%)%s",
            label,
            f"{done:,}",
            f"{total:,}",
            unit,
            100 * done // max(total, 1),
            f"; {left}" if left else "",
            extra=PROGRESS,
        )

    def _epoch_label(self, current_epoch: int) -> str:
        """``DAC epoch 3/20``: the module's own epoch count (``epochs_done``, which a resumed run
        restores; Lightning's ``current_epoch`` restarts at 0) where it keeps one, of its
        ``max_epochs`` where it has one."""
        module = self.trainer.lightning_module
        epochs = getattr(module, "max_epochs", None)  # DAC's epoch cap
        done = getattr(module, "epochs_done", current_epoch)
        label = f"{phase_label(self.phase)} epoch {done + 1}"
        return f"{label}/{epochs}" if isinstance(epochs, int) and epochs > 0 else label

    def _get_train_description(self, current_epoch: int) -> str:
        trainer = self.trainer
        label = phase_label(self.phase)
        iterations = planned_iterations(trainer)
        if iterations is not None:
            left = self.eta.describe() if self.eta is not None else None
            return f"{label} · {iterations:,} it" + (f" · {left}" if left else "")
        return self._epoch_label(current_epoch)

    def get_metrics(self, trainer: Any, pl_module: Any) -> dict[str, Any]:
        items = super().get_metrics(trainer, pl_module)
        items.pop("v_num", None)
        return items
