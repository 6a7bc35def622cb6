"""DAC's speed-switch variants: the same recipe run once per switch (everything else off), so
that the bench shows each switch's it/s and ACC side by side and the "mixed precision only where
ACC is unchanged" decision is read off the bench output, not assumed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

# variant name → the one switch it turns on (eager: none); the other DAC switches are off
VARIANTS: dict[str, str | None] = {
    "eager": None,
    "channels_last": "channels_last",
    "graphs": "cuda_graphs",
    "compile": "compile",
    "amp": "amp",
}
NOT_ON_CPU = {
    "graphs": "CUDA only",
    "compile": "not run on the CPU (minutes of Inductor compile on a few cores)",
}
SWITCH_KEYS = ("channels_last", "cuda_graphs", "compile", "amp")
ACC_TOLERANCE = 0.005  # |ΔACC| vs eager within which a variant counts as "ACC unchanged"


def variant_overrides(name: str) -> list[str]:
    """Hydra overrides of one variant: its switch on, the other DAC switches off."""
    if name not in VARIANTS:
        raise KeyError(name)
    on = VARIANTS[name]
    return [f"fast.{k}={'true' if k == on else 'false'}" for k in SWITCH_KEYS]


def skipped_reason(name: str, device: torch.device) -> str | None:
    """Why a variant is not run on this device (None: it runs)."""
    from src.engine.switches import has_fast_bf16

    if name == "amp" and not has_fast_bf16(device):
        return f"no fast bf16 on this {device.type}"
    return NOT_ON_CPU.get(name) if device.type != "cuda" else None


def variant_row(name: str, result: dict[str, Any] | None, skipped: str | None) -> dict[str, Any]:
    """One variant: train it/s and seconds, ACC/NMI, and the switches the run recorded."""
    if result is None:
        return {"variant": name, "skipped": skipped}
    extra = result.get("extra") or {}
    train = float(result["wall_time_s"].get("train", 0.0))
    steps = int(extra.get("steps") or 0)
    return {
        "variant": name,
        "skipped": None,
        "steps": steps,
        "train_s": train,
        "train_it_per_s": steps / train if train > 0 else None,
        "end_to_end_s": result["wall_time_s"]["total"],
        "acc": result["metrics"].get("acc"),
        "nmi": result["metrics"].get("nmi"),
        "switches": {k: extra.get(f"fast_{k}") for k in SWITCH_KEYS},
        "cuda_graphs_note": extra.get("fast_cuda_graphs_note"),
    }


def compare_to_eager(rows: list[dict[str, Any]]) -> None:
    """Add each run variant's speed-up and ACC change against the eager row (in place)."""
    eager = next((r for r in rows if r["variant"] == "eager" and not r["skipped"]), None)
    for r in rows:
        if eager is None or r["skipped"] or r["variant"] == "eager":
            continue
        if r["train_it_per_s"] and eager["train_it_per_s"]:
            r["speed_up"] = r["train_it_per_s"] / eager["train_it_per_s"]
        if r["acc"] is not None and eager["acc"] is not None:
            r["acc_change"] = r["acc"] - eager["acc"]
            r["acc_unchanged"] = abs(r["acc_change"]) <= ACC_TOLERANCE


def run_variants(
    names: list[str],
    base: list[str],
    device: torch.device,
    work: Path,
    run: Callable[[list[str], Path], tuple[dict[str, Any], float]],
    on_row: Callable[[list[dict[str, Any]]], None],
) -> list[dict[str, Any]]:
    """Run every variant of ``names`` (eager first) on ``base`` overrides; ``on_row`` gets the
    rows after each, so a cut-off bench keeps what it measured."""
    rows: list[dict[str, Any]] = []
    for name in sorted(names, key=list(VARIANTS).index):
        skipped = skipped_reason(name, device)
        result = None
        if skipped is None:
            print(f"bench variant {name}", flush=True)
            result, _ = run([*base, *variant_overrides(name)], work / f"variant-{name}")
        rows.append(variant_row(name, result, skipped))
        compare_to_eager(rows)
        on_row(rows)
    return rows
