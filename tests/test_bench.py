"""``make bench``: the hand-written reference steps compute the framework's losses, the targets'
checks, and ``--profile smoke`` end to end (JSON/Markdown structure and provenance), the DEC
table through the harness with seeds in turn and at once included."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import OmegaConf

from scripts.bench import main
from src.bench.floor import count_flops
from src.bench.framework import compose_config
from src.bench.handwritten import (
    Indices,
    dac_chunk_labels,
    dac_chunk_loop,
    dac_pair_loss,
    dac_setup,
    sae_stage_setup,
)
from src.bench.report import checks, device_slug, paper_projection, table_markdown
from src.bench.table import compare
from src.core.errors import UserError
from src.models.convnets import build_convnet
from src.models.sae import build_sae
from src.modules.dac import DACModule, predict_features, select_pairs
from src.pretraining.module import stage_loss


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


@pytest.mark.parametrize("recipe", ["method=dac_star", "method=dac"])
def test_hand_written_chunk_step_computes_the_framework_labels_and_loss(recipe):
    cfg = compose_config([recipe, "dataset=digits", "method.augment=[]", "method.chunk_size=24"])
    m = cfg.method
    images = torch.rand(48, 1, 8, 8)
    torch.manual_seed(1)
    module = DACModule(build_convnet(cfg.arch, (1, 8, 8), 10), images, m)
    target, mask = dac_chunk_labels(module.net, images[:24], m)
    _, feats = predict_features(module.net, images[:24], m.label_batch_size, m.label_bn)
    u, lo = module.current_thresholds()
    want_t, want_m = select_pairs(feats @ feats.T, u, lo, m.selection == "all")
    torch.testing.assert_close(target, want_t.float())
    torch.testing.assert_close(mask, want_m.float())
    a = torch.tensor([3, 0, 17, 9, 21])
    sub = (target[a][:, a], mask[a][:, a].bool())
    got = dac_pair_loss(module.net, images[a], sub[0], sub[1].float(), m.pair_loss == "bce")
    torch.testing.assert_close(got, module._loss(a, sub, None))
    # steps per chunk: 5 passes over 24 images in batches of 128 → one batch each
    assert dac_chunk_loop(images, cfg, 10, seed=0)(1) == 5 == module.steps_per_epoch() // 2


def test_flops_of_a_step_are_the_hand_count():
    # y = x W^T + b, x without grad: forward 2·B·i·o, weight gradient 2·B·i·o (no input grad);
    # a second layer gets its input's gradient too: 3 × 2·B·h·o
    b, i, h, o = 8, 5, 7, 3
    one = torch.nn.Linear(i, o)
    assert count_flops(lambda: one(torch.rand(b, i)).sum().backward()) == 4 * b * i * o
    two = torch.nn.Sequential(torch.nn.Linear(i, h), torch.nn.ReLU(), torch.nn.Linear(h, o))
    flops = count_flops(lambda: two(torch.rand(b, i)).sum().backward())
    assert flops == 4 * b * i * h + 6 * b * h * o


@pytest.mark.skipif(not torch.cpu._is_avx512_bf16_supported(), reason="no fast bf16 on this CPU")
def test_hand_written_bf16_sae_step_computes_the_framework_bf16_loss():
    from src.pretraining.module import precision_stage_loss

    drop = ["pretrain.input_dropout=0", "pretrain.hidden_dropout=0"]
    cfg = compose_config(["dataset=digits", "arch.init_std=0.3", *drop])  # outputs far from 0
    x = torch.rand(40, 64)
    idx = torch.arange(0, 40, 3)
    for layer in (None, 1):
        s = sae_stage_setup(x, cfg.arch, cfg.pretrain, layer, seed=5, graph=False, bf16=True)
        torch.manual_seed(5)
        sae = build_sae(64, cfg.arch)
        inputs = x if not layer else sae.encode_below(x, layer)
        want = precision_stage_loss(True, True, sae, inputs[idx], layer, 0.0, 0.0, "mean")
        fp32 = stage_loss(sae, inputs[idx], layer, 0.0, 0.0, "mean")
        torch.testing.assert_close(s.step(idx), want)
        assert not torch.equal(want, fp32)  # the bf16 step really is another arithmetic


def test_indices_are_full_batches_of_fresh_permutations():
    batches = Indices(10, 4, torch.device("cpu"), seed=0)
    first = [batches.next() for _ in range(2)]
    assert sorted(torch.cat(first).tolist()) == sorted(set(torch.cat(first).tolist()))
    assert all(len(batches.next()) == 4 for _ in range(5))  # 10 % 4 left over: a new permutation


def test_checks_and_helpers():
    runs = [
        {"method": "dec", "seed": 0, "end_to_end_s": 40.0, "phases": [{"ratio": 0.95}, {}]},
        {"method": "dac_star", "seed": 0, "end_to_end_s": 300.0, "phases": [{"ratio": 0.5}]},
    ]
    targets = {"dec_end_to_end_s": 45.0, "dac_star_end_to_end_s": 240.0, "min_ratio": 0.9}
    targets["table_parallel_s"] = 180.0
    table = {"parallel": {"wall_time_s": 170.0}, "same_metrics": {"identical": False}}
    assert checks(runs, table, targets) == {
        "dec_seed0_end_to_end_le_45s": True,
        "dec_seed0_min_ratio_ge_0.9": True,
        "dac_star_seed0_end_to_end_le_240s": False,
        "dac_star_seed0_min_ratio_ge_0.9": False,
        "table_parallel_le_180s": True,
        "table_same_metrics_parallel_and_sequential": False,
    }
    assert checks(runs, None, {}) == {}
    cut_off = {"parallel": {"wall_time_s": 170.0}}  # the window ended during --jobs 1
    assert checks([], cut_off, targets) == {"table_parallel_le_180s": True}
    parallel = {"jobs_requested": "auto", "jobs": 5, "wall_time_s": 170.0, "devices": ["H"]}
    md = "\n".join(table_markdown({**table, "parallel": parallel, "sequential": None,
                                    "table": "t", "dataset": "d", "seeds": "0-4",
                                    "harness_profile": "full", "launcher": "batch"}))  # fmt: skip
    assert "| all at once | auto | 5 | 170.0 | H |" in md and "not run (cut off)" in md
    batched = {
        **parallel,
        "seed_batch": "auto",
        "pretrained_together": [{"seeds": [0, 1, 2, 3, 4], "seconds": 61.5}],
    }
    md = "\n".join(table_markdown({**table, "parallel": batched, "sequential": None,
                                    "table": "t", "dataset": "d", "seeds": "0-4",
                                    "harness_profile": "full", "launcher": "batch"}))  # fmt: skip
    assert "| H | `auto`: seeds 0,1,2,3,4 in 61.5 s |" in md
    assert device_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


def test_compare_finds_differing_and_missing_runs():
    def table(**acc):
        return {"runs": {k: {"metrics": {"acc": v, "nmi": 0.5}} for k, v in acc.items()}}

    same = compare(table(a=0.8, b=0.7), table(a=0.8, b=0.7))
    assert same == {"runs": 2, "missing": [], "identical": True, "max_abs_diff": 0.0}
    differ = compare(table(a=0.8, b=0.7), table(a=0.8, b=0.75, c=0.1))
    assert differ["missing"] == ["c"] and not differ["identical"]
    assert differ["max_abs_diff"] == pytest.approx(0.05)


@pytest.mark.parametrize(
    "argv, message",
    [(["--seeds", "3-1"], "--seeds '3-1'"), (["--parts", "dec,tables"], "--parts 'dec,tables'")],
)
def test_bad_seeds_or_parts_are_one_line_errors(tmp_path, argv, message):
    with pytest.raises(UserError, match=message):
        main(["--profile", "smoke", "--device", "cpu", "--out", str(tmp_path), *argv])
    assert not list(tmp_path.iterdir())  # nothing ran, nothing written


def test_smoke_profile_writes_json_and_markdown(tmp_path, monkeypatch):
    # the amp variant is skipped where the device has no fast bf16 (simulated here, so the
    # test reads the same on every CPU)
    monkeypatch.setattr("src.engine.switches.has_fast_bf16", lambda device: False)
    out = tmp_path / "bench"
    only_dec = "method.log_metrics_every_update=false"
    argv = ["--profile", "smoke", "--device", "cpu", "--out", str(out), "--dec-override", only_dec]
    variants = ["--variants", "eager,channels_last,amp"]
    assert main([*argv, "--parts", "dec,dac,dac_star", "--seeds", "3", *variants]) == 0
    record = json.loads((out / "smoke-cpu-dec-dac-dac_star.json").read_text())
    assert record["complete"] and record["parts"] == ["dec", "dac", "dac_star"]
    for key in ("device", "commit", "date", "command", "seeds", "wall_time_s", "profile"):
        assert record[key] not in (None, ""), key
    assert record["environment"]["torch"] == torch.__version__
    assert "--profile smoke" in record["command"] and record["seeds"] == [3]
    runs = {r["method"]: r for r in record["runs"]}
    assert set(runs) == {"dec", "dac", "dac_star"} and {r["seed"] for r in runs.values()} == {3}
    assert only_dec in runs["dec"]["overrides"] and only_dec not in runs["dac"]["overrides"]
    dec = {p["name"]: p for p in runs["dec"]["phases"]}
    stages = [f"pretrain_layer{i}" for i in range(4)] + ["pretrain_finetune"]
    for name in stages:
        assert dec[name]["iterations"] == 20  # the smoke schedule, read from the run
    assert 0 < dec["dec"]["iterations"] <= 40 and dec["kmeans_init"]["seconds"] > 0
    dac = {p["name"]: p for p in runs["dac"]["phases"]}
    assert dac["train"]["iterations"] == 2  # one epoch: 300 // 128 batches
    star = {p["name"]: p for p in runs["dac_star"]["phases"]}
    assert star["train"]["iterations"] == 3  # one pass over one chunk of 300: 128 + 128 + 44
    trained = [p for r in record["runs"] for p in r["phases"] if p["iterations"]]
    assert len(trained) == 8 and record["table"] is None
    for p in trained:
        assert p["ratio"] > 0 and p["hand_eager_it_per_s"] > 0 and p["hand_graph_it_per_s"] is None
        assert p["gflop_per_it"] > 0 and p["floor_it_per_s"] > 0 and p["of_floor"] > 0
    assert record["gemm_gflop_s"]["fp32"]["peak"] > 0 and "bf16" not in record["gemm_gflop_s"]
    assert all(r["precision"] == "fp32" for r in record["runs"])
    for r in record["runs"]:
        assert 0 <= r["metrics"]["acc"] <= 1 and r["end_to_end_s"] > 0
    md = (out / "smoke-cpu-dec-dac-dac_star.md").read_text()
    assert record["commit"] in md and "| pretrain_layer0 | 20 |" in md and "## DAC on digits" in md
    assert "| floor it/s | ÷ floor |" in md and "GEMM throughput measured" in md
    assert "## DAC* on digits" in md
    # DAC's switches per run, and the variants: eager and channels_last run, amp skipped
    assert runs["dac_star"]["fast"]["channels_last"] is True and "Switches: " in md  # default
    for method in ("dac", "dac_star"):
        rows = {r["variant"]: r for r in record["variants"][method]}
        assert list(rows) == ["eager", "channels_last", "amp"]
        assert rows["amp"]["skipped"] == "no fast bf16 on this cpu"
        assert rows["channels_last"]["switches"]["channels_last"] is True
        assert rows["eager"]["switches"] == dict.fromkeys(
            ("channels_last", "cuda_graphs", "compile", "amp"), False
        )
        assert rows["channels_last"]["speed_up"] > 0 and 0 <= rows["eager"]["acc"] <= 1
    assert "## DAC*: speed-switch variants" in md and "| amp | no fast bf16 on this cpu |" in md
    assert "AMP (bf16): not measured here (no fast bf16 on this cpu)" in md
    assert OmegaConf.create(record["hand_written"]).dec.phases.dec.iterations == 5


def test_smoke_table_runs_seeds_in_turn_and_at_once_with_the_same_metrics(tmp_path):
    out = tmp_path / "bench"
    assert (
        main(["--profile", "smoke", "--device", "cpu", "--out", str(out), "--parts", "table"]) == 0
    )
    record = json.loads((out / "smoke-cpu-table.json").read_text())
    table = record["table"]
    assert record["runs"] == [] and table["seeds"] == "0-1"
    assert table["sequential"]["jobs"] == 1 and table["parallel"]["jobs"] == 2
    # --seed-batch: auto for all at once (the CPU keeps per-run pretraining), off in turn
    assert (table["parallel"]["seed_batch"], table["sequential"]["seed_batch"]) == ("auto", "off")
    assert (
        table["parallel"]["pretrained_together"] == table["sequential"]["pretrained_together"] == []
    )
    names = {f"{m} seed{s}" for m in ("kmeans", "ae_kmeans", "dec_nobp", "dec") for s in (0, 1)}
    assert set(table["sequential"]["runs"]) == set(table["parallel"]["runs"]) == names
    assert table["same_metrics"] == {"runs": 8, "missing": [], "identical": True,
                                     "max_abs_diff": 0.0}  # fmt: skip
    assert record["checks"] == {"table_same_metrics_parallel_and_sequential": True}
    for run in (*table["sequential"]["runs"].values(), *table["parallel"]["runs"].values()):
        assert run["seconds"] > 0 and 0 <= run["metrics"]["acc"] <= 1
    md = (out / "smoke-cpu-table.md").read_text()
    assert "## dec_table2 on digits, seeds 0-1" in md and "| dec seed1 |" in md


def test_paper_projection_scales_only_the_sae_stages():
    phases = [
        {"name": "data", "seconds": 2.0, "it_per_s": None},
        {"name": "pretrain_layer0", "seconds": 10.0, "it_per_s": 100.0},
        {"name": "pretrain_finetune", "seconds": 40.0, "it_per_s": 50.0},
        {"name": "dec", "seconds": 30.0, "it_per_s": 200.0},
    ]
    run = {"method": "dec", "seed": 0, "end_to_end_s": 90.0, "phases": phases}
    got = paper_projection(run, {"layer0": 5000, "finetune": 10000})
    # 90 − (10 + 40) + 5000/100 + 10000/50 = 40 + 50 + 200
    assert got["end_to_end_s"] == 290.0 and got["stage_seconds"] == {
        "layer0": 50.0,
        "finetune": 200.0,
    }
    run["paper_projection"] = got
    assert checks([run], None, {"dec_paper_schedule_s": 300.0}) == {
        "dec_seed0_paper_schedule_projected_le_300s": True
    }


def test_phase_seconds_count_nested_phases_once():
    from src.bench.report import phase_seconds

    phases = [{"name": "pretrain", "seconds": 10.0}, {"name": "pretrain_layer0", "seconds": 4.0},
              {"name": "pretrain_finetune", "seconds": 6.0}, {"name": "dec", "seconds": 3.0}]  # fmt: skip
    assert phase_seconds(phases) == 13.0
