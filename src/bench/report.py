"""The benchmark's outputs: ``<profile>-<device>.json`` (everything, with provenance) and a
Markdown summary beside it, both written atomically and both built only from measurements."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from src.bench.framework import Phase
from src.bench.handwritten import HandTiming
from src.bench.variants import ACC_TOLERANCE
from src.core.io_utils import atomic_write_json, atomic_write_text

METRICS = ("acc", "nmi", "ari")


def device_slug(device: str) -> str:
    """A file-name-safe device name: ``NVIDIA H100 80GB HBM3`` → ``nvidia-h100-80gb-hbm3``."""
    return re.sub(r"[^a-z0-9]+", "-", device.lower()).strip("-") or "device"


def phase_row(
    phase: Phase, hand: HandTiming | None, peak_gflop_s: float | None = None
) -> dict[str, Any]:
    """One phase: framework seconds/iterations/it/s, hand-written it/s and their ratio
    (framework it/s ÷ the faster hand-written variant), and the GEMM floor: the step's FLOPs
    over the peak GEMM throughput in the run's precision, as it/s, with framework ÷ floor."""
    row: dict[str, Any] = {
        "name": phase.name,
        "seconds": phase.seconds,
        "iterations": phase.iterations,
        "it_per_s": phase.it_per_s,
    }
    if hand is not None and phase.it_per_s is not None:
        row.update(
            hand_iterations=hand.iterations,
            hand_eager_it_per_s=hand.eager_it_s,
            hand_graph_it_per_s=hand.graph_it_s,
            hand_seconds_for_iterations=phase.iterations / hand.best_it_s,
            ratio=phase.it_per_s / hand.best_it_s,
        )
        if hand.flops_per_it and peak_gflop_s:
            floor = peak_gflop_s * 1e9 / hand.flops_per_it
            row.update(
                gflop_per_it=hand.flops_per_it / 1e9,
                floor_it_per_s=floor,
                of_floor=phase.it_per_s / floor,
                hand_of_floor=hand.best_it_s / floor,
            )
    return row


def run_record(
    result: dict[str, Any],
    phases: list[Phase],
    hand: dict[str, HandTiming],
    overrides: list[str],
    execute_s: float,
    peak_gflop_s: float | None = None,
) -> dict[str, Any]:
    """What the bench keeps of one framework run (``peak_gflop_s``: the GEMM peak measured in
    the run's precision, the floor's denominator)."""
    extra = result.get("extra") or {}
    stopped_by = extra.get("dec_stopped_by") or extra.get("stopped_by")
    return {
        "method": result["method"],
        "dataset": result["dataset"],
        "n_samples": result["n_samples"],
        "seed": result["seed"],
        "precision": result.get("precision", "fp32"),
        "gemm_peak_gflop_s": peak_gflop_s,
        "overrides": list(overrides),
        "metrics": {m: result["metrics"][m] for m in METRICS if m in result["metrics"]},
        "end_to_end_s": result["wall_time_s"]["total"],
        "execute_s": execute_s,
        "stopped_by": stopped_by,
        "fast": {k.removeprefix("fast_"): v for k, v in extra.items() if k.startswith("fast_")},
        "phases": [phase_row(p, hand.get(p.name), peak_gflop_s) for p in phases],
    }


def paper_projection(run: dict[str, Any], stage_iterations: dict[str, int]) -> dict[str, Any]:
    """A run projected to other SAE stage lengths: each ``pretrain_<stage>`` phase takes
    ``stage_iterations[stage]`` iterations at the rate measured in the run; every other phase
    keeps its measured seconds."""
    phases = {p["name"]: p for p in run["phases"]}
    stages: dict[str, float] = {}
    measured = 0.0
    for stage, iterations in stage_iterations.items():
        phase = phases[f"pretrain_{stage}"]
        measured += phase["seconds"]
        stages[stage] = iterations / phase["it_per_s"]
    return {
        "stage_iterations": dict(stage_iterations),
        "stage_seconds": stages,
        "end_to_end_s": run["end_to_end_s"] - measured + sum(stages.values()),
    }


def checks(
    runs: list[dict[str, Any]], table: dict[str, Any] | None, targets: dict[str, float]
) -> dict[str, Any]:
    """The issue's targets against the measured numbers (empty when the profile has none);
    the table's same-metrics check whenever the table ran."""
    out: dict[str, Any] = {}
    for run in runs if targets else []:
        key = f"{run['method']}_seed{run['seed']}"
        limit = targets.get(f"{run['method']}_end_to_end_s")
        if limit is not None:
            out[f"{key}_end_to_end_le_{limit:g}s"] = run["end_to_end_s"] <= limit
        limit = targets.get(f"{run['method']}_paper_schedule_s")
        if limit is not None and run.get("paper_projection"):
            projected = run["paper_projection"]["end_to_end_s"]
            out[f"{key}_paper_schedule_projected_le_{limit:g}s"] = projected <= limit
        ratios = [p["ratio"] for p in run["phases"] if p.get("ratio") is not None]
        if "min_ratio" in targets and ratios:
            out[f"{key}_min_ratio_ge_{targets['min_ratio']:g}"] = (
                min(ratios) >= targets["min_ratio"]
            )
    if table is not None:
        limit = targets.get("table_parallel_s")
        if limit is not None and table.get("parallel"):
            out[f"table_parallel_le_{limit:g}s"] = table["parallel"]["wall_time_s"] <= limit
        if table.get("same_metrics"):
            out["table_same_metrics_parallel_and_sequential"] = table["same_metrics"]["identical"]
    return out


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.{digits}f}"


def markdown(record: dict[str, Any]) -> str:
    """The human summary of a benchmark record."""
    env = record["environment"]
    lines = [
        f"# Benchmark `{record['profile']}` on {record['device']}",
        "",
        record["description"],
        "",
        f"- command: `{record['command']}`",
        f"- commit `{record['commit']}`, {record['date']}, torch {env['torch']}"
        + (f", CUDA {env['cuda']}" if env.get("cuda") else "")
        + f", {env['torch_threads']} CPU threads",
        f"- parts: {', '.join(record['parts'])}; seeds (single runs): "
        f"{', '.join(map(str, record['seeds']))}; benchmark wall time "
        f"{record['wall_time_s']:.1f} s"
        + ("" if record.get("complete") else " so far (**incomplete**: cut off or still running)"),
        "",
        "it/s = optimiser iterations ÷ the phase's wall seconds as the run recorded them "
        "(result.json `wall_time_s`, Trainer set-up and DEC's target updates included). "
        "Hand-written = the same step in a plain PyTorch loop in this process on this device "
        "(eager; on CUDA also a captured CUDA graph). Ratio = framework it/s ÷ the faster "
        "hand-written variant; hand s = the run's iterations at the hand-written rate. DAC's "
        "chunk loops (the authors' recipes) are timed over whole chunks, label making included, "
        "eagerly only. Floor = the GEMM floor: one step's FLOPs (PyTorch's FlopCounterMode over "
        "the hand-written step's forward and backward; for a chunk loop, a chunk's FLOPs per "
        "step) over the best GEMM throughput measured in this process at the SAE's shapes, in "
        "the run's precision; ÷ floor = it/s ÷ floor it/s (1.0 = every FLOP at peak GEMM speed).",
        *gemm_markdown(record.get("gemm_gflop_s") or {}),
    ]
    for run in record["runs"]:
        metrics = ", ".join(f"{m.upper()} {v:.4f}" for m, v in run["metrics"].items())
        lines += [
            "",
            f"## {run['method'].upper().replace('_STAR', '*')} on {run['dataset']} (n = {run['n_samples']:,}), "
            f"seed {run['seed']}",
            "",
            f"{metrics}; precision {run.get('precision', 'fp32')}; end to end "
            f"{run['end_to_end_s']:.1f} s (the phases below: "
            f"{phase_seconds(run['phases']):.1f} s); stopped by {run['stopped_by']}.",
            "",
            *([f"Switches: {switches_text(run['fast'])}.", ""] if run.get("fast") else []),
            *projection_markdown(run.get("paper_projection")),
            "| phase | iterations | seconds | it/s | hand eager it/s | hand graph it/s "
            "| hand s for these iterations | ratio | GFLOP/it | floor it/s | ÷ floor "
            "| hand ÷ floor |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for p in run["phases"]:
            lines.append(
                f"| {p['name']} | {_num(p['iterations'])} | {_num(p['seconds'], 2)} "
                f"| {_num(p['it_per_s'])} | {_num(p.get('hand_eager_it_per_s'))} "
                f"| {_num(p.get('hand_graph_it_per_s'))} "
                f"| {_num(p.get('hand_seconds_for_iterations'))} | {_num(p.get('ratio'), 2)} "
                f"| {_num(p.get('gflop_per_it'), 3)} | {_num(p.get('floor_it_per_s'))} "
                f"| {_num(p.get('of_floor'), 2)} | {_num(p.get('hand_of_floor'), 2)} |"
            )
    for method, rows in (record.get("variants") or {}).items():
        lines += variants_markdown(method, rows, record.get("variant_overrides") or [])
    if record.get("table"):
        lines += table_markdown(record["table"])
    if record.get("checks"):
        lines += ["", "## The issue's targets", "", "| check | met |", "|---|---|"]
        lines += [f"| {k} | {'yes' if v else 'no'} |" for k, v in record["checks"].items()]
    return "\n".join(lines) + "\n"


def projection_markdown(projection: dict[str, Any] | None) -> list[str]:
    """One line: the run at the paper's SAE schedule, projected from its stage rates."""
    if not projection:
        return []
    iterations = " + ".join(f"{v:,}" for v in projection["stage_iterations"].values())
    seconds = projection["end_to_end_s"]
    return [
        f"**Paper schedule, projected**: SAE stages of {iterations} iterations at the rates "
        f"below, the other phases as measured: {seconds:,.0f} s ({seconds / 60:.1f} min) end "
        "to end (a projection, not a run).",
        "",
    ]


def gemm_markdown(peaks: dict[str, dict[str, float]]) -> list[str]:
    """The measured GEMM throughput per precision and shape (the floor's denominator)."""
    if not peaks:
        return []
    shapes = [k for k in next(iter(peaks.values())) if k != "peak"]
    lines = [
        "",
        "GEMM throughput measured in this process, GFLOP/s (m×k×n):",
        "",
        "| precision | " + " | ".join(shapes) + " | peak |",
        "|---|" + "---:|" * (len(shapes) + 1),
    ]
    for name, rates in peaks.items():
        cells = " | ".join(f"{rates[s]:,.0f}" for s in shapes)
        lines.append(f"| {name} | {cells} | {rates['peak']:,.0f} |")
    return lines


def phase_seconds(phases: list[dict[str, Any]]) -> float:
    """Seconds of a run's phases, each counted once: a phase that others nest in (``pretrain``
    around ``pretrain_layer0`` …) is left out, its parts are counted."""
    names = [p["name"] for p in phases]
    return sum(
        p["seconds"] for p in phases if not any(n.startswith(p["name"] + "_") for n in names)
    )


def switches_text(fast: dict[str, Any]) -> str:
    """``channels_last on, cuda_graphs off, …`` from a run's recorded ``fast_*`` values."""

    def word(v: Any) -> str:
        return "on" if v is True else "off" if v is False else str(v)

    return ", ".join(f"{k} {word(v)}" for k, v in fast.items() if v is not None)


def variants_markdown(method: str, rows: list[dict[str, Any]], overrides: list[str]) -> list[str]:
    """DAC's speed-switch variants: it/s and ACC each, against eager, and the AMP verdict."""
    title = method.upper().replace("_STAR", "*")
    lines = [
        "",
        f"## {title}: speed-switch variants",
        "",
        "Each variant is the run above with one DAC switch on and the others off"
        + (f", plus `{' '.join(overrides)}`" if overrides else "")
        + f"; ACC unchanged = |ΔACC| ≤ {ACC_TOLERANCE} against eager (one seed).",
        "",
        "| variant | steps | train s | it/s | speed-up | ACC | ΔACC | NMI |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["skipped"]:
            lines.append(f"| {r['variant']} | {r['skipped']} | – | – | – | – | – | – |")
            continue
        lines.append(
            f"| {r['variant']} | {_num(r['steps'])} | {_num(r['train_s'], 2)} "
            f"| {_num(r['train_it_per_s'])} | {_num(r.get('speed_up'), 2)} "
            f"| {_num(r['acc'], 4)} | {_num(r.get('acc_change'), 4)} | {_num(r['nmi'], 4)} |"
        )
    for r in rows:
        if r.get("cuda_graphs_note"):
            lines += ["", f"CUDA graphs ({r['variant']}): {r['cuda_graphs_note']}"]
    amp = next((r for r in rows if r["variant"] == "amp"), None)
    if amp is None or amp["skipped"]:
        verdict = "not measured here" + (f" ({amp['skipped']})" if amp else "")
        lines += ["", f"AMP (bf16): {verdict}; `fast.amp` stays off by default."]
    elif "acc_unchanged" in amp:
        same = "unchanged" if amp["acc_unchanged"] else "changed"
        lines += [
            "",
            f"AMP (bf16): ACC {same} (ΔACC {amp['acc_change']:+.4f}); `fast.amp` stays off by "
            "default" + (" (turn it on with fast.amp=true)" if amp["acc_unchanged"] else "") + ".",
        ]
    return lines


def _together(t: dict[str, Any]) -> str:
    """``--seed-batch`` and what it did: the seeds of each batched pretraining and its time."""
    done = t.get("pretrained_together") or []
    what = "; ".join(
        f"seeds {','.join(map(str, p['seeds']))} in {_num(p['seconds'])} s" for p in done
    )
    return f"`{t.get('seed_batch', 'off')}`: " + (what or "none (each run pretrains its own)")


def table_markdown(table: dict[str, Any]) -> list[str]:
    """The table part: both harness runs' wall time, workers, and run-by-run equality."""
    seq, par = table.get("sequential"), table.get("parallel")
    same = table.get("same_metrics")
    lines = [
        "",
        f"## {table['table']} on {table['dataset']}, seeds {table['seeds']}: one after the other "
        "against all at once",
        "",
        f"Harness profile `{table['harness_profile']}`, launcher "
        f"`{table.get('launcher') or 'the profile’s'}`, a fresh results store and SAE cache "
        "each (all at once first); wall time of the whole `scripts.reproduce` call in this "
        "process (its workers' start-up and the table writing included).",
        "",
        "| run | --jobs | workers | wall s | devices | SAEs pretrained together |",
        "|---|---:|---:|---:|---|---|",
    ]
    for name, t in (("one after the other", seq), ("all at once", par)):
        if t is None:
            lines.append(f"| {name} | – | – | not run (cut off) | – | – |")
            continue
        lines.append(
            f"| {name} | {t['jobs_requested']} | {_num(t['jobs'])} | {t['wall_time_s']:.1f} "
            f"| {', '.join(t['devices'])} | {_together(t)} |"
        )
    if seq is None or par is None or same is None:
        return lines
    lines += [
        "",
        f"Speed-up {table['speed_up']:.2f}×. Same metrics run by run: "
        f"{'yes' if same['identical'] else 'no'} ({same['runs']} runs, largest ACC/NMI/ARI "
        f"difference {same['max_abs_diff']:.2g}"
        + (f", missing: {', '.join(same['missing'])}" if same["missing"] else "")
        + ")."
        + (
            " On a CPU the workers split the cores (cores ÷ workers threads each; the run one"
            " after the other used the same count, so the numbers compare), so all at once"
            " gains little there; the comparison is meant for a GPU."
            if all(d.startswith("CPU") for d in [*seq["devices"], *par["devices"]])
            else ""
        ),
        "",
        "| run | ACC | NMI | ARI | s (in turn) | s (at once) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in seq["runs"].items():
        m = r["metrics"]
        other = par["runs"].get(name, {})
        lines.append(
            f"| {name} | {m.get('acc', 0):.4f} | {m.get('nmi', 0):.4f} | {m.get('ari', 0):.4f} "
            f"| {_num(r['seconds'])} | {_num(other.get('seconds'))} |"
        )
    lines += ["", f"Commands: `{seq['command']}`; `{par['command']}`."]
    return lines


def write_outputs(record: dict[str, Any], out_dir: Path) -> tuple[Path, Path]:
    """``<out_dir>/<stem>.{json,md}``: ``<profile>-<device slug>``, plus the parts when they
    are not the profile's own (``paper-…-table``)."""
    stem = record["stem"]
    json_path = atomic_write_json(Path(out_dir) / f"{stem}.json", record)
    md_path = atomic_write_text(Path(out_dir) / f"{stem}.md", markdown(record))
    return json_path, md_path
