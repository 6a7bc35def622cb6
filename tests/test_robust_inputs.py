"""Issue 20 (second part): sweeps and the harness's overrides checked before the first job,
cached MNIST validated, full disks and unwritable folders said in one line, entry points from
any working directory, and messages that point the right way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.test_config_checks import assert_one_line_exit_2, config

QUICK = ("logger=none", "plots=false", "method=kmeans", "method.n_init=1")


def module(name: str, *args: str, cwd: Path = REPO, env: dict | None = None, timeout: int = 120):
    """``python -m NAME ARGS`` with the checkout first on PYTHONPATH."""
    full_env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", name, *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def harness(tmp_path: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    store, out = str(tmp_path / "store"), str(tmp_path / "out")
    return module("scripts.reproduce", "--store", store, "--out", out, *args, **kwargs)


# 1. sweeps and the harness's overrides


@pytest.mark.parametrize(
    "values, says",
    [
        ("3,abc,5", "n_clusters='abc' is invalid"),
        ("3,1798,5", "n_clusters=1798 exceeds the 1797 samples of digits"),
    ],
)
def test_sweep_value_refused_before_the_first_job(cli, tmp_path, values, says):
    sweep = tmp_path / "sweep"
    proc = cli("--multirun", *QUICK, f"n_clusters={values}", f"hydra.sweep.dir={sweep}")
    assert_one_line_exit_2(proc, says, "no job was started")
    assert not sweep.exists()


def test_size_known_before_loading():
    from src.validation import size_problems

    assert size_problems(config("n_clusters=1797")) == []
    (line,) = size_problems(config("n_clusters=20", "dataset.subset=10"))
    assert "exceeds the 10 samples of dataset.subset=10" in line


@pytest.mark.parametrize("dry", [(), ("--dry-run",)])
def test_harness_composes_its_overrides_before_planning(tmp_path, dry):
    proc = harness(tmp_path, "--profile", "smoke", *dry, "method.lrr=3")
    assert_one_line_exit_2(proc, "method.lrr is not a config key; did you mean method.lr?")
    assert not (tmp_path / "store").exists()
