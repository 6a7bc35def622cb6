"""The Lightning Trainer of a phase, configured from ``cfg.trainer`` (and DDP's non-zero ranks
leaving once training is done)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from src.engine.context import RunContext


def leave_unless_rank_zero(trainer: Any) -> None:
    """Under DDP, end a process other than rank 0 once training is done: rank 0 alone
    evaluates and writes the run's outputs (this process's logs are flushed first)."""
    if int(getattr(trainer, "global_rank", 0)) == 0:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def make_trainer(
    cfg: DictConfig,
    ctx: RunContext,
    max_steps: int,
    callbacks: list[Any] | None = None,
    phase: str = "train",
    **overrides: Any,
):
    """A Lightning Trainer configured from ``cfg.trainer`` and ``cfg.progress_bar``.

    ``max_steps`` counts ``training_step`` calls; validation and checkpointing by Lightning are
    off (the methods evaluate and save themselves).
    """
    import lightning as L

    from src.callbacks.progress import PhaseProgressBar

    t = cfg.trainer
    callbacks = list(callbacks or [])
    progress = bool(cfg.get("progress_bar", True))
    if progress:  # one bar per phase, named after it (DAC: one bar, its epoch in the name)
        callbacks.append(PhaseProgressBar(phase, eta=ctx.eta, leave=False))
    kwargs: dict[str, Any] = dict(
        accelerator=t.accelerator,
        devices=t.devices,
        strategy=t.strategy,
        precision=t.precision,
        max_steps=max_steps,
        max_epochs=-1,
        logger=ctx.logger if ctx.logger is not None else False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
        log_every_n_steps=int(cfg.get("log_every_n_steps", 50)),
        default_root_dir=str(Path(ctx.run_dir) / phase),
    )
    kwargs.update(overrides)
    return L.Trainer(**kwargs)
