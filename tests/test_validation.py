"""Issue 13: bad options fail at config time with one line naming the key and its range, and
the run's outputs are known to be writable before any training starts."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from src.core.config_groups import CONF_DIR
from src.core.errors import UserError
from src.core.validation import RULES, Num, numeric_problems
from src.run import execute


def config(*overrides: str):
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        return compose("config", overrides=["logger=none", *overrides])


@pytest.mark.parametrize(
    "overrides, key, rng",
    [
        (["method.batch_size=0"], "method.batch_size", "an integer ≥ 1"),
        (["method.batch_size=-4"], "method.batch_size", "an integer ≥ 1"),
        (["method.tol=-1"], "method.tol", "a number in [0, 1]"),
        (["seed=abc"], "seed", "an integer in [0, 4294967295]"),
        (["n_clusters=abc"], "n_clusters", "an integer ≥ 2 or null"),
        (["method.momentum=1.5"], "method.momentum", "a number in [0, 1)"),
        (["pretrain.lr=0"], "pretrain.lr", "a number > 0"),
        (["pretrain.layerwise_iters=2.5"], "pretrain.layerwise_iters", "an integer ≥ 0"),
        (["dataset.subset=1"], "dataset.subset", "an integer ≥ 2 or null"),
        (["dataset.imbalance=0"], "dataset.imbalance", "a number in (0, 1] or null"),
        (["export.projection_points=0"], "export.projection_points", "an integer ≥ 3"),
        (["method=kmeans", "method.n_init=0"], "method.n_init", "an integer ≥ 1"),
        (["method=dac", "method.optimizer.lr=-1"], "method.optimizer.lr", "a number > 0"),
        (["method=dac", "method.inner_steps=0"], "method.inner_steps", "≥ 1 or auto"),
        (["trainer.devices=x"], "trainer.devices", "an integer ≥ -1 or auto"),
        (["arch.hidden_dims=[500,0]"], "arch.hidden_dims", "a list of integers ≥ 1"),
        (["fast.amp=bf16"], "fast.amp", "true, false or auto"),
        (["fast.channels_last=2"], "fast.channels_last", "true, false or auto"),
        (["pretrain.cache=maybe"], "pretrain.cache", "true or false"),
        (["progress_bar=no"], "progress_bar", "true or false"),
        (["method=dac", "arch.last_relu=0"], "arch.last_relu", "true or false"),
        (["method=dec", "method.momentum_reset=1"], "method.momentum_reset", "true or false"),
        (["method=dac", "method.tactic_grow_neighbors=yes"], "method.tactic_grow_neighbors",
         "true or false"),
        (["method=dac", "method.tactic=spectrall"], "method.tactic",
         "one of argmax, kmeans, spectral, agglomerative"),
        (["method=dac_star", "method.eval_tactics=[argmax,kmean]"], "method.eval_tactics",
         "a list of argmax, kmeans, spectral, agglomerative"),
    ],
)  # fmt: skip
def test_bad_numeric_option_is_one_line_naming_key_and_range(overrides, key, rng):
    problems = numeric_problems(config(*overrides))
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{key}=") and rng in problems[0], problems[0]


def test_every_shipped_config_is_valid():
    for method in ("dec", "dec_nobp", "ae_kmeans", "kmeans", "dac", "dac_star"):
        for dataset in ("digits", "mnist"):
            assert numeric_problems(config(f"method={method}", f"dataset={dataset}")) == []
    assert numeric_problems(config("pretrain=paper", "trainer=cpu", "fast=off")) == []


def test_rule_descriptions():
    assert Num(float, 0, 1, lo_open=True).describe() == "a number in (0, 1]"
    assert not Num(int, 1).accepts(True) and not Num(int, 1).accepts(1.0)
    assert Num(float, 0).accepts(3) and not Num(float, 0).accepts("3")
    assert all(isinstance(rule, Num) for rule in RULES.values())


def test_zero_batch_size_fails_before_training(tmp_path):
    """``method.batch_size=0`` used to exit 0 having trained nothing."""
    with pytest.raises(UserError, match=r"method\.batch_size=0 is invalid"):
        execute(config("method=dec", "method.batch_size=0", f"+run_dir={tmp_path}"))
    assert not (tmp_path / "result.json").exists()


def test_result_path_that_is_a_directory_fails_before_training(tmp_path, monkeypatch):
    """``D/result.json`` a directory: said before the (long) training, not after it."""
    import src.methods.kmeans as kmeans

    (tmp_path / "result.json").mkdir()
    monkeypatch.setattr(kmeans, "fit_kmeans", lambda *a, **k: pytest.fail("trained anyway"))
    cfg = config("method=kmeans", f"+run_dir={tmp_path}")
    with pytest.raises(UserError, match="result.json is a directory.*hydra.run.dir"):
        execute(cfg)


def test_gpu_trainer_without_gpu_names_the_cpu_alternative(tmp_path, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(UserError, match="has none.*trainer=cpu"):
        execute(config("method=dac", "trainer=gpu", f"+run_dir={tmp_path}"))


def test_cli_prints_one_line_per_bad_key_exit_2(cli, tmp_path):
    proc = cli(
        "seed=abc",
        "n_clusters=abc",
        "method.batch_size=-4",
        "method.tol=-1",
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith("error: ") for line in lines), proc.stderr
    for key in ("seed=", "n_clusters=", "method.batch_size=", "method.tol="):
        assert any(key in line for line in lines)
    assert not Path(tmp_path / "result.json").exists()
    debug = cli("seed=abc", "debug=true", f"hydra.run.dir={tmp_path}")
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_seed_everything_matches_lightnings():
    """src.core.seeding leaves every generator as lightning.seed_everything does, without
    importing Lightning (start-up time of k-means runs)."""
    import os
    import random

    import lightning
    import numpy as np
    import torch

    from src.core.seeding import seed_everything

    def draws():
        return random.random(), np.random.rand(), torch.rand(1).item(), os.environ["PL_GLOBAL_SEED"]

    lightning.seed_everything(7, workers=True, verbose=False)
    expected = draws()
    seed_everything(7)
    assert draws() == expected and os.environ["PL_SEED_WORKERS"] == "1"


def test_uncreatable_run_dir_is_one_line(cli, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    proc = cli("method=kmeans", "logger=none", f"hydra.run.dir={blocker / 'run'}")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and "cannot create the folder" in lines[0]
        and "hydra.run.dir=DIR" in lines[0]
    )


def test_method_ranges_are_read_from_the_method_yaml():
    """A method's ranges live beside its options (``ranges:`` in conf/method/<name>.yaml):
    names or a small grammar, nested like the options."""
    from src.core.validation import declared_rules, parse_range

    assert parse_range("count") == Num(int, 1)
    assert parse_range("float ≥ 0").describe() == "a number ≥ 0"
    assert parse_range("int ≥ 1 or auto").describe() == "an integer ≥ 1 or auto"
    assert parse_range("float in (0, 1) or null").describe() == "a number in (0, 1) or null"
    assert parse_range("float in [0, 1]").accepts(1.0) and not parse_range("float > 0").accepts(0)
    assert parse_range("between 1 and 2") is None
    rules, problems = declared_rules(config("method=dac_star"))  # inherited from dac.yaml
    assert problems == [] and rules["method.upper.slope"].describe() == "a number ≥ 0"
    assert not any(key.startswith("method.") for key in RULES)  # no central list of them
    assert parse_range("bool").accepts(False) and not parse_range("bool").accepts("maybe")
    assert parse_range("one of a, b").accepts("b") and not parse_range("one of a, b").accepts("c")
    assert parse_range("list of a, b").describe() == "a list of a, b"
    bad = config("method=kmeans", "method.ranges.n_init=sometimes")
    assert numeric_problems(bad)[0].startswith("method.ranges.n_init='sometimes' is invalid")


def test_dac_yaml_declares_the_tactics_the_code_has():
    """The tactic choices in conf/method/dac.yaml's ranges are the code's, all of them."""
    from src.core.validation import declared_rules
    from src.methods.tactics import TACTICS

    rules, _ = declared_rules(config("method=dac"))
    assert rules["method.tactic"].words == TACTICS
    assert rules["method.eval_tactics"].words == TACTICS and rules["method.eval_tactics"].many
