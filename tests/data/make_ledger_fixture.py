"""Writes tests/data/ledger/: hand-made records for tests/test_ledger.py (not results).

``python -m tests.data.make_ledger_fixture`` (from the repository root). Every number is made
up; the configs hold only the few keys the records need (a record is compared with the current
code at the keys both have, so a trimmed config stays current while those keys keep their
values). Two records are stale on purpose: dec_nobp seed 0 (an old results class) and
ae_kmeans seed 1 (a config that differs from the code's).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from src.core.io_utils import atomic_write_json, atomic_write_text
from src.recording.plots import confusion_counts, write_confusion_csv
from src.recording.results_class import results_class
from src.reproduce.spec import load_profile, load_table, plan
from src.reproduce.store import canonical, config_key

ROOT = Path(__file__).resolve().parent / "ledger"
COMMITS = {
    0: "1111111111111111111111111111111111111111",
    1: "2222222222222222222222222222222222222222",
}
METRICS = {  # (method, seed) → acc, nmi, ari; missing pairs have no record
    ("kmeans", 0): (0.5310, 0.4970, 0.3660),
    ("kmeans", 1): (0.5420, 0.5010, 0.3700),
    ("ae_kmeans", 0): (0.8120, 0.7460, 0.6950),
    ("ae_kmeans", 1): (0.8000, 0.7400, 0.6900),
    ("dec_nobp", 0): (0.8210, 0.7580, 0.7100),
    ("dec", 0): (0.8630, 0.8310, 0.7900),
    ("dac", 0): (0.9720, 0.9300, 0.9400),
}


def record(method: str, seed: int, overrides: list[str]) -> dict:
    acc, nmi, ari = METRICS[(method, seed)]
    config = {
        "dataset": {"name": "mnist", "subset": None},
        "method": {"name": method},
        "n_clusters": None,
        "seed": seed,
        "trainer": {"name": "cpu", "accelerator": "cpu"},
    }
    klass = results_class(method)
    if (method, seed) == ("dec_nobp", 0):
        klass = klass.replace("sae1", "sae0")  # stale: an older results class
    if (method, seed) == ("ae_kmeans", 1):
        config["dataset"]["subset"] = 10000  # stale: not what the code composes
    day = 10 + 2 * seed + list(dict.fromkeys(m for m, _ in METRICS)).index(method) % 2
    return {
        "command": "python -m src.run " + " ".join(overrides),
        "commit": COMMITS[seed],
        "config": config,
        "dataset": "mnist",
        "date": f"2026-12-{day:02d}T12:00:00+00:00",
        "device": "CPU (fixture)",
        "extra": {},
        "method": method,
        "metrics": {"acc": acc, "ari": ari, "nmi": nmi, "n_nonempty_clusters": 10},
        "n_clusters": 10,
        "n_samples": 70000,
        "precision": "fp32",
        "results_class": klass,
        "seed": seed,
        "wall_time_s": {"total": 100.0 + 10 * seed},
    }


def history() -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["epoch", "step", "lambda", "upper", "lower", "selected_fraction", "acc"])
    for epoch in range(4):
        writer.writerow([epoch, 100 * epoch, 0.009 * epoch, 0.99 - 0.02 * epoch,
                         0.8 + 0.02 * epoch, 0.2 * epoch, 0.5 + 0.1 * epoch])  # fmt: skip
    return out.getvalue()


def confusion() -> pd.DataFrame:
    """100 made-up points of 10 classes, every seventh put in the next class's cluster."""
    y_true = np.arange(100) % 10
    return confusion_counts(y_true, (y_true + (np.arange(100) % 7 == 0)) % 10)


def main() -> None:
    from src.reproduce import spec as spec_module

    spec_module.PROFILE_DIR = Path(__file__).resolve().parent / "ledger_profile"
    profile = load_profile("fixture")
    specs = [load_table(n, profile) for n in profile.tables]
    runs = plan(specs, profile.seeds, [], {"mnist": None}).runs
    for run in {r.overrides: r for r in runs}.values():
        if (run.method, run.seed) not in METRICS:
            continue
        ovr = list(run.overrides)
        target = ROOT / "mnist" / run.method / config_key(ovr) / f"seed{run.seed}"
        info = {"command": "python -m scripts.reproduce --profile fixture", "key": config_key(ovr),
                "overrides": canonical(ovr), "seed": run.seed}  # fmt: skip
        if run.method == "dac":
            atomic_write_text(target / "dac_history.csv", history())
        if run.method == "dec":
            write_confusion_csv(confusion(), target / "confusion.csv")
        atomic_write_json(target / "run.json", info)
        atomic_write_json(target / "result.json", record(run.method, run.seed, ovr))


if __name__ == "__main__":
    main()
