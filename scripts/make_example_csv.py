"""Write ``examples/blobs.csv``: the small CSV the "Your own data" example (docs/data.md) clusters.

150 samples, 4 numeric feature columns on deliberately different scales, and a ``species``
column with 3 string labels. Deterministic: re-running reproduces the committed file.

    python scripts/make_example_csv.py [--out examples/blobs.csv]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import make_blobs


def make_blobs_frame(n: int = 150, seed: int = 7) -> pd.DataFrame:
    x, y = make_blobs(n_samples=n, n_features=4, centers=3, cluster_std=1.2, random_state=seed)
    x = x * np.array([1.0, 10.0, 0.1, 100.0])  # features in different units
    frame = pd.DataFrame(x.round(3), columns=["length", "width", "ratio", "weight"])
    frame["species"] = np.array(["alpha", "beta", "gamma"])[y]
    return frame


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="examples/blobs.csv")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    make_blobs_frame().to_csv(out, index=False)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
