"""Speed switches and the pieces of a tight training loop under Lightning.

- ``resolve_fast``: the ``fast:`` config block (``conf/fast/``) with ``auto`` resolved per
  device: on for CUDA, off for CPU (CUDA graphs are never used off CUDA).
- ``BatchStream``: batch indices drawn on the device from an endless stream of seeded random
  permutations, so no host round trip or DataLoader is involved.
- ``StepRunner``: one optimisation step, eager or replayed from a captured CUDA graph.
- ``chunk_plan`` / ``chunk_loader``: Lightning sees one ``training_step`` per *chunk* of
  ``steps_per_call`` iterations, which amortises its per-step overhead.

None of these change the maths: with every switch off a run is a plain eager PyTorch loop.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import torch
from omegaconf import DictConfig

from src.errors import UserError

# Lightning's per-fit chatter (device banner, tips) and warnings that do not apply here: the
# loader only carries chunk numbers, so workers and logging intervals are irrelevant.
QUIET_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda")
QUIET_WARNINGS = (
    ".*does not have many workers.*",
    ".*smaller than the logging interval.*",
    ".*LeafSpec.*is deprecated.*",
)

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
    accuracy check's decision: see the README.)"""
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


def make_optimizer(
    kind: str,
    params: list[torch.nn.Parameter],
    lr: float,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    fast: FastOptions = FastOptions(),
) -> torch.optim.Optimizer:
    """SGD (momentum) or Adam, fused when ``fast.fused_optimizer`` (same update rule, float
    rounding may differ), else ``foreach`` (multi-tensor kernels: no Python loop over the
    parameters, and the arithmetic of the per-parameter loop bit for bit)."""
    impl: dict[str, Any] = {"fused": True} if fast.fused_optimizer else {"foreach": True}
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, **impl)
    if kind == "adam":
        if fast.cuda_graphs:
            impl["capturable"] = True  # Adam's step counter must live on the GPU in a graph
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, **impl)
    raise ValueError(f"unknown optimizer '{kind}'; choose sgd or adam")


class BatchStream:
    """Fixed-size batches of indices, consecutive slices of seeded random permutations.

    A batch that reaches the end of one permutation is completed from the next one (as a
    Caffe data layer wraps around), so every batch has exactly ``batch_size`` indices — the
    static shape a CUDA graph needs. Everything stays on ``device``; ``pos`` is a host int.
    """

    def __init__(self, n: int, batch_size: int, device: torch.device, seed: int) -> None:
        self.n = int(n)
        self.batch_size = min(int(batch_size), self.n)
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))
        self.perm = self._permutation()
        self.pos = 0

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.generator, device=self.device)

    def next(self) -> torch.Tensor:
        end = self.pos + self.batch_size
        if end <= self.n:
            batch = self.perm[self.pos : end]
            self.pos = end
            return batch
        head = self.perm[self.pos :]
        self.perm = self._permutation()
        rest = self.batch_size - len(head)
        self.pos = rest
        return torch.cat([head, self.perm[:rest]])


class StepRunner:
    """One optimisation step on batch indices: ``loss = step_fn(idx); loss.backward(); opt.step()``.

    Eager by default. With ``cuda_graph=True`` (CUDA only) the first ``warmup`` steps run
    eagerly on a side stream (they initialise the momentum buffers and cuBLAS), then the
    whole step — forward, backward and optimiser update — is captured once and replayed with
    the batch indices copied into a static buffer. The learning rate is baked into a capture,
    so a change of learning rate (a schedule step) triggers a re-capture. Every iteration,
    warm-up included, is a real training step: the maths is the eager step's. ``generators``:
    CUDA generators of the step other than the default one (e.g. per-seed dropout masks),
    registered with every captured graph so that each replay draws fresh numbers.
    ``self.loss`` holds the last loss as a device tensor (read it only when logging).
    """

    def __init__(
        self,
        step_fn: Callable[[torch.Tensor], torch.Tensor],
        optimizer: torch.optim.Optimizer,
        batch_size: int,
        device: torch.device,
        cuda_graph: bool = False,
        warmup: int = 3,
        generators: Sequence[torch.Generator] = (),
    ) -> None:
        self.step_fn = step_fn
        self.generators = [g for g in generators if g.device.type == "cuda"]
        self.optimizer = optimizer
        self.cuda_graph = bool(cuda_graph) and device.type == "cuda"
        self.warmup_left = warmup if self.cuda_graph else 0
        self.graph: Any = None
        self.graph_lrs: tuple[float, ...] | None = None
        self.static_idx = torch.zeros(batch_size, dtype=torch.long, device=device)
        self.loss = torch.zeros((), device=device)

    def _eager(self, idx: torch.Tensor) -> torch.Tensor:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.step_fn(idx)
        loss.backward()
        self.optimizer.step()
        return loss.detach()

    def __call__(self, idx: torch.Tensor) -> None:
        if not self.cuda_graph:
            self.loss = self._eager(idx)
            return
        self.static_idx.copy_(idx)
        if self.warmup_left > 0:
            self.warmup_left -= 1
            side = torch.cuda.Stream()
            side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(side):
                self.loss = self._eager(self.static_idx)
            torch.cuda.current_stream().wait_stream(side)
            return
        lrs = tuple(float(g["lr"]) for g in self.optimizer.param_groups)
        if self.graph is None or lrs != self.graph_lrs:
            self.graph = torch.cuda.CUDAGraph()
            with warnings.catch_warnings():  # a deprecated no-op once torch registers lazily
                warnings.simplefilter("ignore")
                for generator in self.generators:
                    self.graph.register_generator_state(generator)
            self.optimizer.zero_grad(set_to_none=True)
            with torch.cuda.graph(self.graph):
                self.loss = self._eager_in_graph()
            self.graph_lrs = lrs
        self.graph.replay()

    def _eager_in_graph(self) -> torch.Tensor:
        # inside capture: grads are None, so backward allocates them (no zero_grad needed)
        loss = self.step_fn(self.static_idx)
        loss.backward()
        self.optimizer.step()
        return loss.detach()


def chunk_plan(
    total: int, steps_per_call: int, boundary: int | None = None
) -> list[tuple[int, int]]:
    """``(start, length)`` chunks covering iterations ``0 … total-1``.

    A chunk has at most ``steps_per_call`` iterations and never crosses a multiple of
    ``boundary`` (so per-interval work, like DEC's target update, starts a chunk).
    """
    plan, start = [], 0
    spc = max(1, int(steps_per_call))
    while start < total:
        end = min(start + spc, total)
        if boundary:
            end = min(end, (start // boundary + 1) * boundary)
        plan.append((start, end - start))
        start = end
    return plan


def chunk_loader(plan: list[tuple[int, int]]):
    """A DataLoader that hands Lightning one ``(start, length)`` chunk per ``training_step``."""
    from torch.utils.data import DataLoader

    return DataLoader(plan, batch_size=None, shuffle=False)


@contextmanager
def quiet_lightning():
    """Silence Lightning's per-Trainer banner/tips and warnings that do not apply here."""
    quiet = [logging.getLogger(n) for n in QUIET_LOGGERS]
    levels = [log.level for log in quiet]
    with warnings.catch_warnings():
        for message in QUIET_WARNINGS:
            warnings.filterwarnings("ignore", message=message)
        for log in quiet:
            log.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for log, level in zip(quiet, levels, strict=True):
                log.setLevel(level)


def fit_chunks(
    cfg: DictConfig,
    ctx: Any,
    module: Any,
    plan: list[tuple[int, int]],
    phase: str,
    device: torch.device,
    callbacks: list[Any] | None = None,
) -> Any:
    """One Lightning ``fit`` of ``module`` over a chunk plan (one epoch; the data live on the
    device, the loader only carries chunk numbers); afterwards ``module`` and its optimiser
    state are on ``device`` again (:func:`src.training.fit_in_place`). Returns the trainer."""
    from src.training import fit_in_place, make_trainer

    with quiet_lightning():
        trainer = make_trainer(
            cfg, ctx, max_steps=-1, callbacks=callbacks, phase=phase, max_epochs=1
        )
        fit_in_place(trainer, module, device, train_dataloaders=chunk_loader(plan))
    if torch.cuda.is_available():
        torch.cuda.synchronize()  # phase timers measure finished GPU work
    return trainer


@torch.no_grad()
def batched(
    fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch_size: int
) -> torch.Tensor:
    """``fn`` over ``x`` in large batches, concatenated (whole-data-set passes)."""
    return torch.cat([fn(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])
