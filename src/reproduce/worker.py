"""``python -m src.reproduce.worker JOBS.json``: run many runs in one process (``launcher=batch``).

Each run is composed with Hydra's compose API from the same overrides a ``python -m src.run``
subprocess would get and executed by ``src.run.execute``, so its ``result.json`` is the same;
only the imports (~10 s of torch, Lightning, W&B) are paid once. One JSON line per run on stdout
tells the harness how it went; the run's own output goes to ``<run_dir>/run.log``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

from src.reproduce.store import Store


def run_one(overrides: list[str], run_dir: Path) -> tuple[str, str]:
    """Compose and execute one run: ("done", summary line) or ("failed", one-line reason)."""
    from hydra import compose
    from omegaconf import open_dict

    from src.errors import UserError
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
        metrics = result["metrics"]
        shown = "  ".join(
            f"{m.upper()} {metrics[m]:.4f}" for m in ("acc", "nmi", "ari") if m in metrics
        )
        return "done", shown
    except UserError as exc:
        return "failed", f"error: {exc}"
    except Exception as exc:  # noqa: BLE001 - one bad run must not stop the batch
        return "failed", f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    finally:
        sys.argv = argv


def main(argv: list[str]) -> None:
    from hydra import initialize_config_dir

    from src.config_groups import CONF_DIR
    from src.provenance import git_commit

    git_commit()  # fix the commit now: the runs below use the code this process loads
    jobs = json.loads(Path(argv[0]).read_text())
    store = Store(Path(jobs["store"]))
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for job in jobs["runs"]:
            overrides, seed = job["overrides"], job["seed"]
            store.log("start", overrides, seed, launcher="batch")
            started = time.perf_counter()
            status, line = run_one(overrides, Path(job["run_dir"]))
            seconds = round(time.perf_counter() - started, 2)
            store.log(status, overrides, seed, launcher="batch", seconds=seconds, message=line)
            print(json.dumps({"status": status, "message": line, "seconds": seconds}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
