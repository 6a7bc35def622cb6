"""The one-screen end-of-run summary (Rich) and a spinner for long non-Lightning phases."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


@contextmanager
def spinner(message: str, enabled: bool = True):
    """A Rich status spinner on stderr (silent when stderr is not a terminal)."""
    console = _console(stderr=True)
    if not enabled or not console.is_terminal:
        yield
        return
    with console.status(message):
        yield


def _fmt(value: Any, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def summary_table(result: dict[str, Any]) -> Table:
    """Method, data, metrics or internal measures and time per phase, as a two-column grid."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    labelled = not result.get("metrics_skipped")
    grid.add_row(
        "data",
        f"{result['dataset']}: n={result['n_samples']:,}, k={result['n_clusters']}, "
        f"seed {result['seed']}, {'labelled' if labelled else 'no labels'}",
    )
    metrics = result["metrics"]
    if labelled:
        grid.add_row(
            "metrics",
            "  ".join(f"{m.upper()} {metrics[m]:.4f}" for m in ("acc", "nmi", "ari")),
        )
    else:
        grid.add_row("metrics", "ACC/NMI/ARI skipped: the data have no labels")
    internal = result.get("internal") or {}
    if internal:
        sizes = internal["cluster_sizes"]
        grid.add_row(
            "internal",
            f"silhouette {_fmt(internal['silhouette'])} "
            f"({internal['silhouette_points']:,} points)  "
            f"non-empty clusters {internal['n_nonempty_clusters']}/{len(sizes)}  "
            f"sizes {min(sizes):,}–{max(sizes):,}",
        )
    times = result["wall_time_s"]
    grid.add_row(
        "time",
        "  ".join(f"{phase} {sec:.1f} s" for phase, sec in times.items() if phase != "total")
        + f"  | total {times['total']:.1f} s",
    )
    grid.add_row("device", str(result.get("device", "")))
    return grid


def print_summary(
    result: dict[str, Any], outputs: dict[str, str], line: str, logged: str | None = None
) -> None:
    """Panel with the run's numbers, then one unwrapped line per output (copy-pasteable)."""
    console = _console()
    title = f"{result['method']} on {result['dataset']}"
    console.print(Panel(summary_table(result), title=title, expand=False))
    console.print(line, markup=False, soft_wrap=True)
    for name, where in outputs.items():
        console.print(f"{name}: {where}", markup=False, soft_wrap=True)
    if logged:
        console.print(f"logged: {logged}", markup=False, soft_wrap=True)
