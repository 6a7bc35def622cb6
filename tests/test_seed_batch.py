"""Seeds pretrained together (one batched SAE model) give what they give one by one: the same
weights (float rounding), the same cache entries and the same final metrics; the harness's
``--seed-batch`` fills the cache its runs then hit; a diverged seed is named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from src.engine.guard import DivergenceError
from src.engine.switches import FastOptions
from src.models.sae import SAE, SAEStack
from src.pretraining.module import SAEPretrainModule, Stage, dropout
from tests.helpers.runs import run_cached

PAPER = OmegaConf.load("conf/pretrain/paper.yaml")
SMALL = [  # digits, every stage with dropout, a few dozen iterations each
    "dataset=digits",
    "dataset.subset=300",
    "pretrain=quick",
    "pretrain.layerwise_iters=30",
    "pretrain.finetune_iters=30",
    "method.max_iter=40",
    "method.update_interval=10",
    "method.n_init=2",
    "logger=none",
    "plots=false",
    "progress_bar=false",
    "trainer=cpu",
]


def tiny_saes(seeds):
    out = []
    for s in seeds:
        torch.manual_seed(s)
        out.append(SAE(6, [5, 4], 3, init_std=0.3))
    return out


def test_dropout_masks_are_each_members_own():
    x = torch.ones(3, 50, 8)
    gens = [torch.Generator().manual_seed(s) for s in (1, 2, 3)]
    together = dropout(x, 0.2, gens)
    for m, seed in enumerate((1, 2, 3)):
        alone = dropout(x[m], 0.2, [torch.Generator().manual_seed(seed)])
        assert torch.equal(together[m], alone)
    assert set(together.unique().tolist()) == {0.0, 1.25}  # inverted dropout: kept / (1 − p)
    assert not torch.equal(together[0], together[1])


@pytest.mark.parametrize("layer", [0, 1, None])
def test_a_stage_of_three_seeds_equals_each_seed_alone(layer):
    """Batches, dropout masks and SGD of a stack member are its own: bit for bit on the CPU."""
    seeds, cfg = [4, 7, 9], OmegaConf.merge(PAPER, {"batch_size": 8})
    xs = [torch.randn(30, 6, generator=torch.Generator().manual_seed(s)) for s in seeds]
    stage = Stage("s", layer, 12, "sgd", 0.2, 0.2)
    stack = SAEStack(tiny_saes(seeds))
    module = SAEPretrainModule(stack, torch.stack(xs), stage, cfg, FastOptions(), seeds, index=1)
    module.training_step((0, 12), 0)
    for m, seed in enumerate(seeds):
        alone = SAEStack(tiny_saes([seed]))
        single = SAEPretrainModule(alone, xs[m][None], stage, cfg, FastOptions(), [seed], index=1)
        single.training_step((0, 12), 0)
        for key, value in alone.member_state_dict(0).items():
            torch.testing.assert_close(stack.member_state_dict(m)[key], value, rtol=0, atol=1e-7)
        torch.testing.assert_close(module.losses[m], single.losses[0])


def test_guard_names_the_seed_that_diverged():
    seeds = [3, 7, 9]
    stack = SAEStack(tiny_saes(seeds))
    with torch.no_grad():
        stack.encoder[0].weight[1].fill_(float("nan"))  # seed 7's first layer
    x = torch.randn(1, 30, 6).expand(3, 30, 6)
    stage = Stage("layer0", 0, 20, "sgd", 0.0, 0.2)
    module = SAEPretrainModule(stack, x, stage, PAPER, FastOptions(), seeds)
    with pytest.raises(DivergenceError, match=r"layer0 diverged: loss nan of seed 7 at iteration"):
        module.training_step((0, 10), 0)


def test_batched_pretraining_fills_the_cache_single_runs_use(tmp_path):
    """pretrain_seeds seeds=0-2 → the cache entries each run looks up (a later run reports a
    hit), with the weights and metrics of three runs that pretrained alone."""
    from src.pretrain_seeds import pretrain_seeds

    together = pretrain_seeds([*SMALL, f"cache_dir={tmp_path / 'together' / 'cache'}"], [0, 1, 2])
    assert [p.cache_hit for p in together] == [False] * 3
    assert all(p.info["seed_batch"] == [0, 1, 2] for p in together)
    for seed, pre in enumerate(together):
        hit = run_cached(tmp_path / "together", f"dec{seed}", *SMALL, f"seed={seed}")
        alone = run_cached(tmp_path / "alone", f"dec{seed}", *SMALL, f"seed={seed}")
        assert hit["extra"]["pretrain_cache_hit"] is True
        assert hit["extra"]["pretrain_checkpoint"] == str(pre.path)
        assert alone["extra"]["pretrain_cache_hit"] is False
        assert Path(alone["extra"]["pretrain_checkpoint"]).name == pre.path.name  # same key
        single = torch.load(alone["extra"]["pretrain_checkpoint"], weights_only=True)
        for key, value in single["state_dict"].items():
            torch.testing.assert_close(pre.sae.state_dict()[key], value)
        assert hit["metrics"] == pytest.approx(alone["metrics"], abs=1e-6)
    again = pretrain_seeds([*SMALL, f"cache_dir={tmp_path / 'together' / 'cache'}"], [0, 2])
    assert [p.cache_hit for p in again] == [True, True]


def test_harness_seed_batch_pretrains_before_the_runs(tmp_path):
    from scripts.reproduce import main as reproduce

    argv = ["--profile", "smoke", "--tables", "dec_table2", "--datasets", "digits",
            "--methods", "ae_kmeans,dec", "--seeds", "0-1", "--seed-batch", "2", "--jobs", "1",
            "--store", str(tmp_path / "store"), "--out", str(tmp_path / "out"), "--no-readme",
            f"cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    assert reproduce(argv) == 0
    lines = (tmp_path / "store" / "executions.jsonl").read_text().splitlines()
    events = [json.loads(line) for line in lines]
    batched = [e for e in events if e["event"] == "pretrain"]
    assert sorted(e["seed"] for e in batched) == [0, 1] and batched[0]["seeds"] == [0, 1]
    results = list((tmp_path / "store").rglob("result.json"))
    assert len(results) == 4
    assert all(json.loads(r.read_text())["extra"]["pretrain_cache_hit"] for r in results)


def test_seed_batch_option_and_jobs():
    from src.core.errors import UserError
    from src.reproduce.seed_batch import parse_seed_batch, resolve_seed_batch, seed_batch_jobs
    from src.reproduce.spec import Run

    assert [parse_seed_batch(t) for t in ("auto", "off", "1", "4")] == ["auto", "off", "off", "4"]
    with pytest.raises(UserError, match="--seed-batch"):
        parse_seed_batch("0")

    def run(method, seed, *extra):
        ovr = (f"method={method}", "dataset=mnist", *extra, f"seed={seed}")
        return Run("t", "mnist", method, None, seed, ovr)

    runs = [run(m, s) for m in ("kmeans", "ae_kmeans", "dec_nobp", "dec") for s in range(3)]
    runs.append(run("dec", 0, "pretrain=quick"))  # another schedule, one seed: nothing to batch
    assert seed_batch_jobs(runs) == [(["method=ae_kmeans", "dataset=mnist"], [0, 1, 2])]
    cpu = [run("dec", s, "trainer=cpu") for s in range(2)]
    assert resolve_seed_batch("auto", cpu) is None and resolve_seed_batch("3", cpu) == "3"
    assert seed_batch_jobs(cpu, skip_cpu=True) == []


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graph_stack_equals_seeds_alone_on_the_gpu():
    """The CUDA-graph path with per-seed dropout generators: 3 seeds as one replayed graph give
    each seed's own training (eager, alone) up to float rounding: in fp32, so TF32 (which an
    earlier run in this process may have switched on) is off here."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        _graph_stack_equals_seeds_alone()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32


def _graph_stack_equals_seeds_alone() -> None:
    device, seeds = torch.device("cuda"), [0, 1, 2]
    cfg = OmegaConf.merge(PAPER, {"batch_size": 64, "lr_step": 40})
    x = torch.rand(500, 20, generator=torch.Generator().manual_seed(0)).to(device)
    stage = Stage("layer1", 1, 120, "sgd", 0.2, 0.2)

    def build(members):
        saes = []
        for s in members:
            torch.manual_seed(s)
            saes.append(SAE(20, [16, 12], 4, init_std=0.1).to(device))
        return SAEStack(saes)

    graphed = build(seeds)
    fast = FastOptions(steps_per_call=40, cuda_graphs=True, fused_optimizer=True)
    module = SAEPretrainModule(graphed, x[None].expand(3, -1, -1), stage, cfg, fast, seeds)
    for start in (0, 40, 80):  # lr steps at 40 and 80: re-captures
        module.training_step((start, 40), 0)
    assert module.runner.graph is not None
    for m, seed in enumerate(seeds):
        alone = build([seed])
        single = SAEPretrainModule(alone, x[None], stage, cfg, FastOptions(), [seed])
        single.training_step((0, 120), 0)
        for key, value in alone.member_state_dict(0).items():
            torch.testing.assert_close(
                graphed.member_state_dict(m)[key], value, rtol=1e-3, atol=1e-4
            )
