"""Where a number came from: commit, device, versions, time."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import platform
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
log = logging.getLogger("dcrepro")


@functools.cache
def git_commit() -> str:
    """The checked-out commit, with ``-dirty`` when the tree has uncommitted changes.

    Read once per process: a long-lived worker running many runs keeps reporting the commit
    whose code it loaded, even if the checkout moves on meanwhile.
    """
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return sha + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def device_name(device: str | None = None) -> str:
    """Human-readable name of the accelerator in use, else the CPU."""
    import torch

    if (device is None or str(device).startswith("cuda")) and torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    cpu = platform.processor() or platform.machine()
    return f"CPU ({cpu}, {torch.get_num_threads()} threads)"


def environment() -> dict[str, str]:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
    }


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()


class PhaseTimer:
    """Wall time per named phase, e.g. ``with timer("pretrain"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, phase: str):
        start = time.perf_counter()
        log.info("%s: started", phase)  # run.log: when each phase ran
        try:
            yield
        finally:
            seconds = time.perf_counter() - start
            self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds
            log.info("%s: finished in %.1f s", phase, seconds)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())
