"""``method.momentum_reset``: the authors' Caffe loop starts a fresh solver for every update
interval, so SGD's momentum restarts at each target update; off by default."""

from __future__ import annotations

import pytest
import torch

from src.modules.dec import DECModule
from tests.helpers.sae import tiny


def buffers(module: DECModule) -> list[torch.Tensor]:
    return [s["momentum_buffer"] for s in module.opt.state.values() if "momentum_buffer" in s]


@pytest.mark.parametrize("train_encoder", [False, True])
@pytest.mark.parametrize("reset", [False, True])
def test_momentum_restarts_at_each_target_update_only_when_asked(train_encoder, reset):
    x = torch.randn(64, 6, generator=torch.Generator().manual_seed(0))
    module = DECModule(
        tiny(init_std=0.3), x, torch.randn(4, 3), lr=0.1, batch_size=16,
        train_encoder=train_encoder, momentum_reset=reset,
    )  # fmt: skip
    module.update_target()
    module.training_step((0, 3), 0)
    assert buffers(module) and all(b.abs().sum() > 0 for b in buffers(module))
    module.update_target()
    assert all(bool((b == 0).all()) is reset for b in buffers(module))
    # the first step after a reset is a plain SGD step: μ ← μ − lr·∇ (momentum buffer = ∇)
    before = module.centroids.detach().clone()
    module.training_step((3, 1), 0)
    grad = module.centroids.grad
    step = before - module.centroids.detach()
    assert torch.allclose(step, 0.1 * grad, rtol=1e-3, atol=1e-6) is reset  # float32 μ
