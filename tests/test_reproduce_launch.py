"""The launchers on 300 digits: the caller's PYTHONPATH reaches every run, workers die with the
harness (kill -9), seed groups in parallel give the numbers of one-by-one runs, bad options
stop in one line, and a table is never replaced by an empty one."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

from src.core.errors import UserError
from src.reproduce.store import Store
from tests.helpers import REPO
from tests.helpers.harness import harness

PROBE = """
import logging
import time

from src.methods.kmeans import run as _kmeans
from src.recording.provenance import PROGRESS


def run(cfg, data, ctx):  # k-means, reachable only through PYTHONPATH
    logging.getLogger("dcrepro").info("probe: halfway", extra=PROGRESS)
    return _kmeans(cfg, data, ctx)


def sleepy(cfg, data, ctx):  # a run that is still going when its harness is killed
    time.sleep(300)
"""
ONE_RUN = ("--profile", "smoke", "--tables", "dec_table2", "--methods", "kmeans", "--seeds", "0")


@pytest.fixture
def probe_path(tmp_path) -> str:
    """A module only the caller's PYTHONPATH knows, as a GPU machine's /tmp/site."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "dcrepro_probe.py").write_text(PROBE)
    return f"{REPO}{os.pathsep}{site}"


def events(store: Path) -> list[dict]:
    path = store / "executions.jsonl"
    return [json.loads(s) for s in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("launcher", ["local", "batch"])
def test_runs_import_what_only_the_callers_pythonpath_reaches(tmp_path, probe_path, launcher):
    proc = harness(tmp_path, *ONE_RUN, "--launcher", launcher, "method.entry=dcrepro_probe.run",
                   env={"PYTHONPATH": probe_path})  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[1/1] done: ACC" in proc.stdout
    (result,) = (tmp_path / "store").glob("*/seed0/result.json")
    assert json.loads(result.read_text())["metrics"]["acc"] > 0.5
    run_log = (result.parent / "run.log").read_text()  # the run's own log, whichever launcher
    assert "python -m src.run" in run_log and re.search(r"kmeans: finished in [\d.]+ s", run_log)
    assert "probe: halfway" in run_log
    if launcher == "batch":  # the worker relays progress lines: the harness log shows the course
        assert re.search(r"\n    probe: halfway \| .*seed=0\n", proc.stdout), proc.stdout
        assert "kmeans: finished" not in proc.stdout  # a short phase's line stays in run.log


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie waiting for init counts as gone


@pytest.mark.parametrize("launcher", ["batch", "local"])
def test_kill_9_of_the_harness_takes_its_worker_along(tmp_path, probe_path, launcher):
    store = tmp_path / "store"
    proc = harness(tmp_path, *ONE_RUN, "--launcher", launcher, "method.entry=dcrepro_probe.sleepy",
                   env={"PYTHONPATH": probe_path}, popen=True)  # fmt: skip
    child = None
    try:
        deadline = time.time() + 120
        while child is None and time.time() < deadline and proc.poll() is None:
            child = next((e["pid"] for e in events(store) if e["event"] == "start"), None)
            time.sleep(0.2)
        assert child is not None and not _gone(child), proc.stdout.read()
        time.sleep(1.0)  # the run is under way
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.time() + 5
        while not _gone(child) and time.time() < deadline:
            time.sleep(0.1)
        assert _gone(child), f"{launcher} worker {child} outlived its harness"
    finally:
        if child is not None and not _gone(child):
            os.kill(child, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
    assert not list(store.glob(".batch-*.json"))  # jobs go over stdin: no file to leave behind
    start = next(e for e in events(store) if e["event"] == "start")
    assert Store(store).lock(start["overrides"], start["seed"])  # its dead holder's lock is stale


def _metrics(store: Path) -> dict[tuple[str, str], dict]:
    return {
        (p.parent.parent.name, p.parent.name): json.loads(p.read_text())["metrics"]
        for p in store.glob("*/seed*/result.json")
    }


def test_seed_groups_in_parallel_give_the_numbers_of_one_by_one_runs(tmp_path):
    args = ("--profile", "smoke", "--tables", "dec_table2", "--datasets", "digits", "--methods",
            "ae_kmeans,dec", "--seeds", "0-1", "--launcher", "batch")  # fmt: skip
    together = harness(tmp_path / "together", *args, "--jobs", "2", f"cache_dir={tmp_path}/c2")
    assert together.returncode == 0, together.stdout + together.stderr
    assert "2 workers: seed groups in parallel" in together.stdout
    apart = harness(tmp_path / "apart", *args, "--jobs", "1", f"cache_dir={tmp_path}/c1")
    assert apart.returncode == 0, apart.stdout + apart.stderr
    a, b = _metrics(tmp_path / "together" / "store"), _metrics(tmp_path / "apart" / "store")
    assert len(a) == 4 and a == b  # same runs (same store keys), same numbers
    done = [e for e in events(tmp_path / "together" / "store") if e["event"] == "done"]
    pid_of_seed = {}
    for e in done:  # one worker per seed group, the group's runs in order inside it
        pid_of_seed.setdefault(e["seed"], set()).add(e["pid"])
    assert (
        all(len(p) == 1 for p in pid_of_seed.values())
        and len(set.union(*pid_of_seed.values())) == 2
    )
    for e in done:  # each seed pretrained one SAE (ae_kmeans) that DEC then reused
        method = next(o for o in e["overrides"] if o.startswith("method="))
        run_dir = tmp_path / "together" / "store" / e["key"] / f"seed{e['seed']}"
        hit = json.loads((run_dir / "result.json").read_text())["extra"]["pretrain_cache_hit"]
        assert hit == (method == "method=dec")
    assert len(list((tmp_path / "c2" / "sae").glob("*.pt"))) == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [(("--seeds", "abc"), "'abc' is not a seed or range"),
     (("--seeds", "1,1"), "lists seed 1 more than once"),
     (("--tables", "nosuch"), "is not one of: dec_table2, dec_imbalanced"),
     (("--methods", "nosuch"), "is not one of: kmeans, ae_kmeans"),
     (("--datasets", "nosuch"), "is not one of: digits"),
     (("--jobs", "0"), "use a positive count")],
)  # fmt: skip
def test_bad_options_stop_in_one_line(tmp_path, args, says):
    from scripts.reproduce import main

    with pytest.raises(UserError, match=re.escape(says)) as err:
        main(["--profile", "smoke", "--dry-run", "--store", str(tmp_path), *args])
    assert "\n" not in str(err.value)


def test_bad_seeds_exit_2_with_one_line_and_no_traceback(tmp_path):
    proc = harness(tmp_path, "--profile", "smoke", "--dry-run", "--seeds", "0,,1")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "--seeds '0,,1': an empty item" in proc.stderr


def test_a_table_is_never_replaced_by_an_empty_one(tmp_path):
    table = tmp_path / "out" / "tables" / "dec_table2.md"
    table.parent.mkdir(parents=True)
    table.write_text("# an earlier table\n")
    # seed 0 of k-means on digits: planned but made to fail (not a method entry)
    proc = harness(tmp_path, *ONE_RUN, "method.entry=nosuch.run")
    assert proc.returncode == 1 and "1 runs failed" in proc.stdout
    assert "no planned run has finished" in proc.stdout and "not written" in proc.stdout
    assert table.read_text() == "# an earlier table\n"


def test_children_run_at_once_share_the_cpu_cores(monkeypatch):
    """N children at once get cores / N threads each (a thread per core each oversubscribes:
    the DEC table on 2 cores ran 0.28× as fast with --jobs 2); a caller's setting is kept."""
    from src.reproduce import launch

    monkeypatch.setattr(launch.os, "cpu_count", lambda: 8)
    for var in launch.THREAD_VARIABLES:
        monkeypatch.delenv(var, raising=False)
    assert all(launch._env(4)[v] == "2" for v in launch.THREAD_VARIABLES)
    assert launch._env(16)["OMP_NUM_THREADS"] == "1"
    assert not any(v in launch._env(1) for v in launch.THREAD_VARIABLES)
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert launch._env(4)["OMP_NUM_THREADS"] == "3" and "MKL_NUM_THREADS" not in launch._env(4)
