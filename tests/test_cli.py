"""The command line end to end: clear one-line errors and a real k-means run on digits."""

import json
from pathlib import Path

import pytest


def last_result(run_dir: Path) -> dict:
    return json.loads((run_dir / "result.json").read_text())


def test_unknown_dataset_lists_valid_ones(cli):
    proc = cli("dataset=nope")
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert "unknown dataset 'nope'" in err[0] and "digits" in err[0] and "mnist" in err[0]


def test_unknown_method_lists_valid_ones(cli):
    proc = cli("method=nope")
    assert proc.returncode != 0
    assert "unknown method 'nope'" in proc.stderr and "kmeans" in proc.stderr


@pytest.mark.parametrize(
    "k, fix", [(1, "n_clusters=1 is invalid: use an integer ≥ 2"), (5000, "exceeds the 1797")]
)
def test_bad_cluster_count_is_one_line(cli, tmp_path, k, fix):
    proc = cli(f"n_clusters={k}", "logger=none", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert fix in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_missing_mnist_offline_names_make_data(cli, tmp_path):
    proc = cli(
        "dataset=mnist",
        "logger=none",
        f"hydra.run.dir={tmp_path}",
        env={"DCREPRO_DATA": str(tmp_path / "empty")},
    )
    assert proc.returncode == 2
    assert "make data" in proc.stderr and "Traceback" not in proc.stderr


def test_kmeans_on_digits_end_to_end(cli, tmp_path):
    proc = cli(
        "method=kmeans",
        "dataset=digits",
        "logger=csv",
        "method.n_init=5",
        "export.projection_points=500",  # auto: PCA here (t-SNE would cost more than k-means)
        f"hydra.run.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr
    result = last_result(tmp_path)
    # k-means on digits reaches ACC ≈ 0.79 with these seeds; a floor well below that
    assert result["metrics"]["acc"] > 0.65
    assert 0.6 < result["metrics"]["nmi"] <= 1.0
    assert result["n_samples"] == 1797 and result["n_clusters"] == 10
    assert result["config"]["method"]["n_init"] == 5
    for key in ("commit", "device", "wall_time_s", "seed", "date"):
        assert key in result
    assert "ACC " in proc.stdout and "result.json" in proc.stdout
    assert (tmp_path / "confusion.png").stat().st_size > 1000
    assert (tmp_path / "embedding_2d.png").stat().st_size > 1000
    assert (tmp_path / "assignments.csv").exists() and (tmp_path / "model.pt").exists()
    assert (tmp_path / "csv_logs" / "metrics.csv").exists()
    log = (tmp_path / "run.log").read_text()  # used to be empty
    for line in ("kmeans: started", "k-means: k=10, 5 restarts", "kmeans: finished", "ACC "):
        assert line in log, log
    # the process ends without the interpreter's finalisation (src.run.exit_now): everything
    # is flushed first, to the last line of run.log and of the CSV metrics
    assert log.rstrip().splitlines()[-1].split(" - ", 1)[1].startswith("confusion: ")
    assert "final/acc" in (tmp_path / "csv_logs" / "metrics.csv").read_text()


def test_wandb_offline_run_is_written(cli, tmp_path):
    proc = cli(
        "method=kmeans",
        "method.n_init=1",
        "logger=wandb",
        "export.projection=pca",
        f"hydra.run.dir={tmp_path}",
        env={"WANDB_MODE": "offline"},
    )
    assert proc.returncode == 0, proc.stderr
    runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list(tmp_path.rglob("*"))
    assert "wandb sync" in proc.stdout
    assert next(runs[0].glob("run-*.wandb")).stat().st_size > 1000  # the records, flushed
    assert "finishing run" in (runs[0] / "logs" / "debug.log").read_text()


def test_wandb_run_prints_no_anonymous_warning(tmp_path):
    """Every run used to print ``wandb: WARNING The anonymous setting has no effect…``."""
    import subprocess
    import sys

    code = (
        "from pathlib import Path; from omegaconf import OmegaConf; "
        "from src.recording.tracking import make_logger, close_logger, logger_location; "
        "cfg = OmegaConf.create({'name': 'wandb', 'mode': 'offline', 'project': 'p'}); "
        f"lg = make_logger(cfg, Path(r'{tmp_path}'), 'r', OmegaConf.create({{'a': 1}})); "
        "lg.log_metrics({'x': 1.0}, step=0); print(logger_location(lg)); close_logger(lg)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env={**__import__("os").environ, "WANDB_MODE": "offline"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "anonymous" not in proc.stderr + proc.stdout
    assert "W&B offline run" in proc.stdout and list(tmp_path.glob("wandb/offline-run-*"))
