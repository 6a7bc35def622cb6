"""A run's ``model.pt``: written as tensors and plain values only, read with
``torch.load(weights_only=True)`` so that no checkpoint can run code when it is loaded.

``python -m src.checkpoints migrate PATH`` converts a checkpoint of an older dcrepro (which
held numpy arrays) to this form, still without running any code from the file.

One schema for every method: cluster centres are ``centroids``. Checkpoints of older versions
that call k-means's centres ``centres`` load with the key renamed (:data:`RENAMED_KEYS`), and
``migrate`` writes them back renamed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from src.core.errors import UserError
from src.core.io_utils import atomic_torch_save

# the numpy pickles older checkpoints hold (arrays, scalars, dtypes): data, never code
NUMPY_GLOBALS = frozenset(
    f"numpy.{core}.multiarray.{name}"
    for core in ("core", "_core")
    for name in ("_reconstruct", "scalar")
) | {"numpy.ndarray", "numpy.dtype"}


# keys older versions wrote under another name → the name every reader uses now
RENAMED_KEYS = {"centres": "centroids"}  # k-means (before the one schema)


def current_schema(ckpt: dict[str, Any]) -> dict[str, Any]:
    """``ckpt`` with the keys of :data:`RENAMED_KEYS` under their current names."""
    for old, new in RENAMED_KEYS.items():
        if old in ckpt and new not in ckpt:
            ckpt[new] = ckpt.pop(old)
    return ckpt


def plain(obj: Any) -> Any:
    """``obj`` with numpy arrays as tensors, numpy scalars and paths as Python values, and
    tuples as lists: what ``torch.load(weights_only=True)`` reads back."""
    import numpy as np
    import torch

    if isinstance(obj, dict):
        return {key: plain(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [plain(value) for value in obj]
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(obj).copy())
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    if obj is None or isinstance(obj, bool | int | float | str | torch.Tensor):
        return obj
    raise TypeError(f"a checkpoint cannot hold a {type(obj).__name__} (tensors and plain values)")


def save_checkpoint(path: str | Path, obj: dict[str, Any]) -> Path:
    """Write ``obj`` atomically as tensors and plain values (see :func:`plain`)."""
    return atomic_torch_save(path, plain(obj))


def _unsafe_globals(path: Path) -> list[str]:
    """The names a pickle would import (read from its opcodes; nothing is executed)."""
    import torch

    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not a readable zip/pickle: treat as foreign
        return ["?"]


def _refusal(path: Path) -> UserError:
    """Why a file that ``weights_only`` would not read is refused: old format or foreign."""
    names = _unsafe_globals(path)
    if names and set(names) <= NUMPY_GLOBALS:
        return UserError(
            f"checkpoint {path} is in the old format (it holds numpy arrays); convert it with "
            f"`python -m src.checkpoints migrate {path}` (no code runs) or re-run training"
        )
    shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    return UserError(
        f"refused checkpoint {path}: it holds objects other than tensors and plain values "
        f"({shown}), which could run code when loaded; use a model.pt written by src.run"
    )


def load_checkpoint(path: str | Path, extra_globals: frozenset[str] = frozenset()) -> dict:
    """A checkpoint dict written by a run, on the CPU, read with ``weights_only=True``.

    Anything else is refused with one line before any of its content is used.
    ``extra_globals`` (numpy's, for :func:`migrate_checkpoint` only) are allowed as data.
    """
    import pickle

    import torch

    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; give a run directory or model.pt")
    try:
        with torch.serialization.safe_globals(_resolve(extra_globals)):
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise _refusal(path) from None
    except Exception as exc:  # truncated or foreign file
        raise UserError(
            f"cannot read checkpoint {path} ({type(exc).__name__}); re-run training"
        ) from exc
    if not isinstance(ckpt, dict):
        raise UserError(f"{path} is not a dcrepro checkpoint (a dict); give a run's model.pt")
    return current_schema(ckpt)


def _resolve(names: frozenset[str]) -> list[Any]:
    """``(object, "module.name")`` pairs for the allow-listed numpy names this numpy has,
    with numpy's dtype classes (an array's dtype is built from one) when any is asked for."""
    import importlib

    found: list[Any] = []
    for name in sorted(names):
        module, _, attr = name.rpartition(".")
        try:
            found.append((getattr(importlib.import_module(module), attr), name))
        except (ImportError, AttributeError):
            continue
    if found:
        import numpy as np

        found += [
            t
            for t in vars(np.dtypes).values()
            if isinstance(t, type) and t.__name__.endswith("DType")
        ]
    return found


def migrate_checkpoint(path: str | Path) -> Path:
    """Rewrite an old-format checkpoint (numpy arrays, old key names) as tensors and plain
    values in the current schema."""
    ckpt = load_checkpoint(path, extra_globals=NUMPY_GLOBALS)
    try:
        return save_checkpoint(path, ckpt)
    except TypeError as exc:  # e.g. an object array: not data a checkpoint should hold
        raise UserError(f"cannot migrate {path}: {exc}; re-run training") from None


def complete_checkpoint(path: str | Path, run_record: dict[str, Any]) -> Path:
    """Write the run's record (config, fitted preprocessing, input shape…) into a checkpoint.

    Methods save what they learned; the run owns how the data were prepared and adds it here,
    overwriting any value a method stored under the same key, so every method's ``model.pt``
    carries the same, fitted preprocessing for ``src.predict``.
    """
    ckpt = load_checkpoint(path)
    ckpt.update(run_record)
    return save_checkpoint(path, ckpt)
