"""Keeping the ledger and the store in step with the plan: copy finished runs in, report stale
records, and set a stale store result aside so that its run is run again."""

from __future__ import annotations

from src.reproduce.ledger import Ledger
from src.reproduce.records import Results
from src.reproduce.spec import Run
from src.reproduce.store import Store

STALE_SHOWN = 20  # stale records listed one per line; the rest summed up in one


def copy_finished(runs: list[Run], results: Results, ledger: Ledger, store: Store) -> int:
    """Copy each run the store finished (current, not yet in the ledger) into the ledger."""
    copied = 0
    for run in runs:
        found = results.find(run.overrides, run.seed)
        if found.result is not None and found.record_dir is None:
            ledger.add(store, list(run.overrides), run.seed, found.command)
            results.forget(run.overrides, run.seed)
            copied += 1
    return copied


def stale_lines(runs: list[Run], results: Results) -> list[str]:
    """One line per stale record of ``runs`` (at most :data:`STALE_SHOWN`, then a count)."""
    stale = [(r, f.stale) for r in runs if (f := results.find(r.overrides, r.seed)).stale]
    lines = [f"stale [{r.table}] {r.method} on {r.dataset}, seed {r.seed}: {why} | {r.label}"
             for r, why in stale[:STALE_SHOWN]]  # fmt: skip
    if len(stale) > STALE_SHOWN:
        lines.append(f"... and {len(stale) - STALE_SHOWN} more stale records")
    return lines


def set_aside(run: Run, store: Store) -> bool:
    """Rename a stale ``result.json`` of the store to ``result.stale.json`` (replacing an older
    one), so that the run counts as unfinished and is run again. True when one was moved."""
    path = store.result_path(list(run.overrides), run.seed)
    if not path.is_file():
        return False
    path.replace(path.with_name("result.stale.json"))
    return True
