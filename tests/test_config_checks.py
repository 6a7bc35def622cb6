"""Issue 20: nonsense options are refused at config time, one line naming the fix, exit 2,
before any training."""

from __future__ import annotations

import pytest

from src.core.validation import added_key_problems, choice_problems, numeric_problems
from tests.helpers.cli import assert_one_line_exit_2
from tests.helpers.configs import config

QUICK = (
    "logger=none",
    "plots=false",
    "pretrain=quick",
    "pretrain.layerwise_iters=20",
    "pretrain.finetune_iters=10",
)


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


@pytest.mark.parametrize(
    "overrides, fix",
    [
        (
            ["export.projection=bogus"],
            "export.projection='bogus' is invalid: use one of auto, tsne",
        ),
        (["export.embeddings=bogus"], "export.embeddings='bogus' is invalid: use one of auto,"),
        (["plots=maybe"], "plots='maybe' is invalid: use true or false"),
        (["plots=1"], "plots=1 is invalid"),
        (["trainer.devices=0"], "trainer.devices=0 is invalid: use an integer ≥ 1, -1"),
        (["method=dac", "method.batch_size=1"], "method.batch_size=2 or more"),
        (["method=dac_star", "method.batch_size=1"], "BatchNorm network"),
    ],
)
def test_bad_choice_is_one_line(overrides, fix):
    problems = choice_problems(config(*overrides))
    assert len(problems) == 1 and fix in problems[0], problems


def test_cache_dir_that_is_a_file_is_refused(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("")
    problems = choice_problems(config(f"cache_dir={blocker}"))
    assert len(problems) == 1 and "is a file, not a folder" in problems[0], problems


def test_shipped_choices_are_valid():
    for method in ("dec", "dec_nobp", "ae_kmeans", "kmeans", "dac", "dac_star"):
        assert choice_problems(config(f"method={method}")) == []
    assert choice_problems(config("method=kmeans", "trainer.devices=-1", "plots=false")) == []


def test_bogus_projection_is_refused_before_training(cli, tmp_path):
    proc = cli(
        "method=dec",
        "dataset=digits",
        *QUICK,
        "export.projection=bogus",
        f"cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert_one_line_exit_2(proc, "export.projection='bogus' is invalid")
    assert not (tmp_path / "cache").exists()


def test_subset_larger_than_the_data_set_says_its_size(cli, tmp_path):
    proc = cli("method=kmeans", *QUICK, "dataset.subset=5000", f"hydra.run.dir={tmp_path}")
    assert_one_line_exit_2(proc, "dataset.subset=5000 exceeds the 1797 samples of digits")
    assert not (tmp_path / "result.json").exists()


@pytest.mark.parametrize(
    "args, fix",
    [
        (["+foo=bar"], "+foo: unknown key"),
        (
            ["method=dec", "+method.lrr=0.1"],
            "+method.lrr: unknown key, nothing reads it; did you mean method.lr?",
        ),
        (
            ["method=dec", "method.lrr=0.1"],
            "method.lrr is not a config key; did you mean method.lr?",
        ),
        (["method=kmeans", "method.n_nit=3"], "did you mean method.n_init?"),
        (["method.n_init=[1,2"], "cannot parse the override 'method.n_init=[1,2'"),
    ],
)
def test_unknown_or_unparsable_key_is_one_line(cli, tmp_path, args, fix):
    proc = cli(*args, *QUICK, f"cache_dir={tmp_path / 'cache'}", f"hydra.run.dir={tmp_path}")
    assert_one_line_exit_2(proc, fix)
    assert not (tmp_path / "cache").exists() and not (tmp_path / "result.json").exists()


def test_added_keys_of_instantiated_nodes_are_allowed():
    cfg = config("method=dac", "+method.optimizer.weight_decay=0.1", "+foo=1")
    overrides = ["+method.optimizer.weight_decay=0.1", "+foo=1", "+hydra.job.env_set.X=1"]
    assert added_key_problems(cfg, overrides) == [
        "+foo: unknown key, nothing reads it; remove it (`python -m src.run --cfg job` lists keys)"
    ]
