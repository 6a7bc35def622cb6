"""Data sets: one registry (``conf/dataset/*.yaml``), each loader returning ``ClusterData``."""

from __future__ import annotations

from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from src.core.config_groups import CONF_DIR, check_choice
from src.core.errors import UserError
from src.data.base import ClusterData, imbalance, subsample
from src.data.preprocess import preprocess

__all__ = ["ClusterData", "load_dataset", "build_data"]
CHECKOUT = CONF_DIR.parent


def data_root(root: str | Path) -> Path:
    """``data_root`` as a folder: a relative one is taken from the working directory when it
    is there, else from the checkout (``make data`` fills ``<checkout>/data``), so a run
    started elsewhere finds the prepared data; a file is refused with the fix."""
    path = Path(root).expanduser()
    if not path.is_absolute() and not path.exists() and (CHECKOUT / path).exists():
        path = CHECKOUT / path
    if path.exists() and not path.is_dir():
        raise UserError(
            f"data_root={root} is a file, not a folder; set data_root=DIR (or DCREPRO_DATA) to "
            f"the folder holding the data sets (`make data` fills {CHECKOUT / 'data'})"
        )
    return path


def load_dataset(dataset_cfg: DictConfig, root: str | Path) -> ClusterData:
    """Run the loader a dataset config names (its ``loader._target_``)."""
    if complaint := check_choice("dataset", str(dataset_cfg.name)):
        raise UserError(complaint)
    root = data_root(root)
    try:
        data = instantiate(dataset_cfg.loader, root=str(root))
    except InstantiationException as exc:  # surface the loader's own UserError unwrapped
        if isinstance(exc.__cause__, UserError):
            raise exc.__cause__ from None
        raise
    if not isinstance(data, ClusterData):
        raise TypeError(f"loader of {dataset_cfg.name} returned {type(data).__name__}")
    return data


def check_subset(subset: int | None, data: ClusterData, imbalanced: float | None) -> None:
    """``dataset.subset`` larger than the data set: refused, with the data set's size."""
    if subset is None or subset <= len(data):
        return
    after = f" after dataset.imbalance={imbalanced}" if imbalanced is not None else ""
    raise UserError(
        f"dataset.subset={subset} exceeds the {len(data)} samples of {data.name}{after}; "
        f"use dataset.subset≤{len(data)} or dataset.subset=null (all of them)"
    )


def build_data(cfg: DictConfig) -> ClusterData:
    """Load, subsample and preprocess the data set a run's config asks for."""
    ds = cfg.dataset
    data = load_dataset(ds, cfg.data_root)
    data = imbalance(data, ds.get("imbalance"), cfg.seed)
    check_subset(ds.get("subset"), data, ds.get("imbalance"))
    data = subsample(data, ds.get("subset"), cfg.seed)
    data = preprocess(data, cfg.preprocess, ds.get("dec_scale"))
    if len(data) == 0:
        raise UserError(f"{ds.name}: no samples left after subsampling")
    return data
