"""The scale-out paths the README names, run for real on the CPU: Hydra's ``submitit_local``
launcher (a ``src.run`` sweep and ``scripts.reproduce --launcher submitit_local``) and Lightning
DDP with 2 gloo processes (``trainer=ddp_cpu``) for one DAC epoch on 300 digits."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from src.modules.dac import DACModule
from tests.helpers.cli import assert_one_line_exit_2
from tests.helpers.harness import harness

needs_submitit = pytest.mark.skipif(
    importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is None,
    reason="hydra-submitit-launcher is not installed (make install installs it)",
)
KMEANS = ("method=kmeans", "method.n_init=2", "dataset=digits", "dataset.subset=300",
          "logger=none", "plots=false")  # fmt: skip
DAC_EPOCH = ("method=dac", "dataset=digits", "dataset.subset=300", "method.max_epochs=1",
             "logger=none", "plots=false")  # fmt: skip
THREADS = {"OMP_NUM_THREADS": "1"}


def _results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*/result.json"))]


# submitit_local


@needs_submitit
def test_submitit_local_sweep_runs_every_point(cli, tmp_path):
    sweep = tmp_path / "sweep"
    proc = cli("--multirun", "hydra/launcher=submitit_local", *KMEANS, "seed=0,1",
               f"hydra.sweep.dir={sweep}", env=THREADS, timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = _results(sweep)
    assert sorted(r["seed"] for r in results) == [0, 1]
    assert all(r["method"] == "kmeans" and r["metrics"]["acc"] > 0.1 for r in results)
    assert (sweep / "sweep_summary.csv").exists() and list(sweep.glob(".submitit/*/*_log.out"))


@needs_submitit
def test_reproduce_with_submitit_local_fills_the_table(tmp_path):
    proc = harness(tmp_path, "--profile", "smoke", "--tables", "dec_table2", "--datasets",
                   "digits", "--methods", "kmeans", "--seeds", "0-1", "--launcher",
                   "submitit_local")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2/2 seeds done" in proc.stdout
    store = tmp_path / "store"
    assert len(list(store.glob("*/seed*/result.json"))) == 2
    events = [json.loads(s) for s in (store / "executions.jsonl").read_text().splitlines()]
    done = [e for e in events if e["event"] == "done"]
    assert len(done) == 2 and {e["launcher"] for e in done} == {"submitit_local"}
    table = (tmp_path / "out" / "tables" / "dec_table2.csv").read_text()
    assert "kmeans" in table


def test_missing_submitit_plugin_is_named_with_the_fix(monkeypatch):
    """The one-line refusal of a launcher whose plugin is missing (the subprocess test in
    test_robust_inputs.py skips where the plugin is installed)."""
    from scripts.reproduce import launcher_problem

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if "submitit" in name else real(name)
    )
    problem = launcher_problem("submitit_local")
    assert problem and "needs Hydra's hydra-submitit-launcher plugin" in problem
    assert "make install" in problem and launcher_problem("local") is None


# DDP on the CPU


@pytest.mark.parametrize("world", [2, 3])
def test_rank_shares_split_each_step_of_the_plan(world):
    """Every process takes one batch of each group of ``world``; together they cover the plan
    once, and a short last group is padded so every process takes as many steps."""
    plan = list(range(7))
    shares = [
        list(DACModule._rank_share(SimpleNamespace(world=(r, world)), iter(plan)))  # type: ignore[arg-type]
        for r in range(world)
    ]
    assert {len(s) for s in shares} == {math.ceil(len(plan) / world)}
    assert sorted(set().union(*shares)) == plan
    assert all(shares[r][0] == r for r in range(world))  # step 0: batch r of the plan


def test_ddp_cpu_trains_one_dac_epoch_on_two_processes(cli, tmp_path):
    one = cli(*DAC_EPOCH, "trainer=cpu", f"hydra.run.dir={tmp_path / 'one'}", timeout=120)
    assert one.returncode == 0, one.stderr[-3000:]
    two = cli(*DAC_EPOCH, "trainer=ddp_cpu", f"hydra.run.dir={tmp_path / 'two'}", timeout=120)
    assert two.returncode == 0, two.stderr[-3000:]
    single = json.loads((tmp_path / "one" / "result.json").read_text())
    ddp = json.loads((tmp_path / "two" / "result.json").read_text())
    assert single["extra"]["processes"] == 1 and ddp["extra"]["processes"] == 2
    assert ddp["extra"]["epochs"] == 1
    # each step averages the gradients of 2 batches: half the steps of one process
    assert ddp["extra"]["steps"] == math.ceil(single["extra"]["steps"] / 2)
    assert ddp["metrics"]["n_nonempty_clusters"] >= 2
    rank1 = (tmp_path / "two" / "train_ddp_process_1.log").read_text()
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in rank1 and "error" not in rank1.lower()
    history = (tmp_path / "two" / "dac_history.csv").read_text().splitlines()
    assert len(history) == 3  # header, epoch 0, epoch 1: written by rank 0 alone


@pytest.mark.parametrize("method", ["dec", "ae_kmeans", "kmeans"])
def test_ddp_refuses_methods_it_cannot_split(cli, tmp_path, method):
    proc = cli(f"method={method}", "trainer=ddp_cpu", "logger=none", f"hydra.run.dir={tmp_path}")
    assert_one_line_exit_2(proc, "trainer=ddp_cpu (DDP) runs only dac", f"method={method}")
    assert not (tmp_path / "result.json").exists()


def test_ddp_refused_inside_a_multirun(cli, tmp_path):
    proc = cli("--multirun", *DAC_EPOCH, "trainer=ddp_cpu", "seed=0,1",
               f"hydra.sweep.dir={tmp_path / 'sweep'}")  # fmt: skip
    assert_one_line_exit_2(proc, "cannot run inside --multirun", "no job was started")
    assert not (tmp_path / "sweep").exists()
