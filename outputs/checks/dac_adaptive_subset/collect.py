"""Collect the DAC (adaptive) subset ablation (``run.sh``): each run's ``result.json`` and
``dac_history.csv`` copied beside this file (``<config>-s<seed>/``), ``runs.csv`` (one row per
run: its overrides beside the common ones, the final metrics, the best epoch, the training
seconds, commit, device, precision), ``history.csv`` (every run's per-epoch rows) and ``acc.png``
(ACC per epoch, one line per run); the table in ``README.md`` between its ``runs:`` markers is
rewritten from ``runs.csv``.

Run from the repository root: ``python outputs/checks/dac_adaptive_subset/collect.py RUNS_DIR``.
A run's overrides are read from its own ``.hydra/overrides.yaml``, so this file names none.
"""

import json
import shutil
import sys
from pathlib import Path

import matplotlib
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from src.core.io_utils import rewrite_marked  # noqa: E402

HERE = Path(__file__).parent
BEGIN, END = "<!-- runs:begin (collect.py) -->", "<!-- runs:end -->"
COMMON = ("dataset=", "dataset.subset=", "logger=", "plots=", "seed=")  # the same in every run

rows, histories = [], []
for run in sorted(p for p in Path(sys.argv[1]).iterdir() if (p / "result.json").exists()):
    (HERE / run.name).mkdir(exist_ok=True)
    for f in ("result.json", "dac_history.csv"):
        shutil.copy(run / f, HERE / run.name / f)
    given = yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    r = json.loads((run / "result.json").read_text())
    h = pd.read_csv(run / "dac_history.csv")
    h.insert(0, "run", run.name)
    histories.append(h)
    best = h.loc[h["acc"].idxmax()]
    rows.append({
        "run": run.name, "seed": r["seed"],
        "overrides": " ".join(o for o in given if not o.startswith(COMMON)),
        "epochs": int(h["epoch"].max()),
        **{m: r["metrics"][m] for m in ("acc", "nmi", "ari")},
        "clusters": int(r["metrics"]["n_nonempty_clusters"]),
        "best_epoch": int(best["epoch"]), "best_acc": float(best["acc"]),
        "train_s": r["wall_time_s"]["train"], "commit": r["commit"][:12], "date": r["date"],
        "device": r["device"], "precision": r.get("precision", "?"),
    })  # fmt: skip
runs = pd.DataFrame(rows)
runs.to_csv(HERE / "runs.csv", index=False)
history = pd.concat(histories, ignore_index=True)
history.to_csv(HERE / "history.csv", index=False)
fig, ax = plt.subplots(figsize=(7, 4.5))
labels = dict(zip(runs["run"], runs["overrides"], strict=True))
for name, h in history.groupby("run", sort=False):
    style = "-" if name.endswith("-s0") else "--"
    ax.plot(h["epoch"], h["acc"], style, marker=".", label=f"{name}: {labels[name]}")
ax.set(
    xlabel="epoch",
    ylabel="ACC (argmax)",
    title="DAC on a 10,000-image MNIST subset (the seed draws it)",
)
ax.grid(alpha=0.3)
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(HERE / "acc.png", dpi=120)


def markdown(runs: pd.DataFrame) -> str:
    """The README's table: one row per run."""
    lines = [
        "| run | overrides | ACC | NMI | ARI | best ACC (epoch) | clusters | train s | commit |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs.itertuples():
        lines.append(
            f"| {r.run} | `{r.overrides}` | {r.acc:.4f} | {r.nmi:.4f} | {r.ari:.4f} | "
            f"{r.best_acc:.4f} ({r.best_epoch}) | {r.clusters} | {r.train_s:.0f} | {r.commit[:7]} |"
        )
    return "\n".join(lines)


rewrite_marked(HERE / "README.md", BEGIN, END, markdown(runs))
print(runs.drop(columns=["overrides", "date", "device"]).round(4).to_string(index=False))
