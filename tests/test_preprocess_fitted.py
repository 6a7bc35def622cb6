"""Fitted preprocessing: recorded at training time, re-applied bit for bit to new data."""

import json

import numpy as np
import pytest

from src.core.errors import UserError
from src.data.base import ClusterData
from src.data.digits import load_digits
from src.data.preprocess import (
    PREPROCESSORS,
    apply_fitted,
    fit_preprocess,
    preprocess,
    preprocess_summary,
)


def _images(seed=0, n=40):
    rng = np.random.default_rng(seed)
    return ClusterData("img", rng.normal(3, 2, (n, 2, 4, 4)), None)


@pytest.mark.parametrize("kind", PREPROCESSORS)
@pytest.mark.parametrize("make", [load_digits, _images], ids=["digits", "images"])
def test_reapplying_json_params_is_exact(kind, make):
    data = make()
    trained = preprocess(data, kind, "auto")
    params = json.loads(json.dumps(trained.meta["preprocess_params"]))  # as result.json has it
    again = apply_fitted(data, params)
    assert again.x.dtype == np.float32
    assert np.array_equal(trained.x, again.x)


def test_new_data_get_training_statistics():
    train = ClusterData("a", np.array([[0.0, 10.0], [2.0, 30.0]]), None)
    params = fit_preprocess(train, "standardize")
    new = apply_fitted(ClusterData("b", np.array([[1.0, 20.0], [3.0, 40.0]]), None), params)
    # mean (1, 20), std (1, 10) from the training data, not from the new rows
    assert np.allclose(new.x, [[0.0, 0.0], [2.0, 2.0]])
    assert new.meta["preprocess_params"] is params


def test_dec_scale_auto_records_its_factor():
    data = ClusterData("a", np.full((3, 4), 2.0), None)
    params = fit_preprocess(data, "dec_scale", "auto")
    assert params == {"kind": "dec_scale", "factor": pytest.approx(0.5)}
    assert np.allclose(apply_fitted(ClusterData("b", np.full((1, 4), 4.0), None), params).x, 2.0)


def test_unit_minmax_and_bytes():
    data = ClusterData("a", np.array([[2.0, 4.0], [6.0, 10.0]]), None)
    params = fit_preprocess(data, "unit")
    assert (params["lo"], params["hi"]) == (2.0, 10.0)
    assert np.allclose(
        apply_fitted(ClusterData("b", np.array([[6.0, 14.0]]), None), params).x, [[0.5, 1.5]]
    )
    as_bytes = ClusterData("c", np.array([[255.0]]), None, meta={"bytes": True})
    assert fit_preprocess(as_bytes, "unit") == {"kind": "unit", "mode": "bytes"}


def test_wrong_shape_is_a_clear_error():
    params = fit_preprocess(ClusterData("a", np.ones((4, 3)), None), "standardize")
    with pytest.raises(UserError, match="do not match the fitted 'standardize'"):
        apply_fitted(ClusterData("b", np.ones((2, 5)), None), params)


def test_summary_keeps_short_arrays_and_names_long_ones():
    params = fit_preprocess(ClusterData("a", np.ones((4, 10)), None), "standardize")
    assert preprocess_summary(params) == params
    short = preprocess_summary(params, max_values=5)
    assert short["mean"] == {"shape": [1, 10], "values": "in model.pt (too long for JSON)"}
