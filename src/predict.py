"""``python -m src.predict ckpt=<run dir | model.pt> data=<file | dataset name> [key=value …]``

Cluster new data with a trained model: the run's saved config and fitted preprocessing are
re-applied, then the method module's ``predict(checkpoint, data, device)`` assigns clusters.

The arguments are Hydra's ``key=value`` overrides of ``conf/predict.yaml``, read and reported
as ``src.run`` reads its own (one line, exit 2, "did you mean" for a misspelt key; ``--cfg job``
shows them). Keys: ``ckpt`` (a run directory or its ``model.pt``), ``data`` (a file, or a data
set name from ``conf/dataset/``; the run's own data set name gives exactly its training
samples), ``out`` (folder; default ``<run dir>/predictions/<data>``), ``device`` (``auto`` |
``cpu`` | ``cuda`` | ``cuda:N``), ``data_root``, ``debug``, and ``dataset.KEY=VALUE`` overrides
of the data set config (e.g. ``dataset.subset=1000``), checked against that config's keys and
ranges. Writes ``assignments.csv``, ``soft_assignments.npy`` (methods with soft assignments)
and ``prediction.json``; prints one summary line.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from omegaconf import DictConfig, OmegaConf

from src.core.config_groups import CONF_DIR, options
from src.core.errors import UserError, exit_with
from src.core.hydra_errors import compose_args, run_hydra
from src.core.io_utils import atomic_write_json
from src.core.validation import added_key_problems, config_keys, did_you_mean, output_problems
from src.data import load_dataset
from src.data.base import ClusterData, imbalance, subsample
from src.data.preprocess import apply_fitted
from src.methods.base import MethodOutput
from src.recording.checkpoints import load_checkpoint

PREDICT_OUTPUTS = ("assignments.csv", "soft_assignments.npy", "prediction.json")
CONFIG_NAME = "predict"  # conf/predict.yaml
COMMAND = "src.predict"
USAGE = (
    "usage: python -m src.predict ckpt=<run dir | model.pt> data=<file | dataset name> "
    "[out=DIR] [device=auto|cpu|cuda] [data_root=DIR] [dataset.KEY=VALUE ...]"
)


@dataclass
class TrainedRun:
    """A trained model with the config and fitted preprocessing it was trained under."""

    checkpoint: dict[str, Any]
    config: DictConfig
    preprocess: dict[str, Any]
    model_path: Path
    run_dir: Path


def hydra_argv(argv: list[str]) -> list[str]:
    """``argv`` as Hydra overrides: ``dataset.KEY=VALUE`` adds to the (open) data set layer,
    whose keys are those of the data set config chosen by ``data=`` (checked there)."""
    return [f"++{a}" if a.startswith("dataset.") else a for a in argv]


def predict_args(cfg: DictConfig) -> dict[str, Any]:
    """The arguments of a composed ``conf/predict.yaml``: paths as text, required ones given."""
    for required in ("ckpt", "data"):
        if OmegaConf.is_missing(cfg, required) or cfg[required] in (None, ""):
            raise UserError(f"{required}= is required; {USAGE}")
    args = {
        key: None if cfg.get(key) is None else str(cfg[key])
        for key in ("ckpt", "data", "out", "device", "data_root")
    }
    args["dataset"] = cfg.get("dataset") or OmegaConf.create({})
    return args


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def resolve_run(spec: str) -> TrainedRun:
    """Checkpoint, config and preprocessing of ``ckpt=`` (a run directory or a model.pt)."""
    path = Path(spec)
    if path.is_dir():
        run_dir = path
        result = _read_json(run_dir / "result.json")
        model_path = run_dir / "model.pt"
        if not model_path.exists() and result.get("model_path"):
            model_path = Path(result["model_path"])
        if not model_path.exists():
            raise UserError(
                f"{run_dir} holds no model.pt; give the directory of a finished run whose "
                "method saves a model (kmeans, dec, dac)"
            )
    elif path.is_file():
        model_path, run_dir = path, path.parent
        result = _read_json(run_dir / "result.json")
    else:
        raise UserError(f"ckpt={spec}: no such run directory or checkpoint file")
    ckpt = load_checkpoint(model_path)
    config = ckpt.get("config") or result.get("config")
    if config is None and (run_dir / ".hydra" / "config.yaml").exists():
        config = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    if config is None:
        raise UserError(
            f"{model_path} carries no run config and no result.json lies beside it; "
            "give the run directory"
        )
    params = ckpt.get("preprocess") or result.get("preprocess")
    if not isinstance(params, dict) or any(
        isinstance(v, dict) and isinstance(v.get("values"), str) for v in params.values()
    ):
        raise UserError(
            f"{model_path} does not record its fitted preprocessing; re-run training with "
            "this version of dcrepro"
        )
    return TrainedRun(ckpt, OmegaConf.create(config), params, model_path, run_dir)


def load_array_file(path: Path) -> ClusterData:
    """Minimal reader for ``.npy``/``.npz``/``.csv`` features (``label`` column/``y`` optional).

    Used only when no custom data set loader is configured (``conf/dataset/custom.yaml``);
    the custom loader, with its validation, is preferred whenever it exists.
    """
    suffix = path.suffix.lower()
    y = None
    if suffix == ".npy":
        x = np.load(path, allow_pickle=False)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "x" not in z:
                raise UserError(f"{path}: an .npz needs an array named 'x' (and optionally 'y')")
            x, y = z["x"], z["y"] if "y" in z else None
    elif suffix == ".csv":
        import pandas as pd

        table = pd.read_csv(path)
        if "label" in table.columns:
            y = table.pop("label").to_numpy()
        x = table.to_numpy()
    else:
        raise UserError(f"{path}: unsupported file type '{suffix}'; use .npy, .npz or .csv")
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 1:
        x = x[:, None]
    return ClusterData(path.stem, x, y)


def _layer(overrides: list[str] | DictConfig) -> DictConfig:
    """The ``dataset.*`` overrides as a config layer (a dotlist or a config node)."""
    return OmegaConf.from_dotlist(overrides) if isinstance(overrides, list) else overrides


def dataset_problems(base: DictConfig, layer: DictConfig, ds: DictConfig) -> list[str]:
    """``dataset.*`` overrides the data set config lacks or values out of range: the lines
    ``src.run`` gives for the same overrides."""
    from src.core.validation import numeric_problems

    known = [f"dataset.{k}" for k in config_keys(base)]
    given = [f"dataset.{k}" for k in config_keys(layer)]
    if unknown := [key for key in given if key not in known]:
        return [f"{key} is not a config key{did_you_mean(key, known)}" for key in unknown]
    problems = numeric_problems(OmegaConf.create({"dataset": ds}))
    return [line for line in problems if line.partition("=")[0] in given]


def dataset_config(name: str, saved: DictConfig | None, *layers: Any) -> DictConfig:
    """``conf/dataset/<name>.yaml`` with the run's saved values and ``layers`` on top, resolved.

    The YAML's ``${dataset.*}`` interpolations (e.g. ``loader.path: ${dataset.path}``) are
    kept, so a new ``path`` or a ``dataset.KEY=VALUE`` override reaches the loader. The last
    layer is the user's ``dataset.*`` overrides: a key the data set config lacks, or a value
    out of range, is refused in one line.
    """
    base = OmegaConf.load(CONF_DIR / "dataset" / f"{name}.yaml")
    merged = OmegaConf.merge(base, saved) if saved is not None else base
    for key, raw in OmegaConf.to_container(base.get("loader") or {}, resolve=False).items():
        if isinstance(raw, str) and "${" in raw:
            merged.loader[key] = raw
    root = OmegaConf.create({"dataset": merged})
    for layer in layers:
        root.dataset = OmegaConf.merge(root.dataset, layer)
    ds = OmegaConf.create(OmegaConf.to_container(root.dataset, resolve=True))
    if layers and (problems := dataset_problems(merged, layers[-1], ds)):
        raise UserError("\n".join(problems))
    return ds


def file_dataset_config(
    path: Path, cfg: DictConfig, overrides: list[str] | DictConfig
) -> DictConfig | None:
    """The data set config that reads the file ``path``: the run's own data set config when it
    was read from a file (same loader options), else ``conf/dataset/custom.yaml``; None when
    neither exists (then :func:`load_array_file` reads it)."""
    new = {"path": str(path), "subset": None, "imbalance": None}
    layers = (new, _layer(overrides))
    if "path" in cfg.dataset and cfg.dataset.name in options("dataset"):
        return dataset_config(cfg.dataset.name, cfg.dataset, *layers)
    if "custom" in options("dataset"):
        return dataset_config("custom", None, *layers)
    return None


def load_new_data(
    spec: str,
    cfg: DictConfig,
    overrides: list[str] | DictConfig,
    data_root: str | None = None,
) -> ClusterData:
    """The raw (not yet preprocessed) data of ``data=``: a data set name or a file."""
    root = data_root or cfg.get("data_root") or "data"
    path = Path(spec)
    if spec in options("dataset") and not path.exists():
        # the run's own data set: its saved options (same subset, imbalance and seed)
        saved = cfg.dataset if spec == cfg.dataset.name else None
        ds = dataset_config(spec, saved, _layer(overrides))
    elif path.exists():
        ds = file_dataset_config(path, cfg, overrides)
        if ds is None:
            if len(overrides):
                raise UserError("dataset.* overrides need a configured file loader")
            return load_array_file(path)
    else:
        raise UserError(
            f"data={spec}: no such file, nor a data set name ({', '.join(options('dataset'))})"
        )
    data = load_dataset(ds, root)
    data = imbalance(data, ds.get("imbalance"), int(cfg.seed))
    return subsample(data, ds.get("subset"), int(cfg.seed))


def match_input_shape(data: ClusterData, shape: list[int] | None) -> ClusterData:
    """Reshape flat rows to the training samples' shape when sizes agree; else say why not."""
    if shape is None or list(data.x.shape[1:]) == list(shape):
        return data
    if data.n_features == int(np.prod(shape)):
        data.x = data.x.reshape(len(data), *shape)
        return data
    raise UserError(
        f"{data.name}: samples of shape {tuple(data.x.shape[1:])} ({data.n_features} values) "
        f"but the model was trained on shape {tuple(shape)}; give data shaped like the "
        "training data"
    )


def predict_fn(entry: str):
    """``src.methods.kmeans.run`` → ``src.methods.kmeans.predict``."""
    module = import_module(entry.rsplit(".", 1)[0])
    fn = getattr(module, "predict", None)
    if fn is None:
        raise UserError(f"method module {module.__name__} has no predict(); it cannot predict")
    return fn


def predict(run: TrainedRun, data: ClusterData, device: Any = None) -> MethodOutput:
    """Preprocess ``data`` with the run's fitted parameters and assign clusters."""
    data = match_input_shape(data, run.checkpoint.get("input_shape"))
    data = apply_fitted(data, run.preprocess)
    return predict_fn(run.config.method.entry)(run.checkpoint, data, device)


def execute(args: DictConfig | list[str]) -> dict[str, Any]:
    """Predict and write the outputs; returns the ``prediction.json`` record. ``args``: the
    composed ``conf/predict.yaml``, or its ``key=value`` overrides (composed here as the
    command line would be)."""
    from src.engine.device import resolve_device
    from src.recording.export import write_assignments, write_npy
    from src.recording.metrics import cluster_sizes, evaluate

    started = time.perf_counter()
    if isinstance(args, list):
        argv = hydra_argv(args)
        cfg = compose_args(CONFIG_NAME, argv, COMMAND)
        if problems := added_key_problems(cfg, argv, COMMAND):
            raise UserError("\n".join(problems))
    else:
        cfg = args
    a = predict_args(cfg)
    device = resolve_device(a["device"])  # an unknown name or a missing GPU: before any work
    run = resolve_run(a["ckpt"])
    data = load_new_data(a["data"], run.config, a["dataset"], a["data_root"])
    data_tag = Path(a["data"]).stem if Path(a["data"]).exists() else a["data"]
    out_dir = Path(a["out"] or run.run_dir / "predictions" / data_tag)
    if problems := output_problems(out_dir, PREDICT_OUTPUTS, fix="out=DIR"):
        raise UserError("\n".join(problems))
    out = predict(run, data, device)
    k = int(run.checkpoint.get("n_clusters") or run.config.get("n_clusters") or 0)
    k = max(k, int(out.labels.max()) + 1 if len(out.labels) else 0)
    outputs = {
        "assignments": str(
            write_assignments(out_dir / "assignments.csv", out.labels, out.soft, data.y)
        )
    }
    if out.soft is not None:
        outputs["soft_assignments"] = str(write_npy(out_dir / "soft_assignments.npy", out.soft))
    record = {
        "checkpoint": str(run.model_path),
        "method": run.config.method.name,
        "data": a["data"],
        "n_samples": len(data),
        "n_clusters": k,
        "metrics": evaluate(data.y, out.labels) if data.y is not None else {},
        "cluster_sizes": cluster_sizes(out.labels, k),
        "outputs": outputs,
        "wall_time_s": time.perf_counter() - started,
    }
    atomic_write_json(out_dir / "prediction.json", record)
    return record


def summary(record: dict[str, Any]) -> str:
    """The one line printed: the metrics line (:func:`src.recording.metrics.metrics_line`), then what was
    predicted and where the assignments went."""
    from src.recording.metrics import metrics_line

    sizes = record["cluster_sizes"]
    return (
        f"{metrics_line(record)}  | {record['method']} predicted "
        f"{record['n_samples']} samples of {record['data']} into "
        f"{sum(s > 0 for s in sizes)}/{len(sizes)} clusters in {record['wall_time_s']:.1f} s "
        f"→ {record['outputs']['assignments']}"
    )


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=CONFIG_NAME)
def hydra_entry(cfg: DictConfig) -> None:
    """Hydra's task function: predict, print the one summary line (errors: one line, exit 2)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        if problems := added_key_problems(cfg, list(HydraConfig.get().overrides.task), COMMAND):
            raise UserError("\n".join(problems))
        record = execute(cfg)
    except UserError as exc:
        if cfg.get("debug"):
            raise
        exit_with(exc)
    print(summary(record))


def main(argv: list[str] | None = None) -> None:
    """``python -m src.predict key=value ...`` (``argv``: the arguments, default the command
    line's)."""
    argv = sys.argv[1:] if argv is None else argv
    run_hydra(hydra_entry, hydra_argv(argv), CONFIG_NAME, COMMAND)


if __name__ == "__main__":
    main()
