"""`make reproduce` end to end on 300 digits (PROFILE=smoke, k-means): tables, figures, resume."""

from __future__ import annotations

import json
import os
import signal
import time

import pandas as pd

from tests.helpers.harness import harness, results

N_RUNS = 10  # smoke, k-means: table2 2 seeds + imbalance 2×2 + k 2×2 (DAC Table 2 reuses table2)


def test_smoke_killed_midway_resumes_without_redoing_runs(tmp_path):
    store = tmp_path / "store"
    proc = harness(tmp_path, "--profile", "smoke", "--methods", "kmeans", popen=True)
    deadline = time.time() + 180
    while len(results(store)) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGTERM)  # the harness and its worker, as Ctrl-C would
    proc.wait(timeout=60)
    before = results(store)
    assert 3 <= len(before) < N_RUNS, proc.stdout.read()

    done = harness(tmp_path, "--profile", "smoke", "--methods", "kmeans")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{len(before)} already done" in done.stdout
    after = results(store)
    assert len(after) == N_RUNS
    assert all(after[p] == t for p, t in before.items())  # finished runs were not redone
    started = [e for e in map(json.loads, (store / "executions.jsonl").read_text().splitlines())
               if e["event"] == "start"]  # fmt: skip
    keys = [(e["key"], e["seed"]) for e in started]
    # every run started once, except at most the one the kill interrupted
    assert len(set(keys)) == N_RUNS and len(keys) - len(set(keys)) <= 1

    out = tmp_path / "out"
    t2 = pd.read_csv(out / "tables" / "dec_table2.csv")
    assert list(t2.columns[:11]) == ["table", "dataset", "method", "metric", "paper", "mean",
                                     "std", "best", "n_seeds", "device", "commit"]  # fmt: skip
    assert len(t2) == 3 and set(t2["metric"]) == {"acc", "nmi", "ari"}
    assert (
        (t2["n_seeds"] == 2).all() and (t2["mean"] > 0.5).all() and (t2["best"] >= t2["mean"]).all()
    )
    imb = pd.read_csv(out / "tables" / "dec_imbalanced.csv")
    assert sorted(imb["setting"].unique()) == [0.3, 0.9] and len(imb) == 2 * 2
    ks = pd.read_csv(out / "tables" / "dec_nclusters.csv")
    assert sorted(ks["setting"].unique()) == [5, 10] and set(ks["metric"]) == {"nmi", "G", "acc"}
    assert ks[ks["metric"] == "G"]["mean"].isna().all()  # k-means has no KL losses
    dac2 = pd.read_csv(out / "tables" / "dac_table2.csv")
    assert dac2.set_index("metric")["mean"].to_dict() == t2.set_index("metric")["mean"].to_dict()
    md = (out / "tables" / "dec_table2.md").read_text()
    assert "stl10_hog: no conf/dataset/stl10_hog.yaml" in md
    assert "- **device**: CPU" in md and "- **commit**:" in md and "| kmeans |" in md
    for name in ("dec_table2_digits_confusion", "dec_table2_digits_embedding",
                 "dec_imbalanced_digits", "dec_nclusters_digits"):  # fmt: skip
        assert (out / "figures" / f"{name}.png").stat().st_size > 5000, name

    again = harness(tmp_path, "--profile", "smoke", "--methods", "kmeans", "--dry-run")
    assert "0 to run" in again.stdout and results(store) == after


def test_joblib_launcher_runs_seeds_in_parallel_into_the_store(tmp_path):
    proc = harness(tmp_path, "--profile", "smoke", "--tables", "dec_table2", "--methods",
                   "kmeans", "--launcher", "joblib", "--jobs", "2")  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = sorted((tmp_path / "store").glob("*/seed*/result.json"))
    assert [p.parent.name for p in runs] == ["seed0", "seed1"]
    multirun = (runs[0].parent.parent / "multirun.yaml").read_text()
    assert "JoblibLauncher" in multirun
    acc = [json.loads(p.read_text())["metrics"]["acc"] for p in runs]
    assert min(acc) > 0.5


def test_full_profile_plans_and_skips_missing_data_in_one_line_each(tmp_path):
    proc = harness(tmp_path, "--profile", "full", "--dry-run",
                   env={"DCREPRO_DATA": str(tmp_path / "empty")})  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(
        s.startswith("skip [dec_table2] mnist: MNIST not found") and "make data" in s for s in lines
    )
    assert any(
        s.startswith("skip [dac_table2] cifar10: CIFAR-10 not found") and "data_batch_1" in s
        for s in lines
    )
    assert any(s.startswith("skip [dec_table2] stl10_hog: no conf/dataset") for s in lines)
    assert "Traceback" not in proc.stdout + proc.stderr
