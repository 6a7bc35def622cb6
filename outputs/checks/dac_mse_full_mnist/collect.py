"""Collect the full-MNIST DAC run with ``method.pair_loss=mse`` beside the Table 2 DAC run
(BCE, the ledger's seed 0) and the authors' MNIST log: the run's ``dac_history.csv`` (and
``result.json`` once it has finished) copied beside this file, ``acc.png`` (ACC and NMI per
epoch, drawn by ``src.reproduce.figures.accuracy_curve_figure``) and the per-epoch table in
``README.md`` between its ``epochs:`` markers. A run still in flight is collected as it stands.

Run from the repository root: ``.venv/bin/python outputs/checks/dac_mse_full_mnist/collect.py RUN_DIR``.
"""

import shutil
import sys
from pathlib import Path

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from src.core.io_utils import rewrite_marked  # noqa: E402
from src.reproduce.figures import accuracy_curve_figure  # noqa: E402

HERE = Path(__file__).parent
LEDGER_DAC = ROOT / "outputs/ledger/mnist/dac"
BEGIN, END = "<!-- epochs:begin (collect.py) -->", "<!-- epochs:end -->"


def epoch_table(mse: pd.DataFrame, bce: pd.DataFrame, authors: dict) -> str:
    """One row per epoch: ACC / NMI of this run, of the BCE run and, where logged, the authors'."""
    logged = dict(
        zip(authors["epoch"], zip(authors["acc"], authors["nmi"], strict=True), strict=True)
    )
    lines = [
        "| epoch | u | l | selected | MSE: ACC | NMI | largest cluster | BCE (Table 2 seed 0): ACC | NMI | authors' DAC* log: ACC | NMI |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]  # fmt: skip
    bce = bce.set_index("epoch")
    for r in mse.itertuples():
        b = bce.loc[r.epoch] if r.epoch in bce.index else None
        a = logged.get(r.epoch)
        sel = "" if pd.isna(r.selected_fraction) else f"{r.selected_fraction:.3f}"
        lines.append(
            f"| {r.epoch} | {r.used_upper if r.epoch else r.upper:.4f} | "
            f"{r.used_lower if r.epoch else r.lower:.4f} | {sel} | {r.acc:.4f} | {r.nmi:.4f} | "
            f"{r.largest_cluster:.3f} | "
            + (f"{b.acc:.4f} | {b.nmi:.4f} | " if b is not None else " | | ")
            + (f"{a[0]:.4f} | {a[1]:.4f} |" if a else " | |")
        )
    return "\n".join(lines)


def table2_bce_history() -> Path:
    """Seed 0's history of Table 2's DAC row: the one ledger record of MNIST DAC, seed 0."""
    found = sorted(LEDGER_DAC.glob("*/seed0/dac_history.csv"))
    if len(found) != 1:
        raise SystemExit(f"expected one MNIST DAC seed-0 record under {LEDGER_DAC}, found {found}")
    return found[0]


def main(run: Path) -> None:
    files = [f for f in ("dac_history.csv", "result.json") if (run / f).exists()]
    for f in files:
        shutil.copy(run / f, HERE / f)
    shutil.copy(run / ".hydra" / "overrides.yaml", HERE / "overrides.yaml")
    bce_history = table2_bce_history()
    max_epochs = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())["method"][
        "max_epochs"
    ]
    authors = yaml.safe_load((ROOT / "conf/paper/dac.yaml").read_text())["authors_logs"]["mnist"]
    histories = {
        "DAC, pair_loss=mse (this check)": HERE / "dac_history.csv",
        "DAC, bce (Table 2, seed 0)": bce_history,
    }
    accuracy_curve_figure(
        histories,
        authors,
        HERE / "acc.png",
        "DAC (adaptive) on full MNIST, seed 0: MSE against BCE",
    )
    mse, bce = pd.read_csv(HERE / "dac_history.csv"), pd.read_csv(bce_history)
    done = int(mse["epoch"].max())
    state = (
        "finished"
        if "result.json" in files
        else f"no result.json yet, {done} of {max_epochs} epochs done"
    )
    block = f"Run state when collected: **{state}**.\n\n{epoch_table(mse, bce, authors)}"
    rewrite_marked(HERE / "README.md", BEGIN, END, block)
    print(f"collected {run} ({state})")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
