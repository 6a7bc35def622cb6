"""Composing the run config in-process (``conf/config.yaml`` plus overrides)."""

from __future__ import annotations

from hydra import compose, initialize_config_dir

from src.core.config_groups import CONF_DIR


def config(*overrides: str):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("config", overrides=["logger=none", *overrides])
