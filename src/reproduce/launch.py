"""Run the pending runs: a subprocess each, a batch worker, or Hydra multiruns (joblib, SLURM).

Every launcher writes into the store's run directories (``hydra.run.dir`` or
``hydra.sweep.dir``/``subdir``), so a run is finished exactly when its ``result.json`` exists,
whichever launcher ran it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from itertools import groupby
from pathlib import Path

from src.config_groups import CONF_DIR
from src.reproduce.spec import Run
from src.reproduce.store import Store, config_key, override_key

REPO = CONF_DIR.parent
LAUNCHERS = ("local", "batch", "joblib", "submitit_slurm", "submitit_local")


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.setdefault("WANDB_MODE", "offline")
    return env


def _popen_wait(cmd: list[str], **kwargs) -> subprocess.Popen:
    """Start ``cmd`` and wait; on Ctrl-C or SIGTERM of the harness, stop the child first."""
    proc = subprocess.Popen(cmd, cwd=REPO, env=_env(), **kwargs)
    try:
        proc.wait()
    except BaseException:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        raise
    return proc


def _last_error(log: Path) -> str:
    try:
        lines = [s for s in log.read_text(errors="replace").splitlines() if s.strip()]
    except OSError:
        return "no log"
    for line in reversed(lines):
        if line.startswith("error:") or "Error" in line or "Exception" in line:
            return line.strip()
    return lines[-1].strip() if lines else "no output"


def _summary(log: Path) -> str:
    try:
        for line in log.read_text(errors="replace").splitlines():
            if line.startswith(("ACC ", "NMI ", "no labels")):
                return line.split("|")[0].strip()
    except OSError:
        pass
    return ""


def run_local(runs: list[Run], store: Store, say: Callable[[str], None]) -> None:
    """One ``python -m src.run`` subprocess per run (most robust; ~10 s of start-up each)."""
    for i, run in enumerate(runs, 1):
        ovr = list(run.overrides)
        run_dir = store.run_dir(ovr, run.seed)
        log = run_dir / "run.log"
        store.log("start", ovr, run.seed, launcher="local")
        cmd = [sys.executable, "-m", "src.run", *ovr, f"hydra.run.dir={run_dir}"]
        with open(log, "w") as out:
            proc = _popen_wait(cmd, stdout=out, stderr=subprocess.STDOUT)
        ok = proc.returncode == 0 and store.is_done(ovr, run.seed)
        message = _summary(log) if ok else _last_error(log)
        store.log("done" if ok else "failed", ovr, run.seed, launcher="local", message=message)
        say(f"[{i}/{len(runs)}] {'done' if ok else 'FAILED'}: {message} | {run.label}")


def run_batch(runs: list[Run], store: Store, say: Callable[[str], None]) -> None:
    """One worker process runs every run in turn (``src.reproduce.worker``)."""
    jobs = {
        "store": str(store.root),
        "runs": [
            {
                "overrides": list(r.overrides),
                "seed": r.seed,
                "run_dir": str(store.run_dir(list(r.overrides), r.seed)),
            }
            for r in runs
        ],
    }
    store.root.mkdir(parents=True, exist_ok=True)
    jobs_file = store.root / f".batch-{os.getpid()}.json"
    jobs_file.write_text(json.dumps(jobs))
    cmd = [sys.executable, "-u", "-m", "src.reproduce.worker", str(jobs_file)]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=open(store.root / "worker.log", "a"),
        text=True,
    )
    try:
        assert proc.stdout is not None
        for i, (run, line) in enumerate(zip(runs, proc.stdout, strict=False), 1):
            report = json.loads(line)
            mark = "done" if report["status"] == "done" else "FAILED"
            say(f"[{i}/{len(runs)}] {mark}: {report['message']} | {run.label}")
        proc.wait()
    except BaseException:
        proc.terminate()
        proc.wait(timeout=30)
        raise
    finally:
        jobs_file.unlink(missing_ok=True)
    if proc.returncode:
        say(f"batch worker exited with {proc.returncode}; see {store.root / 'worker.log'}")


def run_multirun(
    runs: list[Run],
    store: Store,
    say: Callable[[str], None],
    launcher: str,
    jobs: int,
    launcher_overrides: list[str],
) -> None:
    """Hydra multiruns with the joblib or submitit launcher, one per config over its seeds."""

    def config_of(run: Run) -> list[str]:
        return [o for o in run.overrides if override_key(o) != "seed"]

    keyed = sorted(runs, key=lambda r: config_key(list(r.overrides)))
    groups = [list(g) for _, g in groupby(keyed, key=lambda r: config_key(list(r.overrides)))]
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
            store.log("start", list(r.overrides), r.seed, launcher=launcher)
        log = sweep_dir / f"multirun-{os.getpid()}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            _popen_wait(cmd, stdout=out, stderr=subprocess.STDOUT)
        done = [r for r in group if store.is_done(list(r.overrides), r.seed)]
        for r in group:
            ok = r in done
            store.log("done" if ok else "failed", list(r.overrides), r.seed, launcher=launcher)
        message = "" if len(done) == len(group) else f" ({_last_error(log)}; log {log})"
        say(f"[{i}/{len(groups)}] {len(done)}/{len(group)} seeds done{message} | {' '.join(base)}")


def launch(
    runs: list[Run],
    store: Store,
    launcher: str,
    say: Callable[[str], None] = print,
    jobs: int = 2,
    launcher_overrides: list[str] | None = None,
) -> None:
    """Run ``runs`` (already filtered to unfinished, locked ones) with the chosen launcher."""
    for run in runs:
        store.describe(list(run.overrides), run.seed)
    if launcher == "local":
        run_local(runs, store, say)
    elif launcher == "batch":
        run_batch(runs, store, say)
    else:
        run_multirun(runs, store, say, launcher, jobs, launcher_overrides or [])
