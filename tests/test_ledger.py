"""The results ledger: tables rebuilt from committed records alone, deterministically; stale
records reported and left out; incomplete tables say so; the harness skips what it holds."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

import src.reproduce.spec as spec_module
from scripts.reproduce import main
from src.recording.results_class import results_class
from src.reproduce.freshness import Checker, differences
from tests.helpers.harness import harness

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def fixture_profile(monkeypatch):
    monkeypatch.setattr(spec_module, "PROFILE_DIR", DATA / "ledger_profile")


def aggregate(tmp_path: Path, capsys) -> tuple[dict[str, bytes], str]:
    """``--aggregate-only`` over a copy of the fixture ledger, no store: the files and stdout."""
    ledger = tmp_path / "ledger"
    if not ledger.exists():
        shutil.copytree(DATA / "ledger", ledger)
    args = ["--profile", "fixture", "--aggregate-only", "--ledger", str(ledger),
            "--store", str(tmp_path / "no-store"), "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    out = tmp_path / "out"
    files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    return files, capsys.readouterr().out


def test_aggregate_only_from_the_ledger_is_deterministic(tmp_path, capsys, fixture_profile):
    first, _ = aggregate(tmp_path, capsys)
    second, _ = aggregate(tmp_path, capsys)
    assert set(first) >= {"tables/dec_table2.md", "tables/dec_table2.csv", "tables/dac_table2.md",
                          "figures/dac_table2_mnist_dac_history.png",
                          "figures/dec_table2_mnist_confusion.png"}  # fmt: skip
    tables = [name for name in first if name.startswith("tables/")]
    assert all(first[n] == second[n] for n in tables)  # byte-identical
    assert not (tmp_path / "no-store").exists()  # no store needed, none made
    assert sorted(p.name for p in (tmp_path / "ledger").rglob("*.json")) == sorted(
        p.name for p in (DATA / "ledger").rglob("*.json")
    )  # the ledger is read, not written


def test_table_cells_provenance_and_paper_numbers(tmp_path, capsys, fixture_profile):
    files, _ = aggregate(tmp_path, capsys)
    md = files["tables/dec_table2.md"].decode()
    assert "- **device**: CPU (fixture)" in md and "- **precision**: fp32" in md
    assert "- **commit**: 111111111111 … 222222222222 (2 commits" in md
    assert "- **date**: 2026-12-10T12:00:00+00:00 … 2026-12-12T12:00:00+00:00" in md
    assert "- **runs**: 4 finished of 8 planned, incomplete" in md
    assert "- **wall time**: 6.8 min summed over the finished runs" in md  # 100+110+100+100 s
    assert "| kmeans | 0.5365 ± 0.0078 | 0.5420 | 0.5349 (unverified) |" in md
    assert "| dec | 0.8630 (n=1) | 0.8630 | 0.8430 |" in md  # one seed of two: its own n
    table = pd.read_csv(tmp_path / "out" / "tables" / "dec_table2.csv")
    dec = table[(table["method"] == "dec") & (table["metric"] == "acc")].iloc[0]
    assert (dec["n_seeds"], dec["n_planned"], str(dec["missing_seeds"])) == (1, 2, "1")
    assert dec["paper"] == pytest.approx(0.8430) and dec["precision"] == "fp32"


def test_incomplete_table_lists_missing_seeds(tmp_path, capsys, fixture_profile):
    files, _ = aggregate(tmp_path, capsys)
    md = files["tables/dec_table2.md"].decode()
    assert "- missing: ae_kmeans, seed 1\n" in md and "- missing: dec, seed 1\n" in md
    assert "- missing: dec_nobp, seeds 0, 1\n" in md and "| dec_nobp | – | – |" in md
    assert "| kmeans | 0.5365 ± 0.0078 |" in md  # complete rows carry no n of their own


def test_stale_records_are_reported_and_left_out(tmp_path, capsys, fixture_profile):
    files, stdout = aggregate(tmp_path, capsys)
    assert (
        "stale [dec_table2] dec_nobp on mnist, seed 0: ledger record: results class "
        "common1/sae0, the code's is common1/sae1" in stdout
    )
    assert (
        "stale [dec_table2] ae_kmeans on mnist, seed 1: ledger record: config differs from the "
        "code's: dataset.subset: 10000 → None" in stdout
    )
    md = files["tables/dec_table2.md"].decode()
    left_out = md.split("## Left out", 1)[1]
    assert "- dec_nobp on mnist, seed 0: ledger record: results class common1/sae0" in left_out
    assert "- ae_kmeans on mnist, seed 1: ledger record: config differs" in left_out
    assert "| ae_kmeans | 0.8120 (n=1) |" in md  # the stale seed's 0.8000 is not in the mean


def test_config_comparison_ignores_paths_logging_and_keys_only_one_side_has():
    assert differences({"a": 1, "logger": {"name": "csv"}, "old": 3}, {"a": 1, "new": 2}) == []
    # a class whose module moved (#19's folders) is the same class; another class is not
    moved = {"augment": [{"_target_": "src.augment.Rescale", "scale": 0.975}]}
    now = {"augment": [{"_target_": "src.data.augment.Rescale", "scale": 0.975}]}
    assert differences(moved, now) == []
    other = {"augment": [{"_target_": "src.data.augment.ChannelShift", "scale": 0.975}]}
    assert differences(moved, other) != []
    assert differences({"m": {"lr": 0.01, "x": [1, 2]}}, {"m": {"lr": 0.001, "x": [1, 2]}}) == [
        "m.lr: 0.01 → 0.001"
    ]
    checker = Checker()
    overrides = ["method=kmeans", "dataset=digits", "data_root=/elsewhere", "seed=3"]
    composed = checker.compose(overrides)
    assert isinstance(composed, dict) and composed["method"]["name"] == "kmeans"
    record = {"method": "kmeans", "results_class": results_class("kmeans"), "seed": 3,
              "config": {**composed, "seed": 3, "data_root": "/gpu/data"}}  # fmt: skip
    assert checker.problem(record, overrides) is None
    assert "no longer compose" in checker.problem(record, ["method=kmeans", "nope.key=1"])
    assert "written before results classes" in checker.problem(
        {**record, "results_class": None}, overrides
    )


def results(store: Path) -> list[Path]:
    return sorted(store.glob("*/seed*/result.json"))


def test_harness_skips_runs_the_ledger_holds_and_reruns_stale_ones(tmp_path):
    ledger = tmp_path / "ledger"
    args = ("--profile", "smoke", "--tables", "dec_table2", "--methods", "kmeans",
            "--ledger", str(ledger))  # fmt: skip
    first = harness(tmp_path, *args)
    assert first.returncode == 0, first.stdout + first.stderr
    records = sorted(ledger.glob("digits/kmeans/*/seed*/result.json"))
    assert [p.parent.name for p in records] == ["seed0", "seed1"]
    for p in records:  # copied byte for byte, with the command that ran it beside
        assert p.read_bytes() == (tmp_path / "store" / p.parent.parent.name / p.parent.name /
                                  "result.json").read_bytes()  # fmt: skip
        command = json.loads((p.parent / "run.json").read_text())["command"]
        assert command.startswith("python -m scripts.reproduce ") and "--profile smoke" in command
        counts = p.parent / "confusion.csv"  # the confusion matrix's counts come along
        assert counts.read_bytes() == (tmp_path / "store" / p.parent.parent.name / p.parent.name /
                                       "confusion.csv").read_bytes()  # fmt: skip
    assert not list(ledger.rglob("*.npy")) and not list(ledger.rglob("*.png"))

    # a fresh clone: the ledger, no store: nothing to run; the confusion figure from the ledger
    shutil.rmtree(tmp_path / "store")
    shutil.rmtree(tmp_path / "out" / "figures")
    again = harness(tmp_path, *args)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "2 already done (2 in the ledger" in again.stdout and "0 to run" in again.stdout
    assert results(tmp_path / "store") == []
    assert "| kmeans |" in (tmp_path / "out" / "tables" / "dec_table2.md").read_text()
    assert (tmp_path / "out" / "figures" / "dec_table2_digits_confusion.png").stat().st_size > 5000

    # a record of an older results class is reported, run again and replaced
    stale = json.loads(records[1].read_text())
    records[1].write_text(json.dumps({**stale, "results_class": "common0/kmeans1"}))
    third = harness(tmp_path, *args)
    assert third.returncode == 0, third.stdout + third.stderr
    assert (
        "stale [dec_table2] kmeans on digits, seed 1: ledger record: results class" in third.stdout
    )
    assert "1 already done" in third.stdout and "1 to run" in third.stdout
    assert [p.parent.name for p in results(tmp_path / "store")] == ["seed1"]
    assert json.loads(records[1].read_text())["results_class"] == results_class("kmeans")


def test_tables_have_their_own_seeds_and_plan_them():
    from src.reproduce.spec import load_profile, load_table, plan

    full = load_profile("full")
    assert load_table("dac_table2", full).seeds == [0, 1, 2]
    assert load_table("dec_nclusters", full).seeds == [0]
    assert load_table("dec_table2", full).seeds is None  # the profile's 0-4
    spec = load_table("dac_table2", full)
    spec.datasets = ["mnist"]
    runs = plan([spec], full.seeds, [], {"mnist": None}, {spec.name: spec.seeds}).runs
    assert {r.seed for r in runs} == {0, 1, 2} and len(runs) == 3 * len(spec.methods)
