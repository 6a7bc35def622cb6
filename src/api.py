"""The Python API beside the command line, as ClustPy and scikit-learn have it::

    from src.api import DEC

    model = DEC(n_clusters=10, seed=0).fit(x)   # x: (n, d) features or (n, c, h, w) images
    model.labels_                               # the run's cluster of every sample
    model.predict(x_new)                        # clusters of new data, from the trained model

A fitted model is one ``src.run`` run: the same config, code and numbers as ``python -m src.run
method=dec dataset=custom dataset.path=FILE`` on the same array, written to ``run_dir``
(default: a temporary folder that lives as long as the model). ``predict`` is ``src.predict``
on that run (its saved preprocessing, its checkpoint). Keyword arguments other than
``n_clusters``, ``seed``, ``overrides`` and ``run_dir`` are the method's own options
(``DEC(max_iter=600)`` is ``method.max_iter=600``); ``overrides`` takes any other ``src.run``
override (``["pretrain=quick", "trainer=gpu"]``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np


def hydra_value(value: Any) -> str:
    """A Python value as Hydra's override grammar writes it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    return str(value)


class Clusterer:
    """One method of ``conf/method/`` with ``fit``/``predict`` (subclasses name the method)."""

    method = "kmeans"

    def __init__(
        self,
        n_clusters: int | None = None,
        seed: int = 0,
        overrides: list[str] | tuple[str, ...] = (),
        run_dir: str | Path | None = None,
        **method_options: Any,
    ) -> None:
        self.n_clusters = n_clusters
        self.seed = seed
        self.overrides = list(overrides)
        self.method_options = method_options
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._predictions = 0
        self.labels_: np.ndarray | None = None
        self.result_: dict[str, Any] | None = None

    def _work(self) -> Path:
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            return self.run_dir
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=f"dcrepro-{self.method}-")
        return Path(self._tmp.name)

    def run_overrides(self, data_path: Path) -> list[str]:
        """The ``src.run`` overrides of :meth:`fit` on the arrays saved at ``data_path`` (an
        ``.npz`` of ``x`` and, when given, the labels ``y``, which ``dataset=custom`` reads)."""
        overrides = [
            f"method={self.method}",
            "dataset=custom",
            f"dataset.path={data_path}",
            f"seed={int(self.seed)}",
            "logger=none",
            f"+run_dir={self._work() / 'run'}",
        ]
        if self.n_clusters is not None:
            overrides.append(f"n_clusters={int(self.n_clusters)}")
        overrides += [f"method.{k}={hydra_value(v)}" for k, v in self.method_options.items()]
        return overrides + self.overrides

    def fit(self, x: Any, y: Any = None) -> Clusterer:
        """Train on ``x`` (labels ``y``, optional, only score the run); sets ``labels_`` and
        ``result_`` (the run's ``result.json``). Returns the model."""
        from hydra import compose, initialize_config_dir

        from src.core.config_groups import CONF_DIR
        from src.run import execute

        arrays = {"x": np.asarray(x, dtype=np.float32)}
        if y is not None:
            arrays["y"] = np.asarray(y)
        path = self._work() / "train.npz"
        np.savez(path, **arrays)
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            cfg = compose("config", overrides=self.run_overrides(path))
        self.result_ = execute(cfg)
        self.labels_ = _read_clusters(self._work() / "run" / "assignments.csv")
        return self

    def fit_predict(self, x: Any, y: Any = None) -> np.ndarray:
        """:meth:`fit`, then the training data's clusters."""
        labels = self.fit(x, y).labels_
        assert labels is not None
        return labels

    def predict(self, x: Any) -> np.ndarray:
        """The clusters of new data (shaped like the training data), from the trained model."""
        from src.core.errors import UserError
        from src.predict import execute

        if self.result_ is None:
            raise UserError(f"{type(self).__name__} is not fitted yet: call fit(x) first")
        self._predictions += 1
        path = self._work() / f"predict{self._predictions}.npz"
        np.savez(path, x=np.asarray(x, dtype=np.float32))
        out = self._work() / f"predict{self._predictions}"
        execute([f"ckpt={self._work() / 'run'}", f"data={path}", f"out={out}"])
        return _read_clusters(out / "assignments.csv")


def _read_clusters(path: Path) -> np.ndarray:
    import pandas as pd

    return pd.read_csv(path)["cluster"].to_numpy(dtype=np.int64)


class KMeans(Clusterer):
    method = "kmeans"


class AEKMeans(Clusterer):
    method = "ae_kmeans"


class DEC(Clusterer):
    method = "dec"


class DECNoBackprop(Clusterer):
    method = "dec_nobp"


class DAC(Clusterer):
    method = "dac"


class DACStar(Clusterer):
    method = "dac_star"
