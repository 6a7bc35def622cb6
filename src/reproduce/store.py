"""The results store: one directory per run, named by a hash of the run's overrides.

``<store>/<key>/seed<k>/result.json`` where ``key`` hashes the run's canonical override set
without the seed. A run is finished when its ``result.json`` exists (``src.run`` writes it
atomically, last); a directory without one is unfinished and is run again. Every execution is
appended to ``<store>/executions.jsonl``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from src.core.io_utils import atomic_write_json

# Overrides that cannot change a result: left out of the hash (and of result lookup).
NON_SEMANTIC = (
    "logger",
    "plots",
    "progress_bar",
    "debug",
    "log_every_n_steps",
    "data_root",
    "cache_dir",
)


def override_key(override: str) -> str:
    """The config key an override sets: ``dataset.subset=5`` → ``dataset.subset``."""
    return override.split("=", 1)[0].lstrip("+~")


def canonical(overrides: list[str]) -> list[str]:
    """Later overrides of the same key win; sorted by key; non-semantic keys and ``hydra.*``
    left out. Two override lists that set the same values give the same canonical list."""
    last: dict[str, str] = {}
    for item in overrides:
        item = item.strip()
        if item:
            last[override_key(item)] = item
    kept = {
        k: v
        for k, v in last.items()
        if not k.startswith("hydra") and k.split(".")[0] not in NON_SEMANTIC
    }
    return [kept[k] for k in sorted(kept)]


def merge_overrides(*lists: list[str]) -> list[str]:
    """Concatenate override lists, keeping each key once at the place of its last setting."""
    last: dict[str, str] = {}
    for items in lists:
        for item in items:
            key = override_key(item)
            last.pop(key, None)
            last[key] = item
    return list(last.values())


def config_key(overrides: list[str]) -> str:
    """16 hex digits of the SHA-256 of the canonical overrides, the seed excluded."""
    body = [o for o in canonical(overrides) if override_key(o) != "seed"]
    return hashlib.sha256(json.dumps(body).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Store:
    root: Path

    def run_dir(self, overrides: list[str], seed: int) -> Path:
        return self.root / config_key(overrides) / f"seed{seed}"

    def result_path(self, overrides: list[str], seed: int) -> Path:
        return self.run_dir(overrides, seed) / "result.json"

    def is_done(self, overrides: list[str], seed: int) -> bool:
        return self.result_path(overrides, seed).is_file()

    def load(self, overrides: list[str], seed: int) -> dict | None:
        path = self.result_path(overrides, seed)
        try:
            return json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def describe(self, overrides: list[str], seed: int) -> None:
        """Save the overrides beside the run (``overrides.json``) so the store is readable."""
        path = self.run_dir(overrides, seed) / "overrides.json"
        body = {"overrides": canonical(overrides), "seed": seed, "key": config_key(overrides)}
        atomic_write_json(path, body)

    def log(self, event: str, overrides: list[str], seed: int, **info) -> None:
        """Append one line to ``executions.jsonl`` (start, done, failed)."""
        self.root.mkdir(parents=True, exist_ok=True)
        line = {
            "time": time.time(),
            "event": event,
            "key": config_key(overrides),
            "seed": seed,
            "overrides": canonical(overrides),
            **info,
        }
        with open(self.root / "executions.jsonl", "a") as f:
            f.write(json.dumps(line) + "\n")

    def executions(self) -> list[dict]:
        path = self.root / "executions.jsonl"
        if not path.exists():
            return []
        return [json.loads(s) for s in path.read_text().splitlines() if s.strip()]

    # Locks: two invocations sharing a store do not run the same run at once.
    def lock(self, overrides: list[str], seed: int) -> bool:
        """Take the run's lock; False when another live process holds it.

        The lock file appears complete or not at all: the holder's identity is written to a
        private file first, then hard-linked to ``.lock`` (``os.link`` fails if it exists). A
        stale lock (its holder on this host is gone, or its pid now names a younger process) is
        broken only under the store's guard (``fcntl.flock``), so two claimers never both take
        one run.
        """
        path = self.run_dir(overrides, seed) / ".lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        if _link_lock(path):
            return True
        with self._guard():  # only a breaker of stale locks removes another's lock file
            holder = _holder(path)
            if holder is None:  # released meanwhile: claim it like anyone else
                return _link_lock(path)
            if not _stale(holder):
                return False
            path.unlink(missing_ok=True)  # nobody else can replace it while we hold the guard
            return _link_lock(path)

    def unlock(self, overrides: list[str], seed: int) -> None:
        path = self.run_dir(overrides, seed) / ".lock"
        if _holder(path) == _me():
            path.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _guard(self):
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".locks.guard", "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def remove_leftovers(self) -> list[Path]:
        """Job files of dead batch workers from older versions (``.batch-<pid>.json``)."""
        removed = []
        for path in self.root.glob(".batch-*.json"):
            pid = path.stem.removeprefix(".batch-")
            if pid.isdigit() and not _alive(int(pid), None):
                path.unlink(missing_ok=True)
                removed.append(path)
        return removed


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (Linux), to tell a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _me() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()} {pid} {_start_time(pid) or '-'}"


def _link_lock(path: Path) -> bool:
    """Create ``path`` holding this process's identity, atomically; False if it exists."""
    tmp = path.with_name(f".lock.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(_me())
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _holder(lock: Path) -> str | None:
    try:
        return lock.read_text()
    except OSError:
        return None


def _alive(pid: int, started: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return started in (None, "-") or _start_time(pid) in (None, started)


def _stale(holder: str) -> bool:
    """A lock left by a dead process on this host (other hosts' locks are respected)."""
    parts = holder.split()
    if len(parts) not in (2, 3) or not parts[1].isdigit():
        return True  # not a lock this code wrote (the old format had no start time)
    if parts[0] != socket.gethostname():
        return False
    return not _alive(int(parts[1]), parts[2] if len(parts) == 3 else None)
