import itertools

import numpy as np
import pytest

from src.recording.metrics import cluster_acc, cluster_to_class_map, contingency, evaluate


def brute_force_acc(y_true, y_pred):
    """Best accuracy over every injective cluster→class map (small cases only)."""
    clusters, classes = np.unique(y_pred), np.unique(y_true)
    best = 0
    slots = list(classes) + [None] * max(0, len(clusters) - len(classes))
    for perm in itertools.permutations(slots, len(clusters)):
        mapping = dict(zip(clusters, perm, strict=False))
        best = max(best, sum(mapping[c] == t for c, t in zip(y_pred, y_true, strict=False)))
    return best / len(y_true)


def test_acc_perfect_under_relabelling():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert cluster_acc(y, np.array([2, 2, 0, 0, 1, 1])) == 1.0


def test_acc_hand_computed():
    # clusters: 0 -> {0,0,1}, 1 -> {1,1,0}; best map 0->0, 1->1 gives 4 of 6 right.
    y_true = np.array([0, 0, 1, 1, 1, 0])
    y_pred = np.array([0, 0, 0, 1, 1, 1])
    assert cluster_acc(y_true, y_pred) == pytest.approx(4 / 6)
    assert cluster_to_class_map(y_true, y_pred) == {0: 0, 1: 1}


def test_acc_more_clusters_than_classes():
    y_true = np.array([0, 0, 0, 1, 1, 1])
    y_pred = np.array([0, 0, 2, 1, 1, 3])  # clusters 2 and 3 stay unmatched
    assert cluster_acc(y_true, y_pred) == pytest.approx(4 / 6)


def test_acc_fewer_clusters_than_classes():
    y_true = np.array([0, 1, 2, 2, 2, 1])
    y_pred = np.zeros(6, dtype=int)
    assert cluster_acc(y_true, y_pred) == pytest.approx(3 / 6)


@pytest.mark.parametrize("seed", range(20))
def test_acc_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n_classes, n_clusters = rng.integers(2, 5), rng.integers(2, 6)
    y_true = rng.integers(0, n_classes, 40)
    y_pred = rng.integers(0, n_clusters, 40) + 10  # ids need not be 0..k-1
    assert cluster_acc(y_true, y_pred) == pytest.approx(brute_force_acc(y_true, y_pred))


def test_contingency_counts():
    table, clusters, classes = contingency(np.array([1, 1, 2]), np.array([5, 7, 7]))
    assert clusters.tolist() == [5, 7] and classes.tolist() == [1, 2]
    assert table.tolist() == [[1, 0], [1, 1]]


def test_nmi_ari_known_values():
    y = np.array([0, 0, 1, 1])
    m = evaluate(y, np.array([1, 1, 0, 0]))
    assert m == {"acc": 1.0, "nmi": pytest.approx(1.0), "ari": pytest.approx(1.0)}
    # independent labelling: NMI 0, ARI = -0.5 for this 2×2 case (hand computed)
    m = evaluate(y, np.array([0, 1, 0, 1]))
    assert m["nmi"] == pytest.approx(0.0, abs=1e-12)
    assert m["ari"] == pytest.approx(-0.5)
    assert m["acc"] == pytest.approx(0.5)


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in length"):
        cluster_acc(np.array([0, 1]), np.array([0, 1, 1]))


@pytest.mark.parametrize("seed", range(15))
def test_table_metrics_equal_sklearns(seed):
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 300))
    y_true = rng.integers(0, rng.integers(1, 6), n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, rng.integers(1, 8), n))
    m = evaluate(y_true, y_pred)
    assert m["nmi"] == pytest.approx(normalized_mutual_info_score(y_true, y_pred), abs=1e-12)
    assert m["ari"] == pytest.approx(adjusted_rand_score(y_true, y_pred), abs=1e-12)


def test_table_metrics_degenerate_cases_match_sklearn():
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    cases = [([0, 0, 0], [1, 1, 1]), ([0, 1, 2], [0, 0, 0]), ([0, 0, 1], [0, 1, 2]), ([3], [5])]
    for y_true, y_pred in cases:
        m = evaluate(np.array(y_true), np.array(y_pred))
        assert m["nmi"] == pytest.approx(normalized_mutual_info_score(y_true, y_pred))
        assert m["ari"] == pytest.approx(adjusted_rand_score(y_true, y_pred))


def test_empty_rows_and_columns_of_a_table_are_ignored():
    from src.recording.metrics import evaluate_table

    table = np.array([[3, 0, 1], [0, 0, 0], [1, 0, 4]])
    assert evaluate_table(table) == evaluate_table(np.array([[3, 1], [1, 4]]))
    assert evaluate_table(table)["acc"] == pytest.approx(7 / 9)
