"""The reproduction harness's parts: store keys and locks, published numbers, plans, tables."""

from __future__ import annotations

import json
import math
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from src.core.errors import UserError
from src.core.seeds import parse_seeds
from src.reproduce.aggregate import TableResult, markdown, metric_value, run_records, summarise
from src.reproduce.figures import accuracy_curve_figure, history_figure, table_figures
from src.reproduce.projection import projection
from src.reproduce.schedule import (
    order_runs,
    parse_jobs,
    resolve_jobs,
    sae_signature,
    seed_groups,
)
from src.reproduce.spec import (
    PAPER_DIR,
    TableSpec,
    load_profile,
    load_table,
    paper_numbers,
    plan,
    run_overrides,
)
from src.reproduce.store import Store, canonical, config_key, merge_overrides


def test_key_ignores_order_seed_and_non_semantic_overrides():
    a = ["method=kmeans", "dataset=digits", "dataset.subset=300", "seed=0", "logger=none"]
    b = ["dataset.subset=300", "logger=wandb", "dataset=digits", "method=kmeans", "seed=4"]
    assert config_key(a) == config_key(b)
    assert config_key(a) != config_key([*a, "dataset.subset=301"])
    # the last setting of a key wins, as on Hydra's command line
    assert canonical(["n_clusters=3", "n_clusters=5"]) == ["n_clusters=5"]
    assert canonical(["hydra.run.dir=x", "plots=false", "seed=1"]) == ["seed=1"]
    assert merge_overrides(["a=1", "b=2"], ["a=3"]) == ["b=2", "a=3"]


def test_locks_exclude_a_second_holder_and_stale_locks_are_taken_over(tmp_path):
    store = Store(tmp_path)
    ovr = ["method=kmeans"]
    assert store.lock(ovr, 0)
    assert not store.lock(ovr, 0)  # held by this (live) process
    store.unlock(ovr, 0)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    lock = store.run_dir(ovr, 1) / ".lock"
    lock.parent.mkdir(parents=True)
    lock.write_text(f"{os.uname().nodename} {dead}")
    assert store.lock(ovr, 1)  # its holder is gone


def test_published_numbers_and_their_verified_flags():
    dec = load_table("dec_table2")
    numbers = paper_numbers(dec)
    assert numbers[("mnist", "dec", "acc", None)].value == pytest.approx(0.8430)
    assert numbers[("mnist", "dec", "acc", None)].verified
    assert numbers[("stl10_hog", "dec", "acc", None)].verified
    assert not numbers[("mnist", "kmeans", "acc", None)].verified
    assert not numbers[("mnist", "ae_kmeans", "acc", None)].verified  # Table 3
    imb = paper_numbers(load_table("dec_imbalanced"))
    assert imb[("mnist", "dec", "acc", 0.1)].value == pytest.approx(0.7010)
    assert len(imb) == 15 and not any(n.verified for n in imb.values())
    dac = paper_numbers(load_table("dac_table2"))
    assert len(dac) == 5 * 6 * 3 and all(n.verified for n in dac.values())
    assert dac[("mnist", "dac", "nmi", None)].value == pytest.approx(0.9351)
    assert dac[("imagenet_dog15", "dac_star", "acc", None)].value == pytest.approx(0.2455)
    assert (PAPER_DIR / "dec.yaml").is_file()


def test_plan_skips_missing_data_and_methods_and_applies_overrides():
    profile = load_profile("smoke")
    spec = load_table("dec_imbalanced", profile)
    p = plan([spec], [0, 1], ["trainer=gpu"], {"digits": None})
    assert {r.setting for r in p.runs} == {0.3, 0.9} and {r.seed for r in p.runs} == {0, 1}
    run = p.runs[0]
    assert "dataset.imbalance=0.3" in run.overrides and "trainer=gpu" in run.overrides
    assert "trainer=cpu" not in run.overrides and run.overrides[-1] == "seed=0"
    tactics = load_table("dac_table3", profile)
    assert tactics.sweep["from_extra"] == "tactics"
    # every tactic is read from DAC Table 2's run: no tactic override, one run per seed
    for tactic in ("argmax", "spectral"):
        overrides = run_overrides(tactics, "digits", "dac", tactic, 0, [])
        assert not any(o.startswith("method.tactic") for o in overrides)
    p3 = plan([tactics], [0], [], {"digits": None})
    assert len({r.overrides for r in p3.runs}) == 1 and len(p3.runs) == 4
    p = plan([spec], [0], [], {"digits": "digits: files missing"})
    assert not p.runs and any("files missing" in why for _, why in p.skipped)


def _result(acc: float, nmi: float, **extra) -> dict:
    return {
        "metrics": {"acc": acc, "nmi": nmi, "ari": 0.1, "n_nonempty_clusters": 10},
        "extra": extra,
        "n_clusters": 10,
        "device": "CPU (test)",
        "commit": "abc",
        "date": "2026-01-01T00:00:00+00:00",
        "wall_time_s": {"total": 2.0},
    }


def _spec(**kw) -> TableSpec:
    base = dict(name="t", title="T", paper="dec", paper_tables=["table2"], metrics=["acc", "nmi"],
                datasets=["mnist"], methods=["kmeans"], sweep=None, figures=[], overrides={})  # fmt: skip
    return TableSpec(**{**base, **kw})


def test_summary_mean_std_best_run_and_paper(tmp_path):
    store = Store(tmp_path / "store")
    spec = _spec()
    p = plan([spec], [0, 1, 2, 3], [], {"mnist": None})
    for run, (acc, nmi) in zip(p.runs, [(0.5, 0.9), (0.7, 0.6), (0.6, 0.8)], strict=False):
        path = store.result_path(list(run.overrides), run.seed)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_result(acc, nmi)))
    records = run_records(spec, p, store)
    summary = summarise(spec, records).set_index("metric")
    assert summary.loc["acc", "mean"] == pytest.approx(0.6)
    assert summary.loc["acc", "std"] == pytest.approx(0.1)  # sample std of 0.5, 0.7, 0.6
    assert summary.loc["acc", "best"] == pytest.approx(0.7)
    assert summary.loc["nmi", "best"] == pytest.approx(0.6)  # the best-ACC run's NMI, not max NMI
    assert summary.loc["acc", "n_seeds"] == 3
    assert summary.loc["acc", "paper"] == pytest.approx(0.5349)  # DEC's Table 2 k-means
    assert not summary.loc["acc", "paper_verified"] and math.isnan(summary.loc["nmi", "paper"])
    md = markdown(TableResult(spec, records, summarise(spec, records)), {"device": "x"}, [], [])
    assert "| kmeans | 0.6000 ± 0.1000 (n=3) | 0.7000 | 0.5349 (unverified) |" in md
    assert "| 3/4 |" in md and "- missing: kmeans, seed 3\n" in md  # 3 of 4 seeds: said twice


def test_figures_show_the_best_seed_or_the_best_that_kept_the_file(tmp_path):
    from src.reproduce.figures import best_runs, best_with

    store = Store(tmp_path / "store")
    spec = _spec()
    p = plan([spec], [0, 1, 2, 3], [], {"mnist": None})
    accs = [0.5, 0.7, float("nan"), 0.6]  # seed 2 without a score: ranked last
    for run, acc in zip(p.runs, accs, strict=True):
        path = store.result_path(list(run.overrides), run.seed)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_result(acc, 0.5)))
        if run.seed in (0, 2):  # only these kept a confusion figure
            (path.parent / "confusion.png").write_bytes(b"png")
    records = run_records(spec, p, store)
    result = TableResult(spec, records, summarise(spec, records))
    best = best_runs(result, "mnist")
    assert list(best) == ["kmeans (seed 1)"] and best["kmeans (seed 1)"]["acc"] == 0.7
    kept = best_with(result, "mnist", ("confusion.png",))
    assert list(kept) == ["kmeans (seed 0)"]  # seed 0 (.5) outranks seed 2 (no score)
    assert best_with(result, "mnist", ("embedding_2d.png",)) == {}
    assert best_runs(result, "cifar10") == {}


def test_wall_time_counts_each_run_once_and_a_resumed_runs_earlier_training():
    from src.reproduce.aggregate import provenance, run_wall_seconds

    resumed = _result(0.5, 0.5, train_s_before_resume=3600.0)  # wall_time_s total 2.0
    assert run_wall_seconds(resumed) == pytest.approx(3602.0)
    assert run_wall_seconds(_result(0.5, 0.5)) == pytest.approx(2.0)
    rows = pd.DataFrame({  # one DAC run read four ways (Table 3), and a second run
        "run_key": ["dac seed=0"] * 4 + ["dac seed=1"], "finished": [True] * 5,
        "record_dir": ["/l/a"] * 4 + ["/l/b"], "run_dir": [""] * 5,
        "wall_s": [3602.0] * 4 + [1800.0], "command": ["c"] * 5, "device": ["cpu"] * 5,
        "precision": ["bf16"] * 5, "commit": ["abc"] * 5, "date": ["2026-12-04"] * 5,
    })  # fmt: skip
    assert provenance(rows, [0, 1])["wall time"].startswith("90.0 min")  # 3602 + 1800 s, not 4×
    assert provenance(rows, [0, 1])["runs"] == "2 finished of 2 planned, complete"


def test_a_table_read_out_of_one_run_counts_runs_not_readings():
    from src.reproduce.aggregate import provenance

    tactics = ["argmax", "kmeans", "spectral", "agglomerative"]
    rows = pd.DataFrame({  # DAC Table 3: seed 0 finished, seed 1 planned; four readings each
        "run_key": ["method=dac seed=0"] * 4 + ["method=dac seed=1"] * 4, "setting": tactics * 2,
        "finished": [True] * 4 + [False] * 4, "record_dir": ["/l/a"] * 4 + [""] * 4,
        "run_dir": [""] * 8, "wall_s": [3600.0] * 4 + [math.nan] * 4, "command": ["c"] * 8,
        "device": ["cpu"] * 8, "precision": ["bf16"] * 8, "commit": ["abc"] * 8,
        "date": ["2026-12-04"] * 8,
    })  # fmt: skip
    prov = provenance(rows, [0, 1])
    assert prov["runs"] == "1 finished of 2 planned, incomplete (see missing below)"
    assert prov["wall time"].startswith("60.0 min")


def test_tactic_metrics_read_from_one_run():
    result = _result(0.5, 0.5, tactics={"kmeans": {"acc": 0.7, "nmi": 0.6}})
    assert metric_value(result, "acc", "tactics", "kmeans") == pytest.approx(0.7)
    assert math.isnan(metric_value(result, "acc", "tactics", "spectral"))


def test_generalizability_from_dec_kl_losses():
    assert metric_value(_result(0.5, 0.5, kl_train=0.2, kl_val=0.4), "G") == pytest.approx(0.5)
    assert math.isnan(metric_value(_result(0.5, 0.5), "G"))


def test_sweep_and_history_figures(tmp_path):
    store = Store(tmp_path / "store")
    spec = _spec(metrics=["nmi", "G"], sweep={"key": "n_clusters", "label": "k", "values": [3, 4]},
                 figures=["sweep"], paper_tables=[])  # fmt: skip
    p = plan([spec], [0], [], {"mnist": None})
    for run in p.runs:
        path = store.result_path(list(run.overrides), run.seed)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_result(0.5, 0.1 * run.setting, kl_train=1.0, kl_val=2.0)))
    records = run_records(spec, p, store)
    made = table_figures(TableResult(spec, records, summarise(spec, records)), tmp_path / "out")
    assert [f.name for f in made] == ["t_mnist.png"] and made[0].stat().st_size > 5000
    run_dir = tmp_path / "dac_run"
    run_dir.mkdir()
    pd.DataFrame({"step": [0, 100, 200], "lambda": [0, 0.01, 0.02], "upper": [0.95, 0.94, 0.93],
                  "lower": [0.455, 0.456, 0.457], "selected_fraction": [0.2, 0.4, 0.6]}
                 ).to_csv(run_dir / "dac_history.csv", index=False)  # fmt: skip
    fig = history_figure({"dac (seed 0)": run_dir}, tmp_path / "h.png", "DAC")
    assert fig is not None and fig.stat().st_size > 5000
    assert history_figure({"dac": tmp_path}, tmp_path / "none.png", "DAC") is None


def test_dac_accuracy_curves_beside_the_authors_log(tmp_path):
    from src.reproduce.spec import authors_log

    spec = load_table("dac_table2")
    authors = authors_log(spec, "mnist")
    assert authors["epoch"][0] == 0 and authors["acc"][-1] == pytest.approx(0.9810)
    assert len(authors["epoch"]) == len(authors["acc"]) == len(authors["nmi"]) == 9
    assert authors_log(spec, "cifar10") is None
    history = tmp_path / "dac_history.csv"
    pd.DataFrame({"epoch": [0, 1, 2], "acc": [0.2, 0.95, 0.97], "nmi": [0.1, 0.9, 0.92]}).to_csv(
        history, index=False
    )
    fig = accuracy_curve_figure({"dac_star seed 0": history}, authors, tmp_path / "a.png", "t")
    assert fig is not None and fig.stat().st_size > 5000
    assert (
        accuracy_curve_figure({"x": tmp_path / "none.csv"}, authors, tmp_path / "b.png", "t")
        is None
    )


def test_readme_block_lists_each_table_with_device_and_date(tmp_path):
    from src.reproduce.readme import BEGIN, END, update_readme

    tables = tmp_path / "outputs" / "tables"
    tables.mkdir(parents=True)
    (tables / "dec_table2.md").write_text(
        "# DEC Tables 2/3\n\n- **device**: NVIDIA H100\n- **date**: 2026-01-01 … 2026-01-02\n"
        "- **runs**: 40 finished of 40 planned\n- **commit**: abc\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{BEGIN}\nold\n{END}\ntail\n")
    assert update_readme(readme, tables)
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("tail\n")
    assert "[DEC Tables 2/3](outputs/tables/dec_table2.md)" in text
    assert "device NVIDIA H100" in text and "date 2026-01-01 … 2026-01-02" in text
    assert not update_readme(tmp_path / "outputs" / "tables" / "dec_table2.md", tables)


@pytest.mark.parametrize(
    ("text", "seeds"),
    [
        ("0", [0]),
        ("3", [3]),
        ("0-4", [0, 1, 2, 3, 4]),
        ("0,3,7", [0, 3, 7]),
        (" 2-3, 9 ", [2, 3, 9]),
    ],
)
def test_seeds_grammar(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize(
    ("text", "says"),
    [("", "an empty item"), ("0,,1", "an empty item"), ("abc", "'abc' is not a seed"),
     ("-1", "'-1' is not a seed"), ("1.5", "'1.5'"), ("4-2", "range '4-2' is empty"),
     ("1,1", "lists seed 1 more than once"), ("0-2,1", "lists seed 1 more than once")],
)  # fmt: skip
def test_seeds_grammar_rejects_in_one_line(text, says):
    with pytest.raises(UserError, match=re.escape(says)) as err:
        parse_seeds(text)
    assert "\n" not in str(err.value) and "0-4" in str(err.value) or "more than once" in says


def test_profile_seeds_count_is_rejected_as_ambiguous(tmp_path, monkeypatch):
    import src.reproduce.spec as spec

    assert load_profile("smoke").seeds == [0, 1] and load_profile("full").seeds == [0, 1, 2, 3, 4]
    (tmp_path / "p.yaml").write_text("seeds: 5\n")
    monkeypatch.setattr(spec, "PROFILE_DIR", tmp_path)
    with pytest.raises(UserError, match="ambiguous"):
        load_profile("p")
    (tmp_path / "p.yaml").write_text("seeds: [0, 3]\n")
    assert load_profile("p").seeds == [0, 3]


def _plan_full_mnist() -> list:
    profile = load_profile("full")
    specs = [load_table(n, profile) for n in profile.tables]
    p = plan(specs, profile.seeds, [], {d: None for s in specs for d in s.datasets})
    return order_runs(list({r.overrides: r for r in p.runs}.values()))


def test_order_is_seed_major_and_runs_sharing_an_sae_are_back_to_back():
    runs = _plan_full_mnist()
    assert len(runs) > 300
    for dataset in {r.dataset for r in runs}:
        seeds = [r.seed for r in runs if r.dataset == dataset]
        assert seeds == sorted(seeds), dataset  # every run of seed 0 before any of seed 1
    datasets = [r.dataset for r in runs]
    assert all(datasets.index(d) + datasets.count(d) - 1 == len(datasets) - 1 - datasets[::-1].index(d)
               for d in set(datasets))  # fmt: skip  # each data set in one block
    sae = [(i, r) for i, r in enumerate(runs) if r.method in ("ae_kmeans", "dec_nobp", "dec")]
    blocks: dict[tuple, list[int]] = {}
    for i, r in sae:
        blocks.setdefault((r.dataset, r.seed, sae_signature(r)), []).append(i)
    for key, positions in blocks.items():
        assert positions == list(range(positions[0], positions[0] + len(positions))), key
    # on MNIST seed 0, the table's three SAE methods follow each other, before seed 1 starts
    first = [r.method for r in runs if r.dataset == "mnist" and r.seed == 0
             and not any(o.startswith(("dataset.imbalance", "n_clusters", "method.valid"))
                         for o in r.overrides)]  # fmt: skip
    assert first[:6] == ["kmeans", "ae_kmeans", "dec_nobp", "dec", "dac_star", "dac"]


def test_seed_groups_hold_one_dataset_and_seed_each():
    runs = _plan_full_mnist()
    groups = seed_groups(runs)
    assert len(groups) == len({(r.dataset, r.seed) for r in runs})
    assert sum(map(len, groups)) == len(runs)
    for g in groups:
        assert len({(r.dataset, r.seed) for r in g}) == 1


def test_jobs_option():
    assert parse_jobs("auto") is None and parse_jobs("3") == 3
    for bad in ("0", "-1", "x", ""):
        with pytest.raises(UserError, match="positive count"):
            parse_jobs(bad)
    cpu_runs = [r for r in _plan_full_mnist()[:3]]
    assert resolve_jobs(2, cpu_runs) == 2
    smoke = load_profile("smoke")
    p = plan([load_table("dec_table2", smoke)], [0], [], {"digits": None, "stl10_hog": "x"})
    assert resolve_jobs(None, p.runs) == 1  # trainer=cpu: one at a time


def _claimer(root: str, keys: list[int], go, done, out) -> None:
    store = Store(Path(root))
    go.wait()
    out.put((os.getpid(), [k for k in keys if store.lock([f"n_clusters={k}"], 0)]))
    done.wait()  # hold the locks (stay alive) until every claimer has finished


def test_concurrent_claimers_take_each_run_once_and_break_stale_locks_once(tmp_path):
    import multiprocessing as mp

    store = Store(tmp_path)
    keys = list(range(40))
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    for k in keys[::2]:  # half the runs hold a stale lock, in the old and the new format
        lock = store.run_dir([f"n_clusters={k}"], 0) / ".lock"
        lock.parent.mkdir(parents=True)
        lock.write_text(f"{socket.gethostname()} {dead}" + (" 12345" if k % 4 else ""))
    ctx = mp.get_context("fork")
    go, done, out = ctx.Event(), ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_claimer, args=(str(tmp_path), keys, go, done, out))
             for _ in range(6)]  # fmt: skip
    for p in procs:
        p.start()
    go.set()
    claims = [out.get(timeout=120) for _ in procs]
    done.set()
    for p in procs:
        p.join(timeout=30)
    taken = [k for _, ks in claims for k in ks]
    assert sorted(taken) == keys  # every run claimed, none twice
    holders = {k: pid for pid, ks in claims for k in ks}
    for k in keys:  # each lock file names its one holder, complete
        host, pid, _ = (store.run_dir([f"n_clusters={k}"], 0) / ".lock").read_text().split()
        assert host == socket.gethostname() and int(pid) == holders[k]
    assert not list(tmp_path.glob("*/seed0/.lock.*"))  # no temporary files left


def test_lock_file_is_never_seen_empty_and_unlock_leaves_others_locks(tmp_path):
    store = Store(tmp_path)
    assert store.lock(["a=1"], 0)
    lock = store.run_dir(["a=1"], 0) / ".lock"
    assert lock.read_text().split()[1] == str(os.getpid())
    other = store.run_dir(["a=2"], 0) / ".lock"
    other.parent.mkdir(parents=True)
    other.write_text(f"{socket.gethostname()} 1 -")  # pid 1 is alive: not stale
    assert not store.lock(["a=2"], 0)
    store.unlock(["a=2"], 0)  # not ours: left alone
    assert other.exists()


def test_leftover_batch_job_files_of_dead_workers_are_removed(tmp_path):
    store = Store(tmp_path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    (tmp_path / f".batch-{dead}.json").write_text("{}")
    (tmp_path / f".batch-{os.getpid()}.json").write_text("{}")
    assert [p.name for p in store.remove_leftovers()] == [f".batch-{dead}.json"]
    assert (tmp_path / f".batch-{os.getpid()}.json").exists()


def _log_done(store: Store, overrides: list[str], seed: int, seconds: float, device: str, jobs=1):
    store.log("done", overrides, seed, seconds=seconds, device=device, jobs=jobs)


def test_dry_run_projection_uses_only_measured_runs(tmp_path):
    store = Store(tmp_path)
    spec = _spec(methods=["kmeans", "dec"], datasets=["mnist", "cifar10"])
    p = plan([spec], [0, 1, 2], [], {"mnist": None, "cifar10": None})
    by = {(r.method, r.dataset, r.seed): r for r in p.runs}
    assert projection(p.runs, store, "H100", None)[0].startswith("projection on H100: no run")
    kmeans0 = by[("kmeans", "mnist", 0)]
    _log_done(store, list(kmeans0.overrides), 0, 10.0, "NVIDIA H100 80GB HBM3", jobs=2)
    dec0 = by[("dec", "mnist", 0)]
    _log_done(store, list(dec0.overrides), 0, 60.0, "NVIDIA H100 80GB HBM3", jobs=2)
    _log_done(store, list(dec0.overrides), 1, 1000.0, "CPU (x86_64, 2 threads)")  # not an H100
    other = [*by[("kmeans", "cifar10", 0)].overrides, "method.n_init=3"]  # another config
    _log_done(store, other, 0, 20.0, "NVIDIA H100 80GB HBM3", jobs=2)
    lines = projection(p.runs, store, "H100", None)
    # mnist: 3 seeds × (10 + 60) s (their own config); k-means on cifar10: 3 × 20 s (same method
    # and data set); DEC on cifar10: nothing measured, nothing invented
    assert "for the 9 measured of 12 runs: 4.5 min one after the other" in lines[0]
    assert "2.3 min with 2 worker(s)" in lines[0]  # seed groups 70, 70, 70, 20, 20, 20 s
    assert "measured with 2 concurrent" in lines[0]
    assert "from 6 runs' own configuration, 3 from the same method and data set" in lines[1]
    assert "no measurement for 3 runs" in lines[2] and "dec on cifar10 (3)" in lines[2]
    assert "1.5 min with 3 worker(s)" in projection(p.runs, store, "H100", 3)[0]


def test_jobs_auto_on_cuda_from_free_memory_and_cpus(monkeypatch):
    import torch

    import src.reproduce.schedule as schedule

    gpu_runs = [r for r in _plan_full_mnist()[:3]]  # no trainer=cpu
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    for free, cpus, jobs in [(78.0, 16, 8), (10.0, 16, 2), (78.0, 2, 1), (2.0, 16, 1)]:
        monkeypatch.setattr(schedule, "free_gpu_gib", lambda free=free: free)
        monkeypatch.setattr(schedule.os, "cpu_count", lambda cpus=cpus: cpus)
        assert resolve_jobs(None, gpu_runs) == jobs, (free, cpus)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_jobs(None, gpu_runs) == 1


def test_provenance_names_the_command_that_ran_the_runs(tmp_path):
    from src.reproduce.aggregate import provenance

    store = Store(tmp_path / "store")
    spec = _spec()
    p = plan([spec], [0, 1], [], {"mnist": None})
    for run in p.runs:
        path = store.result_path(list(run.overrides), run.seed)
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_result(0.5, 0.5)))
    records = run_records(spec, p, store)
    ran = "python -m scripts.reproduce --profile smoke"
    again = "python -m scripts.reproduce --profile smoke --aggregate-only"
    records["command"] = [ran, ran]
    prov = provenance(records, [0, 1], again)
    assert prov["command"] == f"`{ran}`" and prov["tables built by"] == f"`{again}`"
    assert "tables built by" not in provenance(records, [0, 1], ran)
    records["command"] = [ran, None]
    mixed = provenance(records, [0, 1], again)["command"]
    assert mixed == f"`{ran}` (1 of 2 runs); 1 runs by a command not recorded"
