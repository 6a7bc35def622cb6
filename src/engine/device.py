"""The one device rule: which torch device a run or ``src.predict`` uses."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from src.core.errors import UserError

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
