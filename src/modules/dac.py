"""DAC (Chang et al., ICCV 2017) as a Lightning module: adaptive pairwise self-labelling.

Per mini-batch the constraint layer's label features l_i give cosine similarities l_i·l_j;
pairs above u(λ) are labelled similar, pairs below l(λ) dissimilar, the rest ignored; a
binary cross-entropy (or the authors' MSE) on the selected pairs trains the net; λ grows by a
gradient step on E(λ) = u(λ) − l(λ) after every epoch, and training stops when u(λ) ≤ l(λ)
(:class:`src.callbacks.dac.DACThresholdStop`).

Training runs on data resident on the device: the module owns the image tensor, draws its own
permutations and index batches there, and never copies to the host inside a step. Two target
modes (``targets``):

- ``online`` (paper): labels come from the similarities of the current augmented mini-batch.
- ``chunk`` (authors' code): every ``chunk_size`` samples, labels (and self-targets) are
  computed once on the un-augmented chunk with the network as it stands, then the network is
  trained for ``chunk_passes`` passes over that chunk in mini-batches, each batch augmented
  ``aug_repeats`` times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import torch
from omegaconf import DictConfig
from torch import nn

from src.augment import build_augment
from src.errors import UserError
from src.fast import FastOptions, resolve_fast
from src.models.convnets import label_features

SELECTIONS = ("adaptive", "all")
TARGETS = ("online", "chunk")
PAIR_LOSSES = ("bce", "mse")


@dataclass
class Thresholds:
    """u(λ) = u0 − a_u·λ and l(λ) = l0 + a_l·λ, the paper's shape (u falls, l rises)."""

    upper_start: float = 0.95
    upper_slope: float = 1.0
    lower_start: float = 0.455
    lower_slope: float = 0.1

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


def select_pairs(
    sim: torch.Tensor, upper: float, lower: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pair labels r (1 if sim ≥ upper, 0 if sim < lower) and the mask of labelled pairs.

    With ``upper == lower`` every pair is labelled by that one threshold (DAC*).
    """
    target = (sim >= upper).to(sim.dtype)
    mask = (sim >= upper) | (sim < lower)
    return target, mask


def masked_pair_loss(
    sim: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    kind: str = "bce",
    eps: float = 1e-7,
) -> torch.Tensor:
    """Mean over the selected pairs of BCE(sim, r) (similarities clamped to [eps, 1 − eps]) or
    of (sim − r)²; 0 when no pair is selected. No host sync."""
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
        self.selection = str(m.selection)
        self.targets = str(m.targets)
        self.pair_loss = str(m.pair_loss)
        for key, val, valid in (
            ("selection", self.selection, SELECTIONS),
            ("targets", self.targets, TARGETS),
            ("pair_loss", self.pair_loss, PAIR_LOSSES),
        ):
            if val not in valid:
                raise UserError(f"method.{key}={val!r}; choose one of: {', '.join(valid)}")
        self.thresholds = Thresholds(
            float(m.upper.start), float(m.upper.slope), float(m.lower.start), float(m.lower.slope)
        )
        self.lam = float(m.lambda_start)
        self.lambda_lr = float(m.lambda_lr)
        self.threshold_start = float(m.threshold.start)
        self.threshold_end = float(m.threshold.end)
        self.max_epochs = int(m.max_epochs)
        self.self_weight = float(m.self_weight)
        self.self_target = str(m.self_target)  # probs | features
        self.label_mode = str(m.label_bn)  # train | eval: BN mode when making chunk labels
        self.chunk_size = min(int(m.chunk_size), self.n)
        self.chunk_passes = int(m.chunk_passes)
        self.aug_repeats = int(m.aug_repeats)
        # auto: the fast switches' steps per Lightning call (200 on CUDA, 1 on CPU)
        fast = fast or resolve_fast(None, x.device)
        auto = str(m.inner_steps) == "auto"
        self.inner_steps = fast.steps_per_call if auto else int(m.inner_steps)
        self.eval_batch_size = int(m.eval_batch_size)
        self.optim_cfg = m.optimizer
        self.augment = build_augment(m.augment)
        self.automatic_optimization = False
        self._plan: Iterator | None = None
        self.epochs_done = 0
        # device-side accumulators of the selected-pair fraction since the last λ update
        self.register_buffer("sel_sum", torch.zeros(()), persistent=False)
        self.register_buffer("sel_count", torch.zeros(()), persistent=False)
        self.register_buffer("loss_sum", torch.zeros(()), persistent=False)

    # ---- thresholds -------------------------------------------------------------------
    def current_thresholds(self) -> tuple[float, float]:
        """(upper, lower) in force now: u(λ), l(λ) for DAC; th, th for DAC*."""
        if self.selection == "adaptive":
            return self.thresholds.upper(self.lam), self.thresholds.lower(self.lam)
        frac = min(self.epochs_done / max(self.max_epochs, 1), 1.0)
        th = self.threshold_start + (self.threshold_end - self.threshold_start) * frac
        return th, th

    def lambda_step(self) -> None:
        """Phase (b) of the alternation: with the network fixed, one gradient step on E(λ)."""
        self.epochs_done += 1
        if self.selection == "adaptive":
            self.lam = self.thresholds.step(self.lam, self.lambda_lr)

    def should_stop(self) -> bool:
        """The paper's rule: u(λ) ≤ l(λ) (DAC); DAC* runs ``max_epochs``."""
        if self.selection == "adaptive":
            u, lo = self.current_thresholds()
            return u <= lo
        return self.epochs_done >= self.max_epochs

    # ---- schedule ---------------------------------------------------------------------
    def steps_per_epoch(self) -> int:
        """Optimisation steps in one pass over the data."""
        if self.targets == "online":
            return self.n // self.batch_size
        per_chunk = self.chunk_passes * (self.chunk_size // self.batch_size) * self.aug_repeats
        return (self.n // self.chunk_size) * per_chunk

    def training_steps_per_epoch(self) -> int:
        """``training_step`` calls per epoch (each runs ``inner_steps`` optimisation steps)."""
        return max(-(-self.steps_per_epoch() // self.inner_steps), 1)

    def train_dataloader(self):
        from torch.utils.data import DataLoader

        return DataLoader(range(self.training_steps_per_epoch()), batch_size=None)

    def configure_optimizers(self):
        from hydra.utils import instantiate

        return instantiate(self.optim_cfg, params=self.net.parameters())

    @torch.no_grad()
    def _outputs(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(probs, label features) of un-augmented images, in the configured BN mode."""
        was_training = self.net.training
        self.net.train(self.label_mode == "train")
        logits = self.net(x)
        self.net.train(was_training)
        return torch.softmax(logits, 1), label_features(logits)

    def _epoch_plan(
        self,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]]:
        """One epoch of (batch indices, chunk pair targets or None, self-targets or None)."""
        dev = self.x.device
        perm = torch.randperm(self.n, device=dev)
        b = self.batch_size
        if self.targets == "online":
            for i in range(self.n // b):
                yield perm[i * b : (i + 1) * b], None, None
            return
        c = self.chunk_size
        for i in range(self.n // c):
            chunk = perm[i * c : (i + 1) * c]
            probs, feats = self._outputs(self.x[chunk])
            u, lo = self.current_thresholds()
            target, mask = select_pairs(feats @ feats.T, u, lo)
            selfs = probs if self.self_target == "probs" else feats
            for _ in range(self.chunk_passes):
                local = torch.randperm(c, device=dev)
                for j in range(c // b):
                    a = local[j * b : (j + 1) * b]
                    sub = (target[a][:, a], mask[a][:, a])
                    for _ in range(self.aug_repeats):
                        yield chunk[a], sub, selfs[a]

    def on_train_epoch_start(self) -> None:
        self._plan = self._epoch_plan()

    def _loss(self, idx: torch.Tensor, pairs, selfs) -> torch.Tensor:
        x = self.x[idx]
        if self.self_weight > 0 and selfs is None:
            selfs_probs, selfs_feats = self._outputs(x)
            selfs = selfs_probs if self.self_target == "probs" else selfs_feats
        xa = self.augment(x) if len(self.augment) else x
        logits = self.net(xa)
        feats = label_features(logits)
        sim = feats @ feats.T
        if pairs is None:
            u, lo = self.current_thresholds()
            target, mask = select_pairs(sim.detach(), u, lo)
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

    def training_step(self, batch, batch_idx):
        opt = self.optimizers()
        loss = None
        for _ in range(self.inner_steps):
            try:
                idx, pairs, selfs = next(self._plan)
            except StopIteration:
                break
            loss = self._loss(idx, pairs, selfs)
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            opt.step()
        return loss

    def pop_epoch_stats(self) -> tuple[float, float]:
        """(selected-pair fraction, mean loss) since the last call; one host sync per epoch."""
        count = max(float(self.sel_count), 1.0)
        sel, loss = float(self.sel_sum) / count, float(self.loss_sum) / count
        self.sel_sum.zero_()
        self.sel_count.zero_()
        self.loss_sum.zero_()
        return sel, loss


@torch.no_grad()
def predict_features(
    net: nn.Module, x: torch.Tensor, batch_size: int, bn_mode: str = "eval"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(softmax probabilities, label features) of every image, in batches on x's device."""
    net.train(bn_mode == "train")
    probs, feats = [], []
    # near-equal batches: with batch-statistics BN a tiny last batch would be degenerate
    n_batches = max(-(-len(x) // batch_size), 1)
    for part in torch.tensor_split(x, n_batches):
        logits = net(part)
        probs.append(torch.softmax(logits, 1))
        feats.append(label_features(logits))
    net.eval()
    return torch.cat(probs), torch.cat(feats)
