"""``python -m src.reproduce.worker STORE PARENT_PID``: many runs in one process (``launcher=batch``).

The harness writes one JSON job per line to the worker's stdin (overrides, seed, run directory)
and reads one JSON line back per run; the worker ends at EOF. Each run is composed with Hydra's
compose API from the same overrides a ``python -m src.run`` subprocess would get and executed by
``src.run.execute``, so its ``result.json`` is the same; only the imports (~10 s of torch,
Lightning, W&B) are paid once. The run's own output and log lines go to ``<run_dir>/run.log``
(its progress lines also to the harness, as replies), stray output of libraries to the worker's
stderr (``<store>/worker.log``), never into the replies. The worker dies with its parent
(``src.reproduce.lifetime``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import IO

from src.reproduce.lifetime import die_with_parent
from src.reproduce.store import Store

LOG_FORMAT = "[%(asctime)s][%(name)s][%(levelname)s] - %(message)s"  # Hydra's job log format


class ProgressReplies(logging.Handler):
    """Relays a run's phase and progress lines (``extra=PROGRESS``) to the harness as
    ``{"status": "progress", ...}`` replies, so its one log shows how each run is going."""

    def __init__(self, replies: IO[str]) -> None:
        super().__init__(logging.INFO)
        self.replies = replies
        self.addFilter(lambda record: getattr(record, "progress", False))

    def emit(self, record: logging.LogRecord) -> None:
        reply = {"status": "progress", "message": record.getMessage()}
        self.replies.write(json.dumps(reply) + "\n")


@contextlib.contextmanager
def run_log(stream: IO[str], replies: IO[str] | None = None):
    """The ``dcrepro`` logger's lines (phases, progress, summary) into ``stream`` for one run,
    as Hydra's job log does for a ``python -m src.run`` subprocess (the compose API sets up no
    logging, so without this a worker's runs would log nothing); the phase and progress lines
    also to the harness (``replies``)."""
    logger = logging.getLogger("dcrepro")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handlers = [handler] + ([ProgressReplies(replies)] if replies is not None else [])
    level = logger.level
    for h in handlers:
        logger.addHandler(h)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for h in handlers:
            logger.removeHandler(h)
        logger.setLevel(level)


def run_one(overrides: list[str], run_dir: Path, replies: IO[str] | None = None) -> tuple[str, str]:
    """Compose and execute one run: ("done", its metrics line) or ("failed", one-line reason);
    its phase and progress lines go to ``replies`` as they come (:class:`ProgressReplies`)."""
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
        with (
            open(run_dir / "run.log", "w", buffering=1) as log,
            contextlib.redirect_stdout(log),
            run_log(log, replies),
        ):
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
            status, message = run_one(overrides, Path(job["run_dir"]), replies)
            seconds = round(time.perf_counter() - started, 2)
            result = store.load(overrides, seed) or {}
            store.log(status, overrides, seed, pid=os.getpid(), seconds=seconds,
                      device=result.get("device"), message=message, **info)  # fmt: skip
            replies.write(json.dumps({"status": status, "message": message, "seconds": seconds}))
            replies.write("\n")


if __name__ == "__main__":
    main(sys.argv[1:])
