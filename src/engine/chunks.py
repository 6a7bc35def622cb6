"""The Lightning chunk loop: Lightning sees one ``training_step`` per *chunk* of
``steps_per_call`` iterations, which amortises its per-step overhead (``chunk_plan`` /
``chunk_loader`` / ``fit_chunks``)."""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from typing import Any

import torch
from omegaconf import DictConfig

from src.engine.placement import fit_in_place
from src.engine.trainer import make_trainer

# Lightning's per-fit chatter (device banner, tips) and warnings that do not apply here: the
# loader only carries chunk numbers, so workers and logging intervals are irrelevant.
QUIET_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda")

QUIET_WARNINGS = (
    ".*does not have many workers.*",
    ".*smaller than the logging interval.*",
    ".*LeafSpec.*is deprecated.*",
)


def chunk_plan(
    total: int, steps_per_call: int, boundary: int | None = None
) -> list[tuple[int, int]]:
    """``(start, length)`` chunks covering iterations ``0 … total-1``.

    A chunk has at most ``steps_per_call`` iterations and never crosses a multiple of
    ``boundary`` (so per-interval work, like DEC's target update, starts a chunk).
    """
    plan, start = [], 0
    spc = max(1, int(steps_per_call))
    while start < total:
        end = min(start + spc, total)
        if boundary:
            end = min(end, (start // boundary + 1) * boundary)
        plan.append((start, end - start))
        start = end
    return plan


def chunk_loader(plan: list[tuple[int, int]]):
    """A DataLoader that hands Lightning one ``(start, length)`` chunk per ``training_step``."""
    from torch.utils.data import DataLoader

    return DataLoader(plan, batch_size=None, shuffle=False)


@contextmanager
def quiet_lightning():
    """Silence Lightning's per-Trainer banner/tips and warnings that do not apply here."""
    quiet = [logging.getLogger(n) for n in QUIET_LOGGERS]
    levels = [log.level for log in quiet]
    with warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        for log in quiet:
            log.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for log, level in zip(quiet, levels, strict=True):
                log.setLevel(level)


def fit_chunks(
    cfg: DictConfig,
    ctx: Any,
    module: Any,
    plan: list[tuple[int, int]],
    phase: str,
    device: torch.device,
    callbacks: list[Any] | None = None,
) -> Any:
    """One Lightning ``fit`` of ``module`` over a chunk plan (one epoch; the data live on the
    device, the loader only carries chunk numbers); afterwards ``module`` and its optimiser
    state are on ``device`` again (:func:`src.engine.placement.fit_in_place`). Returns the trainer."""

    with quiet_lightning():
        trainer = make_trainer(
            cfg, ctx, max_steps=-1, callbacks=callbacks, phase=phase, max_epochs=1
        )
        fit_in_place(trainer, module, device, train_dataloaders=chunk_loader(plan))
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # phase timers measure finished GPU work
    return trainer
