"""Issue 20: a run stopped by SIGTERM or SIGINT exits 128 + the signal (143, 130) with one
line, no traceback, and does not look finished (no result.json)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO


def start_dec_run(tmp_path: Path) -> subprocess.Popen:
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": pythonpath}
    cmd = [sys.executable, "-m", "src.run", "method=dec", "dataset=digits", "logger=none",
           "plots=false", "progress_bar=false", "pretrain=quick",
           f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path / 'run'}"]  # fmt: skip
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip


def wait_for_training(proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Until the SAE's first layer is training (Lightning's fit is running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if log.exists() and "pretrain_layer0: started" in log.read_text():
            time.sleep(1.0)
            return
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"the run did not reach training: {proc.communicate()[1][-2000:]}")


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_stopped_run_exits_non_zero_with_one_line(tmp_path, signum, code):
    proc = start_dec_run(tmp_path)
    wait_for_training(proc, tmp_path / "run" / "run.log")
    proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr[-3000:]
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        f"error: stopped by {signum.name}: the run did not finish (no result.json written); "
        "run the same command again"
    ], stderr
    if signum == signal.SIGINT:
        assert stderr.strip().splitlines() == errors
    assert not (tmp_path / "run" / "result.json").exists()
