"""DEC's table through the real harness, its seeds one after the other against all at once.

``python -m scripts.reproduce --tables dec_table2 --datasets D --seeds S --jobs 1 --seed-batch off``
and the same command with ``--jobs N`` (``auto``: the harness's choice from the device) and
``--seed-batch auto`` (on CUDA the seeds' SAEs pretrained together first, as the harness does
by default; the CPU keeps per-run pretraining), each into a fresh results store, called in this process (``scripts.reproduce.main``: its workers are processes of
their own, their start-up counted; the harness's imports are not). Every run's metrics are read
back from both stores and compared run by run: the same seeds must give the same numbers
whether the seed groups run in turn or in parallel.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from src.core.errors import UserError
from src.reproduce.store import Store

METRICS = ("acc", "nmi", "ari")
TABLE = "dec_table2"


@dataclass(frozen=True)
class TableBench:
    """Which harness profile and data set the table part runs (see ``src.bench.profiles``)."""

    profile: str  # conf/reproduce/profile/<name>.yaml
    dataset: str
    seeds: str  # the harness's seeds grammar, e.g. "0-4"
    launcher: str | None = None  # None: the harness profile's


def table_argv(tb: TableBench, seeds: str, jobs: str, work: Path, launcher: str | None,
               overrides: list[str], seed_batch: str = "auto") -> list[str]:  # fmt: skip
    """The harness arguments of one table run into ``work`` (its own store and outputs)."""
    cmd = [
        "--profile", tb.profile, "--tables", TABLE, "--datasets", tb.dataset,
        "--seeds", seeds, "--jobs", jobs, "--seed-batch", seed_batch,
        "--store", str(work / "store"), "--out", str(work / "out"), "--no-readme",
    ]  # fmt: skip
    if launcher:
        cmd += ["--launcher", launcher]
    return [*cmd, *overrides]


def run_table(argv: list[str], work: Path) -> dict[str, Any]:
    """Run the harness once; its wall seconds and, per finished run, metrics and seconds."""
    from scripts.reproduce import main as reproduce

    work.mkdir(parents=True, exist_ok=True)
    command = "python -m scripts.reproduce " + shlex.join(argv)
    started = time.perf_counter()
    with open(work / "harness.log", "w") as log, contextlib.redirect_stdout(log):
        code = reproduce(argv)
    wall = time.perf_counter() - started
    if code != 0:
        tail = (work / "harness.log").read_text(errors="replace").strip().splitlines()[-2:]
        raise UserError(f"the harness failed ({' | '.join(tail)}); command: {command}")
    store = Store(work / "store")
    runs, workers, devices, together = {}, set(), set(), {}
    for e in store.executions():
        if e.get("event") == "pretrain":  # one per seed of a batched pretraining
            together[e.get("log")] = {"seeds": e.get("seeds"), "seconds": e.get("seconds")}
        if e.get("event") != "done":
            continue
        result = store.load(e["overrides"], e["seed"]) or {}
        method = dict(o.split("=", 1) for o in e["overrides"] if "=" in o).get("method", "?")
        runs[f"{method} seed{e['seed']}"] = {
            "method": method,
            "seed": e["seed"],
            "seconds": e.get("seconds"),
            "device": result.get("device"),
            "metrics": {m: result["metrics"][m] for m in METRICS if m in result.get("metrics", {})},
        }
        workers.add(e.get("jobs"))
        devices.add(result.get("device"))
    return {
        "command": command,
        "wall_time_s": wall,
        "jobs": max((w for w in workers if w is not None), default=None),
        "devices": sorted(d for d in devices if d),
        "pretrained_together": list(together.values()),  # src.pretrain_seeds calls, if any
        "runs": runs,
    }


def compare(one: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """Run-by-run metric equality of two table runs (exact, and the largest difference)."""
    names = sorted(set(one["runs"]) | set(other["runs"]))
    missing = [n for n in names if n not in one["runs"] or n not in other["runs"]]
    diffs = [
        abs(one["runs"][n]["metrics"][m] - other["runs"][n]["metrics"][m])
        for n in names
        if n not in missing
        for m in one["runs"][n]["metrics"]
    ]
    return {
        "runs": len(names) - len(missing),
        "missing": missing,
        "identical": not missing and all(d == 0 for d in diffs),
        "max_abs_diff": max(diffs, default=0.0),
    }


@contextlib.contextmanager
def worker_threads(workers: int | None):
    """Run what follows with the thread count each of ``workers`` parallel workers had (the
    harness gives N workers cores ÷ N threads, :func:`src.reproduce.launch.thread_share`): on a CPU
    float rounding depends on it, so the one-after-the-other run compares number for number.
    A caller's own setting is kept."""
    from src.reproduce.launch import thread_share

    share = thread_share(workers)
    os.environ.update(share)
    try:
        yield
    finally:
        for v in share:
            os.environ.pop(v, None)


def bench_table(tb: TableBench, seeds: str, jobs: str, work: Path, launcher: str | None,
                overrides: list[str], on_part=None, seed_batch: str = "auto") -> dict[str, Any]:  # fmt: skip
    """The table with all seed groups at once (``--jobs N --seed-batch auto``), then one after
    the other (``--jobs 1 --seed-batch off``, with the threads each parallel worker had); each
    into a fresh store with a fresh SAE cache (every SAE pretrained). ``on_part(out)`` after
    each, so a cut-off bench keeps the first."""
    out: dict[str, Any] = {"table": TABLE, "dataset": tb.dataset, "harness_profile": tb.profile,
                           "seeds": seeds, "launcher": launcher}  # fmt: skip
    for name, j, sb in (("parallel", jobs, seed_batch), ("sequential", "1", "off")):
        here = work.resolve() / name
        argv = table_argv(tb, seeds, j, here, launcher, [*overrides, f"cache_dir={here / 'cache'}"],
                          sb)  # fmt: skip
        print(f"bench table {TABLE} on {tb.dataset}, seeds {seeds}, --jobs {j} --seed-batch {sb}",
              flush=True)  # fmt: skip
        workers = out["parallel"]["jobs"] if name == "sequential" else None
        with worker_threads(workers):
            out[name] = {"jobs_requested": j, "seed_batch": sb, **run_table(argv, here)}
        if on_part is not None:
            on_part(out)
    out["same_metrics"] = compare(out["sequential"], out["parallel"])
    out["speed_up"] = out["sequential"]["wall_time_s"] / out["parallel"]["wall_time_s"]
    return out
