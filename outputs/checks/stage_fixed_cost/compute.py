"""Steady-state rate of the SAE's greedy stages on the CPU: the bench's 1,000-iteration stages
(outputs/bench/cpu-cpu.json) against the same stages at 3,000 iterations
(layerwise3000-result.json), each stage's time split into a fixed part and a per-iteration
part, and the per-iteration rate set against the bench's hand-written loop.

    python outputs/checks/stage_fixed_cost/compute.py   # writes results.md beside this file
"""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCH = HERE.parents[1] / "bench" / "cpu-cpu.json"
LONG = HERE / "layerwise3000-result.json"
LONG_ITERS = 3000


def main() -> None:
    bench = json.loads(BENCH.read_text())
    dec = next(r for r in bench["runs"] if r["method"] == "dec")
    phases = {p["name"]: p for p in dec["phases"]}
    long = json.loads(LONG.read_text())
    rows = [
        "| stage | 1,000 it (s) | 3,000 it (s) | fixed part (s) | per iteration (ms) "
        "| steady it/s | hand-written it/s | steady ÷ hand |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for layer in range(4):
        name = f"pretrain_layer{layer}"
        short, short_it = phases[name]["seconds"], phases[name]["iterations"]
        longer = long["wall_time_s"][name]
        per_it = (longer - short) / (LONG_ITERS - short_it)
        fixed = short - per_it * short_it
        hand = phases[name]["hand_eager_it_per_s"]
        rows.append(
            f"| {name} | {short:.2f} | {longer:.2f} | {fixed:.2f} | {per_it * 1e3:.2f} "
            f"| {1 / per_it:.1f} | {hand:.1f} | {1 / per_it / hand:.2f} |"
        )
    text = "\n".join(
        [
            "# SAE greedy stages on the CPU: fixed cost and steady rate",
            "",
            f"Bench: `{bench['command']}` at {bench['commit'][:7]} ({bench['date']}). "
            f"Long run: `{long['command']}` at {long['commit'][:7]} ({long['date']}), "
            f"{long['device']}, {long['precision']}. Both on the idle 2-core CPU, one after the "
            "other; timings vary ±20 % between runs.",
            "",
            *rows,
            "",
        ]
    )
    (HERE / "results.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
