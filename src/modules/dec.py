"""DEC's clustering stage (Xie et al. 2016, §3.1) as a manually optimised LightningModule.

The encoder (a copy of the pretrained SAE's) and the centroids are trained by SGD on
KL(P‖Q) over batches; the target P is recomputed on the *whole* data set by
``update_target`` (called by ``DECToleranceStop`` every ``update_interval`` iterations) and
kept in one device tensor that the batches index. With ``train_encoder=False`` (DEC w/o
backprop) the encoder is frozen, its embeddings are computed once, and only the centroids
move.
"""

from __future__ import annotations

import copy

import lightning as L
import torch
from torch import nn

from src.engine.batches import BatchStream
from src.engine.guard import DEFAULT_EVERY, DivergenceGuard
from src.engine.inference import batched
from src.engine.optim import make_optimizer
from src.engine.steps import StepRunner
from src.engine.switches import FastOptions, autocast, compiled
from src.models.sae import SAE
from src.modules.dec_math import hard_labels, kl_divergence, soft_assignment, target_distribution


class Encoder(nn.Module):
    """The SAE's encoder half (a deep copy: the pretrained SAE stays untouched)."""

    def __init__(self, sae: SAE) -> None:
        super().__init__()
        self.sae = copy.deepcopy(sae)
        self.sae.decoder = nn.ModuleList()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.sae.encode(x)


def batch_kl(
    encoder: nn.Module,
    xb: torch.Tensor,
    centroids: torch.Tensor,
    pb: torch.Tensor,
    alpha: float,
    bf16: bool,
    cache: bool,
) -> torch.Tensor:
    """KL(P‖Q) of one batch: the encoder under bf16 autocast when ``bf16``, Q and the loss in
    fp32 (the unit ``fast.compile`` compiles)."""
    with autocast(bf16, xb.device, cache=cache):
        z = encoder(xb)
    return kl_divergence(pb, soft_assignment(z.float(), centroids, alpha))


class DECModule(L.LightningModule):
    def __init__(
        self,
        sae: SAE,
        x: torch.Tensor,
        centroids: torch.Tensor,
        *,
        alpha: float = 1.0,
        lr: float = 0.01,
        momentum: float = 0.9,
        batch_size: int = 256,
        train_encoder: bool = True,
        fast: FastOptions | None = None,
        seed: int = 0,
        momentum_reset: bool = False,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        fast = fast or FastOptions()
        self.x = x
        self.alpha = float(alpha)
        self.fast = fast
        self.eval_batch_size = fast.eval_batch_size
        self.encoder = Encoder(sae).to(x.device)
        self.centroids = nn.Parameter(centroids.detach().clone().to(x.device))
        self.train_encoder = bool(train_encoder)
        self.encoder.requires_grad_(self.train_encoder)
        self.fixed_z: torch.Tensor | None = None
        self.fixed_z = None if self.train_encoder else self.embed()
        params = [self.centroids, *(self.encoder.parameters() if self.train_encoder else [])]
        self.opt = make_optimizer("sgd", params, lr, momentum, 0.0, fast)
        self.p = torch.zeros(
            len(x), centroids.shape[0], device=x.device
        )  # target, updated in place
        self.batches = BatchStream(len(x), batch_size, x.device, seed)
        self.cuda_graphs = fast.cuda_graphs and not fast.compile  # compile takes over
        self.batch_kl = compiled(batch_kl, fast)
        self.runner = StepRunner(
            self._loss, self.opt, self.batches.batch_size, x.device, self.cuda_graphs
        )
        self.lr = float(lr)
        self.momentum_reset = bool(momentum_reset)
        phase = "DEC KL phase" if self.train_encoder else "DEC w/o backprop (centroids only)"
        self.guard = DivergenceGuard(
            phase, "method.lr", every=max(fast.steps_per_call, DEFAULT_EVERY)
        )
        self.iteration = 0
        self.stopped = False  # set by DECToleranceStop

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Embeddings of ``x`` in large batches, in the run's arithmetic (bf16 with ``amp``)."""
        with autocast(self.fast.amp, x.device):
            return batched(self.encoder, x, self.eval_batch_size).float()

    @torch.no_grad()
    def embed(self) -> torch.Tensor:
        """Embeddings of every sample, in large batches."""
        if self.fixed_z is not None:
            return self.fixed_z
        return self.encode(self.x)

    @torch.no_grad()
    def soft_all(self) -> torch.Tensor:
        """Q on the whole data set."""
        return soft_assignment(self.embed(), self.centroids, self.alpha)

    @torch.no_grad()
    def update_target(self) -> torch.Tensor:
        """Recompute P from Q over all samples; return the hard labels (on device).

        With ``momentum_reset`` the SGD momentum restarts here, as in the authors' Caffe loop,
        which starts a fresh solver for every update interval (zeroed in place, so a captured
        CUDA graph keeps its buffers).
        """
        q = self.soft_all()
        self.p.copy_(target_distribution(q))
        if self.momentum_reset:
            for state in self.opt.state.values():
                if state.get("momentum_buffer") is not None:
                    state["momentum_buffer"].zero_()
        return hard_labels(q)

    def _loss(self, idx: torch.Tensor) -> torch.Tensor:
        pb = self.p.index_select(0, idx)
        if self.fixed_z is not None:
            q = soft_assignment(self.fixed_z.index_select(0, idx), self.centroids, self.alpha)
            return kl_divergence(pb, q)
        xb = self.x.index_select(0, idx)
        return self.batch_kl(
            self.encoder, xb, self.centroids, pb, self.alpha, self.fast.amp, not self.cuda_graphs
        )

    def configure_optimizers(self):
        return self.opt

    def training_step(self, batch, batch_idx):
        if self.stopped:  # the tolerance rule fired at this chunk's target update
            return None
        start, length = (int(v) for v in batch)
        for _ in range(length):
            self.runner(self.batches.next())
        self.iteration = start + length
        self.guard.after_chunk(self.runner.loss, self.iteration, self.lr)
        return None
