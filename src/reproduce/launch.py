"""Run the pending runs: a subprocess each, batch workers, or Hydra multiruns (joblib, submitit).

Every launcher writes into the store's run directories (``hydra.run.dir`` or
``hydra.sweep.dir``/``subdir``), so a run is finished exactly when its ``result.json`` exists,
whichever launcher ran it. ``local`` and ``batch`` run up to ``jobs`` seed groups at once
(``src.reproduce.schedule``: one worker runs a group's runs in order, groups in parallel), so
several runs share one GPU without two processes pretraining or writing the same SAE. Every
child dies with the harness (``src.reproduce.lifetime``).
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from src.core.config_groups import CONF_DIR
from src.reproduce.lifetime import child_preexec
from src.reproduce.schedule import order_runs, seed_groups
from src.reproduce.spec import Run
from src.reproduce.store import Store, config_key, override_key

REPO = CONF_DIR.parent
LAUNCHERS = ("local", "batch", "joblib", "submitit_slurm", "submitit_local")


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _env(jobs: int = 1) -> dict[str, str]:
    """The caller's environment, with the repository first on PYTHONPATH (never replaced:
    packages reachable only through the caller's PYTHONPATH, e.g. the GPU runbook's
    ``/tmp/site``, stay importable by every launched run and worker). With ``jobs`` > 1
    children at once, each gets its share of the CPU cores as its thread count (unless the
    caller set one): N children with a thread per core each would slow every one down."""
    paths = [str(REPO), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}
    env.setdefault("WANDB_MODE", "offline")
    env.update(thread_share(jobs))
    return env


def thread_share(jobs: int | None) -> dict[str, str]:
    """The thread variables for one of ``jobs`` processes at once: cores ÷ jobs each, or none
    for one process or when the caller set them."""
    if not jobs or jobs <= 1 or any(v in os.environ for v in THREAD_VARIABLES):
        return {}
    return dict.fromkeys(THREAD_VARIABLES, str(max(1, (os.cpu_count() or 1) // jobs)))


def _popen(cmd: list[str], jobs: int = 1, **kwargs) -> subprocess.Popen:
    """A child in the repository with the caller's environment (its thread share when ``jobs``
    children run at once), killed if the harness dies."""
    return subprocess.Popen(cmd, cwd=REPO, env=_env(jobs), preexec_fn=child_preexec(), **kwargs)


def run_logged(cmd: list[str], log: Path, jobs: int = 1) -> tuple[int, float]:
    """Run ``cmd`` (:func:`_popen`, its runs ``jobs`` at once) with its output in ``log``;
    Ctrl-C or SIGTERM of the harness stops it first. Returns (exit status, wall seconds)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = _popen(cmd, jobs, stdout=out, stderr=subprocess.STDOUT)
        try:
            proc.wait()
        except BaseException:
            _stop([proc])
            raise
    return proc.returncode, round(time.perf_counter() - started, 2)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Ctrl-C or SIGTERM of the harness: stop the children first (SIGTERM, then SIGKILL)."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    deadline = time.monotonic() + 30
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _last_error(log: Path) -> str:
    try:
        lines = [s for s in log.read_text(errors="replace").splitlines() if s.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if line.startswith("error:") or "Error" in line or "Exception" in line:
            return line.strip()
    return lines[-1].strip() if lines else "no output"


def _summary(store: Store, run: Run) -> str:
    """A finished run's metrics line, read from its ``result.json`` (not scraped from its log)."""
    from src.recording.metrics import metrics_line

    result = store.load(list(run.overrides), run.seed)
    return "" if result is None else metrics_line(result)


def result_device(store: Store, run: Run) -> str | None:
    """The device a finished run trained on (its result.json), for the executions log."""
    result = store.load(list(run.overrides), run.seed)
    return None if result is None else result.get("device")


@dataclass
class Progress:
    """``[i/N] done: ...`` lines, counted over every worker."""

    total: int
    say: Callable[[str], None]
    count: int = 0
    on_done: Callable[[Run], None] | None = None  # e.g. copy the run into the results ledger

    def report(self, ok: bool, message: str, run: Run) -> None:
        self.count += 1
        if ok and self.on_done is not None:
            self.on_done(run)
        self.say(
            f"[{self.count}/{self.total}] {'done' if ok else 'FAILED'}: {message} | {run.label}"
        )

    def note(self, message: str, run: Run) -> None:
        """A running run's phase or progress line (the batch worker relays them)."""
        self.say(f"    {message} | {run.label}")


@dataclass
class _LocalSlot:
    proc: subprocess.Popen
    run: Run
    rest: list[Run]
    log: IO
    started: float


def run_local(
    runs: list[Run],
    store: Store,
    say: Callable[[str], None],
    jobs: int = 1,
    command: str = "",
    on_done: Callable[[Run], None] | None = None,
) -> None:
    """One ``python -m src.run`` subprocess per run (most robust; ~10 s of start-up each), up to
    ``jobs`` at once, one seed group per slot."""
    queue = deque(seed_groups(runs))
    progress = Progress(len(runs), say, on_done=on_done)
    slots: list[_LocalSlot] = []
    started: list[subprocess.Popen] = []  # every child, for a clean stop
    info = {"launcher": "local", "jobs": jobs, "command": command}

    def start(run: Run, rest: list[Run]) -> _LocalSlot:
        ovr = list(run.overrides)
        run_dir = store.run_dir(ovr, run.seed)
        cmd = [sys.executable, "-m", "src.run", *ovr, f"hydra.run.dir={run_dir}"]
        (run_dir / "run.log").write_text("")  # a fresh log, shared with the run's Hydra job log:
        log = open(run_dir / "run.log", "a")  # both append, neither overwrites the other's lines
        proc = _popen(cmd, jobs, stdout=log, stderr=subprocess.STDOUT)
        started.append(proc)
        store.log("start", ovr, run.seed, pid=proc.pid, **info)
        return _LocalSlot(proc, run, rest, log, time.perf_counter())

    def finish(slot: _LocalSlot) -> None:
        slot.log.close()
        ovr, seed = list(slot.run.overrides), slot.run.seed
        ok = slot.proc.returncode == 0 and store.is_done(ovr, seed)
        log = store.run_dir(ovr, seed) / "run.log"
        message = _summary(store, slot.run) if ok else _last_error(log)
        seconds = round(time.perf_counter() - slot.started, 2)
        store.log("done" if ok else "failed", ovr, seed, pid=slot.proc.pid, seconds=seconds,
                  device=result_device(store, slot.run), message=message, **info)  # fmt: skip
        progress.report(ok, message, slot.run)

    try:
        while queue or slots:
            while queue and len(slots) < jobs:
                group = queue.popleft()
                slots.append(start(group[0], group[1:]))
            time.sleep(0.1)
            running = []
            for slot in slots:
                if slot.proc.poll() is None:
                    running.append(slot)
                    continue
                finish(slot)
                if slot.rest:
                    running.append(start(slot.rest[0], slot.rest[1:]))
            slots = running
    except BaseException:
        _stop(started)
        raise


@dataclass
class _Worker:
    """A ``src.reproduce.worker`` process fed one run at a time over its stdin."""

    proc: subprocess.Popen
    index: int
    run: Run | None = None
    rest: list[Run] = field(default_factory=list)
    buffer: bytes = b""


def run_batch(
    runs: list[Run],
    store: Store,
    say: Callable[[str], None],
    jobs: int = 1,
    command: str = "",
    on_done: Callable[[Run], None] | None = None,
) -> None:
    """Worker processes that each run their seed groups in turn (``src.reproduce.worker``),
    up to ``jobs`` at once; each pays the imports once. Jobs go over the worker's stdin (no job
    file is left behind), one JSON line back per run."""
    queue = deque(seed_groups(runs))
    progress = Progress(len(runs), say, on_done=on_done)
    n_workers = min(jobs, len(queue))
    store.root.mkdir(parents=True, exist_ok=True)
    worker_log = open(store.root / "worker.log", "a")
    selector = selectors.DefaultSelector()
    workers: list[_Worker] = []

    def spawn(index: int) -> _Worker:
        cmd = [
            sys.executable,
            "-u",
            "-m",
            "src.reproduce.worker",
            str(store.root),
            str(os.getpid()),
        ]
        proc = _popen(cmd, n_workers, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=worker_log, bufsize=0)  # fmt: skip
        worker = _Worker(proc, index)
        selector.register(proc.stdout, selectors.EVENT_READ, worker)  # type: ignore[arg-type]
        workers.append(worker)
        return worker

    def feed(worker: _Worker) -> None:
        """Send the worker its next run: the rest of its group, else the next group, else EOF."""
        if not worker.rest and queue:
            worker.rest = queue.popleft()
        if not worker.rest:
            worker.run = None
            worker.proc.stdin.close()  # type: ignore[union-attr]
            return
        worker.run, worker.rest = worker.rest[0], worker.rest[1:]
        job = {
            "overrides": list(worker.run.overrides),
            "seed": worker.run.seed,
            "run_dir": str(store.run_dir(list(worker.run.overrides), worker.run.seed)),
            "info": {"launcher": "batch", "jobs": n_workers, "worker": worker.index,
                     "command": command},
        }  # fmt: skip
        try:
            worker.proc.stdin.write((json.dumps(job) + "\n").encode())  # type: ignore[union-attr]
        except BrokenPipeError:
            pass  # the worker died: its stdout ends next and ``closed`` hands its runs on

    def closed(worker: _Worker) -> None:
        selector.unregister(worker.proc.stdout)  # type: ignore[arg-type]
        code = worker.proc.wait()
        if worker.run is None:
            return
        reason = f"the batch worker died (exit code {code}); see {store.root / 'worker.log'}"
        store.log("failed", list(worker.run.overrides), worker.run.seed, launcher="batch",
                  message=reason, command=command)  # fmt: skip
        progress.report(False, reason, worker.run)
        if worker.rest:
            queue.appendleft(worker.rest)  # the rest of its group goes to a fresh worker
        if queue:
            feed(spawn(worker.index))

    try:
        for i in range(n_workers):
            feed(spawn(i))
        while selector.get_map():
            for key, _ in selector.select():
                worker: _Worker = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    closed(worker)
                    continue
                worker.buffer += chunk
                while b"\n" in worker.buffer and worker.run is not None:
                    line, worker.buffer = worker.buffer.split(b"\n", 1)
                    report = json.loads(line)
                    if report["status"] == "progress":
                        progress.note(report["message"], worker.run)
                        continue
                    progress.report(report["status"] == "done", report["message"], worker.run)
                    feed(worker)
    except BaseException:
        _stop([w.proc for w in workers])
        raise
    finally:
        selector.close()
        worker_log.close()


def at_once(launcher: str, jobs: int, seeds: int) -> int:
    """How many runs of a multirun go at once (their thread share): joblib's ``jobs``;
    submitit_local starts every seed of the configuration together; SLURM runs elsewhere."""
    return {"joblib": min(jobs, seeds), "submitit_local": seeds}.get(launcher, 1)


def run_multirun(
    runs: list[Run],
    store: Store,
    say: Callable[[str], None],
    launcher: str,
    jobs: int,
    launcher_overrides: list[str],
    command: str = "",
    on_done: Callable[[Run], None] | None = None,
) -> None:
    """Hydra multiruns with the joblib or submitit launcher, one per config over its seeds."""

    def config_of(run: Run) -> list[str]:
        return [o for o in run.overrides if override_key(o) != "seed"]

    by_config: dict[str, list[Run]] = {}  # in the harness's order: configs sharing an SAE in turn
    for r in order_runs(runs):
        by_config.setdefault(config_key(list(r.overrides)), []).append(r)
    groups = list(by_config.values())
    for i, group in enumerate(groups, 1):
        base = config_of(group[0])
        seeds = ",".join(str(r.seed) for r in group)
        sweep_dir = store.root / config_key(base)
        hydra_args = [f"hydra/launcher={launcher}"]
        if launcher == "joblib":
            hydra_args.append(f"hydra.launcher.n_jobs={jobs}")
        cmd = [
            sys.executable, "-m", "src.run", "--multirun", *hydra_args, *launcher_overrides,
            *base, f"seed={seeds}", f"hydra.sweep.dir={sweep_dir}", "hydra.sweep.subdir=seed${seed}",
        ]  # fmt: skip
        for r in group:
            store.log("start", list(r.overrides), r.seed, launcher=launcher, command=command)
        log = sweep_dir / f"multirun-{os.getpid()}.log"
        _, seconds = run_logged(cmd, log, at_once(launcher, jobs, len(group)))
        done = [r for r in group if store.is_done(list(r.overrides), r.seed)]
        for r in group:
            ok = r in done
            store.log("done" if ok else "failed", list(r.overrides), r.seed, launcher=launcher,
                      command=command, device=result_device(store, r),
                      group_seconds=seconds)  # fmt: skip
            if ok and on_done is not None:
                on_done(r)
        message = "" if len(done) == len(group) else f" ({_last_error(log)}; log {log})"
        say(f"[{i}/{len(groups)}] {len(done)}/{len(group)} seeds done{message} | {' '.join(base)}")


def launch(
    runs: list[Run],
    store: Store,
    launcher: str,
    say: Callable[[str], None] = print,
    jobs: int = 1,
    launcher_overrides: list[str] | None = None,
    command: str = "",
    on_done: Callable[[Run], None] | None = None,
) -> None:
    """Run ``runs`` (already filtered to unfinished, locked ones) with the chosen launcher;
    ``command`` (the reproduce invocation) goes into the executions log for provenance;
    ``on_done(run)`` is called as each run finishes (in this process)."""
    for run in runs:
        store.describe(list(run.overrides), run.seed)
    if launcher == "local":
        run_local(runs, store, say, jobs, command, on_done)
    elif launcher == "batch":
        run_batch(runs, store, say, jobs, command, on_done)
    else:
        run_multirun(runs, store, say, launcher, jobs, launcher_overrides or [], command, on_done)
