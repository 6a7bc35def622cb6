"""Shared fixtures: offline W&B, a quiet matplotlib, and a helper to run the CLI."""

from __future__ import annotations

import os

import pytest

from tests.helpers.cli import run_cli

os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")


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
