"""Experiment loggers: W&B (offline unless asked), CSV, or none; wandb imported only if used."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

LOGGERS = ("wandb", "csv", "none")


def make_logger(logger_cfg: DictConfig, run_dir: Path, run_name: str, config: DictConfig):
    """A Lightning logger for the run, or None for ``logger=none``."""
    kind = logger_cfg.name
    if kind == "none":
        return None
    if kind == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(save_dir=str(run_dir), name="csv_logs", version="")
    if kind == "wandb":
        import wandb
        from lightning.pytorch.loggers import WandbLogger

        mode = str(logger_cfg.mode)
        if mode != "online":
            os.environ.setdefault("WANDB_SILENT", "true")
        # The run is started here rather than by WandbLogger, which passes wandb.init a
        # deprecated ``anonymous`` argument (a warning on every run).
        run = wandb.init(
            project=logger_cfg.project,
            entity=logger_cfg.get("entity"),
            name=run_name,
            dir=str(run_dir),
            mode=mode,
            tags=list(logger_cfg.get("tags") or []),
            config=OmegaConf.to_container(config, resolve=True),
        )
        if hasattr(run, "define_metric"):  # as WandbLogger does for the runs it starts
            run.define_metric("trainer/global_step")
            run.define_metric("*", step_metric="trainer/global_step", step_sync=True)
        return WandbLogger(experiment=run, save_dir=str(run_dir), name=run_name)
    raise ValueError(f"unknown logger '{kind}'; choose one of: {', '.join(LOGGERS)}")


def logger_location(logger: Any) -> str | None:
    """Where the logger wrote, in words, for the end-of-run summary."""
    if logger is None:
        return None
    from lightning.pytorch.loggers import WandbLogger

    if isinstance(logger, WandbLogger):
        run = logger.experiment
        if getattr(run, "disabled", False) or run.settings.mode == "disabled":
            return "W&B disabled"
        run_path = Path(run.dir).parent
        if run.settings.mode == "offline":
            return f"W&B offline run {run_path} (upload: wandb sync {run_path})"
        return f"W&B run {run.url}"
    return f"{type(logger).__name__} {logger.log_dir}"


def close_logger(logger: Any, status: str = "success") -> None:
    if logger is None:
        return
    logger.finalize(status)
    from lightning.pytorch.loggers import WandbLogger

    if isinstance(logger, WandbLogger):
        logger.experiment.finish(exit_code=0 if status == "success" else 1)
