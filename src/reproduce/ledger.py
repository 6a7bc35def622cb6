"""The results ledger: the small records of finished runs, committed with the code.

``<ledger>/<dataset>/<method>/<key>/seed<k>/`` holds, per finished run:

- ``result.json``: the run's own record, copied byte for byte from the store (metrics, config,
  commit, results class, device, precision, wall time, date, the ``src.run`` command);
- ``run.json``: the run's canonical overrides, seed, config key, and the ``scripts.reproduce``
  command that ran it;
- ``dac_history.csv``: DAC's per-epoch history, where the run wrote one;
- ``confusion.csv``: the counts behind its confusion matrix, where the run wrote one.

``key`` is the store's config key (:func:`src.reproduce.store.config_key`), so the path of a
run never changes while its overrides stay the same, and every file is sorted, indented JSON or
CSV (diffs stay readable). Each file is written atomically, ``result.json`` last: a record is
complete exactly when its ``result.json`` exists. Checkpoints, embeddings, images and caches
stay in the store (git-ignored).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from src.core.io_utils import atomic_write, atomic_write_json
from src.reproduce.store import Store, canonical, config_key, override_key

RESULT = "result.json"
RUN_INFO = "run.json"
COPIED = ("dac_history.csv", "confusion.csv")  # small per-run files copied beside result.json


def _choice(overrides: list[str], key: str) -> str:
    values = [o.split("=", 1)[1] for o in overrides if "=" in o and override_key(o) == key]
    return values[-1] if values else "_"


@dataclass(frozen=True)
class Ledger:
    root: Path

    def record_dir(self, overrides: list[str], seed: int) -> Path:
        dataset, method = _choice(overrides, "dataset"), _choice(overrides, "method")
        return self.root / dataset / method / config_key(overrides) / f"seed{seed}"

    def has(self, overrides: list[str], seed: int) -> bool:
        return (self.record_dir(overrides, seed) / RESULT).is_file()

    def load(self, overrides: list[str], seed: int) -> dict | None:
        return _read_json(self.record_dir(overrides, seed) / RESULT)

    def info(self, overrides: list[str], seed: int) -> dict:
        """``run.json`` of a record ({} when missing)."""
        return _read_json(self.record_dir(overrides, seed) / RUN_INFO) or {}

    def add(
        self, store: Store, overrides: list[str], seed: int, command: str | None
    ) -> Path | None:
        """Copy a finished run of ``store`` in (replacing an older record); None if unfinished."""
        source = store.run_dir(overrides, seed)
        if not (source / RESULT).is_file():
            return None
        target = self.record_dir(overrides, seed)
        for name in COPIED:
            if (source / name).is_file():
                _copy(source / name, target / name)
            else:
                (target / name).unlink(missing_ok=True)
        info = {
            "key": config_key(overrides),
            "seed": seed,
            "overrides": canonical(overrides),
            "command": command,
        }
        atomic_write_json(target / RUN_INFO, info)
        _copy(source / RESULT, target / RESULT)
        return target

    def count(self) -> int:
        return sum(1 for _ in self.root.glob(f"*/*/*/seed*/{RESULT}")) if self.root.is_dir() else 0


def _copy(source: Path, target: Path) -> None:
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
