import numpy as np
import pytest

from src.core.errors import UserError
from src.data.base import ClusterData, imbalance, subsample
from src.data.digits import load_digits
from src.data.preprocess import preprocess


def test_digits_shape_and_labels():
    d = load_digits()
    assert d.x.shape == (1797, 1, 8, 8) and d.features().shape == (1797, 64)
    assert d.n_classes == 10 and sorted(np.unique(d.y)) == list(range(10))


def test_dec_scale_auto_gives_unit_mean_square():
    d = preprocess(load_digits(), "dec_scale", "auto")
    f = d.features().astype(np.float64)
    assert np.mean(np.sum(f**2, axis=1)) / f.shape[1] == pytest.approx(1.0, rel=1e-5)


def test_dec_scale_fixed_factor():
    d = ClusterData("t", np.full((2, 3), 100.0), None)
    assert np.allclose(preprocess(d, "dec_scale", 0.02).x, 2.0)


def test_channel_norm_per_channel():
    rng = np.random.default_rng(0)
    x = np.stack([rng.normal(5, 2, (50, 4, 4)), rng.normal(-3, 0.5, (50, 4, 4))], axis=1)
    out = preprocess(ClusterData("t", x, None), "channel_norm").x
    assert np.allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    assert np.allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-4)


def test_unknown_preprocess():
    with pytest.raises(UserError, match="choose one of"):
        preprocess(load_digits(), "whiten")


def test_subsample_is_seeded_and_sized():
    d = load_digits()
    a, b = subsample(d, 100, 3), subsample(d, 100, 3)
    assert len(a) == 100 and np.array_equal(a.y, b.y)
    assert subsample(d, None, 0) is d


def test_imbalance_keeps_classes_linearly():
    y = np.repeat(np.arange(10), 2000)
    d = ClusterData("t", np.zeros((len(y), 2)), y)
    counts = np.bincount(imbalance(d, 0.1, seed=0).y, minlength=10) / 2000
    assert np.allclose(counts, np.linspace(0.1, 1.0, 10), atol=0.03)
    with pytest.raises(UserError):
        imbalance(d, 0.0, seed=0)


def test_labels_must_match_samples():
    with pytest.raises(UserError, match="labels of shape"):
        ClusterData("t", np.zeros((3, 2)), np.zeros(2))
