"""``python -m src.reproduce.worker STORE PARENT_PID``: many runs in one process (``launcher=batch``).

The harness writes one JSON job per line to the worker's stdin (overrides, seed, run directory)
and reads one JSON line back per run; the worker ends at EOF. Each run is composed with Hydra's
compose API from the same overrides a ``python -m src.run`` subprocess would get and executed by
``src.run.execute``, so its ``result.json`` is the same; only the imports (~10 s of torch,
Lightning, W&B) are paid once. The run's own output goes to ``<run_dir>/run.log``, stray output
of libraries to the worker's stderr (``<store>/worker.log``), never into the replies. The worker
dies with its parent (``src.reproduce.lifetime``).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path

from src.reproduce.lifetime import die_with_parent
from src.reproduce.store import Store


def run_one(overrides: list[str], run_dir: Path) -> tuple[str, str]:
    """Compose and execute one run: ("done", its metrics line) or ("failed", one-line reason)."""
    from hydra import compose
    from omegaconf import open_dict

    from src.core.errors import UserError
    from src.recording.metrics import metrics_line
    from src.run import execute

    run_dir.mkdir(parents=True, exist_ok=True)
    argv = sys.argv
    sys.argv = [
        "src.run",
        *overrides,
        f"hydra.run.dir={run_dir}",
    ]  # the command result.json records
    try:
        with open(run_dir / "run.log", "w") as log, contextlib.redirect_stdout(log):
            cfg = compose("config", overrides=overrides)
            with open_dict(cfg):
                cfg.run_dir = str(run_dir)
            result = execute(cfg)
        return "done", metrics_line(result)
    except UserError as exc:
        return "failed", f"error: {exc}"
    except Exception as exc:  # noqa: BLE001 - one bad run must not stop the batch
        return "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        sys.argv = argv


def main(argv: list[str]) -> None:
    store = Store(Path(argv[0]))
    die_with_parent(int(argv[1]))
    replies = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # anything else printed to stdout goes to the log, not into the replies

    from hydra import initialize_config_dir

    from src.core.config_groups import CONF_DIR
    from src.recording.provenance import git_commit

    git_commit()  # fix the commit now: the runs below use the code this process loads
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        while line := sys.stdin.readline():
            job = json.loads(line)
            overrides, seed, info = job["overrides"], job["seed"], job.get("info", {})
            store.log("start", overrides, seed, pid=os.getpid(), **info)
            started = time.perf_counter()
            status, message = run_one(overrides, Path(job["run_dir"]))
            seconds = round(time.perf_counter() - started, 2)
            result = store.load(overrides, seed) or {}
            store.log(status, overrides, seed, pid=os.getpid(), seconds=seconds,
                      device=result.get("device"), message=message, **info)  # fmt: skip
            replies.write(json.dumps({"status": status, "message": message, "seconds": seconds}))
            replies.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
