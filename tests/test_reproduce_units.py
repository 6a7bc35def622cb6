"""The reproduction harness's parts: store keys and locks, published numbers, plans, tables."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pandas as pd
import pytest

from src.reproduce.aggregate import TableResult, markdown, metric_value, run_records, summarise
from src.reproduce.figures import history_figure, table_figures
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
    assert "| kmeans | 0.6000 ± 0.1000 | 0.7000 | 0.5349 (unverified) |" in md and "| 3/4 |" in md


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
