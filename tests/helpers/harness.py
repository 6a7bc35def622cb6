"""The reproduction harness (``python -m scripts.reproduce``) run in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import REPO


def harness(tmp_path: Path, *args: str, env: dict | None = None, popen: bool = False):
    cmd = [sys.executable, "-m", "scripts.reproduce", "--store", str(tmp_path / "store"),
           "--out", str(tmp_path / "out"), *args]  # fmt: skip
    full_env = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1",
                "PYTHONPATH": str(REPO), **(env or {})}  # fmt: skip
    if popen:
        return subprocess.Popen(cmd, cwd=REPO, env=full_env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, start_new_session=True)  # fmt: skip
    return subprocess.run(cmd, cwd=REPO, env=full_env, capture_output=True, text=True, timeout=300)


def results(store: Path) -> dict[Path, float]:
    return {p: p.stat().st_mtime for p in store.glob("*/seed*/result.json")}
