"""End of a Hydra sweep (``--multirun``): one table of its points, printed and written as CSV."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from src.core.io_utils import atomic_write

METRICS = ("acc", "nmi", "ari", "silhouette", "n_nonempty_clusters")
SUMMARY_NAME = "sweep_summary.csv"


def sweep_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job directory of the sweep: its overrides, metrics and time (or failure)."""
    rows = []
    for job in sorted(sweep_dir.iterdir(), key=lambda p: (len(p.name), p.name)):
        overrides_file = job / ".hydra" / "overrides.yaml"
        if not overrides_file.is_file():
            continue
        overrides = dict(str(o).split("=", 1) for o in OmegaConf.load(overrides_file) if "=" in o)
        row: dict[str, Any] = {"job": job.name, **overrides}
        try:
            result = json.loads((job / "result.json").read_text())
        except (OSError, ValueError):
            row["status"] = "failed (no result.json; see its run.log)"
        else:
            row["status"] = "ok"
            row.update({m: result["metrics"].get(m) for m in METRICS})
            row["seconds"] = result["wall_time_s"]["total"]
        rows.append(row)
    return rows


def write_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    import pandas as pd

    table = pd.DataFrame(rows)
    return atomic_write(
        path, lambda tmp: table.to_csv(tmp, index=False, float_format="%.4f", lineterminator="\n")
    )


def swept_keys(rows: list[dict[str, Any]]) -> tuple[list[str], dict[str, Any]]:
    """(override keys whose value differs between jobs, the overrides all jobs share)."""
    reserved = {"job", "status", "seconds", *METRICS}
    keys = [k for k in dict.fromkeys(k for row in rows for k in row) if k not in reserved]
    varying = [k for k in keys if len({str(row.get(k)) for row in rows}) > 1]
    common = {k: rows[0].get(k) for k in keys if k not in varying}
    return varying, common


def print_table(rows: list[dict[str, Any]], path: Path) -> None:
    """The sweep's points, one row each: the swept values, metrics and time."""
    from rich.console import Console
    from rich.table import Table

    varying, common = swept_keys(rows)
    shared = " ".join(f"{k}={v}" for k, v in common.items())
    table = Table(title=f"sweep of {len(rows)} runs  {shared}", title_justify="left")
    for column in [*varying, *METRICS, "seconds"]:
        header = "non-empty" if column == "n_nonempty_clusters" else column
        table.add_column(header, justify="left" if column in varying else "right")
    for row in rows:
        values = [str(row.get(k)) for k in varying]
        if row["status"] != "ok":
            table.add_row(*values, row["status"], *[""] * len(METRICS))
            continue
        table.add_row(
            *values,
            *("n/a" if row[m] is None else f"{row[m]:.4f}" for m in METRICS[:4]),
            str(row["n_nonempty_clusters"]),
            f"{row['seconds']:.1f}",
        )
    console = Console(highlight=False)
    console.print(table)
    console.print(f"sweep summary: {path}", markup=False, soft_wrap=True)


class SweepSummary(Callback):
    """Registered in ``conf/config.yaml`` (``hydra.callbacks``): after the last job, prints one
    table of the sweep's points and writes it as ``<sweep dir>/sweep_summary.csv``."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        rows = sweep_rows(sweep_dir) if sweep_dir.is_dir() else []
        if not rows:
            return
        print_table(rows, write_csv(rows, sweep_dir / SUMMARY_NAME))
