"""The divergence guard: a non-finite loss stops a phase within the guard's window with one line
naming the phase, the iteration, the learning rate and the option; nothing non-finite is cached."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from src.core.errors import UserError
from src.engine.guard import DEFAULT_EVERY, DivergenceError, DivergenceGuard, check_finite_tensors
from tests.helpers.runs import run_cached

SMALL = [
    "dataset.subset=300",
    "method.n_init=2",
    "logger=none",
    "plots=false",
    "progress_bar=false",
    "trainer=cpu",
]


def run(tmp_path: Path, *overrides: str) -> dict:
    return run_cached(tmp_path, "run", *SMALL, *overrides)


def test_guard_windows_and_message():
    guard = DivergenceGuard("DEC KL phase", "method.lr", every=100, first=10)
    assert not guard.due(5) and guard.due(10)  # an early first check
    guard.after_chunk(torch.tensor(1.5), 10, 0.01)
    assert not guard.due(109) and guard.due(110)
    guard.after_chunk(torch.tensor(2.0), 50, 0.01)  # not due: not even read
    with pytest.raises(DivergenceError) as info:
        guard.after_chunk(torch.tensor(float("nan")), 110, 0.01)
    message = str(info.value)
    assert isinstance(info.value, UserError) and "\n" not in message
    assert message == (
        "DEC KL phase diverged: loss nan at iteration 110 at lr 0.01; "
        "lower method.lr (e.g. method.lr=0.001) and run again"
    )
    with pytest.raises(DivergenceError, match="loss inf at iteration 7"):
        DivergenceGuard("p", "o").after_chunk(torch.tensor(float("inf")), 7, 1.0, force=True)


def test_check_finite_tensors_names_the_tensor():
    check_finite_tensors([("w", torch.ones(3)), ("steps", torch.arange(3))], "p", 1, 0.1, "o")
    bad = torch.tensor([1.0, float("nan")])
    with pytest.raises(DivergenceError, match="non-finite values in w at iteration 4"):
        check_finite_tensors([("w", bad)], "p", 4, 0.1, "o")


def test_diverging_pretraining_stops_in_the_guard_window_and_caches_nothing(tmp_path, cli):
    """``pretrain.lr=1e6``: layer 0 diverges at once; the run exits 2 with one line after at
    most the guard's first window, and neither the SAE nor a partial file is written."""
    proc = cli(
        "method=ae_kmeans",
        "pretrain.lr=1e6",
        "pretrain.layerwise_iters=2000",
        *SMALL,
        f"cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        env={"OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert lines[-1].startswith("error: SAE pretraining stage layer0 diverged: loss nan")
    assert "at lr 1e+06; lower pretrain.lr (e.g. pretrain.lr=100000)" in lines[-1]
    iteration = int(lines[-1].split(" at iteration ")[1].split()[0])
    assert iteration <= DEFAULT_EVERY
    assert not list((tmp_path / "cache").rglob("*.pt"))
    assert not (tmp_path / "run" / "result.json").exists()


@pytest.mark.parametrize("method", ["dec", "dec_nobp"])
def test_diverging_kl_phase_stops_with_one_line(tmp_path, method):
    with pytest.raises(DivergenceError) as info:
        run(
            tmp_path,
            f"method={method}",
            "pretrain.layerwise_iters=20",
            "pretrain.finetune_iters=20",
            "method.update_interval=1000",
            "method.max_iter=1000",
            "method.lr=1e30",
        )
    phase = "DEC KL phase" if method == "dec" else "DEC w/o backprop (centroids only)"
    message = str(info.value)
    assert message.startswith(f"{phase} diverged: ")
    assert "at lr 1e+30; lower method.lr" in message
    assert int(message.split(" at iteration ")[1].split()[0]) <= DEFAULT_EVERY
    assert list((tmp_path / "cache").rglob("*.pt"))  # the finite SAE was cached
