"""Collect the digits SAE-schedule check: one row per run (result.json + the cached SAE's
reconstruction MSE on all 1,797 preprocessed images), and the mean ± std per schedule.

Run from the repository root: ``python outputs/checks/digits_sae_schedule/collect.py RUN_DIR...``
(each RUN_DIR a ``python -m src.run`` run directory of that check).
"""

import json
import sys
from pathlib import Path

import pandas as pd
import torch
from omegaconf import OmegaConf

from src.data import build_data
from src.models.sae import SAE

rows = []
for run in map(Path, sys.argv[1:]):
    r = json.loads((run / "result.json").read_text())
    cfg = OmegaConf.create(r["config"])
    x = torch.from_numpy(build_data(cfg).features()).float()
    ckpt = torch.load(r["extra"]["pretrain_checkpoint"], weights_only=True)
    sae = SAE.from_arch(ckpt["arch"])
    sae.load_state_dict(ckpt["state_dict"])
    with torch.no_grad():
        recon = float(((sae(x) - x) ** 2).mean())
    p = cfg.pretrain
    rows.append({
        "schedule": f"batch {p.batch_size}, {p.layerwise_iters}/{p.finetune_iters}",
        "seed": r["seed"], "recon_mse": recon, **{m: r["metrics"][m] for m in ("acc", "nmi", "ari")},
        "pretrain_s": r["wall_time_s"]["pretrain"], "total_s": r["wall_time_s"]["total"],
        "commit": r["commit"][:7], "date": r["date"], "device": r["device"],
    })  # fmt: skip
runs = pd.DataFrame(rows).sort_values(["schedule", "seed"])
here = Path(__file__).parent
runs.to_csv(here / "runs.csv", index=False)
summary = runs.groupby("schedule")[["recon_mse", "acc", "nmi", "ari", "pretrain_s"]].agg(
    ["mean", "std", "count"]
)
(here / "summary.txt").write_text(summary.round(4).to_string() + "\n")
print(summary.round(4).to_string())
