"""The hardware's floor for a training step: its FLOPs (counted by PyTorch's
``FlopCounterMode`` over one forward and backward) over the best GEMM throughput measured on
this device, in this process, at the SAE's matmul shapes and in the step's precision."""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

# (m, k, n) of the SAE's GEMMs at batch 256 (d = 784): the shapes a DEC step is made of
GEMM_SHAPES = ((256, 784, 500), (256, 500, 500), (256, 500, 2000), (256, 2000, 500))
PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def gemm_throughput(
    device: torch.device, dtype: torch.dtype, shape: tuple[int, int, int], reps: int = 30
) -> float:
    """FLOP/s of ``[m,k] @ [k,n]`` in ``dtype`` (best of three timed rounds)."""
    m, k, n = shape
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):
        _sync(device)
        started = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
        best = min(best, (time.perf_counter() - started) / reps)
    return 2.0 * m * k * n / best


def gemm_peaks(device: torch.device) -> dict[str, dict[str, float]]:
    """Per precision: GFLOP/s at each SAE shape and the best of them (``peak``), measured
    now. bf16 is measured only where the device has fast bf16 (autocast would use it)."""
    from src.engine.switches import has_fast_bf16

    out: dict[str, dict[str, float]] = {}
    for name, dtype in PRECISIONS.items():
        if name == "bf16" and not has_fast_bf16(device):
            continue
        rates = {"x".join(map(str, s)): gemm_throughput(device, dtype, s) for s in GEMM_SHAPES}
        out[name] = {**{k: v / 1e9 for k, v in rates.items()}, "peak": max(rates.values()) / 1e9}
    return out


def count_flops(work: Callable[[], object]) -> int:
    """FLOPs of the matmuls and convolutions (forward and backward) that ``work()`` runs."""
    with FlopCounterMode(display=False) as counter:
        work()
    return int(counter.get_total_flops())
