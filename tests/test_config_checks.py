"""Issue 20: nonsense options are refused at config time, one line naming the fix, exit 2,
before any training."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir

from src.config_groups import CONF_DIR
from src.validation import numeric_problems

QUICK = (
    "logger=none",
    "plots=false",
    "pretrain=quick",
    "pretrain.layerwise_iters=20",
    "pretrain.finetune_iters=10",
)


def config(*overrides: str):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("config", overrides=["logger=none", *overrides])


def assert_one_line_exit_2(proc, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    "override, key",
    [
        ("method.tol=nan", "method.tol"),
        ("method.lr=nan", "method.lr"),
        ("method.lr=inf", "method.lr"),
        ("method.lr=-inf", "method.lr"),
        ("pretrain.lr=nan", "pretrain.lr"),
        ("method.alpha=inf", "method.alpha"),
    ],
)
def test_nan_and_inf_are_out_of_range(override, key):
    problems = numeric_problems(config("method=dec", override))
    assert len(problems) == 1 and problems[0].startswith(f"{key}="), problems


def test_nan_pretrain_lr_is_one_line_before_training(cli, tmp_path):
    proc = cli(
        "method=dec",
        "dataset=digits",
        *QUICK,
        "pretrain.lr=nan",
        f"cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert_one_line_exit_2(proc, "pretrain.lr=nan is invalid")
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run" / "result.json").exists()
