"""``make bench [ARGS=...]``: DEC's, DAC's and DAC*'s phases timed through the framework, each
training phase next to a hand-written PyTorch loop of the same step on the same device, and DEC's
table through the harness with its seeds one after the other against all at once.

Every framework run goes through ``src.run.execute`` (the ``python -m src.run`` path) with a
fresh temporary ``cache_dir``, so SAE pretraining really runs; the table runs the harness
(``scripts.reproduce.main``) twice into fresh stores. Writes ``<out>/<profile>-<device>.json``
and ``.md`` (``-<parts>`` added when not the profile's; see docs/bench.md).
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, NoReturn

import torch

from src.bench.floor import gemm_peaks
from src.bench.framework import compose_config, phases_of, run_framework
from src.bench.handwritten import HandTiming, hand_written_dac, hand_written_dec
from src.bench.profiles import COMMON, PARTS, PROFILES, BenchProfile
from src.bench.report import checks, device_slug, paper_projection, run_record, write_outputs
from src.bench.table import bench_table
from src.bench.variants import VARIANTS, run_variants
from src.core.errors import UserError, exit_with
from src.core.seeds import SEEDS_GRAMMAR, parse_seeds
from src.engine.switches import resolve_fast
from src.recording.provenance import device_name, environment, git_commit, now_iso
from src.reproduce.launch import LAUNCHERS
from src.reproduce.seed_batch import parse_seed_batch

METHODS = ("dec", "dac", "dac_star")  # the parts that are single framework runs


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts.bench", description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--profile",
        default="auto",
        choices=["auto", *PROFILES],
        help="paper (GPU-sized), cpu (full MNIST on the CPU, the paper's DEC schedule "
        "projected), quick (CPU-sized, digits), smoke (seconds); auto: paper on CUDA, quick "
        "otherwise",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument(
        "--parts",
        help=f"comma-separated subset of {','.join(PARTS)} (default: the profile's; paper: "
        "dec,dac_star,table)",
    )
    p.add_argument(
        "--seeds",
        help=f"{SEEDS_GRAMMAR} ('3' is seed 3); default: seed 0 for single runs, the "
        "profile's seeds for the table (paper: 0-4)",
    )
    p.add_argument("--table-jobs", help="--jobs of the table's parallel run (default: profile's)")
    p.add_argument(
        "--table-launcher", choices=LAUNCHERS, help="the table's launcher (default: profile's)"
    )
    p.add_argument(
        "--table-seed-batch",
        default="auto",
        help="--seed-batch of the table's parallel run (auto: the seeds' SAEs pretrained "
        "together on CUDA; off; N); the sequential run always uses off",
    )
    p.add_argument("--out", default="outputs/bench", help="output folder (default %(default)s)")
    p.add_argument("--hand-iterations", type=int, help="timed hand-written iterations per step")
    p.add_argument(
        "--variants",
        help=f"DAC's speed-switch variants to run after each DAC/DAC* run, comma-separated "
        f"subset of {','.join(VARIANTS)} or 'none' (default: the profile's)",
    )
    p.add_argument("--keep-runs", help="keep the runs' folders (and SAE cache) here")
    for m in METHODS:
        p.add_argument(
            f"--{m.replace('_', '-')}-override",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=f"a Hydra override for the {m} runs only (repeatable)",
        )
    p.add_argument("overrides", nargs="*", help="Hydra overrides added to every run")
    return p.parse_args(argv)


def parse_parts(text: str | None, profile: BenchProfile) -> list[str]:
    """``--parts dec,table`` → those parts in the bench's order (one-line error otherwise)."""
    if text is None:
        return list(profile.parts)
    names = [s.strip() for s in text.split(",")]
    unknown = [n for n in names if n not in PARTS]
    if unknown:
        what = ", ".join(unknown) or "nothing"
        raise UserError(f"--parts {text!r}: {what} is not one of: {','.join(PARTS)}")
    return [p for p in PARTS if p in names]


def parse_variants(text: str | None, profile: BenchProfile) -> list[str]:
    """``--variants eager,amp`` → those variants (one-line error for an unknown name)."""
    if text is None:
        return list(profile.variants)
    if text.strip() == "none":
        return []
    names = [s.strip() for s in text.split(",")]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        raise UserError(
            f"--variants {text!r}: {', '.join(unknown)} is not one of: "
            f"{','.join(VARIANTS)} (or none)"
        )
    return [v for v in VARIANTS if v in names]


def resolve(device: str) -> torch.device:
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda, but torch sees no CUDA device; use --device cpu")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def paper_stages() -> dict[str, int]:
    """The paper's SAE schedule (``pretrain=paper``): iterations per stage name."""
    cfg = compose_config(["method=dec", "dataset=mnist", "pretrain=paper"])
    layers = len(cfg.arch.hidden_dims) + 1
    stages = {f"layer{i}": int(cfg.pretrain.layerwise_iters) for i in range(layers)}
    return {**stages, "finetune": int(cfg.pretrain.finetune_iters)}


def hand_settings(device: torch.device) -> dict[str, Any]:
    """The global switches the hand-written loops ran under (the framework run's, unchanged)."""
    if device.type != "cuda":
        return {"torch_threads": torch.get_num_threads()}
    return {
        "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
        "tf32_cudnn": torch.backends.cudnn.allow_tf32,
        "cudnn_benchmark": torch.backends.cudnn.benchmark,
        "fused_sgd_adam": True,  # the hand-written SGD/Adam; DAC keeps its configured RMSprop
    }


def hand_timings(
    method: str, overrides: list[str], k: int, device: torch.device, iters: int, warmup: int
) -> dict[str, HandTiming]:
    """The hand-written loops of ``method`` on the run's own (preprocessed) data."""
    from src.data import build_data
    from src.engine.placement import to_device

    cfg = compose_config(overrides)
    data = build_data(cfg)
    fast = resolve_fast(cfg.get("fast"), device)  # the run's precision and memory format
    if method == "dec":
        x = to_device(data.features(), device)
        return hand_written_dec(cfg, x, k, iters, warmup, fast.amp)
    images = to_device(data.images(), device)
    return hand_written_dac(cfg, images, k, iters, warmup, fast.amp, fast.channels_last)


def bench(args: argparse.Namespace, command: str, work: Path) -> dict[str, Any]:
    """Time the chosen parts; the record (``<out>/<stem>.json`` and ``.md``) is rewritten after
    every run, so a command cut off by a time limit leaves what it measured."""
    device = resolve(args.device)
    name = (
        args.profile if args.profile != "auto" else ("paper" if device.type == "cuda" else "quick")
    )
    profile: BenchProfile = PROFILES[name]
    parts = parse_parts(args.parts, profile)
    variants = parse_variants(args.variants, profile)
    parse_seed_batch(args.table_seed_batch)  # a bad value fails now, not after the first part
    seeds = parse_seeds(args.seeds) if args.seeds is not None else [0]
    methods = [m for m in METHODS if m in parts]
    trainer = "trainer=gpu" if device.type == "cuda" else "trainer=cpu"
    started = time.perf_counter()
    env = environment()
    env.update(
        cuda=torch.version.cuda if device.type == "cuda" else None,
        cudnn=torch.backends.cudnn.version() if device.type == "cuda" else None,
        torch_threads=torch.get_num_threads(),
    )
    device_label = device_name(device)
    slug = "cpu" if device.type == "cpu" else device_slug(device_label)
    runs: list[dict[str, Any]] = []
    record: dict[str, Any] = {
        "profile": name,
        "description": profile.description,
        "device": device_label,
        "device_type": device.type,
        "device_slug": slug,
        "stem": "-".join([name, slug, *([] if parts == list(profile.parts) else parts)]),
        "commit": git_commit(),
        "date": now_iso(),
        "command": command,
        "parts": parts,
        "seeds": seeds,
        "overrides": list(args.overrides),
        "method_overrides": {m: getattr(args, f"{m}_override") for m in methods},
        "environment": env,
        "targets": profile.targets,
        "runs": runs,
        "hand_written": {},
        "variants": {},
        "variant_overrides": list(profile.variant_overrides),
        "table": None,
        "complete": False,
        "gemm_gflop_s": gemm_peaks(device),  # the floor's denominator, measured now
    }

    def save(complete: bool = False) -> None:
        record.update(
            checks=checks(runs, record["table"], profile.targets),
            wall_time_s=time.perf_counter() - started,
            complete=complete,
        )
        write_outputs(record, Path(args.out))

    if "table" in parts:
        record["table"] = bench_table(
            profile.table,
            args.seeds or profile.table.seeds,
            args.table_jobs or profile.table_jobs,
            work / "table",
            args.table_launcher or profile.table.launcher,
            [*COMMON, trainer, *args.overrides],
            on_part=lambda table: (record.update(table=table), save()),
            seed_batch=args.table_seed_batch,
        )
    for method in methods:
        own = getattr(args, f"{method}_override")
        base = [*COMMON, trainer, *getattr(profile, method), *args.overrides, *own]
        hand: dict[str, HandTiming] = {}
        for seed in seeds:
            run_dir = work / f"{method}-seed{seed}"
            overrides = [*base, f"seed={seed}", f"cache_dir={work / 'cache'}"]
            print(f"bench [{name}] {method} seed {seed}: {shlex.join(overrides)}", flush=True)
            result, execute_s = run_framework(overrides, run_dir)
            if not hand:  # once per method, right after its first run, under its settings
                iters = args.hand_iterations or (
                    profile.hand_iterations if method == "dec" else profile.hand_dac_iterations
                )
                print(
                    f"bench [{name}] hand-written {method} loops ({iters} iterations)", flush=True
                )
                hand = hand_timings(
                    method, overrides, result["n_clusters"], device, iters, profile.warmup
                )
                record["hand_written"][method] = {
                    "settings": hand_settings(device),
                    "phases": {k: vars(v) for k, v in hand.items()},
                }
            peak = record["gemm_gflop_s"].get(result.get("precision", "fp32"), {}).get("peak")
            runs.append(run_record(result, phases_of(result), hand, overrides, execute_s, peak))
            if method == "dec" and profile.project_paper_schedule:
                runs[-1]["paper_projection"] = paper_projection(runs[-1], paper_stages())
            save()
        if method != "dec" and variants:
            record["variants"][method] = run_variants(
                variants,
                [
                    *base,
                    f"seed={seeds[0]}",
                    f"cache_dir={work / 'cache'}",
                    *profile.variant_overrides,
                ],
                device,
                work / method,
                run_framework,
                lambda rows, method=method: (record["variants"].update({method: rows}), save()),
            )
    save(complete=True)
    return record


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    command = "python -m scripts.bench " + shlex.join(argv)
    if args.keep_runs:
        record = bench(args, command, Path(args.keep_runs))
    else:
        with tempfile.TemporaryDirectory(prefix="dcrepro-bench-") as tmp:
            record = bench(args, command, Path(tmp))
    print(f"bench: {Path(args.out) / record['stem']}.json (+ .md)")
    return 0


def cli() -> NoReturn:
    """The command line: one-line errors, exit 2."""
    try:
        sys.exit(main())
    except UserError as exc:
        exit_with(exc)


if __name__ == "__main__":
    cli()
