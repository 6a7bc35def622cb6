"""Collect the DAC (adaptive) subset ablation (``run.sh``): each config's ``result.json`` and
``dac_history.csv`` copied beside this file, ``runs.csv`` (one row per config: the final
metrics, the best epoch, the training seconds, commit, device, precision), ``history.csv``
(every config's per-epoch rows) and ``acc.png`` (ACC per epoch, one line per config).

Run from the repository root: ``python outputs/checks/dac_adaptive_subset/collect.py RUNS_DIR``.
"""

import json
import shutil
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

HERE = Path(__file__).parent
CONFIGS = {  # config: the overrides beside the common ones in run.sh
    "default": "method=dac",
    "mse": "method=dac method.pair_loss=mse",
    "self1": "method=dac method.self_weight=1",
    "dac_star": "experiment=dac_star_mnist_authors",
}

rows, histories = [], []
for name, overrides in CONFIGS.items():
    run = Path(sys.argv[1]) / name
    if not (run / "result.json").exists():
        continue
    (HERE / name).mkdir(exist_ok=True)
    for f in ("result.json", "dac_history.csv"):
        shutil.copy(run / f, HERE / name / f)
    r = json.loads((run / "result.json").read_text())
    h = pd.read_csv(run / "dac_history.csv")
    h.insert(0, "config", name)
    histories.append(h)
    best = h.loc[h["acc"].idxmax()]
    rows.append({
        "config": name, "overrides": overrides, "epochs": int(h["epoch"].max()),
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
fig, ax = plt.subplots(figsize=(6, 4))
for name, h in history.groupby("config", sort=False):
    ax.plot(h["epoch"], h["acc"], marker=".", label=f"{name}: {CONFIGS[name]}")
ax.set(xlabel="epoch", ylabel="ACC (argmax)", title="DAC on a 10,000-image MNIST subset, seed 0")
ax.grid(alpha=0.3)
ax.legend(fontsize=7)
fig.tight_layout()
fig.savefig(HERE / "acc.png", dpi=120)
print(runs.drop(columns=["overrides", "date", "device"]).round(4).to_string(index=False))
