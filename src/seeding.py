"""One seed drives Python, NumPy, torch and Lightning (sklearn gets it explicitly)."""

from __future__ import annotations

import os


def seed_everything(seed: int) -> int:
    """Seed every random number generator the project uses and return the seed."""
    import lightning

    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    return lightning.seed_everything(seed, workers=True, verbose=False)
