"""Running a command line in a subprocess, and what its one-line errors must look like."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def run_cli(
    *args: str,
    cwd: Path = REPO,
    env: dict | None = None,
    timeout: int = 600,
    module: str = "src.run",
):
    """``python -m MODULE ARGS`` (default ``src.run``) in a subprocess; returns the
    CompletedProcess."""
    # extend PYTHONPATH: on the rented GPU machine hydra/omegaconf are reachable only through it
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": pythonpath, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_exit_2(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
