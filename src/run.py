"""``python -m src.run [group=choice ...] [key=value ...]``: one clustering run (Hydra)."""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from src.core.config_groups import CONF_DIR, check_group_overrides
from src.core.errors import UserError, exit_with
from src.core.hydra_errors import run_hydra
from src.core.io_utils import atomic_write_json
from src.core.seeding import seed_everything
from src.core.sweep_checks import MULTIRUN_FLAGS, sweep_problems
from src.core.validation import added_key_problems, folder_problems, validate_run
from src.data import ClusterData, build_data
from src.data.preprocess import preprocess_summary
from src.engine.context import RunContext
from src.engine.interrupts import RunInterrupted, install_stop_handlers
from src.engine.switches import precision, resolve_fast
from src.methods.base import MethodOutput
from src.recording.checkpoints import complete_checkpoint
from src.recording.metrics import evaluate, internal_measures, metrics_line
from src.recording.provenance import PhaseTimer, device_name, environment, git_commit, now_iso
from src.recording.results_class import results_class

log = logging.getLogger("dcrepro")  # run.log in the run directory (Hydra's job log file)


def resolve_n_clusters(requested: int | None, data: ClusterData) -> int:
    """``n_clusters`` from config, else the data set's number of classes; 2 ≤ k ≤ n."""
    k = requested if requested is not None else data.n_classes
    if k is None:
        raise UserError(f"{data.name} has no labels; set n_clusters=K")
    k = int(k)
    if k < 2:
        raise UserError(f"n_clusters={k} is too small; use n_clusters=2 or more")
    if len(data) < 2:
        raise UserError(
            f"{data.name} has {len(data)} sample; clustering needs at least 2 samples "
            "(and n_clusters=2 or more): give more data"
        )
    if k > len(data):
        raise UserError(
            f"n_clusters={k} exceeds the {len(data)} samples of {data.name}; "
            f"use n_clusters≤{len(data)} or more data"
        )
    return k


def in_multirun() -> bool:
    """Whether this run is one job of a Hydra ``--multirun``."""
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def run_dir_of(cfg: DictConfig) -> Path:
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(cfg.get("run_dir") or "outputs/runs/manual")


def run_precision(cfg: DictConfig, out: MethodOutput) -> str:
    """The training arithmetic of a run (``fp32`` for methods without a torch device)."""
    if not out.device:
        return "fp32"
    return precision(resolve_fast(cfg.get("fast"), torch.device(out.device)))


def summary_line(name: str, result: dict[str, Any], data: ClusterData, k: int, seed: int) -> str:
    """The one greppable line: the metrics line (``ACC … NMI … ARI …`` or the label-free
    measures, :func:`src.recording.metrics.metrics_line`), then what ran on what, and how long."""
    seconds = result["wall_time_s"]["total"]
    return (
        f"{metrics_line(result)}  | {name} on {data.name} (n={len(data)}, k={k}, seed={seed}) "
        f"in {seconds:.1f} s"
    )


def execute(cfg: DictConfig) -> dict[str, Any]:
    """Load data, run the configured method, evaluate, and write ``result.json``."""
    from src.recording.export import export_run
    from src.recording.plots import (
        CONFUSION_FILE,
        confusion_counts,
        confusion_png,
        write_confusion_csv,
    )
    from src.recording.summary import print_summary
    from src.recording.tracking import close_logger, logger_location, make_logger

    run_dir = run_dir_of(cfg)
    validate_run(
        cfg, run_dir, in_multirun()
    )  # ranges, writable outputs, a GPU if asked: before any work
    seed_everything(cfg.seed)
    timer = PhaseTimer()
    started = time.perf_counter()
    commit = git_commit()  # the code that runs, even if the tree changes before the run ends
    log.info("python -m src.run %s  (commit %s)", " ".join(sys.argv[1:]), commit)
    with timer("data"):
        data = build_data(cfg)
    k = resolve_n_clusters(cfg.n_clusters, data)
    method_name = cfg.method.name
    logger = make_logger(cfg.logger, run_dir, f"{method_name}-{data.name}-s{cfg.seed}", cfg)
    ctx = RunContext(
        run_dir=run_dir,
        cache_dir=Path(cfg.cache_dir),
        n_clusters=k,
        seed=cfg.seed,
        timer=timer,
        logger=logger,
        progress=bool(cfg.get("progress_bar", True)),
    )
    status = "failed"
    try:
        with timer("setup"):  # the method's imports (methods add their own set-up here)
            method = get_method(cfg.method.entry)
        method_started = time.perf_counter()
        out: MethodOutput = method(cfg, data, ctx)
        method_seconds = time.perf_counter() - method_started
        space = out.embeddings if out.embeddings is not None else data.features()
        with timer("internal"):
            internal = internal_measures(
                space, out.labels, k, cfg.seed, int(cfg.get("silhouette_points", 10_000))
            )
        metrics = evaluate(data.y, out.labels) if data.y is not None else {}
        metrics["n_nonempty_clusters"] = internal["n_nonempty_clusters"]
        if internal["silhouette"] is not None:
            metrics["silhouette"] = internal["silhouette"]
        ctx.log({f"final/{m}": v for m, v in metrics.items()})
        title = f"{method_name} on {data.name}, seed {cfg.seed}"
        preprocess_params = data.meta.get("preprocess_params")
        if out.model_path:
            complete_checkpoint(
                out.model_path,
                {
                    "method": method_name,
                    "config": OmegaConf.to_container(cfg, resolve=True),
                    "preprocess": preprocess_params,
                    "input_shape": list(data.x.shape[1:]),
                    "n_clusters": k,
                },
            )
        outputs = {"results": str(run_dir / "result.json")}
        if out.model_path:
            outputs["model"] = str(out.model_path)
        with timer("export"):
            outputs.update(
                export_run(
                    cfg,
                    data,
                    out.labels,
                    space,
                    out.soft,
                    run_dir,
                    title,
                    ctx.status,
                    projection_budget_s=method_seconds + out.reused_s,
                )
            )
        if cfg.plots and data.y is not None:
            with timer("plots"):
                counts = confusion_counts(data.y, out.labels)
                counts_csv = write_confusion_csv(counts, run_dir / CONFUSION_FILE)
                outputs["confusion_counts"] = str(counts_csv)
                outputs["confusion"] = str(confusion_png(counts, run_dir / "confusion.png", title))
        figures = {
            fig: outputs[key]
            for fig, key in (("confusion", "confusion"), ("embedding", "embedding_2d"))
            if key in outputs
        }
        result = {
            "method": method_name,
            "dataset": data.name,
            "n_samples": len(data),
            "n_clusters": k,
            "seed": int(cfg.seed),
            "metrics": metrics,
            "metrics_skipped": {}
            if data.y is not None
            else {m: "the data have no labels" for m in ("acc", "nmi", "ari")},
            "internal": internal,
            "extra": out.extra,
            "wall_time_s": {**timer.seconds, "total": time.perf_counter() - started},
            "device": device_name(out.device),
            "precision": run_precision(cfg, out),
            "commit": commit,
            "results_class": results_class(method_name),
            "date": now_iso(),
            "command": " ".join(["python -m src.run", *sys.argv[1:]]),
            "environment": environment(),
            "model_path": str(out.model_path) if out.model_path else None,
            "preprocess": preprocess_summary(preprocess_params) if preprocess_params else None,
            "figures": figures,
            "outputs": outputs,
            "config": OmegaConf.to_container(cfg, resolve=True),
        }
        atomic_write_json(run_dir / "result.json", result)
        status = "success"
    finally:
        where_logged = logger_location(logger)
        close_logger(logger, status)
    line = summary_line(method_name, result, data, k, cfg.seed)
    print_summary(result, outputs, line, where_logged)
    log.info(line)
    for name, where in outputs.items():
        log.info("%s: %s", name, where)
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def hydra_entry(cfg: DictConfig) -> float | None:
    """Hydra's task function; returns ACC so sweepers can optimise it if asked."""
    try:
        if problems := added_key_problems(cfg, list(HydraConfig.get().overrides.task)):
            raise UserError("\n".join(problems))
        result = execute(cfg)
    except UserError as exc:
        log.info("error: %s", exc)
        if cfg.get("debug"):
            raise
        exit_with(exc)
    return result["metrics"].get("acc")


def check_run_dir_override(argv: list[str]) -> list[str]:
    """The run (or sweep) folder, explicit or the default one, checked before Hydra creates it
    (its job log file lives there): the part of it known before Hydra resolves ``${…}``."""
    multirun = any(flag in argv for flag in MULTIRUN_FLAGS)
    key = "hydra.sweep.dir" if multirun else "hydra.run.dir"
    value = override_value(argv, key)
    if value is None:  # the default, unresolved
        section, name = key.split(".")[1:]
        raw = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "config.yaml"), resolve=False)
        value = str(raw["hydra"][section][name])  # type: ignore[index]
    fixed = value.split("${")[0]
    return folder_problems(Path(fixed), f"{key}=DIR") if fixed else []


def override_value(argv: list[str], key: str) -> str | None:
    """The value ``key=VALUE`` on the command line gives, unquoted as Hydra reads it."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    for arg in reversed(argv):
        if arg.partition("=")[0].lstrip("+") == key:
            try:
                value = OverridesParser.create().parse_override(arg).value()
            except Exception:  # Hydra reports an override that does not parse
                return None
            return value if isinstance(value, str) else None
    return None


def main() -> None:
    install_stop_handlers()
    try:
        parse_and_run()
    except RunInterrupted as stop:
        log.info("error: %s", stop.message())
        print(f"error: {stop.message()}", file=sys.stderr)
        exit_now(stop.exit_code)
    exit_now(0)


def parse_and_run() -> None:
    """Check the command line, then run Hydra's task function (one run or a sweep)."""
    if complaint := check_group_overrides(sys.argv[1:]):
        exit_with(UserError(complaint))
    if problems := check_run_dir_override(sys.argv[1:]) or sweep_problems(sys.argv[1:]):
        exit_with(UserError("\n".join(problems)))
    run_hydra(hydra_entry, sys.argv[1:])  # Hydra's errors as one line, as every entry point


def exit_now(code: int) -> NoReturn:
    """End a finished run without the interpreter's finalisation, which only tears down what
    the imports built (≈1.5 s of a 2-core CPU: the cyclic collector walking torch's objects).
    What finalisation did for a run is done first: W&B's service is shut down, the log files
    and the terminal are flushed. Under a profiler or tracer (cProfile, coverage) the exit is
    the normal one, so they can write their reports."""
    if sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    if (wandb := sys.modules.get("wandb")) is not None and hasattr(wandb, "teardown"):
        wandb.teardown()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
