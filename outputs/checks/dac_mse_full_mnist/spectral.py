"""Score the spectral tactic again on this run's label features, with
``method.tactic_grow_neighbors`` off (the run's own setting) and on: the k-NN graph's component
count and neighbours, ACC / NMI / ARI and seconds, into ``spectral.json`` beside this file.

The run's ``embeddings.npy`` holds the features its tactics clustered; its ``.hydra/config.yaml``
names the data, seed, subsample and ``n_init`` (``result.json`` the cluster count). Off is not clustered again (the run's
``result.json`` holds that score, .1553 after 408 s); only its graph is counted.

Run from the repository root: ``DCREPRO_DATA=… .venv/bin/python outputs/checks/dac_mse_full_mnist/spectral.py RUN_DIR``.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
from src.core.io_utils import atomic_write_text  # noqa: E402
from src.data import build_data  # noqa: E402
from src.methods.tactics import cluster_features, knn_components, spectral_neighbors  # noqa: E402
from src.recording.metrics import evaluate  # noqa: E402
from src.recording.provenance import device_name, git_commit, now_iso  # noqa: E402

HERE = Path(__file__).parent
N_NEIGHBORS = 10  # cluster_features' default, which the run used


def main(run: Path) -> None:
    cfg = OmegaConf.load(run / ".hydra" / "config.yaml")
    result = json.loads((run / "result.json").read_text())
    m = cfg.method
    y = build_data(cfg).y
    feats = np.load(run / "embeddings.npy").astype(np.float32)
    k, seed, subsample = int(result["n_clusters"]), int(cfg.seed), int(m.tactic_subsample)
    rng = np.random.default_rng(seed)  # the subsample cluster_features draws
    sub = feats[np.sort(rng.choice(len(feats), size=min(subsample, len(feats)), replace=False))]
    grown = spectral_neighbors(sub, k, N_NEIGHBORS, grow=True)
    started = time.perf_counter()
    labels, _ = cluster_features(
        feats, k, "spectral", seed, subsample, int(m.tactic_n_init), N_NEIGHBORS, True
    )
    seconds = time.perf_counter() - started
    record = {
        "run": {key: result[key] for key in ("command", "commit", "date", "device", "seed")},
        "rescored": {"commit": git_commit(), "date": now_iso(), "device": device_name()},
        "off": {
            "n_neighbors": N_NEIGHBORS,
            "components": knn_components(sub, N_NEIGHBORS),
            "metrics": result["extra"]["tactics"]["spectral"],
        },
        "on": {
            "n_neighbors": grown,
            "components": knn_components(sub, grown),
            "metrics": evaluate(y, labels),
            "seconds": round(seconds, 1),
        },
        "clusters": k,
        "subsample": len(sub),
    }
    atomic_write_text(HERE / "spectral.json", json.dumps(record, indent=2) + "\n")
    print(json.dumps({"off": record["off"], "on": record["on"]}, indent=2))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
