"""Issue 20: a checkpoint is data, never code. ``model.pt`` holds tensors and plain values and
is read with ``weights_only=True``; anything else is refused with one line before use."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest
import torch

from src.core.errors import UserError
from src.predict import resolve_run
from src.recording.checkpoints import load_checkpoint, migrate_checkpoint, plain
from tests.helpers.cli import run_cli
from tests.helpers.runs import run_in_process


class E:
    """Runs ``touch OWNED`` when unpickled (the crafted file of the issue)."""

    def __reduce__(self):
        return (os.system, ("touch OWNED",))


def predict_cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return run_cli(*args, cwd=cwd, timeout=120, module="src.predict")


def test_crafted_pickle_runs_no_code_and_is_refused_in_one_line(tmp_path):
    torch.save({"x": E()}, tmp_path / "model.pt")
    proc = predict_cli("ckpt=model.pt", "data=digits", cwd=tmp_path)
    assert not (tmp_path / "OWNED").exists(), "the checkpoint ran code"
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: refused checkpoint"), proc.stderr
    assert "posix.system" in lines[0] or "os.system" in lines[0]


@pytest.fixture(scope="module")
def kmeans_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("kmeans_ckpt")
    run_in_process(run_dir, "dataset=digits", "plots=false", "export.embeddings=never")
    return run_dir


def test_written_checkpoint_loads_with_weights_only(kmeans_run):
    ckpt = torch.load(kmeans_run / "model.pt", weights_only=True)
    assert isinstance(ckpt["centroids"], torch.Tensor) and ckpt["method"] == "kmeans"
    assert "centres" not in ckpt  # one schema: every method's centres are "centroids"
    assert isinstance(ckpt["config"], dict) and isinstance(ckpt["preprocess"], dict)


def old_kmeans_checkpoint(kmeans_run) -> tuple[dict, dict]:
    """(the run's checkpoint, the same as an older dcrepro wrote it: numpy, key "centres")."""
    ckpt = torch.load(kmeans_run / "model.pt", weights_only=True)
    old = {k: v for k, v in ckpt.items() if k != "centroids"}
    old |= {"centres": ckpt["centroids"].numpy(), "n_clusters": np.int64(10)}
    return ckpt, old


def test_old_numpy_checkpoint_gets_a_migration_message_then_migrates(kmeans_run, tmp_path):
    ckpt, old = old_kmeans_checkpoint(kmeans_run)
    path = tmp_path / "model.pt"
    torch.save(old, path)  # how an older dcrepro wrote it
    with pytest.raises(UserError, match=r"old format.*python -m src\.checkpoints migrate"):
        load_checkpoint(path)
    migrate_checkpoint(path)
    run = resolve_run(str(path))
    assert torch.equal(run.checkpoint["centroids"], ckpt["centroids"])
    assert run.checkpoint["n_clusters"] == 10
    on_disk = torch.load(path, weights_only=True)  # migrate writes the current schema
    assert "centroids" in on_disk and "centres" not in on_disk


def test_checkpoint_with_the_old_centres_key_loads_and_predicts(kmeans_run, tmp_path):
    """A weights-only checkpoint that still says "centres" (k-means before the one schema)
    loads as "centroids" and predicts the run's own assignments."""
    import pandas as pd

    from src.predict import execute

    ckpt, _ = old_kmeans_checkpoint(kmeans_run)
    old = {k: v for k, v in ckpt.items() if k != "centroids"} | {"centres": ckpt["centroids"]}
    path = tmp_path / "model.pt"
    torch.save(old, path)
    loaded = load_checkpoint(path)
    assert "centres" not in loaded and torch.equal(loaded["centroids"], ckpt["centroids"])
    execute([f"ckpt={path}", "data=digits", f"out={tmp_path / 'pred'}"])
    trained = pd.read_csv(kmeans_run / "assignments.csv")["cluster"].to_numpy()
    assert (pd.read_csv(tmp_path / "pred" / "assignments.csv")["cluster"] == trained).all()


def test_plain_turns_numpy_into_tensors_and_python_values():
    value = plain({"a": np.ones(3, np.float32), "b": (np.float64(0.5), [np.int32(2)])})
    assert isinstance(value["a"], torch.Tensor) and value["b"] == [0.5, [2]]
    with pytest.raises(TypeError):
        plain({"x": object()})
