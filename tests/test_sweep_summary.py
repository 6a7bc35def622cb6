"""A ``--multirun`` sweep ends with one table of its points and ``sweep_summary.csv``."""

from __future__ import annotations

import pandas as pd


def test_sweep_prints_one_table_and_writes_csv(cli, tmp_path):
    proc = cli(
        "--multirun",
        "method=kmeans",
        "method.n_init=1",
        "logger=none",
        "plots=false",
        "n_clusters=3,5",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    table = pd.read_csv(tmp_path / "sweep_summary.csv")
    assert table["n_clusters"].tolist() == [3, 5] and (table["status"] == "ok").all()
    assert table["n_nonempty_clusters"].tolist() == [3, 5] and table["acc"].between(0, 1).all()
    tail = proc.stdout[proc.stdout.index("sweep of 2 runs") :]
    assert "n_clusters" in tail and "sweep_summary.csv" in tail
    assert "method=kmeans" in tail.splitlines()[0]  # shared overrides in the title
