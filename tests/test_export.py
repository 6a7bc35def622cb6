"""Per-run exports: assignments.csv, embeddings.npy policy, the 2-D view's projection."""

import numpy as np
import pandas as pd
import pytest

from src.core.errors import UserError
from src.data.base import ClusterData
from src.recording import plots
from src.recording.export import (
    AUTO_SKIP_INPUT_BYTES,
    embedding_decision,
    write_assignments,
    write_npy,
)
from src.recording.metrics import silhouette
from src.recording.summary import spinner


def test_assignments_with_soft_and_labels(tmp_path):
    soft = np.array([[0.7, 0.3], [0.1, 0.9], [0.5, 0.5]])
    path = write_assignments(tmp_path / "a.csv", np.array([0, 1, 0]), soft, np.array([2, 2, 1]))
    table = pd.read_csv(path)
    assert list(table.columns) == ["index", "cluster", "confidence", "label"]
    assert table["index"].tolist() == [0, 1, 2]
    assert table["cluster"].tolist() == [0, 1, 0]
    assert table["confidence"].tolist() == [0.7, 0.9, 0.5]
    assert table["label"].tolist() == [2, 2, 1]


def test_assignments_without_soft_or_labels(tmp_path):
    table = pd.read_csv(write_assignments(tmp_path / "a.csv", np.array([3, 1])))
    assert list(table.columns) == ["index", "cluster", "confidence"]
    assert table["confidence"].tolist() == [1.0, 1.0]


def test_npy_round_trip_and_no_leftovers(tmp_path):
    a = np.arange(6, dtype=np.float32).reshape(3, 2)
    assert np.array_equal(np.load(write_npy(tmp_path / "e.npy", a)), a)
    assert [p.name for p in tmp_path.iterdir()] == ["e.npy"]


def test_embedding_policy():
    small = ClusterData("s", np.zeros((10, 4)), None)
    assert embedding_decision(small.features(), small, "auto") == (True, None)
    n = AUTO_SKIP_INPUT_BYTES // 4 // 16 + 1  # just over the limit as float32 (calloc, cheap)
    big = ClusterData("b", np.zeros((n, 16), dtype=np.float32), None)
    write, why = embedding_decision(big.features(), big, "auto")
    assert not write and "preprocessed input" in why and "export.embeddings=always" in why
    assert embedding_decision(big.features(), big, "always") == (True, None)
    assert embedding_decision(big.features()[:10].copy(), big, "auto") == (True, None)
    assert embedding_decision(small.features(), small, "never")[0] is False
    with pytest.raises(UserError, match="choose one of: auto, always, never"):
        embedding_decision(small.features(), small, "sometimes")


def test_projection_choice(monkeypatch):
    monkeypatch.setattr(plots, "umap_available", lambda: False)
    # auto picks by cost: t-SNE only when it fits in the method's time, else PCA
    assert plots.resolve_projection("auto") == "pca"
    assert plots.resolve_projection("auto", n_points=1797, budget_s=1.7) == "pca"
    assert plots.resolve_projection("auto", n_points=2000, budget_s=114.0) == "pca"  # make run
    assert plots.resolve_projection("auto", n_points=2000, budget_s=600.0) == "tsne"
    assert plots.resolve_projection("tsne", n_points=2000, budget_s=0.1) == "tsne"
    assert plots.resolve_projection("pca") == "pca"
    with pytest.raises(UserError, match="pip install umap-learn"):
        plots.resolve_projection("umap")
    with pytest.raises(UserError, match="auto, tsne, umap, pca"):
        plots.resolve_projection("mds")
    monkeypatch.setattr(plots, "umap_available", lambda: True)
    assert plots.resolve_projection("auto", n_points=2000, budget_s=600.0) == "umap"


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_projection_keeps_blobs_apart(method):
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 10, (3, 60))
    y = np.repeat([0, 1, 2], 50)
    x = centres[y] + rng.normal(0, 1, (150, 60))
    index, xy = plots.project_2d(x, seed=0, max_points=120, method=method)
    assert xy.shape == (120, 2) and len(np.unique(index)) == 120
    assert silhouette(xy, y[index], seed=0)[0] > 0.6


def test_embedding_png_written(tmp_path):
    rng = np.random.default_rng(0)
    path = plots.embedding_png(
        rng.normal(size=(50, 5)), np.arange(50) % 12, tmp_path / "e.png", "t"
    )
    assert path.stat().st_size > 1000


def test_spinner_is_silent_off_a_terminal(capsys):
    with spinner("working"):
        pass
    assert capsys.readouterr().err == ""


def test_embedding_png_has_a_cluster_legend(tmp_path, monkeypatch):
    figures = []
    real_save = plots._save
    monkeypatch.setattr(
        plots, "_save", lambda fig, path: figures.append(fig) or real_save(fig, path)
    )
    rng = np.random.default_rng(0)
    plots.embedding_png(rng.normal(size=(60, 5)), np.arange(60) % 12, tmp_path / "e.png", "t")
    legend = figures[0].axes[0].get_legend()
    assert legend is not None and legend.get_title().get_text() == "cluster"
    assert [t.get_text() for t in legend.get_texts()] == [str(c) for c in range(12)]
