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

Several seeds train as one model (:class:`src.models.sae.SAEStack`, every matmul batched over
the seeds); a single run is the same code with one seed. The loss is the sum of the seeds'
own losses, so each seed gets exactly its own gradient (SGD and Adam are elementwise), and
each seed keeps its own batch stream and dropout masks (one generator per seed and stage), so
seeds trained together give the numbers they give alone, up to float rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lightning as L
import torch
from omegaconf import DictConfig
from torch.nn import functional as F

from src.engine.batches import BatchStream
from src.engine.guard import DEFAULT_EVERY, DivergenceGuard
from src.engine.optim import make_optimizer
from src.engine.steps import StepRunner
from src.engine.switches import FastOptions, autocast, compiled
from src.models.sae import SAE, SAEStack

REDUCTIONS = ("mean", "caffe_sum")
DROPOUT_STREAM = 1 << 48  # added to a stage seed: the dropout generator's seed (≠ batch stream's)


def reconstruction_loss(recon: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    """``mean``: per-element MSE (PyTorch's default, pt-dec's choice).
    ``caffe_sum``: Caffe's EuclideanLoss, Σ over batch and dimensions of (x̂ − x)² / (2·batch).

    Reduced over the last two axes (batch, features): a scalar for ``[B, d]``, one loss per
    member for a stack's ``[S, B, d]``. Always in fp32 (a bf16 ``recon`` is cast first).
    """
    recon = recon.float()
    if reduction == "mean":
        return (recon - target).pow(2).mean(dim=(-2, -1))
    if reduction == "caffe_sum":
        return (recon - target).pow(2).sum(dim=(-2, -1)) / (2 * recon.shape[-2])
    raise ValueError(f"unknown pretrain.reduction '{reduction}'; choose one of {REDUCTIONS}")


def dropout(
    x: torch.Tensor, p: float, generators: Sequence[torch.Generator | None] | None = None
) -> torch.Tensor:
    """Inverted dropout (as ``F.dropout`` in training) with one mask generator per member.

    ``x``: ``[B, d]`` (one member) or ``[S, B, d]``; member ``s``'s mask is drawn from
    ``generators[s]`` (None: the global RNG), with the shape ``[B, d]`` whatever ``S``, so a
    seed draws the same masks alone as in a stack.
    """
    if p <= 0:
        return x
    if p >= 1:
        return torch.zeros_like(x)
    members = x.unsqueeze(0) if x.dim() == 2 else x
    gens = list(generators) if generators is not None else [None] * len(members)
    keep = 1.0 - p

    def draw(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        # uniform draws compared with p: twice as fast as bernoulli_ on the CPU, same law
        # drawn in fp32 whatever the activations' dtype: bf16 autocast keeps the same masks
        u = torch.rand(like.shape, generator=generator, device=like.device)
        return (u >= p).to(like.dtype)

    if len(members) == 1:  # one draw of B·d numbers either way: the same mask as in a stack
        mask = draw(x, gens[0])
    else:
        mask = torch.stack([draw(m, g) for m, g in zip(members, gens, strict=True)])
    return x * mask.div_(keep)


def stage_loss(
    sae: SAE | SAEStack,
    x: torch.Tensor,
    layer: int | None,
    input_dropout: float,
    hidden_dropout: float,
    reduction: str,
    generators: Sequence[torch.Generator | None] | None = None,
) -> torch.Tensor:
    """Reconstruction loss of one stage on a batch ``x`` of that stage's input.

    ``layer=None``: the whole autoencoder, no dropout (fine-tuning). ``layer=i``: the greedy
    denoising autoencoder of layer ``i`` (``x`` is then the output of layers ``0 … i-1``).
    An :class:`SAE` on ``x`` ``[B, d]`` gives a scalar; an :class:`SAEStack` on ``[S, B, d]``
    one loss per member, its dropout masks from ``generators`` (one per member).
    """
    if layer is None:
        return reconstruction_loss(sae(x), x, reduction)
    last = sae.n_layers - 1
    corrupted = dropout(x, input_dropout, generators) if layer > 0 else x
    hidden = sae.encoder[layer](corrupted)
    if layer < last:
        hidden = dropout(F.relu(hidden), hidden_dropout, generators)
    recon = sae.decoder[last - layer](hidden)
    if layer > 0:
        recon = F.relu(recon)
    return reconstruction_loss(recon, x, reduction)


def precision_stage_loss(
    bf16: bool,
    cache: bool,
    sae: SAE | SAEStack,
    x: torch.Tensor,
    layer: int | None,
    input_dropout: float,
    hidden_dropout: float,
    reduction: str,
    generators: Sequence[torch.Generator | None] | None = None,
) -> torch.Tensor:
    """:func:`stage_loss` under bf16 autocast when ``bf16`` (the loss itself in fp32; ``cache``:
    autocast's weight-cast cache, off inside CUDA graphs): the unit ``fast.compile`` compiles."""
    with autocast(bf16, x.device, cache=cache):
        return stage_loss(sae, x, layer, input_dropout, hidden_dropout, reduction, generators)


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


def stage_seed(seed: int, index: int) -> int:
    """A distinct, reproducible seed per run seed and pretraining stage (batch stream; its
    dropout generator gets ``+ DROPOUT_STREAM``)."""
    return int(seed) * 1009 + 17 * (index + 1)


@torch.no_grad()
def stage_inputs(
    stack: SAEStack, x: torch.Tensor, layer: int | None, batch_size: int
) -> torch.Tensor:
    """A stage's input ``[S, n, h]``: ``x`` itself for layer 0 and fine-tuning, else the output
    of the frozen layers below, computed in batches of ``batch_size`` samples per member."""
    if not layer:
        return x
    step = max(1, int(batch_size) // stack.n_members)
    parts = [stack.encode_below(x[:, i : i + step], layer) for i in range(0, x.shape[1], step)]
    return torch.cat(parts, dim=1)


class SAEPretrainModule(L.LightningModule):
    """One pretraining stage of the SAEs of one or more seeds, as a manually optimised
    LightningModule over an :class:`SAEStack` (one member per seed).

    ``x``: ``[S, n, d]`` the members' data (an ``expand`` of one array when they share it).
    The stage's input lives on the device (for greedy layer ``i`` it is computed once, in
    large batches, through the frozen layers below); each ``training_step`` runs a chunk of
    iterations ``(start, length)`` with device-side batches and no host synchronisation.
    Member ``s`` draws its batches and dropout masks from its own generators, seeded from
    ``seeds[s]`` and the stage ``index``; ``losses`` holds the members' last losses (device).
    """

    def __init__(
        self,
        stack: SAEStack,
        x: torch.Tensor,
        stage: Stage,
        cfg: DictConfig,
        fast: FastOptions,
        seeds: Sequence[int],
        index: int = 0,
        log_fn: Callable[[dict, int], None] | None = None,
        log_every: int = 50,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        if x.dim() != 3 or x.shape[0] != stack.n_members or len(seeds) != stack.n_members:
            raise ValueError("SAEPretrainModule needs x [S, n, d] and one seed per member")
        self.sae = stack
        self.stage = stage
        self.cfg = cfg
        self.seeds = [int(s) for s in seeds]
        self.reduction = str(cfg.reduction)
        if self.reduction not in REDUCTIONS:
            raise ValueError(
                f"unknown pretrain.reduction '{self.reduction}'; choose one of {REDUCTIONS}"
            )
        device = x.device
        self.fast = fast
        self.inputs = stage_inputs(stack, x, stage.layer, fast.eval_batch_size)
        for p in stack.parameters():
            p.requires_grad_(False)
        params = stage_parameters(stack, stage.layer)
        for p in params:
            p.requires_grad_(True)
        self.lr_option = stage_lr_option(stage)
        lr = stage_lr(stage, cfg)
        self.base_lr = lr
        self.opt = make_optimizer(
            stage.optimizer, params, lr, float(cfg.momentum), float(cfg.weight_decay), fast
        )
        n, batch_size = x.shape[1], int(cfg.batch_size)
        stage_seeds = [stage_seed(s, index) for s in self.seeds]
        self.streams = [BatchStream(n, batch_size, device, s) for s in stage_seeds]
        self.generators = [
            torch.Generator(device=device).manual_seed(s + DROPOUT_STREAM) for s in stage_seeds
        ]
        self.member_index = torch.arange(len(self.seeds), device=device).unsqueeze(1)
        self.batch_size = self.streams[0].batch_size
        self.cuda_graphs = fast.cuda_graphs and not fast.compile  # compile takes over
        self.stage_loss = compiled(precision_stage_loss, fast)
        self.runner = StepRunner(
            self._loss,
            self.opt,
            len(self.seeds) * self.batch_size,
            device,
            self.cuda_graphs,
            generators=self.generators,
        )
        self.losses = torch.zeros(len(self.seeds), device=device)
        self.log_fn = log_fn
        self.log_every = max(1, int(log_every))
        self.guard = DivergenceGuard(
            f"SAE pretraining stage {stage.name}",
            self.lr_option,
            every=max(fast.steps_per_call, DEFAULT_EVERY),
            names=[f"seed {s}" for s in self.seeds] if len(self.seeds) > 1 else (),
        )
        self.iteration = 0
        self.lr = lr

    def _loss(self, idx: torch.Tensor) -> torch.Tensor:
        """The members' summed loss on ``idx`` (``S · B`` indices, member-major): each
        member's gradient is its own loss's."""
        xb = self.inputs[self.member_index, idx.view(len(self.seeds), self.batch_size)]
        s = self.stage
        losses = self.stage_loss(
            self.fast.amp, not self.cuda_graphs, self.sae, xb, s.layer, s.input_dropout,
            s.hidden_dropout, self.reduction, self.generators,
        )  # fmt: skip
        self.losses = losses.detach()
        return losses.sum()

    def next_batch(self) -> torch.Tensor:
        """Every member's next batch of indices, concatenated (``S · B``)."""
        return torch.cat([stream.next() for stream in self.streams])

    def configure_optimizers(self):
        return self.opt

    def _log(self, snapshots: list[tuple[int, float, torch.Tensor]]) -> None:
        """Log the losses kept during a chunk: one host read for all of them."""
        name = f"pretrain/{self.stage.name}/loss"
        values = torch.stack([loss for _, _, loss in snapshots]).tolist()
        for (iteration, lr, _), losses in zip(snapshots, values, strict=True):
            if len(losses) == 1:
                metrics = {name: losses[0]}
            else:
                metrics = {f"{name}_seed{s}": v for s, v in zip(self.seeds, losses, strict=True)}
            self.log_fn({**metrics, "pretrain/lr": lr}, iteration)  # type: ignore[misc]

    def training_step(self, batch, batch_idx):
        start, length = (int(v) for v in batch)
        step = self.cfg.get("lr_step") if self.stage.optimizer == "sgd" else None
        snapshots: list[tuple[int, float, torch.Tensor]] = []  # device copies, read at the end
        for it in range(start, start + length):
            lr = step_lr(self.base_lr, it, step, float(self.cfg.lr_gamma))
            for group in self.opt.param_groups:
                group["lr"] = lr
            self.runner(self.next_batch())
            if self.log_fn is not None and (it + 1) % self.log_every == 0:
                snapshots.append((it + 1, lr, self.losses.clone()))
        if snapshots:
            self._log(snapshots)
        self.iteration = start + length
        self.lr = lr
        end = self.iteration == self.stage.iterations
        self.guard.after_chunk(self.losses, self.iteration, lr, force=end)
        return None

    def on_train_end(self) -> None:
        for p in self.sae.parameters():
            p.requires_grad_(True)
