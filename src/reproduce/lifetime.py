"""Child processes die with the harness: a ``kill -9`` of ``scripts.reproduce`` leaves no run or
worker behind to keep writing files (an SAE ``.partial.pt``) that the resumed invocation uses.

On Linux the kernel sends SIGKILL to a child whose parent dies (``prctl(PR_SET_PDEATHSIG)``, set
in the child before it runs anything); everywhere, a worker also polls its parent's pid and
exits when it changes (the fallback where ``prctl`` is missing, and the race where the parent
died before the child set it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
ORPHAN_EXIT = 70


def _load_prctl():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _load_prctl()  # resolved once, in the parent: the child only calls it


def set_parent_death_signal(parent: int) -> bool:
    """SIGKILL this process when ``parent`` dies (Linux); exit now if it is already gone."""
    ok = _PRCTL is not None and _PRCTL(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    if os.getppid() != parent:
        os._exit(ORPHAN_EXIT)
    return ok


def child_preexec():
    """A ``Popen(preexec_fn=...)`` that ties the child's life to this process."""
    parent = os.getpid()
    return lambda: set_parent_death_signal(parent)


def watch_parent(parent: int, every_s: float = 0.5) -> threading.Thread:
    """A daemon thread that ends this process when its parent is no longer ``parent``."""

    def watch():
        while True:
            if os.getppid() != parent:
                os._exit(ORPHAN_EXIT)
            time.sleep(every_s)

    thread = threading.Thread(target=watch, name="parent-watchdog", daemon=True)
    thread.start()
    return thread


def die_with_parent(parent: int) -> None:
    """Both guards, for a worker started by ``parent``."""
    set_parent_death_signal(parent)
    watch_parent(parent)
