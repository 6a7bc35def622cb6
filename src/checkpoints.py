"""Loading a run's ``model.pt`` and making it self-contained for ``src.predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.errors import UserError
from src.io_utils import atomic_torch_save


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint dict written by a run, on the CPU.

    ``weights_only=False``: checkpoints are local files ``src.run`` wrote (they may hold numpy
    arrays); do not load checkpoints from sources you do not trust.
    """
    import torch

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except FileNotFoundError:
        raise UserError(
            f"checkpoint {path} does not exist; give a run directory or model.pt"
        ) from None
    except Exception as exc:  # truncated or foreign file
        raise UserError(
            f"cannot read checkpoint {path} ({type(exc).__name__}); re-run training"
        ) from exc
    if not isinstance(ckpt, dict):
        raise UserError(f"{path} is not a dcrepro checkpoint (a dict); give a run's model.pt")
    return ckpt


def complete_checkpoint(path: str | Path, run_record: dict[str, Any]) -> Path:
    """Write the run's record (config, fitted preprocessing, input shape…) into a checkpoint.

    Methods save what they learned; the run owns how the data were prepared and adds it here,
    overwriting any value a method stored under the same key, so every method's ``model.pt``
    carries the same, fitted preprocessing for ``src.predict``.
    """
    ckpt = load_checkpoint(path)
    ckpt.update(run_record)
    return atomic_torch_save(path, ckpt)
