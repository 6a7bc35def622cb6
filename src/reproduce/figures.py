"""Figures of a reproduction: sweep curves, DAC's threshold history, confusion/embedding grids.

DAC runs are expected to write ``dac_history.csv`` in their run directory with columns
``step, lambda, u, l, selected_fraction`` (``upper``/``lower`` accepted for ``u``/``l``; more
columns are ignored).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from src.core.io_utils import atomic_write  # noqa: E402
from src.recording.plots import CONFUSION_FILE, draw_confusion, read_confusion_csv  # noqa: E402
from src.reproduce.aggregate import METRIC_NAMES, TableResult  # noqa: E402
from src.reproduce.spec import authors_log  # noqa: E402

HISTORY_FILE = "dac_history.csv"
HISTORY_COLUMNS = ("step", "lambda", "u", "l", "selected_fraction")


def _save(fig, path: Path) -> Path:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight"))
    plt.close(fig)
    return path


def sweep_figure(result: TableResult, dataset: str, path: Path) -> Path | None:
    """One panel per metric with data: mean ± std against the sweep value, per method;
    the paper's numbers as hollow markers."""
    spec, summary = result.spec, result.summary
    part = summary[(summary["dataset"] == dataset) & (summary["n_seeds"] > 0)]
    metrics = [m for m in spec.metrics if part[part["metric"] == m]["mean"].notna().any()]
    if not metrics:
        return None
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.6 * len(metrics), 3.6), squeeze=False)
    for ax, m in zip(axes[0], metrics, strict=True):
        rows = summary[(summary["dataset"] == dataset) & (summary["metric"] == m)]
        for i, (method, g) in enumerate(rows.groupby("method", sort=False)):
            g = g.sort_values("setting")
            colour = f"C{i}"
            ok = g["mean"].notna()
            if ok.any():
                ax.errorbar(
                    g["setting"][ok].astype(float),
                    g["mean"][ok],
                    yerr=g["std"][ok].fillna(0.0),
                    marker="o",
                    ms=4,
                    capsize=2,
                    color=colour,
                    label=method,
                )
            pk = g["paper"].notna()
            if pk.any():
                ax.plot(
                    g["setting"][pk].astype(float), g["paper"][pk], ls="--", marker="o",
                    mfc="none", color=colour, label=f"{method} (paper)",
                )  # fmt: skip
        ax.set_xlabel(spec.sweep["label"] if spec.sweep else "")
        ax.set_ylabel(METRIC_NAMES.get(m, m))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{spec.title} — {dataset}", fontsize=9)
    return _save(fig, path)


def history_figure(run_dirs: dict[str, Path], path: Path, title: str) -> Path | None:
    """λ, u(λ), l(λ) and the selected-pair fraction over training, one column per run."""
    found = {k: d / HISTORY_FILE for k, d in run_dirs.items() if (d / HISTORY_FILE).is_file()}
    if not found:
        return None
    fig, axes = plt.subplots(2, len(found), figsize=(4.6 * len(found), 6), squeeze=False)
    for col, (name, file) in enumerate(found.items()):
        h = pd.read_csv(file)
        top, bottom = axes[0][col], axes[1][col]
        h = h.rename(columns={"upper": "u", "lower": "l"})  # DACThresholdStop's names
        for c, shown in (("lambda", "λ"), ("u", "u(λ)"), ("l", "l(λ)")):
            if c in h:
                top.plot(h["step"], h[c], marker=".", label=shown)
        top.set_title(name, fontsize=9)
        top.legend(fontsize=7)
        top.grid(alpha=0.3)
        if "selected_fraction" in h:
            bottom.plot(h["step"], h["selected_fraction"], marker=".", color="C3")
        bottom.set_ylabel("selected pairs (fraction)")
        bottom.set_xlabel("step")
        bottom.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def accuracy_curve_figure(
    histories: dict[str, Path], authors: dict | None, path: Path, title: str
) -> Path | None:
    """ACC (and NMI) after every epoch, one line per DAC run (every seed), the authors' own
    log as black markers: where a run parts from the authors' curve shows at a glance."""
    found = {k: p for k, p in histories.items() if p.is_file()}
    if not found:
        return None
    metrics = ("acc", "nmi")
    fig, axes = plt.subplots(1, len(metrics), figsize=(5.2 * len(metrics), 3.8), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for i, (name, file) in enumerate(found.items()):
            h = pd.read_csv(file)
            if metric in h and h[metric].notna().any():
                ax.plot(h["epoch"], h[metric], marker=".", color=f"C{i}", label=name)
        if authors and metric in authors:
            ax.plot(
                authors["epoch"], authors[metric], "ks", mfc="none",
                label=f"authors' log ({authors.get('source', '')})",
            )  # fmt: skip
        ax.set_xlabel("epoch")
        ax.set_ylabel(METRIC_NAMES.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def dac_histories(result: TableResult, dataset: str) -> dict[str, Path]:
    """Every finished DAC-family run's ``dac_history.csv`` (the ledger's copy, else the
    store's), named ``method seed k``."""
    rec = result.records
    if rec.empty:
        return {}
    done = rec[(rec["dataset"] == dataset) & rec["finished"]]
    out = {}
    for _, r in done.sort_values(["method", "seed"]).iterrows():
        if not str(r["method"]).startswith("dac"):
            continue
        for column in ("record_dir", "run_dir"):
            if r.get(column) and (Path(r[column]) / HISTORY_FILE).is_file():
                out[f"{r['method']} seed {r['seed']}"] = Path(r[column]) / HISTORY_FILE
                break
    return out


def grid_figure(panels: dict[str, Path], path: Path, title: str) -> Path | None:
    """The runs' own figures side by side: a PNG as it is, a ``confusion.csv`` drawn anew."""
    if not panels:
        return None
    cols = min(len(panels), 3)
    rows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 4.6 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (name, p) in zip(axes.flat, panels.items(), strict=False):
        if p.suffix == ".csv":
            ax.axis("on")
            draw_confusion(ax, read_confusion_csv(p), name)
        else:
            ax.imshow(mpimg.imread(p))
            ax.set_title(name, fontsize=9)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def _ranked_seeds(result: TableResult, dataset: str) -> Iterator[tuple[str, pd.DataFrame]]:
    """Per method (and sweep value): its name in figures (``dec``, ``dec k=10``) and its
    finished seeds, best first by the table's first metric (ties in ledger order, unscored
    seeds last)."""
    rec = result.records
    if rec.empty:
        return
    primary = result.spec.metrics[0]
    done = rec[(rec["dataset"] == dataset) & rec["finished"]]
    for (method, setting), g in done.groupby(["method", "setting"], dropna=False, sort=False):
        name = method if _none(setting) else f"{method} {result.spec.sweep['label']}={setting}"
        scores = pd.Series(g[primary].astype(float).to_numpy())  # positions, not index labels
        order = scores.sort_values(ascending=False, na_position="last", kind="stable").index
        yield name, g.iloc[order]


def best_with(result: TableResult, dataset: str, files: tuple[str, ...]) -> dict[str, Path]:
    """Per method (and sweep value), the best finished seed that kept one of ``files`` (tried
    in order, in its ledger record, then its store directory): ``{"dec (seed 4)": path}``."""
    out = {}
    for name, ranked in _ranked_seeds(result, dataset):
        for _, r in ranked.iterrows():
            dirs = [
                Path(r[c]) for c in ("record_dir", "run_dir") if isinstance(r.get(c), str) and r[c]
            ]
            found = next((d / f for f in files for d in dirs if (d / f).is_file()), None)
            if found is not None:
                out[f"{name} (seed {r['seed']})"] = found
                break
    return out


def best_runs(result: TableResult, dataset: str) -> dict[str, pd.Series]:
    """Per method (and sweep value), the record of the best finished seed."""
    out = {}
    for name, ranked in _ranked_seeds(result, dataset):
        best = ranked.iloc[0]
        out[f"{name} (seed {best['seed']})"] = best
    return out


def best_run_dirs(result: TableResult, dataset: str, column: str = "run_dir") -> dict[str, Path]:
    """Per method (and sweep value), a directory of the best finished seed: ``run_dir`` (the
    store's, else the ledger's) or ``record_dir`` (the ledger's); runs without one left out."""
    return {k: Path(r[column]) for k, r in best_runs(result, dataset).items() if r.get(column)}


def _none(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _kept(made: Path | None, path: Path) -> Path | None:
    """A figure drawn now, else the one an earlier build left (its sources, e.g. the runs'
    images, live in a store this checkout does not have), else None."""
    return made if made is not None else (path if path.is_file() else None)


def dataset_figures(result: TableResult, dataset: str, figdir: Path) -> list[Path]:
    """The figures the table's spec asks for (``figures:``), for one data set."""
    spec = result.spec
    stem = f"{spec.name}_{dataset}"
    best = best_run_dirs(result, dataset)
    made: list[Path | None] = []
    if "sweep" in spec.figures:
        made.append(sweep_figure(result, dataset, figdir / f"{stem}.png"))
    for kind, files, what in (
        ("confusion", (CONFUSION_FILE, "confusion.png"), "confusion matrices"),
        ("embedding", ("embedding_2d.png",), "2-D view of each embedding"),
    ):
        if kind in spec.figures:
            path = figdir / f"{stem}_{kind}.png"
            title = f"{spec.title}: {what} on {dataset} (per row: the best seed that kept one)"
            drawn = grid_figure(best_with(result, dataset, files), path, title)
            made.append(_kept(drawn, path))
    if "dac_history" in spec.figures:
        records = best_run_dirs(result, dataset, "record_dir")
        dirs = {k: d for k, d in {**best, **records}.items() if k.startswith("dac")}
        path = figdir / f"{stem}_dac_history.png"
        title = f"DAC on {dataset}: λ, u(λ), l(λ) and selected pairs over training"
        made.append(_kept(history_figure(dirs, path, title), path))
        path = figdir / f"{stem}_dac_acc.png"
        title = f"DAC on {dataset}: ACC and NMI after every epoch, against the authors' log"
        drawn = accuracy_curve_figure(
            dac_histories(result, dataset), authors_log(spec, dataset), path, title
        )
        made.append(_kept(drawn, path))
    return [p for p in made if p is not None]


def table_figures(result: TableResult, out_dir: Path) -> list[Path]:
    """Every figure of a table, for each of its data sets with planned runs."""
    if result.summary.empty:
        return []
    made: list[Path] = []
    for dataset in dict.fromkeys(result.summary["dataset"]):
        made += dataset_figures(result, dataset, out_dir / "figures")
    return made
