"""The bf16 precision switch (``fast.amp``): how it resolves, what it keeps in fp32, and that
bf16 runs still meet the quality floors and still stop on a non-finite loss."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from src.core.errors import UserError
from src.engine.guard import DivergenceError
from src.engine.switches import FastOptions, has_fast_bf16, precision, resolve_fast
from src.models.sae import SAE, SAEStack
from src.pretraining.module import SAEPretrainModule, Stage
from tests.helpers.runs import run_cached

CPU = torch.device("cpu")
needs_bf16 = pytest.mark.skipif(not has_fast_bf16(CPU), reason="this CPU has no fast bf16")
SMALL = ["logger=none", "plots=false", "progress_bar=false", "trainer=cpu"]


def no_fast_bf16_cpu(monkeypatch):
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)


def test_false_resolves_to_fp32_and_auto_to_bf16_where_it_is_fast(monkeypatch):
    for value in (False, None):
        assert precision(resolve_fast({"amp": value}, CPU)) == "fp32"
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert precision(resolve_fast({"amp": "auto"}, CPU)) == "bf16"


def test_bf16_on_a_cpu_without_it_is_one_line(monkeypatch):
    no_fast_bf16_cpu(monkeypatch)
    assert not has_fast_bf16(CPU)
    assert precision(resolve_fast({"amp": "auto"}, CPU)) == "fp32"
    with pytest.raises(UserError) as info:
        resolve_fast({"amp": True}, CPU)
    message = str(info.value)
    assert "\n" not in message and "no fast bf16" in message and "fast.amp=false" in message


@needs_bf16
def test_bf16_stage_keeps_fp32_master_weights_and_fp32_loss():
    torch.manual_seed(0)
    stack = SAEStack([SAE(16, [12, 12], 4)])
    x = torch.rand(1, 64, 16)
    cfg = OmegaConf.create(
        {"reduction": "mean", "lr": 0.1, "momentum": 0.9, "weight_decay": 0.0,
         "batch_size": 32, "lr_step": None, "lr_gamma": 0.1}
    )  # fmt: skip
    stage = Stage("layer1", 1, 5, "sgd", 0.2, 0.2)
    module = SAEPretrainModule(stack, x, stage, cfg, FastOptions(amp=True), seeds=[0], index=1)
    before = stack.encoder[1].weight.detach().clone()
    module.training_step(torch.tensor([0, 5]), 0)
    assert module.losses.dtype == torch.float32 and torch.isfinite(module.losses).all()
    for p in stack.parameters():
        assert p.dtype == torch.float32
    weight = stack.encoder[1].weight
    assert not torch.equal(weight, before)  # it trained
    # the step ran in bf16: an fp32 run of the same stage gives (slightly) different weights
    torch.manual_seed(0)
    ref = SAEStack([SAE(16, [12, 12], 4)])
    ref_module = SAEPretrainModule(ref, x, stage, cfg, FastOptions(), seeds=[0], index=1)
    ref_module.training_step(torch.tensor([0, 5]), 0)
    assert not torch.equal(weight, ref.encoder[1].weight)
    torch.testing.assert_close(weight, ref.encoder[1].weight, atol=5e-3, rtol=0)


@needs_bf16
def test_bf16_dec_on_digits_meets_the_quality_floor_and_records_it(tmp_path):
    result = run_cached(tmp_path, "bf16", "method=dec", "fast.amp=true", *SMALL)
    assert result["precision"] == "bf16" and result["extra"]["fast_amp"] is True
    assert result["metrics"]["acc"] >= 0.65 and result["metrics"]["nmi"] >= 0.65
    fp32 = run_cached(tmp_path, "fp32", "method=dec", "fast.amp=false", *SMALL)
    assert fp32["precision"] == "fp32"
    assert not fp32["extra"]["pretrain_cache_hit"]  # a bf16 SAE is never reused by fp32


@needs_bf16
@pytest.mark.parametrize(
    "overrides, phase",
    [
        (["method=ae_kmeans", "pretrain.lr=1e6", "pretrain.layerwise_iters=400"], "SAE pretraining"),
        (["method=dec", "method.lr=1e30", "pretrain.layerwise_iters=20",
          "pretrain.finetune_iters=20"], "DEC KL phase"),
    ],
)  # fmt: skip
def test_bf16_phases_still_stop_on_a_non_finite_loss(tmp_path, overrides, phase):
    with pytest.raises(DivergenceError, match=f"^{phase}.* diverged: "):
        run_cached(tmp_path, "run", "fast.amp=true", "dataset.subset=300", *SMALL, *overrides)


def test_the_default_config_asks_for_bf16_where_it_is_fast_and_nhwc():
    """The accuracy check (outputs/checks/bf16_accuracy/) put bf16 on by default: ``auto``."""
    from src.bench.framework import compose_config

    cfg = compose_config(["method=dec", "dataset=digits"])
    assert cfg.fast.amp == "auto" and cfg.fast.channels_last is True
    assert resolve_fast(cfg.fast, CPU).amp is has_fast_bf16(CPU)
