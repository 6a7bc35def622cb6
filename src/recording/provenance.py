"""Where a number came from: commit, device, versions, time."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
import platform
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("dcrepro")
PROGRESS = {"progress": True}  # ``extra=`` of a progress line: the batch harness relays it
LONG_PHASE_S = 60.0  # a phase at least this long relays its "finished" line too


@functools.cache
def git_commit() -> str:
    """The checked-out commit, with ``-dirty`` when the tree has uncommitted changes.

    Read once per process: a long-lived worker running many runs keeps reporting the commit
    whose code it loaded, even if the checkout moves on meanwhile. ``DCREPRO_COMMIT``, where
    set, names it instead: a copy of the tree sent to a rented GPU machine has no git, or a
    stale one (seen: the session's first commit, with the later ones as "-dirty");
    ``scripts/gpu_prepare.sh`` writes the commit into ``.gpu/commit`` here and
    ``scripts/gpu_session.sh`` exports it there.
    """
    if named := os.environ.get("DCREPRO_COMMIT"):
        return named
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


def device_name(device: Any = None) -> str:
    """Human-readable name of the torch ``device`` that did the work (a ``torch.device`` or its
    string, e.g. ``"cuda"``, ``"cuda:1"``, ``"cpu"``): the CUDA device's name
    (``NVIDIA H100 80GB HBM3``), else the CPU's. ``None`` means the CPU (work done by
    scikit-learn or numpy)."""
    import torch

    dev = torch.device("cpu" if device is None else device)
    if dev.type == "cuda" and torch.cuda.is_available():
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return torch.cuda.get_device_name(index)
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
            extra = PROGRESS if seconds >= LONG_PHASE_S else None
            log.info("%s: finished in %.1f s", phase, seconds, extra=extra)

    @property
    def total(self) -> float:
        return sum(self.seconds.values())
