"""One optimisation step, eager or replayed from a captured CUDA graph."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch


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
