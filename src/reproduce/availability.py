"""Which data sets can be loaded here: the loader itself decides (DataNotFoundError → skip)."""

from __future__ import annotations

from src.core.config_groups import CONF_DIR, options
from src.core.errors import UserError


def configured_status(names: list[str]) -> dict[str, str | None]:
    """Like :func:`dataset_status` without loading anything: only data sets this checkout has
    no config for are skipped (what a table built from the ledger alone needs)."""
    known = set(options("dataset"))
    return {n: None if n in known else _NO_CONFIG.format(n) for n in dict.fromkeys(names)}


_NO_CONFIG = "no conf/dataset/{}.yaml in this checkout (data set not implemented)"


def dataset_status(names: list[str], extra: list[str]) -> dict[str, str | None]:
    """Map each data set to None when it loads, else a one-line reason to skip it.

    The data set's config is composed exactly as a run would (``extra`` may set ``data_root``),
    then its loader is called once; a data set without a config, or whose loader raises
    ``UserError`` (``DataNotFoundError`` included), is skipped with the loader's message.
    """
    from hydra import compose, initialize_config_dir

    known = set(options("dataset"))
    status: dict[str, str | None] = {}
    wanted = [n for n in dict.fromkeys(names)]
    for name in wanted:
        if name not in known:
            status[name] = _NO_CONFIG.format(name)
    loadable = [n for n in wanted if n not in status]
    if not loadable:
        return status
    from src.data import load_dataset

    roots = [o for o in extra if o.startswith("data_root=")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        for name in loadable:
            cfg = compose("config", overrides=[f"dataset={name}", *roots])
            try:
                load_dataset(cfg.dataset, cfg.data_root)
                status[name] = None
            except UserError as exc:
                status[name] = str(exc).splitlines()[0]
    return status
