"""An interrupted DAC run, started again in the same run directory, carries on from its last
finished epoch and ends exactly where an uninterrupted run ends: same history, same labels."""

from __future__ import annotations

import csv

import pytest
import torch

from src.callbacks.dac_resume import RESUME_FILE
from src.modules.dac import DACModule
from tests.helpers.runs import run_cached

CPU = ("trainer=cpu", "logger=none", "plots=false", "progress_bar=false", "export.embeddings=never")
TINY_STAR = (
    "experiment=dac_star_mnist_authors",
    "dataset=digits",
    "dataset.subset=240",
    "method.max_epochs=3",
    "method.chunk_size=120",
    "method.chunk_passes=1",
)


def history(run_dir) -> list[dict[str, str]]:
    with open(run_dir / "dac_history.csv") as fh:
        return list(csv.DictReader(fh))


def interrupt_in_epoch(monkeypatch, epoch: int) -> None:
    """Make the first training step of ``epoch`` (1-based) fail, as a kill would stop it."""
    step = DACModule.training_step

    def failing(self, batch, batch_idx):
        if self.epochs_done == epoch - 1:
            raise RuntimeError("interrupted for the test")
        return step(self, batch, batch_idx)

    monkeypatch.setattr(DACModule, "training_step", failing)


def epoch_starts_seen(monkeypatch) -> list[int]:
    """The module's ``epochs_done`` at each epoch start, as the epoch-start hooks see it."""
    seen: list[int] = []
    start = DACModule.on_train_epoch_start

    def recording(self):
        seen.append(self.epochs_done)
        return start(self)

    monkeypatch.setattr(DACModule, "on_train_epoch_start", recording)
    return seen


def test_an_interrupted_run_resumes_and_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    whole = run_cached(tmp_path, "whole", *CPU, *TINY_STAR)
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 3)
        with pytest.raises(RuntimeError, match="interrupted for the test"):
            run_cached(tmp_path, "resumed", *CPU, *TINY_STAR)
    saved = torch.load(tmp_path / "resumed" / RESUME_FILE, weights_only=True)
    assert saved["epochs_done"] == 2 and len(saved["history"]) == 3  # epoch-0 row + 2 epochs
    starts = epoch_starts_seen(monkeypatch)
    resumed = run_cached(tmp_path, "resumed", *CPU, *TINY_STAR)
    assert resumed["extra"]["resumed_from_epoch"] == 2
    assert starts == [
        2
    ]  # the epoch-start hooks (the progress bar's label too) see the resumed count
    assert whole["extra"]["resumed_from_epoch"] is None
    assert history(tmp_path / "resumed") == history(tmp_path / "whole")
    assert resumed["metrics"] == whole["metrics"]
    assert not (tmp_path / "resumed" / RESUME_FILE).exists()  # removed once training ended


def test_a_resume_file_from_another_config_is_ignored(tmp_path, monkeypatch):
    with monkeypatch.context() as patch:
        interrupt_in_epoch(patch, 2)
        with pytest.raises(RuntimeError):
            run_cached(tmp_path, "run", *CPU, *TINY_STAR)
    assert (tmp_path / "run" / RESUME_FILE).exists()
    result = run_cached(tmp_path, "run", *CPU, *TINY_STAR, "method.max_epochs=2", "seed=1")
    assert result["extra"]["resumed_from_epoch"] is None
    assert result["extra"]["epochs"] == 2
