"""A run's outputs end to end (in process): exports, internal measures, unlabelled data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import src.run
from src.data.digits import load_digits
from src.recording.checkpoints import load_checkpoint
from src.recording.plots import confusion_counts, read_confusion_csv, write_confusion_csv
from tests.helpers.runs import run_in_process


def test_labelled_run_writes_every_output(tmp_path, capsys):
    result = run_in_process(tmp_path, "dataset=digits")
    out = capsys.readouterr().out
    assert "ACC " in out and "assignments: " in out and "╭" in out  # line + Rich panel
    table = pd.read_csv(tmp_path / "assignments.csv")
    assert list(table.columns) == ["index", "cluster", "confidence", "label"]
    assert len(table) == 1797 and (table["confidence"] == 1.0).all()
    assert np.array_equal(table["label"], load_digits().y)
    emb = np.load(tmp_path / "embeddings.npy")
    assert emb.shape == (1797, 64)  # k-means: the preprocessed features
    assert (tmp_path / "embedding_2d.png").stat().st_size > 1000
    # internal measures beside the label metrics; sizes add up to n
    internal = result["internal"]
    assert sum(internal["cluster_sizes"]) == 1797 and internal["n_nonempty_clusters"] == 10
    assert 0.05 < internal["silhouette"] < 0.5 and result["metrics_skipped"] == {}
    assert np.array_equal(np.bincount(table["cluster"], minlength=10), internal["cluster_sizes"])
    # fitted preprocessing recorded in result.json and the checkpoint
    on_disk = json.loads((tmp_path / "result.json").read_text())
    assert on_disk["preprocess"]["kind"] == "dec_scale" and on_disk["preprocess"]["factor"] > 0
    ckpt = load_checkpoint(tmp_path / "model.pt")
    assert ckpt["preprocess"] == on_disk["preprocess"]
    assert ckpt["config"]["method"]["entry"] == "src.methods.kmeans.run"
    assert ckpt["input_shape"] == [1, 8, 8] and ckpt["n_clusters"] == 10
    assert on_disk["outputs"]["assignments"] == str(tmp_path / "assignments.csv")
    # the confusion matrix's counts (the ledger keeps them): clusters × classes, from the labels
    counts = read_confusion_csv(tmp_path / "confusion.csv")
    assert counts.shape == (10, 10) and counts.to_numpy().sum() == 1797
    assert counts.columns.tolist() == [str(c) for c in range(10)]
    expected = pd.crosstab(table["cluster"].astype(str), table["label"].astype(str))
    assert counts.equals(expected.loc[counts.index, counts.columns].rename_axis(None, axis=1)
                         .rename_axis("cluster").astype(np.int64))  # fmt: skip
    assert (tmp_path / "confusion.png").stat().st_size > 1000


def test_confusion_counts_match_a_hand_count_and_survive_csv(tmp_path):
    """Six points: class 0 → cluster 5 (twice) and 7 (once); class 1 → cluster 7 (three times).
    Rows follow each cluster's best-matching class: 5 (class 0) before 7 (class 1)."""
    counts = confusion_counts(np.array([0, 0, 0, 1, 1, 1]), np.array([7, 5, 5, 7, 7, 7]))
    assert counts.index.tolist() == ["5", "7"] and counts.columns.tolist() == ["0", "1"]
    assert counts.to_numpy().tolist() == [[2, 0], [1, 3]]
    assert read_confusion_csv(write_confusion_csv(counts, tmp_path / "c.csv")).equals(counts)


def test_unlabelled_run_skips_label_metrics_and_says_so(tmp_path, capsys, monkeypatch):
    real_build = src.run.build_data

    def unlabelled(cfg):
        data = real_build(cfg)
        data.y, data.n_classes = None, None
        return data

    monkeypatch.setattr(src.run, "build_data", unlabelled)
    result = run_in_process(tmp_path, "n_clusters=10", "silhouette_points=500")
    out = capsys.readouterr().out
    assert "no labels: ACC/NMI/ARI skipped; silhouette 0." in out
    assert "skipped: the data have no labels" in out
    assert set(result["metrics_skipped"]) == {"acc", "nmi", "ari"}
    assert "acc" not in result["metrics"] and result["metrics"]["silhouette"] > 0.05
    assert result["internal"]["silhouette_points"] == 500
    assert "label" not in pd.read_csv(tmp_path / "assignments.csv").columns
    assert not (tmp_path / "confusion.png").exists() and not (tmp_path / "confusion.csv").exists()


def test_unknown_projection_is_one_line(tmp_path):
    from src.core.errors import UserError

    with pytest.raises(UserError, match="export.projection"):
        run_in_process(tmp_path, "export.projection=nope")
