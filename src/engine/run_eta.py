"""The run's ETA: its planned training phases against the speed measured so far.

A method declares its iterative phases before they start (:meth:`RunETA.plan`: iterations and
multiply-adds per iteration); the progress bar advances them chunk by chunk. The seconds of
an iteration are modelled as ``a + b · work`` (a per-step overhead plus arithmetic), fitted
by non-negative least squares to the phases seen so far, so the estimate sharpens as the run
goes; it is shown once two kinds of step were timed (or the run plans only one kind).
Phases without a plan (k-means, exports) are not counted. A phase that ends by its own
stopping rule (DEC's label-change tolerance) plans only its safety cap: it is left out of the
estimate and named beside it with its time at the cap, so a cap the run will likely never reach
does not dominate the figure.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from omegaconf import DictConfig


def sae_dims(in_dim: int, arch: DictConfig) -> list[int]:
    """Layer widths of the stacked autoencoder, input to embedding (``d-500-500-2000-10``)."""
    return [int(in_dim), *map(int, arch.hidden_dims), int(arch.embedding_dim)]


def sae_stage_work(dims: Sequence[int], layer: int | None, batch_size: int) -> float:
    """Multiply-adds of one forward pass of a pretraining stage: greedy ``layer`` i (its encoder
    layer and the mirrored decoder layer) or, for ``None``, the whole autoencoder."""
    pairs = list(zip(dims[:-1], dims[1:], strict=False))
    touched = pairs if layer is None else [pairs[layer]]
    return 2.0 * batch_size * sum(a * b for a, b in touched)


def encoder_work(dims: Sequence[int], batch_size: int) -> float:
    """Multiply-adds of one forward pass of the encoder (DEC's KL phase)."""
    return float(batch_size) * sum(a * b for a, b in zip(dims[:-1], dims[1:], strict=False))


def clock(seconds: float) -> str:
    """``74.2`` → ``1:14``."""
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class PhaseWork:
    iterations: int  # planned
    work_per_iteration: float
    capped: bool = False  # stops by its own rule; ``iterations`` is only a cap
    done: int = 0  # iterations finished
    seconds: float = 0.0  # wall seconds spent in the phase so far (finished chunks)


@dataclass
class RunETA:
    """The run's planned phases, what is done of them, and the time it took."""

    phases: dict[str, PhaseWork] = field(default_factory=dict)
    _current: tuple[str, float] | None = None  # the running phase and its start time

    def plan(
        self, phase: str, iterations: int, work_per_iteration: float, capped: bool = False
    ) -> None:
        """Declare a phase; ``capped``: it stops by its own rule, ``iterations`` is its cap."""
        self.phases[phase] = PhaseWork(int(iterations), float(work_per_iteration), capped)

    def start(self, phase: str) -> None:
        if phase in self.phases:
            self._current = (phase, time.perf_counter())

    def advance(self, phase: str, iterations_done: int) -> None:
        """``iterations_done``: the phase's iterations finished so far (not an increment)."""
        if phase in self.phases:
            work = self.phases[phase]
            work.done = min(int(iterations_done), work.iterations)
            if self._current is not None and self._current[0] == phase:
                work.seconds = time.perf_counter() - self._current[1]

    def stop(self, phase: str) -> None:
        """The phase ended (early stops included): its unfinished iterations are dropped."""
        if phase in self.phases:
            work = self.phases[phase]
            work.iterations = work.done
            self._current = None

    def cost_model(self) -> tuple[float, float] | None:
        """Seconds per iteration ``a`` and per multiply-add ``b``, fitted to the phases so far."""
        seen = [w for w in self.phases.values() if w.done > 0 and w.seconds > 0]
        kinds_seen = {w.work_per_iteration for w in seen}
        kinds_planned = {w.work_per_iteration for w in self.phases.values()}
        if not seen or (len(kinds_seen) == 1 and len(kinds_planned) > 1):
            return None  # one kind of step cannot tell overhead from arithmetic: wait for two
        if len(kinds_seen) == 1:
            return 0.0, sum(w.seconds for w in seen) / sum(
                w.done * w.work_per_iteration for w in seen
            )
        from scipy.optimize import nnls

        # each phase weighs by its time: rows scaled by 1/seconds fit relative errors
        rows = np.array([[w.done / w.seconds, w.done * w.work_per_iteration / w.seconds]
                         for w in seen])  # fmt: skip
        (a, b), _ = nnls(rows, np.ones(len(seen)))
        return float(a), float(b)

    def _left(self, capped: bool) -> dict[str, float] | None:
        """Seconds left per unfinished phase, of the capped phases or of the others."""
        model = self.cost_model()
        if model is None:
            return None
        a, b = model
        return {
            name: (w.iterations - w.done) * (a + b * w.work_per_iteration)
            for name, w in self.phases.items()
            if w.capped == capped and w.iterations > w.done
        }

    def seconds_left(self) -> float | None:
        """Seconds left in the phases of known length (capped phases excluded)."""
        left = self._left(capped=False)
        return None if left is None else sum(left.values())

    def describe(self) -> str | None:
        """``run ≈ 0:14 left`` (``+ dec until it stops, ≤ 9:10 at its cap`` while a capped
        phase is unfinished), or ``None`` before any planned work is done."""
        left, capped = self.seconds_left(), self._left(capped=True)
        if left is None or capped is None:
            return None
        text = f"run ≈ {clock(left)} left"
        for name, seconds in capped.items():
            text += f" + {name} until it stops, ≤ {clock(seconds)} at its cap"
        return text
