"""Issue 20: the harness refuses a negative --max-runs and absurd plans at once, in one line,
instead of dropping a run or planning for minutes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from src.core.errors import UserError
from src.core.seeds import MAX_RUNS, parse_seeds
from tests.helpers import REPO


def harness(tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "scripts.reproduce", "--store", str(tmp_path / "store"),
           "--out", str(tmp_path / "out"), *args]  # fmt: skip
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60)


def assert_one_line_exit_2(proc, says: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], proc.stderr


def test_huge_seed_range_is_refused_at_once(tmp_path):
    proc = harness(tmp_path, "--profile", "smoke", "--dry-run", "--seeds", "0-1000000")
    assert_one_line_exit_2(proc, f"lists more than {MAX_RUNS:,} seeds")


def test_negative_max_runs_is_refused(tmp_path):
    proc = harness(tmp_path, "--profile", "smoke", "--tables", "dec_table2", "--max-runs", "-1")
    assert_one_line_exit_2(proc, "--max-runs -1: use a number of runs ≥ 0")
    assert not (tmp_path / "store").exists() and not (tmp_path / "out").exists()


def test_many_seeds_parse_fast_and_repeats_are_still_found():
    assert parse_seeds(f"0-{MAX_RUNS - 1}") == list(range(MAX_RUNS))
    with pytest.raises(UserError, match="lists seed 5, 7 more than once"):
        parse_seeds("0-9,5,7")


def test_a_plan_of_more_than_max_runs_is_refused(tmp_path):
    from scripts.reproduce import main

    with pytest.raises(UserError, match=f"plan [0-9,]+ runs, more than {MAX_RUNS:,}"):
        main(["--profile", "smoke", "--dry-run", "--store", str(tmp_path),
              "--seeds", f"0-{MAX_RUNS - 1}"])  # fmt: skip
