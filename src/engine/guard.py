"""Divergence guard: stop a training phase whose loss is no longer finite, in one line.

A phase keeps its loss on the device; :class:`DivergenceGuard` reads it once per check window
(at the end of a Lightning chunk once ``every`` iterations have passed since the last check:
one host sync per chunk on CUDA, where a chunk is ``fast.steps_per_call`` = 200 iterations,
and one per ``every`` iterations on the CPU, where a chunk is 50 iterations). A non-finite
loss raises :class:`DivergenceError` (a ``UserError``: ``python -m src.run`` prints its one
line and exits with status 2) naming the phase, the iteration, the learning rate and the
option to change. Weights that went non-finite stay non-finite, so checking the last loss of
a window catches a divergence anywhere in it.

Usage inside a manually optimised loop::

    guard = DivergenceGuard("SAE pretraining, stage layer0", option="pretrain.lr")
    ...  # after each chunk of iterations ending at ``iteration``
    guard.after_chunk(runner.loss, iteration, lr)

``check_finite_tensors`` is the once-per-phase check of whole tensors (e.g. before a
checkpoint is written: nothing non-finite is ever cached).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from src.core.errors import UserError

DEFAULT_EVERY = 100  # iterations between checks when a chunk is shorter (CPU: 50 iterations)


class DivergenceError(UserError):
    """A training phase produced a non-finite loss or non-finite weights."""


def divergence_message(phase: str, iteration: int, lr: float | None, option: str, what: str) -> str:
    lr_text = "" if lr is None else f" at lr {lr:g}"
    return (
        f"{phase} diverged: {what} at iteration {iteration}{lr_text}; "
        f"lower {option} (e.g. {option}={_smaller(lr)}) and run again"
    )


def _smaller(lr: float | None) -> str:
    return "<smaller>" if lr is None else f"{lr / 10:g}"


class DivergenceGuard:
    """Raises :class:`DivergenceError` when a device-side loss is NaN or infinite.

    ``phase`` names the phase in the message (e.g. ``"DEC KL phase"``), ``option`` the config
    key to change (e.g. ``"method.lr"``). ``every``: the least number of iterations between two
    checks; a chunk at least that long is checked at its end, shorter chunks once ``every``
    iterations have passed. The first window is checked early as well (``first``), so a phase
    that diverges at once stops at once. ``names``: what each element of a vector loss is (e.g.
    ``["seed 0", "seed 3"]`` for seeds trained together); the message names the first that
    diverged.
    """

    def __init__(
        self,
        phase: str,
        option: str,
        every: int = DEFAULT_EVERY,
        first: int = 10,
        names: Sequence[str] = (),
    ) -> None:
        self.phase = phase
        self.option = option
        self.names = list(names)
        self.every = max(1, int(every))
        self.first = max(1, int(first))
        self.last_checked = 0

    def due(self, iteration: int) -> bool:
        """Whether a check is due after the chunk that ends at ``iteration``."""
        if self.last_checked == 0 and iteration >= self.first:
            return True
        return iteration - self.last_checked >= self.every

    def after_chunk(
        self, loss: torch.Tensor, iteration: int, lr: float | None, force: bool = False
    ) -> None:
        """Check ``loss`` (the chunk's last loss or losses, on the device) if a check is due."""
        if not (force or self.due(iteration)):
            return
        self.last_checked = iteration
        if not bool(torch.isfinite(loss).all()):  # the one host sync of this window
            values = loss.detach().float().flatten().tolist()
            bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
            what = f"loss {values[bad]}"
            if self.names:
                what += f" of {self.names[bad]}"
            raise DivergenceError(divergence_message(self.phase, iteration, lr, self.option, what))


def check_finite_tensors(
    tensors: Iterable[tuple[str, torch.Tensor]],
    phase: str,
    iteration: int,
    lr: float | None,
    option: str,
) -> None:
    """Raise :class:`DivergenceError` if any named tensor holds a NaN or an infinity."""
    if (name := first_non_finite(tensors)) is not None:
        what = f"non-finite values in {name}"
        raise DivergenceError(divergence_message(phase, iteration, lr, option, what))


def first_non_finite(tensors: Iterable[tuple[str, torch.Tensor]]) -> str | None:
    """The name of the first floating tensor holding a NaN or an infinity, else None."""
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            return name
    return None
