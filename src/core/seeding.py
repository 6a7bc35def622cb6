"""One seed drives Python, NumPy, torch and Lightning (sklearn gets it explicitly)."""

from __future__ import annotations

import os
import random


def seed_everything(seed: int) -> int:
    """Seed every random number generator the project uses and return the seed.

    Does what ``lightning.seed_everything(seed, workers=True)`` does (Python, NumPy and torch
    generators, and the ``PL_GLOBAL_SEED``/``PL_SEED_WORKERS`` variables its Trainers read)
    without importing Lightning, which costs seconds of start-up to runs that never train
    with it (k-means).
    """
    import numpy as np
    import torch

    seed = int(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    os.environ["PL_GLOBAL_SEED"] = str(seed)
    os.environ["PL_SEED_WORKERS"] = "1"
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return seed
