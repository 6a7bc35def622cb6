"""The Python API (``src.api``): ``fit``/``predict`` on arrays are ``src.run`` and
``src.predict`` on them, same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_blobs

from src.api import DEC, KMeans, hydra_value
from src.core.errors import UserError


def blobs():
    x, y = make_blobs(n_samples=300, n_features=5, centers=3, random_state=0)
    return x.astype(np.float32), y


def test_kmeans_fit_predict_on_arrays(tmp_path):
    x, y = blobs()
    model = KMeans(n_clusters=3, n_init=2, run_dir=tmp_path, overrides=["plots=false"])
    assert model.fit(x, y) is model
    assert model.labels_.shape == (300,) and set(model.labels_) == {0, 1, 2}
    assert model.result_["metrics"]["acc"] == 1.0  # scored with the labels given to fit
    assert (model.predict(x) == model.labels_).all()  # the one assignment rule
    assert (model.predict(x[:7]) == model.labels_[:7]).all()
    assert (tmp_path / "run" / "result.json").exists()


def test_dec_without_labels_in_a_temporary_folder(tmp_path):
    x, _ = blobs()
    quick = ["pretrain=quick", "pretrain.layerwise_iters=20", "pretrain.finetune_iters=10"]
    model = DEC(
        n_clusters=3,
        max_iter=40,
        update_interval=10,
        overrides=[*quick, "plots=false", f"cache_dir={tmp_path}"],
    )
    labels = model.fit_predict(x)
    assert labels.shape == (300,) and "acc" not in model.result_["metrics"]  # no labels given
    assert (model.predict(x) == labels).all()


def test_predict_before_fit_is_one_line():
    with pytest.raises(UserError, match="not fitted yet"):
        KMeans(n_clusters=3).predict(np.zeros((4, 2)))


def test_values_in_hydra_grammar():
    assert [hydra_value(v) for v in (None, True, 0.5, [1, 2])] == ["null", "true", "0.5", "[1,2]"]
