"""The CPU speed switches that keep the arithmetic: multi-tensor (foreach) optimisers, and
``fast.compile`` of the SAE stages and DEC's KL step (same masks, same step to float rounding)."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from src.engine.optim import make_optimizer
from src.engine.switches import FastOptions, has_fast_bf16, resolve_fast
from src.models.sae import SAE, SAEStack
from src.modules.dec import DECModule
from src.pretraining.module import SAEPretrainModule, Stage

CPU = torch.device("cpu")
needs_bf16 = pytest.mark.skipif(not has_fast_bf16(CPU), reason="this CPU has no fast bf16")
STAGE_CFG = OmegaConf.create(
    {"reduction": "mean", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0,
     "batch_size": 32, "lr_step": None, "lr_gamma": 0.1}
)  # fmt: skip


def _trained(kind: str, fast: FastOptions, steps: int = 15) -> torch.Tensor:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 20))
    opt = make_optimizer(kind, list(net.parameters()), 0.05, 0.9, 0.0, fast)
    x = torch.rand(32, 20)
    for _ in range(steps):
        opt.zero_grad()
        (net(x) - x).pow(2).mean().backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in net.parameters()])


def test_cpu_optimisers_are_multi_tensor_with_the_loop_arithmetic():
    fast = resolve_fast(None, CPU)  # auto on the CPU: not fused, so foreach
    for kind in ("sgd", "adam"):
        torch.manual_seed(0)
        opt = make_optimizer(kind, [torch.nn.Parameter(torch.zeros(3))], 0.1, 0.9, 0.0, fast)
        assert opt.defaults["foreach"] is True and not opt.defaults.get("fused")
        loop = torch.optim.SGD if kind == "sgd" else torch.optim.Adam
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 20))
        extra = {"momentum": 0.9} if kind == "sgd" else {}
        ref = loop(net.parameters(), lr=0.05, foreach=False, **extra)
        x = torch.rand(32, 20)
        for _ in range(15):
            ref.zero_grad()
            (net(x) - x).pow(2).mean().backward()
            ref.step()
        expected = torch.cat([p.detach().flatten() for p in net.parameters()])
        assert torch.equal(_trained(kind, fast), expected)  # bit for bit


def _stage_weights(fast: FastOptions) -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    stack = SAEStack([SAE(16, [12, 12], 4)])
    x = torch.rand(1, 64, 16)
    stage = Stage("layer1", 1, 6, "sgd", 0.2, 0.2)  # dropout on input and hidden code
    module = SAEPretrainModule(stack, x, stage, STAGE_CFG, fast, seeds=[0], index=1)
    module.training_step(torch.tensor([0, 6]), 0)
    return stack.encoder[1].weight.detach().clone(), module.losses.clone()


@pytest.mark.parametrize("amp", [False, pytest.param(True, marks=needs_bf16)])
def test_compiled_sae_stage_draws_the_same_masks_and_takes_the_same_steps(amp):
    eager_w, eager_loss = _stage_weights(FastOptions(amp=amp))
    comp_w, comp_loss = _stage_weights(FastOptions(compile=True, amp=amp))
    assert not torch.equal(eager_w, SAE(16, [12, 12], 4).encoder[1].weight)
    # different masks would move the weights by ~1e-2; fused kernels only reround (bf16:
    # a rounding of the activations at another place moves them by ~1e-4)
    tol = 1e-3 if amp else 1e-5
    torch.testing.assert_close(comp_w, eager_w, atol=tol, rtol=0)
    torch.testing.assert_close(comp_loss, eager_loss, atol=tol, rtol=tol)


def test_compiled_dec_step_matches_eager():
    def run(fast: FastOptions) -> torch.Tensor:
        torch.manual_seed(0)
        sae = SAE(16, [12, 12], 4)
        x = torch.rand(96, 16)
        module = DECModule(sae, x, torch.randn(3, 4), batch_size=32, fast=fast, seed=0)
        module.update_target()
        module.training_step(torch.tensor([0, 5]), 0)
        return torch.cat([module.centroids.detach().flatten(), module.soft_all().flatten()])

    eager = run(FastOptions())
    torch.testing.assert_close(run(FastOptions(compile=True)), eager, atol=1e-5, rtol=1e-5)


def test_the_package_sets_a_passive_openmp_wait_policy_before_torch_loads():
    import os
    import subprocess
    import sys

    probe = "import os, src, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    for given, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        run_env = env if given is None else {**env, "OMP_WAIT_POLICY": given}
        out = subprocess.run(
            [sys.executable, "-c", probe], env=run_env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == expected  # the caller's choice is kept
