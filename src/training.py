"""Shared pieces for the Lightning methods: the Trainer, the device, resident data."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig

from src.errors import UserError
from src.methods.base import RunContext

DEVICE_NAMES = "auto, cpu, cuda (or gpu) or cuda:N"


def resolve_device(spec: DictConfig | str | None = "auto") -> torch.device:
    """The one device rule: the torch device of a trainer config (its ``accelerator``) or of a
    device name (``src.predict``'s ``device=``).

    ``auto`` (or nothing): CUDA when available, else the CPU; ``gpu``/``cuda``/``cuda:N``: that
    CUDA device, refused in one line when CUDA is not available; ``cpu``: the CPU.
    """
    name = str(spec.accelerator if isinstance(spec, DictConfig) else spec or "auto")
    option = "trainer.accelerator" if isinstance(spec, DictConfig) else "device"
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name in ("gpu", "cuda") or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise UserError(f"{option}={name} but no CUDA device is available; use {option}=cpu")
        return torch.device("cuda" if name == "gpu" else name)
    raise UserError(f"{option}={name!r} is invalid: use {DEVICE_NAMES}")


def to_device(x: np.ndarray, device: torch.device) -> torch.Tensor:
    """The whole array as one float32 tensor resident on ``device`` (batches index it there)."""
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(device)


def place(
    module: torch.nn.Module,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    optimizers: list[torch.optim.Optimizer] | tuple = (),
) -> None:
    """Put ``module``'s parameters and buffers, and its optimisers' state, on ``device`` (floating
    tensors in ``dtype``). Optimiser ``step`` counters stay where they are, as Lightning's own
    moves leave them (PyTorch keeps them on the CPU unless the optimiser is capturable)."""
    module.to(device=device, dtype=dtype)
    for opt in optimizers:
        for param, state in opt.state.items():
            for key, value in state.items():
                if key != "step" and isinstance(value, torch.Tensor):
                    state[key] = value.to(
                        device=param.device,
                        dtype=param.dtype if value.is_floating_point() else value.dtype,
                    )


def fit_in_place(trainer: Any, module: Any, device: torch.device, **fit_kwargs: Any) -> Any:
    """``trainer.fit(module)``, then ``module`` and its optimisers' state back on ``device``.

    Lightning's strategy teardown moves the LightningModule and the optimiser state to the CPU
    at the end of every ``fit`` on an accelerator. Every phase fits through here, so none
    depends on where Lightning leaves things (``tests/conftest.py`` simulates that teardown on
    the CPU). Returns the trainer.
    """
    dtype = next(module.parameters()).dtype
    trainer.fit(module, **fit_kwargs)
    place(module, device, dtype, trainer.optimizers)
    return trainer


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
