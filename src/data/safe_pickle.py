"""Unpickle numpy-only pickles (MNIST wheel, CIFAR batches) without running arbitrary code."""

from __future__ import annotations

import pickle
from typing import IO, Any


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Refuses every global except the few numpy needs to rebuild arrays."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes in protocol-2 pickles
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to unpickle {module}.{name}")
        return super().find_class(module, name)


def load_numpy_pickle(f: IO[bytes]) -> Any:
    """Load a (Python 2 or 3) pickle of numpy arrays, lists, dicts and strings."""
    return NumpyOnlyUnpickler(f, encoding="latin1").load()
