"""DAC and DAC* (Chang et al., ICCV 2017) as a Lightning module: pairwise self-labelling.

The label features l_i (softmax, L2-normalised) give cosine similarities l_i·l_j. Pairs are
labelled from those similarities and the network is trained to reproduce the labels:

- ``selection=all`` (DAC*): every pair, label 1 where sim > th; th falls by a fixed step after
  every epoch (the authors' MNIST script: 0.9, −0.02 per epoch, 20 epochs).
- ``selection=adaptive`` (DAC): pairs with sim > u or sim < l are selected, labelled 1 when
  sim > (u + l)/2; after every epoch u falls and l rises (``schedule=meet``: the authors' CIFAR
  script, each by η = (u₀ − l₀)/meet_epochs/2; ``schedule=lambda``: a third party's line
  u = u₀ − a_u·λ, l = l₀ + a_l·λ with λ ← λ − lr·dE/dλ, E = u − l); training stops when u ≤ l
  (:class:`src.callbacks.dac.DACThresholdStop`).

Two target modes (``targets``):

- ``chunk`` (the authors' scripts): the data are cut into chunks (``chunk_order=sequential``:
  consecutive chunks in data order, the same every epoch; ``shuffled``: a new partition every
  epoch). For each chunk, labels are made once from the un-augmented chunk, predicted in
  consecutive batches of ``label_batch_size`` (Keras ``predict``'s 32; with batch-statistics
  BN those batches are what BN normalises over); then ``chunk_passes`` passes, each a new
  shuffle of the chunk cut into consecutive batches of ``batch_size`` (the last, partial one
  trained too: Keras' iterator), each batch augmented once per image (``aug_repeats`` times,
  one optimiser step each) and trained on its sub-matrix of the chunk labels.
- ``online`` (the paper's text): labels from the similarities of the augmented batch itself.

Data stay resident on the device; index batches are drawn there; the only host syncs are the
per-chunk finiteness check and the per-epoch statistics.

Speed switches (``fast:``, :class:`src.engine.switches.FastOptions`), none of which changes the algorithm:
``channels_last`` (the ConvNet and its inputs in NHWC), ``compile`` (``torch.compile`` of the
training forward), ``amp`` (bf16 autocast of the training forward and label passes) and
``cuda_graphs`` (each optimiser step replayed from a CUDA graph per batch shape; the chunk's
labels sit in static buffers that the graph gathers from). Eval-mode passes use
``fast.eval_batch_size`` only where the prediction is batch-independent (running-statistics
BN); batch-statistics BN keeps the configured batch (the authors' 32 for labels, 128 for
predictions), since there the batch is part of the computation.
"""

from __future__ import annotations

import inspect
import itertools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from omegaconf import DictConfig
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from src.core.errors import UserError
from src.data.augment import build_augment
from src.engine.guard import DivergenceGuard
from src.engine.steps import StepRunner
from src.engine.switches import FastOptions, autocast, resolve_fast
from src.models.convnets import batch_independent_eval, label_features

log = logging.getLogger(__name__)

SELECTIONS = ("adaptive", "all")
SCHEDULES = ("meet", "lambda")
TARGETS = ("online", "chunk")
PAIR_LOSSES = ("bce", "mse")
CHUNK_ORDERS = ("sequential", "shuffled")
LAST_BATCH = ("keep", "drop")
STOP_TOL = 1e-9  # u ≤ l up to float rounding of the per-epoch steps


@dataclass
class Thresholds:
    """u(λ) = u0 − a_u·λ and l(λ) = l0 + a_l·λ (u falls, l rises as λ grows)."""

    upper_start: float = 0.99
    upper_slope: float = 1.0
    lower_start: float = 0.80
    lower_slope: float = 1.0

    def upper(self, lam: float) -> float:
        return self.upper_start - self.upper_slope * lam

    def lower(self, lam: float) -> float:
        return self.lower_start + self.lower_slope * lam

    def gap_grad(self) -> float:
        """dE/dλ for E(λ) = u(λ) − l(λ) (constant for the linear shape)."""
        return -self.upper_slope - self.lower_slope

    def step(self, lam: float, lr: float) -> float:
        """One gradient-descent step on E: λ ← λ − lr·dE/dλ (λ grows, u falls, l rises)."""
        return lam - lr * self.gap_grad()

    def stop_lambda(self) -> float:
        """The λ at which u(λ) = l(λ)."""
        return (self.upper_start - self.lower_start) / (self.upper_slope + self.lower_slope)


def keras_batches(n: int, batch_size: int, last: str = "keep") -> list[slice]:
    """Consecutive batches of ``batch_size`` over ``n`` items, the last one partial (Keras'
    ``predict`` and iterator). ``last=drop`` drops the partial batch; a partial batch of a
    single item is merged into the one before (batch-statistics BN is undefined on one item)."""
    b = max(min(int(batch_size), n), 1)
    full, rest = divmod(n, b)
    cuts = [slice(i * b, (i + 1) * b) for i in range(full)]
    if rest and last == "keep":
        if rest == 1 and cuts:
            cuts[-1] = slice(cuts[-1].start, n)
        else:
            cuts.append(slice(full * b, n))
    return cuts


def select_pairs(
    sim: torch.Tensor, upper: float, lower: float, select_all: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair labels r and the mask of selected pairs.

    Selected: sim > upper or sim < lower (every pair when ``select_all``, DAC*); label 1 where
    sim > (upper + lower)/2 (DAC*: upper = lower = th, so sim > th).
    """
    target = (sim > 0.5 * (upper + lower)).to(sim.dtype)
    if select_all:
        mask = torch.ones_like(sim, dtype=torch.bool)
    else:
        mask = (sim > upper) | (sim < lower)
    return target, mask


def masked_pair_loss(
    sim: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    kind: str = "bce",
    eps: float = 1e-7,
) -> torch.Tensor:
    """Sum over the selected pairs of BCE(sim, r) (similarities clamped to [eps, 1 − eps], as
    Keras) or of (sim − r)², divided by the number selected; 0 when none is. No host sync."""
    m = mask.to(sim.dtype)
    if kind == "bce":
        g = sim.clamp(eps, 1.0 - eps)
        per_pair = -(target * torch.log(g) + (1.0 - target) * torch.log1p(-g))
    elif kind == "mse":
        per_pair = (sim - target) ** 2
    else:
        raise UserError(f"method.pair_loss={kind!r}; choose one of: {', '.join(PAIR_LOSSES)}")
    return (per_pair * m).sum() / m.sum().clamp_min(1.0)


def self_target_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """The authors' auxiliary term: element-wise BCE between the augmented batch's outputs and
    the outputs computed on the un-augmented images when the labels were made."""
    p = pred.clamp(eps, 1.0 - eps)
    return -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p)).mean()


def as_input(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """Images as the ConvNet takes them: NHWC memory layout when ``channels_last``."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


@torch.no_grad()
def predict_features(
    net: nn.Module,
    x: torch.Tensor,
    batch_size: int,
    bn_mode: str = "eval",
    channels_last: bool = False,
    bf16: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax probabilities, label features) of every image, in consecutive batches of
    ``batch_size`` (Keras ``predict``: with batch-statistics BN each batch is normalised over
    itself) on x's device. ``bn_mode``: ``eval`` or ``train`` mode of the net while predicting.
    ``bf16``: the net under bf16 autocast; softmax and label features in fp32."""
    was_training = net.training
    net.train(bn_mode == "train")
    probs, feats = [], []
    for part in keras_batches(len(x), batch_size):
        with autocast(bf16, x.device):
            logits = net(as_input(x[part], channels_last)).float()
        probs.append(torch.softmax(logits, 1))
        feats.append(label_features(logits))
    net.train(was_training)
    return torch.cat(probs), torch.cat(feats)


def _choice(m: DictConfig, key: str, default: str, valid: tuple[str, ...]) -> str:
    val = str(m.get(key, default))
    if val not in valid:
        raise UserError(f"method.{key}={val!r}; choose one of: {', '.join(valid)}")
    return val


class DACModule(L.LightningModule):
    """The DAC training loop. ``x`` is the whole (preprocessed) image tensor on the device."""

    def __init__(
        self, net: nn.Module, x: torch.Tensor, cfg: DictConfig, fast: FastOptions | None = None
    ) -> None:
        super().__init__()
        m = cfg
        self.net = net
        self.register_buffer("x", x, persistent=False)
        self.n = int(x.shape[0])
        self.batch_size = min(int(m.batch_size), self.n)
        self.selection = _choice(m, "selection", "adaptive", SELECTIONS)
        self.schedule = _choice(m, "schedule", "meet", SCHEDULES)
        self.targets = _choice(m, "targets", "chunk", TARGETS)
        self.pair_loss = _choice(m, "pair_loss", "bce", PAIR_LOSSES)
        self.chunk_order = _choice(m, "chunk_order", "sequential", CHUNK_ORDERS)
        self.last_batch = _choice(m, "last_batch", "keep", LAST_BATCH)
        self.max_epochs = int(m.max_epochs)
        u0, l0 = float(m.upper.start), float(m.lower.start)
        if self.schedule == "meet":
            # authors (CIFAR script): u and l each move by η = (u0 − l0)/epochs/2 per epoch
            self.thresholds = Thresholds(u0, 1.0, l0, 1.0)
            self.lam_increment = (u0 - l0) / max(int(m.meet_epochs), 1) / 2.0
        else:
            self.thresholds = Thresholds(u0, float(m.upper.slope), l0, float(m.lower.slope))
            self.lam_increment = self.thresholds.step(0.0, float(m.lambda_lr))
        self.lam = float(m.get("lambda_start", 0.0))
        self.threshold_start = float(m.threshold.start)
        self.threshold_step = float(m.threshold.step)
        self.self_weight = float(m.self_weight)
        self.self_target = str(m.self_target)  # probs | features
        self.label_mode = str(m.label_bn)  # train | eval: BN mode when making chunk labels
        self.label_batch_size = int(m.get("label_batch_size", 32))
        self.chunk_size = max(min(int(m.chunk_size), self.n), 1)
        self.chunk_passes = int(m.chunk_passes)
        self.aug_repeats = int(m.aug_repeats)
        # auto: the fast switches' steps per Lightning call on CUDA; 1 on the CPU, where a DAC
        # step (≈0.4 s) dwarfs Lightning's per-call overhead and the bar then moves every step
        fast = fast or resolve_fast(None, x.device)
        if str(m.inner_steps) == "auto":
            self.inner_steps = fast.steps_per_call if x.device.type == "cuda" else 1
        else:
            self.inner_steps = int(m.inner_steps)
        self.eval_batch_size = int(m.eval_batch_size)
        self.fast = fast
        self.channels_last = fast.channels_last
        if self.channels_last:
            net.to(memory_format=torch.channels_last)
        # torch.compile'd view of the net for the training forward (not a registered submodule)
        self.__dict__["_train_net"] = torch.compile(net) if fast.compile else net
        self.cuda_graphs = fast.cuda_graphs and x.device.type == "cuda" and not fast.compile
        self.graph_note: str | None = None  # why CUDA graphs were given up, if they were
        self._runners: dict[Any, StepRunner] = {}
        self._static: dict[str, torch.Tensor] = {}  # the chunk's labels, read by the graphs
        self.guard = DivergenceGuard("DAC training", option="method.optimizer.lr")
        self.optim_cfg = m.optimizer
        self.augment = build_augment(m.augment)
        self.automatic_optimization = False
        self._plan: Iterator | None = None
        self.epochs_done = 0
        self.steps_taken = 0  # optimiser steps so far: the version of the weights
        self._prediction: tuple[int, tuple[torch.Tensor, torch.Tensor]] | None = None
        # device-side accumulators since the last epoch end
        self.register_buffer("sel_sum", torch.zeros(()), persistent=False)
        self.register_buffer("sel_count", torch.zeros(()), persistent=False)
        self.register_buffer("loss_sum", torch.zeros(()), persistent=False)
        # DDP: each process keeps its own copy of the data and its own epoch sums
        DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            self, ["x", "sel_sum", "sel_count", "loss_sum"]
        )
        self.world = (0, 1)  # (this process's rank, processes): set by ``setup`` under DDP
        self._plan_gen: torch.Generator | None = None  # the shared plan's RNG under DDP
        self._plan_seed = torch.initial_seed()

    # ---- thresholds -------------------------------------------------------------------
    def current_thresholds(self) -> tuple[float, float]:
        """(upper, lower) in force now: u, l for DAC; th, th for DAC*."""
        if self.selection == "adaptive":
            return self.thresholds.upper(self.lam), self.thresholds.lower(self.lam)
        th = self.threshold_start - self.threshold_step * self.epochs_done
        return th, th

    def lambda_step(self) -> None:
        """After an epoch: u falls and l rise (DAC), th falls (DAC*, by its fixed step)."""
        self.epochs_done += 1
        if self.selection == "adaptive":
            self.lam += self.lam_increment

    def should_stop(self) -> bool:
        """DAC: u ≤ l (the paper's rule) or ``max_epochs``; DAC*: ``max_epochs``."""
        if self.epochs_done >= self.max_epochs:
            return True
        if self.selection == "adaptive":
            u, lo = self.current_thresholds()
            return u <= lo + STOP_TOL
        return False

    # ---- several processes (DDP) ------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Under DDP: every process draws the same epoch plan from its own generator seeded
        alike, and takes its share of each step's batches; one optimisation step per call, eager
        (CUDA graphs and several steps per call would bypass DDP's gradient averaging)."""
        world = int(self.trainer.world_size)
        if world <= 1:
            return
        self.world = (int(self.trainer.global_rank), world)
        self.inner_steps = 1
        self.cuda_graphs = False
        self._plan_gen = torch.Generator(device=self.x.device).manual_seed(self._plan_seed)

    def _rank_share(self, plan: Iterator) -> Iterator:
        """This process's batch of every ``world`` consecutive batches of ``plan``: the
        processes step through the same plan together (chunk labels made at the same step
        from the same weights); a short last group is padded by repeating its batches."""
        rank, world = self.world
        while group := list(itertools.islice(plan, world)):
            yield group[rank % len(group)]

    # ---- schedule ---------------------------------------------------------------------
    def chunk_sizes(self) -> list[int]:
        """Sizes of the chunks an epoch is cut into (near-equal, each ≤ ``chunk_size``)."""
        n_chunks = -(-self.n // self.chunk_size)
        return [len(c) for c in torch.tensor_split(torch.arange(self.n), n_chunks)]

    def steps_per_epoch(self) -> int:
        """Optimisation steps in one epoch."""
        b = self.batch_size
        if self.targets == "online":
            return sum(len(keras_batches(c, b, "drop")) for c in self.chunk_sizes())
        per = [len(keras_batches(c, b, self.last_batch)) for c in self.chunk_sizes()]
        return self.chunk_passes * self.aug_repeats * sum(per)

    def training_steps_per_epoch(self) -> int:
        """``training_step`` calls per epoch (each runs ``inner_steps`` optimisation steps)."""
        return max(-(-self.steps_per_epoch() // self.inner_steps), 1)

    def train_dataloader(self):
        from torch.utils.data import DataLoader

        return DataLoader(range(self.training_steps_per_epoch()), batch_size=None)

    def configure_optimizers(self):
        from hydra.utils import get_class, instantiate

        extra: dict[str, Any] = {}
        accepts = inspect.signature(get_class(str(self.optim_cfg._target_))).parameters
        if self.cuda_graphs and "capturable" in accepts:  # the step counter on the GPU
            extra["capturable"] = True
        if "foreach" in accepts and "foreach" not in self.optim_cfg:
            extra["foreach"] = True  # multi-tensor kernels, the per-parameter loop's arithmetic
        return instantiate(self.optim_cfg, params=self.net.parameters(), **extra)

    def switches(self) -> dict[str, Any]:
        """The speed switches this run's DAC steps really used (for result.json ``extra``)."""
        return {
            "channels_last": self.channels_last,
            "compile": self.fast.compile,
            "amp": self.fast.amp,
            "cuda_graphs": self.cuda_graphs,
            "cuda_graphs_note": self.graph_note,
            "label_batch_size": self.pass_batch_size(self.label_mode, self.label_batch_size),
            "predict_batch_size": self.pass_batch_size("eval", self.eval_batch_size),
        }

    def pass_batch_size(self, bn_mode: str, configured: int) -> int:
        """Batch of a no-grad pass: ``fast.eval_batch_size`` when the prediction is
        batch-independent (eval mode, running-statistics BN), else the configured batch
        (batch-statistics BN normalises over it: the authors' 32 / 128)."""
        if bn_mode == "eval" and batch_independent_eval(self.net):
            return max(int(self.fast.eval_batch_size), 1)
        return configured

    def predict(self, x: torch.Tensor, bn_mode: str, configured: int):
        """(probs, label features) of ``x`` in batches of :meth:`pass_batch_size`."""
        bs = self.pass_batch_size(bn_mode, configured)
        return predict_features(self.net, x, bs, bn_mode, self.channels_last, self.fast.amp)

    def predict_all(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(probs, label features) of the whole data set (eval-mode BN).

        Computed once per version of the weights: the last epoch's scores and the run's final
        labels share one pass over the data set.
        """
        if self._prediction is None or self._prediction[0] != self.steps_taken:
            outputs = self.predict(self.x, "eval", self.eval_batch_size)
            self._prediction = (self.steps_taken, outputs)
        return self._prediction[1]

    def check_finite(self) -> None:
        """Stop with one line when the loss became non-finite (one host sync per chunk)."""
        self.guard.after_chunk(
            self.loss_sum, self.steps_taken, self.optim_cfg.get("lr"), force=True
        )

    def _chunks(self) -> list[torch.Tensor]:
        dev = self.x.device
        if self.chunk_order == "sequential":
            order = torch.arange(self.n, device=dev)
        else:
            order = torch.randperm(self.n, device=dev, generator=self._plan_gen)
        return list(torch.tensor_split(order, len(self.chunk_sizes())))

    def _epoch_plan(
        self,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, tuple | None, torch.Tensor | None]]:
        """One epoch of (batch indices, their positions in the chunk or None, the batch's pair
        targets or None, self-targets or None)."""
        dev = self.x.device
        b = self.batch_size
        for chunk in self._chunks():
            self.check_finite()
            c = len(chunk)
            if self.targets == "online":
                local = torch.randperm(c, device=dev, generator=self._plan_gen)
                for sl in keras_batches(c, b, "drop"):
                    yield chunk[local[sl]], None, None, None
                continue
            probs, feats = self.predict(self.x[chunk], self.label_mode, self.label_batch_size)
            u, lo = self.current_thresholds()
            target, mask = select_pairs(feats @ feats.T, u, lo, self.selection == "all")
            selfs = probs if self.self_target == "probs" else feats
            if self.cuda_graphs:
                self._stage_chunk_labels(target, mask, selfs)
            for _ in range(self.chunk_passes):
                local = torch.randperm(c, device=dev, generator=self._plan_gen)
                for sl in keras_batches(c, b, self.last_batch):
                    a = local[sl]
                    if self.cuda_graphs:  # the graph gathers from the static chunk labels
                        for _ in range(self.aug_repeats):
                            yield chunk[a], a, None, None
                        continue
                    sub = (target[a][:, a], mask[a][:, a])
                    for _ in range(self.aug_repeats):
                        yield chunk[a], a, sub, selfs[a]

    def on_train_epoch_start(self) -> None:
        plan = self._epoch_plan()
        self._plan = plan if self.world[1] == 1 else self._rank_share(plan)

    def _forward(self, x: torch.Tensor) -> torch.Tensor:
        """The training forward: pre-softmax scores in float32 (bf16 autocast with ``amp``)."""
        with autocast(self.fast.amp, self.x.device, cache=not self.cuda_graphs):
            logits = self._train_net(as_input(x, self.channels_last))
        return logits.float()

    def _loss(self, idx: torch.Tensor, pairs, selfs) -> torch.Tensor:
        x = self.x[idx]
        if self.self_weight > 0 and selfs is None:
            selfs_probs, selfs_feats = predict_features(
                self.net, x, len(x), self.label_mode, self.channels_last
            )
            selfs = selfs_probs if self.self_target == "probs" else selfs_feats
        xa = self.augment(x) if len(self.augment) else x
        logits = self._forward(xa)
        feats = label_features(logits)
        # the authors' siamese net sees the same augmented batch on both sides: sim = F·Fᵀ
        sim = feats @ feats.T
        if pairs is None:
            u, lo = self.current_thresholds()
            target, mask = select_pairs(sim.detach(), u, lo, self.selection == "all")
        else:
            target, mask = pairs
        loss = masked_pair_loss(sim, target, mask, self.pair_loss)
        if self.self_weight > 0:
            pred = torch.softmax(logits, 1) if self.self_target == "probs" else feats
            loss = loss + self.self_weight * self_target_loss(pred, selfs)
        self.sel_sum += mask.float().mean().detach()
        self.sel_count += 1
        self.loss_sum += loss.detach()
        return loss

    # ---- CUDA graphs --------------------------------------------------------------------
    def _stage_chunk_labels(
        self, target: torch.Tensor, mask: torch.Tensor, selfs: torch.Tensor
    ) -> None:
        """Copy a chunk's labels into the static buffers the captured steps gather from."""
        c = len(target)
        if "target" not in self._static or len(self._static["target"]) < c:
            size = self.chunk_size
            self._static = {
                "target": target.new_zeros(size, size),
                "mask": mask.new_zeros(size, size),
                "selfs": selfs.new_zeros(size, selfs.shape[1]),
            }
        self._static["target"][:c, :c].copy_(target)
        self._static["mask"][:c, :c].copy_(mask)
        self._static["selfs"][:c].copy_(selfs)

    def _graph_loss(self, packed: torch.Tensor) -> torch.Tensor:
        """The step a graph captures: ``packed`` = (batch indices, their chunk positions)."""
        idx, a = packed.view(2, -1)
        if self.targets == "online":
            return self._loss(idx, None, None)
        st = self._static
        pairs = (st["target"][a][:, a], st["mask"][a][:, a])
        return self._loss(idx, pairs, st["selfs"][a])

    def _graph_step(self, opt: torch.optim.Optimizer, idx: torch.Tensor, a) -> torch.Tensor | None:
        """One optimiser step replayed from the CUDA graph of its batch shape (online mode:
        and of the thresholds in force, which the pair selection bakes in). ``None`` when the
        capture failed: CUDA graphs are given up, and the caller takes the step eagerly."""
        key = (len(idx), self.current_thresholds() if self.targets == "online" else None)
        if key not in self._runners:
            if self.targets == "online":  # thresholds moved on: the old graphs are stale
                self._runners.clear()
            self._runners[key] = StepRunner(self._graph_loss, opt, 2 * len(idx), idx.device, True)
        packed = torch.cat([idx, idx if a is None else a])
        try:
            self._runners[key](packed)
        except RuntimeError as exc:  # a capture failed: eager from here on, and say so
            self.graph_note = f"capture failed, eager instead: {exc}".splitlines()[0][:300]
            log.warning("DAC: CUDA graph %s", self.graph_note)
            self.cuda_graphs = False
            self._runners.clear()
            return None
        return self._runners[key].loss

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        loss = None
        for _ in range(self.inner_steps):
            try:
                idx, a, pairs, selfs = next(self._plan)
            except StopIteration:
                break
            if self.cuda_graphs and (loss := self._graph_step(opt.optimizer, idx, a)) is not None:
                self.steps_taken += 1
                continue
            if pairs is None and a is not None:  # planned for graphs: labels in static buffers
                loss = self._graph_loss(torch.cat([idx, a]))
            else:
                loss = self._loss(idx, pairs, selfs)
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()
            self.steps_taken += 1
        return loss

    def pop_epoch_stats(self) -> tuple[float, float]:
        """(selected-pair fraction, mean loss) since the last call; one host sync per epoch."""
        self.check_finite()
        count = max(float(self.sel_count), 1.0)
        sel, loss = float(self.sel_sum) / count, float(self.loss_sum) / count
        self.sel_sum.zero_()
        self.sel_count.zero_()
        self.loss_sum.zero_()
        return sel, loss
