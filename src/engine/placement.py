"""Where tensors live: the data resident on the device, and a module with its optimiser state
put back there after every Lightning ``fit``."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


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
