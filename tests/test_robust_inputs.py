"""Issue 20 (second part): sweeps and the harness's overrides checked before the first job,
cached MNIST validated, full disks and unwritable folders said in one line, entry points from
any working directory, and messages that point the right way."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO
from tests.helpers.cli import assert_one_line_exit_2, run_cli
from tests.helpers.configs import config

QUICK = ("logger=none", "plots=false", "method=kmeans", "method.n_init=1")


def module(name: str, *args: str, timeout: int = 120, **kwargs) -> subprocess.CompletedProcess:
    """``python -m NAME ARGS`` through :func:`tests.helpers.cli.run_cli`, within 120 s."""
    return run_cli(*args, module=name, timeout=timeout, **kwargs)


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
    from src.core.validation import size_problems

    assert size_problems(config("n_clusters=1797")) == []
    (line,) = size_problems(config("n_clusters=20", "dataset.subset=10"))
    assert "exceeds the 10 samples of dataset.subset=10" in line


@pytest.mark.parametrize("dry", [(), ("--dry-run",)])
def test_harness_composes_its_overrides_before_planning(tmp_path, dry):
    proc = harness(tmp_path, "--profile", "smoke", *dry, "method.lrr=3")
    assert_one_line_exit_2(proc, "method.lrr is not a config key; did you mean method.lr?")
    assert not (tmp_path / "store").exists()


# 2. cached MNIST validated against the source


def _hundred_sample_cache(cache: Path) -> None:
    import numpy as np

    cache.parent.mkdir(parents=True, exist_ok=True)
    images = np.zeros((100, 28, 28), np.uint8)
    np.savez_compressed(cache, images=images, labels=np.zeros(100, np.int64))


def test_short_mnist_cache_is_rebuilt_from_the_source(tmp_path, capsys):
    from src.data import mnist

    wheel = Path(os.environ.get("DCREPRO_DATA", REPO / "data")) / "raw" / mnist.WHEEL_NAME
    if not wheel.exists():
        pytest.skip("real MNIST not prepared (make data)")
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / mnist.WHEEL_NAME).symlink_to(wheel)
    _hundred_sample_cache(tmp_path / "mnist" / "mnist.npz")
    assert len(mnist.load_mnist(tmp_path)) == 70_000
    assert "images uint8[100, 28, 28]" in capsys.readouterr().err
    assert len(mnist.load_mnist(tmp_path)) == 70_000  # the rebuilt cache is accepted


def test_short_mnist_cache_without_source_is_refused(tmp_path):
    from src.core.errors import CorruptedCacheError
    from src.data import mnist

    _hundred_sample_cache(tmp_path / "mnist" / "mnist.npz")
    with pytest.raises(CorruptedCacheError, match="carry no checksum.*delete it.*make data"):
        mnist.load_mnist(tmp_path)


def test_cache_edited_after_it_was_built_is_rebuilt(tmp_path):
    import numpy as np

    from src.data.cache import cached_arrays

    built = {"a": np.arange(5)}
    cache = tmp_path / "c.npz"
    cached_arrays(cache, ("a",), lambda: built)
    with np.load(cache) as f:
        edited = {"a": f["a"][:3], "sha256": f["sha256"]}
    np.savez(cache, **edited)
    assert cached_arrays(cache, ("a",), lambda: built)["a"].tolist() == [0, 1, 2, 3, 4]


# 3. writes: a full disk, unwritable folders


def _file_size_limit(limit: int):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_full_disk_names_the_file_and_the_missing_space(tmp_path):
    run = tmp_path / "run"
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "src.run", *QUICK, f"hydra.run.dir={run}"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
        preexec_fn=_file_size_limit(100 * 1024),
    )  # fmt: skip
    assert_one_line_exit_2(proc, f"cannot write {run / 'embeddings.npy'}: out of space", "missing")
    assert "ulimit -f" in proc.stderr
    assert not list(run.glob(".*.tmp")) and not (run / "result.json").exists()


def test_full_disk_while_writing_a_table_leaves_nothing(tmp_path):
    import resource

    from src.core.io_utils import OutOfSpaceError, atomic_write_text

    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    table = tmp_path / "tables" / "dec_table2.md"
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(OutOfSpaceError, match="20,000 bytes needed, 4,096 written"):
            atomic_write_text(table, "x" * 20_000)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert list(table.parent.iterdir()) == []


@pytest.mark.parametrize("option", ["--store", "--out"])
def test_harness_folder_that_is_a_file(tmp_path, option):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    proc = module("scripts.reproduce", "--profile", "smoke", "--store", str(tmp_path / "s"),
                  "--out", str(tmp_path / "o"), option, str(blocker))  # fmt: skip
    assert_one_line_exit_2(proc, f"{blocker} is a file", f"another with {option} DIR")


def test_default_run_dir_checked_before_hydra_creates_it(cli, tmp_path):
    (tmp_path / "outputs").write_text("")
    proc = cli(*QUICK, cwd=tmp_path)
    assert_one_line_exit_2(proc, "outputs is a file", "hydra.run.dir=DIR")


def test_cache_dir_checked_before_pretraining(cli, tmp_path):
    (tmp_path / "blocker").write_text("")
    cache = tmp_path / "blocker" / "cache"
    proc = cli("method=dec", "logger=none", f"cache_dir={cache}", f"hydra.run.dir={tmp_path / 'r'}")
    assert_one_line_exit_2(proc, f"cannot create the folder {cache}", "cache_dir=DIR")


def test_read_only_folders_are_refused(tmp_path, monkeypatch):
    from src.core.validation import choice_problems, folder_problems

    read_only = tmp_path / "ro"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: Path(p) != read_only and real_access(p, m))
    (line,) = folder_problems(read_only / "runs", "hydra.run.dir=DIR")
    assert f"{read_only} is not writable; choose another with hydra.run.dir=DIR" in line
    (line,) = choice_problems(config("method=dec", f"cache_dir={read_only}"))
    assert f"the folder {read_only} is not writable" in line
    assert choice_problems(config("method=kmeans", f"cache_dir={read_only}")) == []


def test_quoted_run_dir_makes_no_stray_folder(cli, tmp_path):
    proc = cli(*QUICK, f'hydra.run.dir="{tmp_path / "run dir"}"', cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "run dir" / "result.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run dir"]


# 4. entry points from any working directory


def installed_only(tmp_path: Path) -> dict:
    """PYTHONPATH as the editable install gives it: the ``src`` package, not the checkout."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "src").symlink_to(REPO / "src")
    return {"PYTHONPATH": str(site)}


def test_harness_runs_from_another_directory(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = installed_only(tmp_path)
    args = ("--profile", "smoke", "--dry-run", "--tables", "dec_table2")
    proc = module("src.reproduce", *args, cwd=elsewhere, env=env)
    assert proc.returncode == 0 and "would run" in proc.stdout, proc.stderr
    assert module("src.bench", "--help", cwd=elsewhere, env=env).returncode == 0
    assert module("scripts.reproduce", *args, cwd=elsewhere, env=env).returncode == 1  # the old way


def test_console_commands_point_at_entry_points():
    import importlib

    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert {"dcrepro-run", "dcrepro-reproduce", "dcrepro-bench"} <= set(scripts)
    for target in scripts.values():
        name, _, attr = target.partition(":")
        assert callable(getattr(importlib.import_module(name), attr)), target


def test_relative_data_root_found_in_the_checkout(tmp_path, monkeypatch):
    import src.data

    checkout = tmp_path / "checkout"
    (checkout / "data").mkdir(parents=True)
    monkeypatch.setattr(src.data, "CHECKOUT", checkout)
    monkeypatch.chdir(tmp_path)
    assert src.data.data_root("data") == checkout / "data"
    (tmp_path / "data").mkdir()
    assert src.data.data_root("data") == Path("data")  # the working directory's comes first


def test_data_root_that_is_a_file(cli, tmp_path):
    (tmp_path / "f").write_text("")
    proc = cli("dataset=mnist", *QUICK, f"data_root={tmp_path / 'f'}", f"hydra.run.dir={tmp_path}")
    assert_one_line_exit_2(proc, "is a file, not a folder; set data_root=DIR")


# 5. messages that point the right way


def test_one_row_csv_says_more_data(cli, tmp_path):
    (tmp_path / "one.csv").write_text("a,b\n1,2\n")
    proc = cli("dataset=custom", f"dataset.path={tmp_path / 'one.csv'}", *QUICK,
               "n_clusters=2", f"hydra.run.dir={tmp_path / 'run'}")  # fmt: skip
    assert_one_line_exit_2(proc, "has 1 sample; clustering needs at least 2 samples")
    assert "n_clusters≤1" not in proc.stderr


def test_semicolon_csv_is_named(tmp_path):
    from src.core.errors import UserError
    from src.data.custom import read_table

    path = tmp_path / "semi.csv"
    path.write_text("a;b;c\n1;2;3\n4;5;6\n")
    with pytest.raises(UserError, match="looks semicolon-separated"):
        read_table(path)


def test_unicode_override_says_to_quote(cli, tmp_path):
    proc = cli(*QUICK, "dataset.name=é", f"hydra.run.dir={tmp_path}")
    assert_one_line_exit_2(proc, "non-ASCII", "'dataset.name=\"é\"'")


def test_misspelt_harness_option_is_one_line(tmp_path):
    proc = harness(tmp_path, "--sedes", "0")
    assert_one_line_exit_2(proc, "unrecognized arguments: --sedes; did you mean --seeds?")


# 6. scale-out paths


def test_missing_launcher_plugin_is_one_line(tmp_path):
    import importlib.util

    if importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None:
        pytest.skip("hydra-submitit-launcher is installed")
    proc = harness(tmp_path, "--profile", "smoke", "--launcher", "submitit_local")
    assert_one_line_exit_2(proc, "needs Hydra's hydra-submitit-launcher plugin")
    assert not (tmp_path / "store").exists()
