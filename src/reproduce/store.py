"""The results store: one directory per run, named by a hash of the run's overrides.

``<store>/<key>/seed<k>/result.json`` where ``key`` hashes the run's canonical override set
without the seed. A run is finished when its ``result.json`` exists (``src.run`` writes it
atomically, last); a directory without one is unfinished and is run again. Every execution is
appended to ``<store>/executions.jsonl``.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from src.io_utils import atomic_write_json

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
        """Take the run's lock; False when another live process holds it."""
        path = self.run_dir(overrides, seed) / ".lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        me = f"{socket.gethostname()} {os.getpid()}"
        for _ in range(2):
            try:
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if not _stale(path):
                    return False
                path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                f.write(me)
            return True
        return False

    def unlock(self, overrides: list[str], seed: int) -> None:
        (self.run_dir(overrides, seed) / ".lock").unlink(missing_ok=True)


def _stale(lock: Path) -> bool:
    """A lock left by a dead process on this host (other hosts' locks are respected)."""
    try:
        host, pid = lock.read_text().split()
    except (OSError, ValueError):
        return True
    if host != socket.gethostname():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
