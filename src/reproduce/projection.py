"""``--dry-run``: the plan's projected wall time on one device, from measured run times only.

Measurements are the ``done`` events of ``<store>/executions.jsonl`` (wall seconds of each run
as the harness saw it, the device it trained on, the number of concurrent workers) whose device
names the target (e.g. ``H100``). A pending run is projected from runs of its own configuration
(any seed), else from runs of the same method on the same data set (median of either); runs
with neither are listed as unmeasured and left out of the total: no number is invented.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from src.reproduce.schedule import seed_groups
from src.reproduce.spec import Run
from src.reproduce.store import Store, config_key


@dataclass
class Measurements:
    by_config: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    by_method: dict[tuple[str, str], list[float]] = field(default_factory=lambda: defaultdict(list))
    concurrency: Counter = field(default_factory=Counter)


def _value(overrides: list[str], key: str) -> str | None:
    for o in overrides:
        if o.startswith(f"{key}="):
            return o.split("=", 1)[1]
    return None


def measurements(store: Store, device: str) -> Measurements:
    """Per-run wall seconds of finished runs that trained on a device whose name has ``device``."""
    found = Measurements()
    for event in store.executions():
        if event.get("event") != "done" or not isinstance(event.get("seconds"), (int, float)):
            continue
        name = event.get("device")
        if name is None:  # older logs: the run's own result.json names it
            path = store.root / event["key"] / f"seed{event['seed']}" / "result.json"
            try:
                name = json.loads(path.read_text()).get("device")
            except (OSError, ValueError):
                name = None
        if not name or device.lower() not in str(name).lower():
            continue
        overrides = event.get("overrides", [])
        found.by_config[event["key"]].append(float(event["seconds"]))
        method, dataset = _value(overrides, "method"), _value(overrides, "dataset")
        found.by_method[(method or "?", dataset or "?")].append(float(event["seconds"]))
        found.concurrency[int(event.get("jobs") or 1)] += 1
    return found


def _makespan(totals: list[float], workers: int) -> float:
    """Longest-first onto the least-loaded worker (how the harness hands out seed groups)."""
    loads = [0.0] * max(1, workers)
    for t in sorted(totals, reverse=True):
        loads[loads.index(min(loads))] += t
    return max(loads)


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds < 7200 else f"{seconds / 3600:.2f} h"


def projection(runs: list[Run], store: Store, device: str, jobs: int | None) -> list[str]:
    """Lines for ``--dry-run``: the projected wall time of ``runs`` on ``device``."""
    if not runs:
        return []
    m = measurements(store, device)
    where = store.root / "executions.jsonl"
    if not m.by_config:
        return [f"projection on {device}: no run in {where} was measured on a device named "
                f"'{device}'; nothing to project from (measure some runs there first)"]  # fmt: skip
    measured_at = m.concurrency.most_common(1)[0][0]
    workers = jobs or measured_at
    own = same_method = 0
    missing: Counter = Counter()
    estimate: dict[Run, float] = {}
    for r in runs:
        key = config_key(list(r.overrides))
        if key in m.by_config:
            estimate[r], own = statistics.median(m.by_config[key]), own + 1
        elif (r.method, r.dataset) in m.by_method:
            estimate[r] = statistics.median(m.by_method[(r.method, r.dataset)])
            same_method += 1
        else:
            missing[(r.method, r.dataset)] += 1
    groups = [sum(estimate.get(r, 0.0) for r in g) for g in seed_groups(runs)]
    lines = [
        f"projection on one {device} for the {len(estimate)} measured of {len(runs)} runs: "
        f"{_duration(sum(groups))} one after the other; {_duration(_makespan(groups, workers))} "
        f"with {workers} worker(s) (seed groups in parallel; per-run times as measured with "
        f"{measured_at} concurrent worker(s))",
        f"  from {own} runs' own configuration, {same_method} from the same method and data set "
        f"(medians of {sum(map(len, m.by_config.values()))} measured runs in {where})",
    ]
    if missing:
        lines.append(
            f"  no measurement for {sum(missing.values())} runs (not in the total): "
            + ", ".join(f"{meth} on {ds} ({n})" for (meth, ds), n in sorted(missing.items()))
        )
    return lines
