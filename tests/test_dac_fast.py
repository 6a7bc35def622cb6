"""DAC's speed switches: off on the CPU by default and recorded in ``result.json``; a channels_last
step is the eager step up to rounding; eval-mode passes in large batches only where the
prediction is batch-independent, the authors' label batch of 32 kept with batch-statistics BN.
The CUDA switches each have a ``gpu`` test (skipped without CUDA)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from src.bench.framework import compose_config
from src.engine.switches import has_fast_bf16, resolve_fast
from src.models.convnets import build_convnet
from src.modules.dac import DACModule
from tests.helpers.runs import run_cached

CPU = ("trainer=cpu", "logger=none", "plots=false", "progress_bar=false")
TINY_STAR = (
    "experiment=dac_star_mnist_authors",
    "dataset=digits",
    "dataset.subset=300",
    "method.max_epochs=1",
    "method.chunk_size=150",
    "method.chunk_passes=2",
)
SWITCHES = ("channels_last", "compile", "amp", "cuda_graphs")


def test_cpu_defaults_are_channels_last_and_bf16_where_fast_and_recorded(tmp_path):
    result = run_cached(tmp_path, "auto", *CPU, *TINY_STAR)
    extra = result["extra"]
    assert extra["fast_channels_last"] is True  # measured faster on the CPU too
    assert extra["fast_amp"] is has_fast_bf16(torch.device("cpu"))
    assert result["precision"] == ("bf16" if extra["fast_amp"] else "fp32")
    assert extra["fast_compile"] is False and extra["fast_cuda_graphs"] is False
    assert extra["fast_label_batch_size"] == 32 and extra["fast_predict_batch_size"] == 128
    # CUDA graphs stay off on the CPU even when asked for
    forced = resolve_fast({"cuda_graphs": True}, torch.device("cpu"))
    assert not forced.cuda_graphs


def test_channels_last_step_is_the_eager_step_up_to_float_rounding():
    """Same net, batch and pair targets: NHWC gives the eager loss and gradients up to float
    rounding (a run as a whole drifts further: thresholded pair labels amplify rounding, and
    RMSprop turns the rounding noise of the conv biases before BN, zero in exact arithmetic,
    into full-size steps)."""
    cfg = compose_config(["experiment=dac_star_mnist_authors", "dataset=digits"])
    cfg.method.augment = []
    torch.manual_seed(0)
    x = torch.randn(64, 1, 8, 8)
    base = build_convnet(cfg.arch, (1, 8, 8), 10)
    idx = torch.arange(64)
    target = (torch.rand(64, 64) > 0.5).float()
    pairs = (target, torch.ones(64, 64, dtype=torch.bool))
    steps = []
    for flag in (False, True):
        net = copy.deepcopy(base)
        module = DACModule(
            net, x, cfg.method, resolve_fast({"channels_last": flag}, torch.device("cpu"))
        )
        loss = module._loss(idx, pairs, None)
        loss.backward()
        grads = {n: p.grad for n, p in net.named_parameters() if not n.endswith(".bias")}
        steps.append((loss.detach(), torch.cat([g.flatten() for g in grads.values()])))
    conv = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    (l0, g0), (l1, g1) = steps
    torch.testing.assert_close(l1, l0)
    assert (g1 - g0).norm() <= 1e-4 * g0.norm()


def test_channels_last_runs_end_to_end_on_the_cpu(tmp_path):
    """An NHWC run trains as many steps as the eager one and clusters above chance. Its metrics
    are not compared with eager's: rounding flips thresholded pair labels, and over a run that
    moved ACC by 0.01 in one measurement and 0.07 in another (the step-level test above is the
    maths check)."""
    eager, nhwc = (
        run_cached(tmp_path, f"cl-{flag}", *CPU, *TINY_STAR, f"fast.channels_last={flag}")
        for flag in ("false", "true")
    )
    assert nhwc["extra"]["fast_channels_last"] is True
    assert eager["extra"]["fast_channels_last"] is False
    assert nhwc["extra"]["steps"] == eager["extra"]["steps"] > 0
    assert nhwc["metrics"]["acc"] > 0.25 and eager["metrics"]["acc"] > 0.25  # chance ≈ 0.1


def test_a_failed_graph_capture_goes_on_eagerly_with_the_chunk_labels(tmp_path, monkeypatch):
    """When a CUDA-graph capture fails, that step and the steps already planned against the
    static chunk labels (here the batch's second augmentation repeat) run eagerly on those
    labels, not on labels selected from the batch: the run equals one without graphs.
    Simulated on the CPU: graphs switched on at every epoch start, every capture failing."""
    import src.modules.dac as dac

    class FailingCapture:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def __call__(self, packed: torch.Tensor) -> None:
            raise RuntimeError("capture failed (simulated)")

    repeats = "method.aug_repeats=2"  # a batch planned for graphs is taken twice
    plain = run_cached(tmp_path, "plain", *CPU, *TINY_STAR, repeats)
    start = DACModule.on_train_epoch_start

    def graphs_on(self) -> None:
        self.cuda_graphs = True
        start(self)

    monkeypatch.setattr(dac, "StepRunner", FailingCapture)
    monkeypatch.setattr(DACModule, "on_train_epoch_start", graphs_on)
    failed = run_cached(tmp_path, "failed", *CPU, *TINY_STAR, repeats)
    assert failed["extra"]["fast_cuda_graphs"] is False
    assert "capture failed (simulated)" in failed["extra"]["fast_cuda_graphs_note"]
    assert failed["extra"]["steps"] == plain["extra"]["steps"] > 0
    assert failed["metrics"] == plain["metrics"]


def _batch_sizes_seen(net: nn.Module) -> list[int]:
    """The batch sizes the net's first BN normalises over from now on (a forward hook)."""
    seen: list[int] = []
    bn = next(m for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    bn.register_forward_hook(lambda mod, inp, out: seen.append(int(inp[0].shape[0])))
    return seen


def _authors_module(*overrides: str) -> DACModule:
    cfg = compose_config(["experiment=dac_star_mnist_authors", "dataset=digits", *overrides])
    torch.manual_seed(0)
    x = torch.randn(100, 1, 8, 8)
    fast = resolve_fast({"eval_batch_size": 4096}, torch.device("cpu"))
    return DACModule(build_convnet(cfg.arch, (1, 8, 8), 10), x, cfg.method, fast)


def test_label_pass_keeps_the_authors_batch_of_32_with_batch_statistics_bn():
    module = _authors_module("method.chunk_size=100")  # one chunk of the 100 images
    assert module.label_batch_size == 32 and module.eval_batch_size == 128
    seen = _batch_sizes_seen(module.net)
    next(module._epoch_plan())  # makes the chunk's labels, before its first step
    assert seen == [32, 32, 32, 4]  # Keras predict: consecutive batches of 32
    seen.clear()
    module.predict_all()  # 100 images < 128: one batch (the authors' 128, not 4096)
    assert seen == [100] and module.pass_batch_size("eval", 128) == 128


def test_running_statistics_bn_predicts_in_large_batches():
    module = _authors_module("method.chunk_size=100", "arch.bn_eval=running")
    assert module.pass_batch_size("eval", 32) == 4096
    assert module.pass_batch_size("train", 32) == 32  # batch statistics: the batch matters
    seen = _batch_sizes_seen(module.net)
    next(module._epoch_plan())  # label_bn=eval: one pass over the whole chunk
    assert seen == [100]
    module.label_mode = "train"
    module.loss_sum.zero_()
    seen.clear()
    next(module._epoch_plan())
    assert seen == [32, 32, 32, 4]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("switch", SWITCHES)
def test_each_cuda_switch_runs_and_records_itself(tmp_path, switch):
    others = [f"fast.{s}=false" for s in SWITCHES if s != switch]
    result = run_cached(
        tmp_path, switch, "trainer=gpu", *CPU[1:], *TINY_STAR, *others, f"fast.{switch}=true"
    )
    extra = result["extra"]
    assert extra[f"fast_{switch}"] is True, extra.get("fast_cuda_graphs_note")
    assert all(extra[f"fast_{s}"] is False for s in SWITCHES if s != switch)
    assert extra["steps"] > 0 and 0.0 <= result["metrics"]["acc"] <= 1.0


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("recipe", [TINY_STAR, ("method=dac_online", "dataset=digits")])
def test_cuda_graph_steps_train_as_the_eager_steps(tmp_path, recipe):
    """Without augmentation (no RNG inside the step) graph replays and eager steps give the
    same network up to float rounding: chunk labels through the static buffers, online
    thresholds re-captured per epoch."""
    common = ("trainer=gpu", *CPU[1:], *recipe, "dataset.subset=300", "method.augment=[]")
    common += ("method.max_epochs=2", "method.eval_tactics=[argmax]", "fast.compile=false")
    eager = run_cached(tmp_path, "eager", *common, "fast.cuda_graphs=false")
    graph = run_cached(tmp_path, "graph", *common, "fast.cuda_graphs=true")
    assert graph["extra"]["fast_cuda_graphs"] is True, graph["extra"]["fast_cuda_graphs_note"]
    assert graph["extra"]["steps"] == eager["extra"]["steps"]
    for m in ("acc", "nmi"):
        assert graph["metrics"][m] == pytest.approx(eager["metrics"][m], abs=0.02)
