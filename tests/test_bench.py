"""``make bench``: the hand-written reference steps compute the framework's losses, the targets'
checks, and ``--profile smoke`` end to end (JSON/Markdown structure and provenance)."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from scripts.bench import main, parse_seeds
from src.bench.framework import compose_config
from src.bench.handwritten import Indices, dac_setup, sae_stage_setup
from src.bench.report import checks, device_slug
from src.errors import UserError
from src.models.convnets import build_convnet
from src.models.sae import build_sae
from src.modules.dac import DACModule
from src.modules.sae_pretrain import stage_loss


def test_hand_written_sae_steps_compute_the_framework_losses():
    cfg = compose_config(
        ["dataset=digits", "pretrain.input_dropout=0", "pretrain.hidden_dropout=0"]
    )
    x = torch.rand(40, 64)
    idx = torch.arange(0, 40, 3)
    for layer in (None, 0, 2, 3):
        s = sae_stage_setup(x, cfg.arch, cfg.pretrain, layer, seed=5, graph=False)
        torch.manual_seed(5)
        sae = build_sae(64, cfg.arch)
        inputs = x if not layer else sae.encode_below(x, layer)
        want = stage_loss(sae, inputs[idx], layer, 0.0, 0.0, "mean")
        torch.testing.assert_close(s.step(idx), want)


def test_hand_written_dac_step_computes_the_framework_loss():
    cfg = compose_config(["method=dac", "dataset=digits", "method.augment=[]"])
    images = torch.rand(32, 1, 8, 8)
    idx = torch.arange(16)
    s = dac_setup(images, cfg, 10, seed=2, graph=False)
    torch.manual_seed(2)
    module = DACModule(build_convnet(cfg.arch, (1, 8, 8), 10), images, cfg.method)
    torch.testing.assert_close(s.step(idx), module._loss(idx, None, None))


def test_indices_are_full_batches_of_fresh_permutations():
    batches = Indices(10, 4, torch.device("cpu"), seed=0)
    first = [batches.next() for _ in range(2)]
    assert sorted(torch.cat(first).tolist()) == sorted(set(torch.cat(first).tolist()))
    assert all(len(batches.next()) == 4 for _ in range(5))  # 10 % 4 left over: a new permutation


def test_checks_and_helpers():
    runs = [
        {"method": "dec", "seed": 0, "end_to_end_s": 100.0, "phases": [{"ratio": 0.9}, {}]},
        {"method": "dac", "seed": 0, "end_to_end_s": 700.0, "phases": [{"ratio": 0.5}]},
    ]
    targets = {"dec_end_to_end_s": 120.0, "dac_end_to_end_s": 600.0, "min_ratio": 0.8}
    assert checks(runs, targets) == {
        "dec_seed0_end_to_end_le_120s": True,
        "dec_seed0_min_ratio_ge_0.8": True,
        "dac_seed0_end_to_end_le_600s": False,
    }
    assert checks(runs, {}) == {}
    assert device_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert parse_seeds("3") == [0, 1, 2] and parse_seeds("0,4") == [0, 4]
    with pytest.raises(UserError, match="--seeds"):
        parse_seeds("a,b")


def test_smoke_profile_writes_json_and_markdown(tmp_path):
    out = tmp_path / "bench"
    only_dec = "method.log_metrics_every_update=false"
    argv = ["--profile", "smoke", "--device", "cpu", "--out", str(out), "--dec-override", only_dec]
    assert main(argv) == 0
    record = json.loads((out / "smoke-cpu.json").read_text())
    for key in ("device", "commit", "date", "command", "seeds", "wall_time_s", "profile"):
        assert record[key] not in (None, ""), key
    assert record["environment"]["torch"] == torch.__version__
    assert "--profile smoke" in record["command"] and record["seeds"] == [0]
    runs = {r["method"]: r for r in record["runs"]}
    assert set(runs) == {"dec", "dac"}
    assert only_dec in runs["dec"]["overrides"] and only_dec not in runs["dac"]["overrides"]
    dec = {p["name"]: p for p in runs["dec"]["phases"]}
    stages = [f"pretrain_layer{i}" for i in range(4)] + ["pretrain_finetune"]
    for name in stages:
        assert dec[name]["iterations"] == 20  # the smoke schedule, read from the run
    assert 0 < dec["dec"]["iterations"] <= 40 and dec["kmeans_init"]["seconds"] > 0
    dac = {p["name"]: p for p in runs["dac"]["phases"]}
    assert dac["train"]["iterations"] == 2  # one epoch: 300 // 128 batches
    trained = [p for r in record["runs"] for p in r["phases"] if p["iterations"]]
    assert len(trained) == 7
    for p in trained:
        assert p["ratio"] > 0 and p["hand_eager_it_per_s"] > 0 and p["hand_graph_it_per_s"] is None
    for r in record["runs"]:
        assert 0 <= r["metrics"]["acc"] <= 1 and r["end_to_end_s"] > 0
    md = (out / "smoke-cpu.md").read_text()
    assert record["commit"] in md and "| pretrain_layer0 | 20 |" in md and "## DAC on digits" in md
    assert OmegaConf.create(record["hand_written"]).dec.phases.dec.iterations == 5
