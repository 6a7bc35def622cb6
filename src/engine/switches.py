"""The speed switches of a run: the ``fast:`` config block (``conf/fast/``) resolved per device
(``auto``: on for CUDA, off for CPU; CUDA graphs never off CUDA) and applied (TF32, bf16
autocast, ``torch.compile``).

None of the switches change the maths: with every switch off a run is a plain eager PyTorch
loop. The loop's pieces live beside this module: ``batches`` (``BatchStream``), ``steps``
(``StepRunner``), ``chunks`` (the Lightning chunk loop), ``optim`` and ``inference``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig

from src.core.errors import UserError

GPU_STEPS_PER_CALL = 200
# CPU: Lightning's per-call overhead (≈0.5-1 ms) is a tenth of a small SAE step; 50 amortises it
CPU_STEPS_PER_CALL = 50
GPU_EVAL_BATCH = 65536
CPU_EVAL_BATCH = 4096


@dataclass(frozen=True)
class FastOptions:
    """The resolved speed switches of a run."""

    steps_per_call: int = 1
    cuda_graphs: bool = False
    fused_optimizer: bool = False
    tf32: bool = False
    eval_batch_size: int = CPU_EVAL_BATCH
    channels_last: bool = False  # ConvNets and their inputs in NHWC memory format
    compile: bool = False  # torch.compile of the training forwards (SAE stages, DEC, DAC)
    amp: bool = False  # bf16 autocast of the training forwards (SAE stages, DEC, DAC)


def _flag(value: Any, on_gpu: bool) -> bool:
    return on_gpu if value in ("auto", None) else bool(value)


def resolve_fast(fast_cfg: DictConfig | dict | None, device: torch.device) -> FastOptions:
    """``auto`` → on for CUDA and off for CPU; CUDA graphs are forced off without CUDA.
    ``compile`` defaults to off. ``amp=auto`` → bf16 where the device has fast bf16
    (:func:`has_fast_bf16`), else fp32; ``amp=true`` on a device without fast bf16 raises
    :class:`UnsupportedPrecision`. (Which value ``conf/fast/auto.yaml`` gives ``amp`` is the
    accuracy check's decision: see docs/speed.md.)"""
    cfg = dict(fast_cfg or {})
    on_gpu = device.type == "cuda"
    spc = cfg.get("steps_per_call", "auto")
    ebs = cfg.get("eval_batch_size", "auto")
    return FastOptions(
        steps_per_call=(GPU_STEPS_PER_CALL if on_gpu else CPU_STEPS_PER_CALL)
        if spc == "auto"
        else int(spc),
        cuda_graphs=_flag(cfg.get("cuda_graphs", "auto"), on_gpu) and on_gpu,
        fused_optimizer=_flag(cfg.get("fused_optimizer", "auto"), on_gpu),
        tf32=_flag(cfg.get("tf32", "auto"), on_gpu) and on_gpu,
        eval_batch_size=(GPU_EVAL_BATCH if on_gpu else CPU_EVAL_BATCH)
        if ebs == "auto"
        else int(ebs),
        channels_last=_flag(cfg.get("channels_last", "auto"), on_gpu),
        compile=_flag(cfg.get("compile", False), on_gpu),
        amp=_amp(cfg.get("amp", False), device),
    )


class UnsupportedPrecision(UserError):
    """bf16 asked for on a device without fast bf16 arithmetic."""


def has_fast_bf16(device: torch.device) -> bool:
    """bf16 matmuls run faster than fp32 here: a bf16-capable CUDA GPU, or a CPU with AMX or
    AVX512-BF16 units (the oneDNN kernels autocast uses)."""
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported())
    return False


def _amp(value: Any, device: torch.device) -> bool:
    if value == "auto":
        return has_fast_bf16(device)
    if value is None or not bool(value):
        return False
    if not has_fast_bf16(device):
        raise UnsupportedPrecision(
            f"fast.amp=true asks for bf16, but this {device.type} has no fast bf16 arithmetic "
            "(CPU: AMX or AVX512-BF16; CUDA: Ampere or newer); use fast.amp=false"
        )
    return True


def precision(fast: FastOptions) -> str:
    """The training arithmetic a run records: ``bf16`` (autocast) or ``fp32``."""
    return "bf16" if fast.amp else "fp32"


def autocast(bf16: bool, device: torch.device, cache: bool = True):
    """bf16 autocast of a forward when ``bf16`` (``fast.amp``; weights stay fp32 masters,
    callers take their losses, softmaxes and distances in fp32), else a no-op context."""
    if not bf16:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache)


def compiled(fn: Callable[..., Any], fast: FastOptions) -> Callable[..., Any]:
    """``torch.compile(fn)`` when ``fast.compile`` (Inductor; its compile time is part of the
    phase that first calls it), else ``fn`` itself."""
    return torch.compile(fn) if fast.compile else fn


def apply_tf32(opts: FastOptions) -> None:
    """TF32 matmuls/convolutions on Ampere+ GPUs (a no-op for the CPU maths)."""
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = opts.tf32
        torch.backends.cudnn.allow_tf32 = opts.tf32
