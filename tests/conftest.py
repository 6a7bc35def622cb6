"""Shared fixtures: offline W&B, a quiet matplotlib, and a helper to run the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")


def run_cli(
    *args: str,
    cwd: Path = REPO,
    env: dict | None = None,
    timeout: int = 600,
    module: str = "src.run",
):
    """``python -m MODULE ARGS`` (default ``src.run``) in a subprocess; returns the
    CompletedProcess."""
    # extend PYTHONPATH: on the rented GPU machine hydra/omegaconf are reachable only through it
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": pythonpath, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(autouse=True)
def simulate_accelerator_teardown(monkeypatch):
    """Make every in-process ``trainer.fit`` leave things elsewhere, as on a GPU.

    On an accelerator, Lightning's strategy teardown moves the LightningModule and the optimiser
    state to the CPU after every ``fit``; on a CPU-only machine that move changes nothing, so
    code relying on where a module sits after ``fit`` would pass here and crash on CUDA. This
    fixture moves them to float64 after the real teardown: a phase that uses a module after
    ``fit`` without putting it back (``src.engine.placement.fit_in_place``) fails with a dtype error.
    """
    import torch
    from lightning.pytorch.strategies.strategy import Strategy

    real_teardown = Strategy.teardown

    def teardown_elsewhere(self):
        module, optimizers = self.lightning_module, list(self.optimizers)
        real_teardown(self)
        if module is not None:
            module.to(torch.float64)
        for opt in optimizers:
            for state in opt.state.values():
                for key, value in state.items():
                    if key != "step" and torch.is_tensor(value) and value.is_floating_point():
                        state[key] = value.to(torch.float64)

    monkeypatch.setattr(Strategy, "teardown", teardown_elsewhere)


@pytest.fixture
def cli():
    return run_cli
