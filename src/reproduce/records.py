"""Where a planned run's result comes from: the ledger first, then the results store.

A result counts only when it is current (:class:`src.reproduce.freshness.Checker`); a stale one
is reported with its reason and left out. The ledger's copy is preferred (it is what the
repository commits); the store's serves runs not copied in yet (and its run directory the
images the ledger does not keep).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from src.reproduce.freshness import Checker
from src.reproduce.ledger import Ledger
from src.reproduce.store import Store


@dataclass(frozen=True)
class Found:
    """One planned run's record: ``result`` is None when missing or stale (``stale`` says why)."""

    result: dict | None
    record_dir: Path | None  # the ledger's record (result.json, dac_history.csv)
    store_dir: Path | None  # the store's run directory (images, checkpoints), when it exists
    stale: str | None = None
    command: str | None = None  # the scripts.reproduce command that ran it

    @property
    def run_dir(self) -> Path | None:
        """Where the run's files are read from: the store's directory, else the ledger's."""
        return self.store_dir or self.record_dir


@dataclass
class Results:
    """Looks planned runs up in a ledger and a store (either may be None), checked by
    ``checker`` (None: every record counts, as for a bare store)."""

    ledger: Ledger | None
    store: Store | None
    checker: Checker | None = None

    def __post_init__(self) -> None:
        self._found: dict[tuple[tuple[str, ...], int], Found] = {}
        self._command_map: dict[tuple[str, int], str] | None = None

    def find(self, overrides: list[str] | tuple[str, ...], seed: int) -> Found:
        key = (tuple(overrides), seed)
        if key not in self._found:
            self._found[key] = self._find(list(overrides), seed)
        return self._found[key]

    def forget(self, overrides: list[str] | tuple[str, ...], seed: int) -> None:
        """Drop the cached answer (the run was just run or copied)."""
        self._found.pop((tuple(overrides), seed), None)

    def _find(self, overrides: list[str], seed: int) -> Found:
        store_dir = None
        if self.store is not None and self.store.run_dir(overrides, seed).is_dir():
            store_dir = self.store.run_dir(overrides, seed)
        record_dir = None
        if self.ledger is not None and self.ledger.has(overrides, seed):
            record_dir = self.ledger.record_dir(overrides, seed)
        stale = None
        if record_dir is not None:
            result = self.ledger.load(overrides, seed)  # type: ignore[union-attr]
            command = self.ledger.info(overrides, seed).get("command")  # type: ignore[union-attr]
            why = self._problem(result, overrides)
            if why is None:
                return Found(result, record_dir, store_dir, None, command)
            stale = f"ledger record: {why}"
        if self.store is not None and (result := self.store.load(overrides, seed)) is not None:
            why = self._problem(result, overrides)
            if why is None:
                command = self._commands().get(
                    (self.store.run_dir(overrides, seed).parent.name, seed)
                )
                return Found(result, None, store_dir, None, command)
            stale = stale or f"store result: {why}"
        return Found(None, record_dir, store_dir, stale)

    def _problem(self, result: dict | None, overrides: list[str]) -> str | None:
        if result is None:
            return "unreadable result.json"
        return None if self.checker is None else self.checker.problem(result, overrides)

    def _commands(self) -> dict[tuple[str, int], str]:
        """(config key, seed) → the reproduce command that last finished that run (store log)."""
        if self._command_map is None:
            events = self.store.executions() if self.store is not None else []
            self._command_map = {
                (e["key"], e["seed"]): e["command"]
                for e in events
                if e.get("event") == "done" and e.get("command")
            }
        return self._command_map
