"""Label-free measures every run reports: cluster sizes and a subsampled silhouette."""

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from src.recording.metrics import cluster_sizes, internal_measures, silhouette


def test_cluster_sizes_count_empty_clusters():
    assert cluster_sizes(np.array([0, 0, 2, 2, 2]), 4) == [2, 0, 3, 0]


HAND = ((1 - 1 / 10.5) + (1 - 1 / 9.5)) / 2


def test_silhouette_hand_computed():
    # {0, 1} and {10, 11}: a = 1 for all; b = 10.5 for the outer points 0 and 11,
    # 9.5 for the inner ones; s = 1 - a/b
    x = np.array([[0.0], [1.0], [10.0], [11.0]])
    score, used = silhouette(x, np.array([0, 0, 1, 1]), seed=0)
    assert used == 4
    assert score == pytest.approx(HAND)


def test_silhouette_subsample_is_seeded_and_matches_sklearn_on_it():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(0, 1, (300, 5)), rng.normal(4, 1, (200, 5))])
    y = np.repeat([0, 1], [300, 200])
    score, used = silhouette(x, y, seed=7, max_points=120)
    index = np.sort(np.random.default_rng(7).choice(500, 120, replace=False))
    assert used == 120
    assert score == pytest.approx(silhouette_score(x[index], y[index]), abs=1e-12)
    assert silhouette(x, y, seed=7, max_points=120)[0] == score
    # all points: sklearn's own number
    assert silhouette(x, y, seed=0)[0] == pytest.approx(silhouette_score(x, y), abs=1e-12)


def test_silhouette_undefined_for_one_cluster():
    assert silhouette(np.zeros((5, 2)), np.zeros(5, dtype=int), seed=0) == (None, 5)


def test_internal_measures_summary():
    x = np.array([[0.0], [1.0], [10.0], [11.0]])
    m = internal_measures(x, np.array([0, 0, 2, 2]), k=3, seed=0)
    assert m["cluster_sizes"] == [2, 0, 2]
    assert m["n_nonempty_clusters"] == 2
    assert m["silhouette"] == pytest.approx(HAND)
