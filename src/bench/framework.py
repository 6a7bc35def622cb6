"""The framework side of the benchmark: a real run through ``src.run.execute`` (Hydra's compose
API, the same path as ``python -m src.run``) and its phases read back from ``result.json``.

Phase seconds come from the run's ``wall_time_s`` (its ``ctx.timer`` phases); iteration counts
from what the run reports: ``extra.pretrain_stages`` (SAE stages), ``extra.dec_iterations``
(DEC's KL phase, to the tolerance stop) and ``extra.steps`` (DAC's optimiser steps, to u ≤ l).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra import compose, initialize_config_dir
from omegaconf import DictConfig

from src.core.config_groups import CONF_DIR


@dataclass
class Phase:
    """One timed phase of a framework run (``iterations`` only for training phases)."""

    name: str
    seconds: float
    iterations: int | None = None

    @property
    def it_per_s(self) -> float | None:
        if not self.iterations or self.seconds <= 0:
            return None
        return self.iterations / self.seconds


def compose_config(overrides: list[str]) -> DictConfig:
    """The run config ``python -m src.run OVERRIDES`` would get."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("config", overrides=list(overrides))


def run_framework(overrides: list[str], run_dir: Path) -> tuple[dict[str, Any], float]:
    """One run in this process; returns its result (as written to result.json) and the wall
    seconds of the whole ``execute`` call."""
    from src.run import execute

    cfg = compose_config([*overrides, f"+run_dir={run_dir}"])
    started = time.perf_counter()
    result = execute(cfg)
    return result, time.perf_counter() - started


def iterations_of(result: dict[str, Any], phase: str) -> int | None:
    """Optimiser iterations a run reports for one of its phases (None: not a training phase)."""
    extra = result.get("extra") or {}
    if phase.startswith("pretrain_"):
        stage = (extra.get("pretrain_stages") or {}).get(phase.removeprefix("pretrain_"))
        return int(stage["iterations"]) if stage else None
    if phase == "dec" and "dec_iterations" in extra:
        return int(extra["dec_iterations"])
    if phase == "train" and "steps" in extra:
        return int(extra["steps"])
    return None


def phases_of(result: dict[str, Any]) -> list[Phase]:
    """Every phase of ``wall_time_s`` in the order the run recorded it (``total`` left out)."""
    return [
        Phase(name, float(seconds), iterations_of(result, name))
        for name, seconds in result["wall_time_s"].items()
        if name != "total"
    ]
