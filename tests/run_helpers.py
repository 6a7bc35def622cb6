"""Helpers shared by test modules (not collected: the name does not start with test_)."""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir

import src.run
from src.config_groups import CONF_DIR


def run_in_process(run_dir: Path, *overrides: str) -> dict:
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            "config",
            overrides=[
                "logger=none",
                "method=kmeans",
                "method.n_init=2",
                "export.projection=pca",
                f"+run_dir={run_dir}",
                *overrides,
            ],
        )
    return src.run.execute(cfg)
