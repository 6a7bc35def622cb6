"""Results from the store → one Markdown and one CSV table per paper table.

Each row of a table is a (data set, method, sweep value): mean ± std over every finished seed
(sample std, ddof = 1) and the best run (the seed with the highest value of the table's first
metric; every metric of the row is read from that one run), beside the paper's number and its
verified flag.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from src.core.io_utils import atomic_write_text
from src.reproduce.records import Results
from src.reproduce.spec import PaperNumber, Plan, TableSpec, paper_numbers
from src.reproduce.store import Store

CSV_COLUMNS = [
    "table", "dataset", "method", "metric", "paper", "mean", "std", "best", "n_seeds", "device",
    "commit", "setting", "paper_verified", "n_planned", "missing_seeds", "precision",
]  # fmt: skip
METRIC_NAMES = {"acc": "ACC", "nmi": "NMI", "ari": "ARI", "G": "G"}


def metric_value(result: dict, name: str, from_extra: str | None = None, setting=None) -> float:
    """A metric of one run: ``metrics[name]``, ``extra[name]``, or a derived one.

    ``G`` (DEC's generalizability) = ``extra.kl_train / extra.kl_val``. With ``from_extra``
    (a sweep read out of one run, e.g. DAC's tactics) it is
    ``extra[from_extra][setting][name]``.
    """
    if from_extra is not None:
        per_setting = (result.get("extra") or {}).get(from_extra) or {}
        value = (per_setting.get(str(setting)) or {}).get(name)
        return float(value) if isinstance(value, (int, float)) else math.nan
    if name in result.get("metrics", {}):
        return float(result["metrics"][name])
    extra = result.get("extra") or {}
    if name == "G":
        train, val = extra.get("kl_train"), extra.get("kl_val")
        if train is None or val is None or val == 0:
            return math.nan
        return float(train) / float(val)
    value = extra.get(name)
    return float(value) if isinstance(value, (int, float)) else math.nan


def run_records(spec: TableSpec, plan: Plan, source: Results | Store) -> pd.DataFrame:
    """One row per planned run of ``spec`` (finished or not), with its metrics and provenance.

    ``source`` is the ledger-and-store lookup of the harness, or a bare store (every result in
    it counts). A stale record leaves its run unfinished, its reason in ``stale``.
    """
    if isinstance(source, Store):
        source = Results(None, source)
    rows = []
    for run in plan.runs:
        if run.table != spec.name:
            continue
        found = source.find(run.overrides, run.seed)
        result = found.result
        row = {
            "dataset": run.dataset,
            "method": run.method,
            "setting": run.setting,
            "seed": run.seed,
            "run_key": run.label,  # one run, however many rows read it (DAC's tactics)
            "finished": result is not None,
            "run_dir": str(found.run_dir) if found.run_dir else "",
            "record_dir": str(found.record_dir) if found.record_dir else "",
            "stale": found.stale or "",
            "command": found.command,
        }
        if result is not None:
            row.update(
                device=result.get("device", "?"),
                precision=result.get("precision", "?"),
                commit=short_commit(str(result.get("commit", "?"))),
                date=result.get("date", ""),
                wall_s=run_wall_seconds(result),
                n_nonempty=result.get("metrics", {}).get("n_nonempty_clusters"),
                n_clusters=result.get("n_clusters"),
            )
            from_extra = (spec.sweep or {}).get("from_extra")
            for m in spec.metrics:
                row[m] = metric_value(result, m, from_extra, run.setting)
        rows.append(row)
    frame = pd.DataFrame(rows)
    for m in spec.metrics:
        if m not in frame:
            frame[m] = math.nan
    return frame


def run_wall_seconds(result: dict) -> float:
    """A run's wall time: its last invocation's total plus, for a run resumed after an
    interruption (DAC), the training seconds of the invocations before it."""
    total = float((result.get("wall_time_s") or {}).get("total", math.nan))
    earlier = (result.get("extra") or {}).get("train_s_before_resume")
    return total + float(earlier) if isinstance(earlier, (int, float)) else total


def short_commit(commit: str) -> str:
    """12 hex digits, with ``-dirty`` kept (a run from a tree with uncommitted changes)."""
    sha, dirty, _ = commit.partition("-dirty")
    return sha[:12] + ("-dirty" if dirty else "")


@dataclass
class TableResult:
    spec: TableSpec
    records: pd.DataFrame  # per run
    summary: pd.DataFrame  # per (dataset, method, setting, metric): the CSV rows


def _joined(values: pd.Series) -> str:
    return "; ".join(sorted({str(v) for v in values.dropna()}))


def summarise(spec: TableSpec, records: pd.DataFrame) -> pd.DataFrame:
    """The CSV rows: one per (data set, method, setting, metric)."""
    papers = paper_numbers(spec)
    rows = []
    if records.empty:
        return pd.DataFrame(columns=CSV_COLUMNS)
    keys = ["dataset", "method", "setting"]
    order = {k: i for i, k in enumerate(spec.datasets)}
    grouped = records.assign(setting=records["setting"].astype(object)).groupby(
        keys, dropna=False, sort=False
    )
    primary = spec.metrics[0]
    for (dataset, method, setting), group in grouped:
        setting = None if _isnan(setting) else setting
        done = group[group["finished"]]
        best = None
        if not done.empty:
            ranked = done[primary].astype(float)
            best = done.loc[ranked.idxmax()] if ranked.notna().any() else done.iloc[0]
        for m in spec.metrics:
            values = done[m].astype(float).dropna() if not done.empty else pd.Series(dtype=float)
            paper: PaperNumber | None = papers.get((dataset, method, m, setting))
            rows.append(
                {
                    "table": spec.name,
                    "dataset": dataset,
                    "method": method,
                    "metric": m,
                    "paper": paper.value if paper else math.nan,
                    "mean": values.mean() if len(values) else math.nan,
                    "std": values.std(ddof=1) if len(values) > 1 else math.nan,
                    "best": float(best[m]) if best is not None else math.nan,
                    "n_seeds": int(len(values)),
                    "device": _joined(done["device"]) if not done.empty else "",
                    "commit": _joined(done["commit"]) if not done.empty else "",
                    "setting": setting,
                    "paper_verified": (paper.verified if paper else None),
                    "n_planned": len(group),
                    "missing_seeds": _seed_list(group.loc[~group["finished"], "seed"]),
                    "precision": _joined(done["precision"]) if not done.empty else "",
                    "_order": order.get(dataset, 99),
                    "_planned": len(group),
                }
            )
    out = pd.DataFrame(rows)
    return out.sort_values("_order", kind="stable").reset_index(drop=True)


def _seed_list(seeds: pd.Series) -> str:
    """``0, 3, 4`` (sorted), or '' when none."""
    return ", ".join(str(int(s)) for s in sorted(seeds))


def _isnan(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt(value: float, digits: int = 4) -> str:
    return "–" if _isnan(value) else f"{value:.{digits}f}"


def fmt_paper(value: float, verified) -> str:
    if _isnan(value):
        return ""
    return f"{value:.4f}" + ("" if verified else " (unverified)")


def markdown(result: TableResult, provenance: dict, figures: list[Path], skipped: list[str]) -> str:
    """A GitHub-readable table per data set, provenance on top; the seeds still missing, the
    records left out as stale, figures and skips below. Nothing in it depends on the machine
    or the moment it is built: the same records give the same bytes."""
    spec, summary, records = result.spec, result.summary, result.records
    lines = [f"# {spec.title}", "", "Generated by `make reproduce`; do not edit by hand.", ""]
    for key, value in provenance.items():
        lines.append(f"- **{key}**: {value}")
    lines += [
        "",
        "Cells: mean ± std over the finished seeds (sample std) · the best run (highest "
        f"{METRIC_NAMES.get(spec.metrics[0], spec.metrics[0])}; all of a row's 'best' values come "
        "from that run) · the paper's number (marked when not verified against a primary copy). "
        "n: finished seeds / planned; a cell over fewer seeds than planned says its own n.",
        "",
    ]
    if summary.empty:
        lines += ["No runs of this table were planned.", ""]
    label = spec.sweep["label"] if spec.sweep else None
    not_run = []
    for dataset in dict.fromkeys(summary["dataset"]) if not summary.empty else []:
        part = summary[summary["dataset"] == dataset]
        if not (part["n_seeds"] > 0).any():
            not_run.append(f"- {dataset}: none of its {_planned_runs(part)} planned runs finished")
            continue
        lines += [f"## {dataset}", ""]
        header = ([label] if label else []) + ["method"]
        for m in spec.metrics:
            name = METRIC_NAMES.get(m, m)
            header += [f"{name} mean ± std", f"{name} best", f"{name} paper"]
        header.append("n")
        lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for (method, setting), row in part.groupby(["method", "setting"], dropna=False, sort=False):
            cells = ([str(setting)] if label else []) + [str(method)]
            by_metric = row.set_index("metric")
            for m in spec.metrics:
                cells += _cells(by_metric.loc[m])
            cells.append(f"{int(row['n_seeds'].iloc[0])}/{int(row['_planned'].iloc[0])}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += _missing(part, label)
        lines += _short_clusters(records, dataset)
    if not_run:
        lines += ["## Not run yet", "", *not_run, ""]
    if "stale" in records and (records["stale"] != "").any():
        lines += [
            "## Left out",
            "",
            'Records that no longer match the current code (docs/reproduction.md, "Results ledger"); their '
            "runs count as missing until run again.",
            "",
        ]
        for _, r in records[records["stale"] != ""].iterrows():
            lines.append(f"- {_run_name(r, label)}: {r['stale']}")
        lines.append("")
    if figures:
        lines += ["## Figures", ""]
        lines += [f"![{p.stem}](../figures/{p.name})" for p in figures]
        lines.append("")
    if skipped:
        lines += ["## Skipped", ""] + [f"- {s}" for s in skipped] + [""]
    return "\n".join(lines)


def _cells(r: pd.Series) -> list[str]:
    """mean ± std (with its n when short of the planned seeds), best, paper."""
    spread = fmt(r["mean"]) + ("" if _isnan(r["std"]) else f" ± {fmt(r['std'])}")
    if 0 < r["n_seeds"] < r["_planned"]:
        spread += f" (n={int(r['n_seeds'])})"
    return [spread, fmt(r["best"]), fmt_paper(r["paper"], r["paper_verified"])]


def _planned_runs(part: pd.DataFrame) -> int:
    return int(part.drop_duplicates(["method", "setting"])["_planned"].sum())


def _missing(part: pd.DataFrame, label: str | None) -> list[str]:
    """One line per method and set of missing seeds (sweep values with the same gap together)."""
    rows = part.drop_duplicates(["method", "setting"])
    gaps: dict[tuple[str, str], list] = {}
    for _, r in rows[rows["missing_seeds"] != ""].iterrows():
        gaps.setdefault((r["method"], r["missing_seeds"]), []).append(r["setting"])
    lines = []
    for (method, seeds), settings in gaps.items():
        where = "" if not label else f" ({label} = {', '.join(str(s) for s in settings)})"
        plural = "s" if "," in seeds else ""
        lines.append(f"- missing: {method}{where}, seed{plural} {seeds}")
    return lines + ([""] if lines else [])


def _short_clusters(records: pd.DataFrame, dataset: str) -> list[str]:
    """Runs that left clusters empty, one line each."""
    if "n_nonempty" not in records or not records["finished"].any():
        return []
    done = records[(records["dataset"] == dataset) & records["finished"]]
    short = done[done["n_nonempty"] < done["n_clusters"]]
    lines = [
        f"- {r['method']} seed {r['seed']}: {int(r['n_nonempty'])} of "
        f"{int(r['n_clusters'])} clusters non-empty"
        for _, r in short.iterrows()
    ]
    return lines + ([""] if lines else [])


def _run_name(r: pd.Series, label: str | None) -> str:
    setting = "" if not label or _isnan(r["setting"]) else f" {label}={r['setting']}"
    return f"{r['method']} on {r['dataset']}{setting}, seed {r['seed']}"


def count_runs(records: pd.DataFrame) -> int:
    """How many runs the rows stand for: a table read out of one run (DAC's tactics) has a row
    per reading, all with that run's ``run_key``."""
    return int(records["run_key"].nunique()) if not records.empty else 0


def provenance(records: pd.DataFrame, seeds: list[int], command: str | None = None) -> dict:
    """The table's provenance, from its finished runs' records alone: the commands that ran
    them, the commits (in date order), devices, precisions, dates and summed wall time.
    ``command``: the invocation that built the table, named when it ran none of them."""
    done = records[records["finished"]] if not records.empty else records
    planned = f"{count_runs(done)} finished of {count_runs(records)} planned"
    if done.empty:
        return {"runs": f"{planned}; none finished yet", "seeds": _seeds(seeds)}
    ran_by = [c if isinstance(c, str) and c else None for c in done["command"]]
    counts = Counter(c for c in ran_by if c)
    runs_by = "; ".join(
        f"`{c}`" + (f" ({n} of {len(done)} runs)" if n < len(done) else "")
        for c, n in sorted(counts.items(), key=lambda cn: (-cn[1], cn[0]))
    )
    unknown = sum(c is None for c in ran_by)
    if unknown:
        runs_by += ("; " if runs_by else "") + f"{unknown} runs by a command not recorded"
    built_by = (
        {"tables built by": f"`{command}`"}
        if command and (list(counts) != [command] or unknown)
        else {}
    )
    status = "complete" if len(done) == len(records) else "incomplete (see missing below)"
    wall = float(np.nansum(done["wall_s"].groupby(done["run_key"]).first()))
    return {
        "command": runs_by,
        **built_by,
        "commit": _commits(done),
        "device": _joined(done["device"]),
        "precision": _joined(done["precision"]),
        "date": f"{done['date'].min()} … {done['date'].max()}",
        "seeds": _seeds(seeds),
        "runs": f"{planned}, {status}",
        "wall time": f"{_duration(wall)} summed over the finished runs",
    }


def _commits(done: pd.DataFrame) -> str:
    """The commits of the runs, oldest first: one, or ``first … last (n commits)``."""
    first_seen = done.sort_values(["date", "commit"]).drop_duplicates("commit")["commit"]
    commits = list(first_seen)
    if len(commits) == 1:
        return commits[0]
    return f"{commits[0]} … {commits[-1]} ({len(commits)} commits: {', '.join(commits)})"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _seeds(seeds: list[int]) -> str:
    return ", ".join(str(s) for s in seeds)


def write_table(result: TableResult, out_dir: Path, md: str) -> tuple[Path, Path]:
    tables = out_dir / "tables"
    csv_path, md_path = tables / f"{result.spec.name}.csv", tables / f"{result.spec.name}.md"
    frame = result.summary.reindex(columns=CSV_COLUMNS)
    atomic_write_text(csv_path, frame.to_csv(index=False, float_format="%.6g"))
    atomic_write_text(md_path, md)
    return md_path, csv_path
