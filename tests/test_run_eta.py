"""The run's ETA: work model, the overhead + arithmetic fit, early stops, the bar's counts."""

import time

import pytest
from omegaconf import OmegaConf

from src.callbacks.progress import chunk_end
from src.engine.run_eta import RunETA, clock, encoder_work, sae_dims, sae_stage_work


def test_work_of_sae_stages_and_encoder_by_hand():
    dims = sae_dims(64, OmegaConf.create({"hidden_dims": [500, 500, 2000], "embedding_dim": 10}))
    assert dims == [64, 500, 500, 2000, 10]
    assert sae_stage_work(dims, 2, 64) == 2 * 64 * 500 * 2000  # encoder[2] + its mirror
    whole = 64 * 500 + 500 * 500 + 500 * 2000 + 2000 * 10
    assert sae_stage_work(dims, None, 8) == 2 * 8 * whole
    assert encoder_work(dims, 8) == 8 * whole


def _timed(eta: RunETA, phase: str, iterations: int, seconds: float) -> None:
    """Pretend ``phase`` ran ``iterations`` in ``seconds``."""
    eta.start(phase)
    eta._current = (phase, time.perf_counter() - seconds)
    eta.advance(phase, iterations)
    eta.stop(phase)


def test_overhead_and_arithmetic_are_told_apart_by_two_kinds_of_step():
    eta = RunETA()
    eta.plan("small", 100, 1.0)
    eta.plan("big", 100, 11.0)
    eta.plan("left", 50, 21.0)
    assert eta.describe() is None  # nothing timed yet
    _timed(eta, "small", 100, 100 * (1e-3 + 1.0 * 1e-4))  # a = 1 ms, b = 0.1 ms per unit
    assert eta.seconds_left() is None  # one kind of step: overhead and arithmetic unknown
    _timed(eta, "big", 100, 100 * (1e-3 + 11.0 * 1e-4))
    a, b = eta.cost_model()
    assert a == pytest.approx(1e-3, rel=1e-3) and b == pytest.approx(1e-4, rel=1e-3)
    assert eta.seconds_left() == pytest.approx(50 * (1e-3 + 21.0 * 1e-4), rel=1e-3)
    assert eta.describe() == "run ≈ 0:00 left"


def test_one_kind_of_step_is_extrapolated_and_an_early_stop_drops_its_rest():
    eta = RunETA()
    eta.plan("dec", 600, 5.0)
    eta.start("dec")
    eta._current = ("dec", time.perf_counter() - 2.0)
    eta.advance("dec", 200)  # 200 of 600 in 2 s: 400 more take about 4 s
    assert eta.seconds_left() == pytest.approx(4.0, rel=0.05)
    eta.stop("dec")  # stopped by its tolerance
    assert eta.seconds_left() == 0


def test_a_capped_phase_is_named_beside_the_estimate_not_summed_into_it():
    eta = RunETA()
    eta.plan("pretrain", 1000, 2.0)
    eta.plan("dec", 200_000, 2.0, capped=True)  # stops by its tolerance long before the cap
    eta.start("pretrain")
    eta._current = ("pretrain", time.perf_counter() - 5.0)
    eta.advance("pretrain", 500)  # 10 ms per iteration: 5 s of pretraining left
    assert eta.seconds_left() == pytest.approx(5.0, rel=0.05)
    assert eta.describe() == "run ≈ 0:05 left + dec until it stops, ≤ 33:20 at its cap"
    _timed(eta, "pretrain", 1000, 10.0)
    eta.start("dec")
    eta._current = ("dec", time.perf_counter() - 1.0)
    eta.advance("dec", 100)
    assert eta.seconds_left() == 0
    assert eta.describe().endswith("≤ 33:19 at its cap")
    eta.stop("dec")  # stopped by its tolerance
    assert eta.describe() == "run ≈ 0:00 left"


def test_clock_and_chunk_end():
    assert clock(74.2) == "1:14" and clock(3725) == "1:02:05"
    assert chunk_end((100, 50)) == 150 and chunk_end([0, 1]) == 1
    assert chunk_end({"x": 1}) is None and chunk_end((None, 2)) is None
