"""SAE pretraining (DEC stage 1): greedy layer-wise denoising autoencoders, then fine-tuning.

Follows the DEC authors' Caffe code (``papers.md``, "DEC details that decide fidelity"):

- greedy layer ``i`` trains ``encoder[i]`` and its mirror ``decoder[L-1-i]`` as a
  one-hidden-layer denoising autoencoder on the output of the frozen layers below (after
  their ReLU). Its input is corrupted with dropout ``input_dropout`` for ``i > 0`` only (raw
  pixels are not corrupted); the hidden code is ReLU + dropout ``hidden_dropout``, except for
  the last (embedding) layer, which is linear without dropout; the reconstruction gets a ReLU
  for ``i > 0`` and is linear for ``i = 0``; the loss compares it with the *uncorrupted* input;
- fine-tuning trains the whole autoencoder end to end without dropout;
- each stage: SGD (momentum 0.9, weight decay 0), lr 0.1 × 0.1 every 20,000 iterations,
  batch 256 — all from the ``pretrain`` config group.

``end_to_end_adam`` (the common re-implementation shortcut) skips the greedy stage and uses
Adam for the end-to-end stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import lightning as L
import torch
from omegaconf import DictConfig
from torch.nn import functional as F

from src.fast import BatchStream, FastOptions, StepRunner, batched, make_optimizer
from src.guard import DEFAULT_EVERY, DivergenceGuard
from src.models.sae import SAE

REDUCTIONS = ("mean", "caffe_sum")


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    """``mean``: per-element MSE (PyTorch's default, pt-dec's choice).
    ``caffe_sum``: Caffe's EuclideanLoss, Σ over batch and dimensions of (x̂ − x)² / (2·batch).
    """
    if reduction == "mean":
        return F.mse_loss(recon, target)
    if reduction == "caffe_sum":
        return (recon - target).pow(2).sum() / (2 * recon.shape[0])
    raise ValueError(f"unknown pretrain.reduction '{reduction}'; choose one of {REDUCTIONS}")


def stage_loss(
    sae: SAE,
    x: torch.Tensor,
    layer: int | None,
    input_dropout: float,
    hidden_dropout: float,
    reduction: str,
) -> torch.Tensor:
    """Reconstruction loss of one stage on a batch ``x`` of that stage's input.

    ``layer=None``: the whole autoencoder, no dropout (fine-tuning). ``layer=i``: the greedy
    denoising autoencoder of layer ``i`` (``x`` is then the output of layers ``0 … i-1``).
    """
    if layer is None:
        return reconstruction_loss(sae(x), x, reduction)
    last = sae.n_layers - 1
    corrupted = F.dropout(x, input_dropout, training=True) if layer > 0 else x
    hidden = sae.encoder[layer](corrupted)
    if layer < last:
        hidden = F.dropout(F.relu(hidden), hidden_dropout, training=True)
    recon = sae.decoder[last - layer](hidden)
    if layer > 0:
        recon = F.relu(recon)
    return reconstruction_loss(recon, x, reduction)


def stage_parameters(sae: SAE, layer: int | None) -> list[torch.nn.Parameter]:
    """What a stage trains: ``encoder[i]`` and ``decoder[L-1-i]``, or everything."""
    if layer is None:
        return list(sae.parameters())
    mirror = sae.decoder[sae.n_layers - 1 - layer]
    return [*sae.encoder[layer].parameters(), *mirror.parameters()]


def step_lr(base_lr: float, iteration: int, step: int | None, gamma: float) -> float:
    """Caffe's ``step`` policy: ``base_lr · gamma^⌊iteration / step⌋``."""
    if not step:
        return base_lr
    return base_lr * gamma ** (iteration // int(step))


def stage_lr_option(stage: Stage) -> str:
    """The config key of a stage's learning rate (what the divergence message names)."""
    if stage.optimizer != "sgd":
        return "pretrain.adam_lr"
    return "pretrain.finetune_lr" if stage.layer is None else "pretrain.lr"


def stage_lr(stage: Stage, cfg: DictConfig) -> float:
    """A stage's base learning rate: ``adam_lr`` for Adam stages, ``finetune_lr`` (``null``:
    ``lr``) for SGD fine-tuning, ``lr`` for the greedy layers."""
    value = cfg.get(stage_lr_option(stage).removeprefix("pretrain."))
    return float(cfg.lr if value is None else value)


@dataclass
class Stage:
    """One pretraining stage: greedy ``layer`` i, or fine-tuning (``layer=None``)."""

    name: str
    layer: int | None
    iterations: int
    optimizer: str
    input_dropout: float = 0.0
    hidden_dropout: float = 0.0


def stages(sae: SAE, cfg: DictConfig) -> list[Stage]:
    """The stages a ``pretrain`` config asks for, in order."""
    out = []
    if cfg.layerwise:
        for i in range(sae.n_layers):
            out.append(
                Stage(
                    f"layer{i}",
                    i,
                    int(cfg.layerwise_iters),
                    str(cfg.optimizer),
                    float(cfg.input_dropout),
                    float(cfg.hidden_dropout),
                )
            )
    if int(cfg.finetune_iters) > 0:
        out.append(
            Stage(
                "finetune",
                None,
                int(cfg.finetune_iters),
                str(cfg.get("finetune_optimizer", cfg.optimizer)),
            )
        )
    return out


class SAEPretrainModule(L.LightningModule):
    """One pretraining stage as a manually optimised LightningModule.

    The stage's input lives on the device (for greedy layer ``i`` it is computed once, in
    large batches, through the frozen layers below); each ``training_step`` runs a chunk of
    iterations ``(start, length)`` with device-side batches and no host synchronisation.
    """

    def __init__(
        self,
        sae: SAE,
        x: torch.Tensor,
        stage: Stage,
        cfg: DictConfig,
        fast: FastOptions,
        seed: int,
        log_fn: Callable[[dict, int], None] | None = None,
        log_every: int = 50,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.sae = sae
        self.stage = stage
        self.cfg = cfg
        self.reduction = str(cfg.reduction)
        if self.reduction not in REDUCTIONS:
            raise ValueError(
                f"unknown pretrain.reduction '{self.reduction}'; choose one of {REDUCTIONS}"
            )
        device = x.device
        if stage.layer:
            self.inputs = batched(
                lambda b: sae.encode_below(b, stage.layer), x, fast.eval_batch_size
            )
        else:
            self.inputs = x
        for p in sae.parameters():
            p.requires_grad_(False)
        params = stage_parameters(sae, stage.layer)
        for p in params:
            p.requires_grad_(True)
        self.lr_option = stage_lr_option(stage)
        lr = stage_lr(stage, cfg)
        self.base_lr = lr
        self.opt = make_optimizer(
            stage.optimizer, params, lr, float(cfg.momentum), float(cfg.weight_decay), fast
        )
        self.batches = BatchStream(len(x), int(cfg.batch_size), device, seed)
        self.runner = StepRunner(
            self._loss, self.opt, self.batches.batch_size, device, fast.cuda_graphs
        )
        self.log_fn = log_fn
        self.log_every = max(1, int(log_every))
        self.guard = DivergenceGuard(
            f"SAE pretraining stage {stage.name}",
            self.lr_option,
            every=max(fast.steps_per_call, DEFAULT_EVERY),
        )
        self.iteration = 0
        self.lr = lr

    def _loss(self, idx: torch.Tensor) -> torch.Tensor:
        xb = self.inputs.index_select(0, idx)
        s = self.stage
        return stage_loss(self.sae, xb, s.layer, s.input_dropout, s.hidden_dropout, self.reduction)

    def configure_optimizers(self):
        return self.opt

    def training_step(self, batch, batch_idx):
        start, length = (int(v) for v in batch)
        step = self.cfg.get("lr_step") if self.stage.optimizer == "sgd" else None
        for it in range(start, start + length):
            lr = step_lr(self.base_lr, it, step, float(self.cfg.lr_gamma))
            for group in self.opt.param_groups:
                group["lr"] = lr
            self.runner(self.batches.next())
            if self.log_fn is not None and (it + 1) % self.log_every == 0:
                self.log_fn(
                    {
                        f"pretrain/{self.stage.name}/loss": float(self.runner.loss),
                        "pretrain/lr": lr,
                    },
                    it + 1,
                )
        self.iteration = start + length
        self.lr = lr
        end = self.iteration == self.stage.iterations
        self.guard.after_chunk(self.runner.loss, self.iteration, lr, force=end)
        return None

    def on_train_end(self) -> None:
        for p in self.sae.parameters():
            p.requires_grad_(True)
