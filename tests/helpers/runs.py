"""In-process runs of `src.run` (compose `conf/config.yaml` with overrides and execute)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

import src.run
from src.core.config_groups import CONF_DIR


def execute_overrides(*overrides: str) -> dict:
    """Compose ``conf/config.yaml`` with ``overrides`` and run it in this process."""
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose("config", overrides=list(overrides))
    return src.run.execute(cfg)


def run_cached(tmp_path: Path, name: str, *overrides: str) -> dict:
    """One in-process run in ``tmp_path/name`` with its own SAE cache in ``tmp_path/cache``."""
    return execute_overrides(
        f"cache_dir={tmp_path / 'cache'}", f"+run_dir={tmp_path / name}", *overrides
    )


def run_in_process(run_dir: Path, *overrides: str) -> dict:
    """k-means (2 restarts, PCA view) in ``run_dir``, plus ``overrides``."""
    return execute_overrides(
        "logger=none",
        "method=kmeans",
        "method.n_init=2",
        "export.projection=pca",
        f"+run_dir={run_dir}",
        *overrides,
    )


def short_kl(*overrides: str, max_iter: int, update_interval: int) -> list[str]:
    """DEC's KL-phase cap and target interval T as overrides, or none when ``overrides`` pick a
    method without a KL phase (AE+k-means: its ``method.max_iter`` is k-means'). DEC is the
    default method, so no ``method=`` counts as DEC."""
    chosen = [o.split("=", 1)[1] for o in overrides if o.startswith("method=")]
    if chosen and chosen[-1] not in ("dec", "dec_nobp"):
        return []
    return [f"method.max_iter={max_iter}", f"method.update_interval={update_interval}"]
