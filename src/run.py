"""``python -m src.run [group=choice ...] [key=value ...]``: one clustering run (Hydra)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from hydra.core.hydra_config import HydraConfig
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf

from src.config_groups import check_choice, groups
from src.data import ClusterData, build_data
from src.errors import UserError
from src.io_utils import atomic_write_json
from src.methods.base import MethodOutput, RunContext
from src.metrics import evaluate
from src.provenance import PhaseTimer, device_name, environment, git_commit, now_iso
from src.seeding import seed_everything


def resolve_n_clusters(requested: int | None, data: ClusterData) -> int:
    """``n_clusters`` from config, else the data set's number of classes; 2 ≤ k ≤ n."""
    k = requested if requested is not None else data.n_classes
    if k is None:
        raise UserError(f"{data.name} has no labels; set n_clusters=K")
    k = int(k)
    if k < 2:
        raise UserError(f"n_clusters={k} is too small; use n_clusters=2 or more")
    if k > len(data):
        raise UserError(
            f"n_clusters={k} exceeds the {len(data)} samples of {data.name}; "
            f"use n_clusters≤{len(data)} or more data"
        )
    return k


def run_dir_of(cfg: DictConfig) -> Path:
    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path(cfg.get("run_dir") or "outputs/runs/manual")


def summary_line(
    name: str, metrics: dict[str, float], data: ClusterData, k: int, seed: int, seconds: float
) -> str:
    shown = "  ".join(
        f"{m.upper()} {metrics[m]:.4f}" for m in ("acc", "nmi", "ari") if m in metrics
    )
    shown = shown or "no labels: ACC/NMI/ARI skipped"
    return (
        f"{shown}  | {name} on {data.name} (n={len(data)}, k={k}, seed={seed}) in {seconds:.1f} s"
    )


def execute(cfg: DictConfig) -> dict[str, Any]:
    """Load data, run the configured method, evaluate, and write ``result.json``."""
    from src.plots import confusion_png, embedding_png
    from src.tracking import close_logger, logger_location, make_logger

    run_dir = run_dir_of(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    timer = PhaseTimer()
    started = time.perf_counter()
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
    )
    status = "failed"
    try:
        method = get_method(cfg.method.entry)
        out: MethodOutput = method(cfg, data, ctx)
        metrics = evaluate(data.y, out.labels) if data.y is not None else {}
        metrics["n_nonempty_clusters"] = int(len(np.unique(out.labels)))
        ctx.log({f"final/{m}": v for m, v in metrics.items()})
        figures = {}
        if cfg.plots:
            with timer("plots"):
                title = f"{method_name} on {data.name}, seed {cfg.seed}"
                if data.y is not None:
                    figures["confusion"] = str(
                        confusion_png(data.y, out.labels, run_dir / "confusion.png", title)
                    )
                if out.embeddings is not None:
                    figures["embedding"] = str(
                        embedding_png(
                            out.embeddings,
                            out.labels,
                            run_dir / "embedding_2d.png",
                            title,
                            cfg.seed,
                        )
                    )
        result = {
            "method": method_name,
            "dataset": data.name,
            "n_samples": len(data),
            "n_clusters": k,
            "seed": int(cfg.seed),
            "metrics": metrics,
            "extra": out.extra,
            "wall_time_s": {**timer.seconds, "total": time.perf_counter() - started},
            "device": device_name(cfg.trainer.get("accelerator")),
            "commit": git_commit(),
            "date": now_iso(),
            "command": " ".join(["python -m src.run", *sys.argv[1:]]),
            "environment": environment(),
            "model_path": str(out.model_path) if out.model_path else None,
            "figures": figures,
            "config": OmegaConf.to_container(cfg, resolve=True),
        }
        atomic_write_json(run_dir / "result.json", result)
        status = "success"
    finally:
        where_logged = logger_location(logger)
        close_logger(logger, status)
    print(summary_line(method_name, metrics, data, k, cfg.seed, result["wall_time_s"]["total"]))
    print(f"results: {run_dir / 'result.json'}")
    for name, path in figures.items():
        print(f"plot ({name}): {path}")
    if where_logged:
        print(f"logged: {where_logged}")
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def hydra_entry(cfg: DictConfig) -> float | None:
    """Hydra's task function; returns ACC so sweepers can optimise it if asked."""
    try:
        result = execute(cfg)
    except UserError as exc:
        if cfg.get("debug"):
            raise
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    return result["metrics"].get("acc")


def check_group_overrides(argv: list[str]) -> str | None:
    """Catch ``dataset=nope`` before Hydra does, with one line listing the valid names."""
    known = set(groups())
    for arg in argv:
        if "=" not in arg or arg.startswith(("-", "hydra.", "+", "~")):
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+")
        if key not in known or "(" in value or "$" in value:
            continue
        for choice in value.split(","):
            if choice != "null" and (complaint := check_choice(key, choice)):
                return complaint
    return None


def main() -> None:
    if complaint := check_group_overrides(sys.argv[1:]):
        print(f"error: {complaint}", file=sys.stderr)
        sys.exit(2)
    hydra_entry()


if __name__ == "__main__":
    main()
