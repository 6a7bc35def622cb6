"""The benchmark's reference: each training step as a minimal hand-written PyTorch loop.

No Lightning and none of the framework's loop machinery (``src.engine``, the modules): only the
network classes (``src.models``), DEC's tensor maths (``src.modules.dec_math``), DAC's constraint
layer and augmentation transform, and a plain ``zero_grad → loss → backward → step`` loop with
the data resident on the device and batch indices drawn there. Same batch size, optimiser
and settings as the framework's phase. On CUDA each step is also captured once as a CUDA graph
(``torch.cuda.graph``) and replayed with the batch indices copied into a static buffer: the
issue's reference point.

Steps timed (``HandTiming`` per framework phase):

- ``pretrain_layer<i>``: greedy denoising layer ``i`` (input precomputed through the layers
  below, dropout on its input for i > 0 and after its hidden ReLU), SGD momentum;
- ``pretrain_finetune``: the whole autoencoder, no dropout;
- ``dec``: KL(P‖Q) on the encoder and centroids with P gathered by index from a resident
  tensor, and P recomputed on the whole data set every ``update_interval`` iterations (with
  the label-change read on the host that the tolerance rule needs): the same work per
  iteration as the framework's KL phase, minus its logging;
- ``train`` (DAC, ``targets=online``): per-image random affine augmentation, ConvNet,
  constraint layer, pair selection at fixed thresholds and the masked pairwise BCE, RMSprop;
- ``train`` (DAC and DAC*, ``targets=chunk``, the authors' scripts): per chunk of consecutive
  images, labels once from the un-augmented chunk (predicted in batches of
  ``label_batch_size``, BN in ``label_bn`` mode), then ``chunk_passes`` shuffled passes in
  batches of ``batch_size`` (the last partial one trained too), each batch augmented
  (``aug_repeats`` copies, one step each) and trained on its sub-matrix of the chunk's labels (DAC*: MSE over every pair, label 1 where
  cos > th), RMSprop. Timed over whole chunks, eagerly (the last batch's size differs, so no
  single CUDA graph); the framework's per-epoch whole-set prediction is not in it.

Precision: the framework run's. With ``bf16`` the networks' forwards run under bf16 autocast
(fp32 weights, losses in fp32); with ``channels_last`` the ConvNet and its images are NHWC.

Timing: ``warmup`` untimed iterations, then ``iterations`` timed ones between two device
synchronisations. The hand-written loop does not stop by a rule: it runs a fixed count. Each
timing also counts one step's FLOPs (``src.bench.floor``): the hardware floor's numerator.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from omegaconf import DictConfig
from torch import nn

from src.bench.floor import count_flops
from src.data.augment import build_augment
from src.models.convnets import build_convnet, label_features
from src.models.sae import SAE, build_sae
from src.modules.dec_math import kl_divergence, soft_assignment, target_distribution

StepFn = Callable[[torch.Tensor], torch.Tensor]
Hook = Callable[[int], None] | None


@dataclass
class HandTiming:
    """Iterations per second of one hand-written step, eager and (CUDA) as a graph replay."""

    phase: str
    iterations: int
    warmup: int
    eager_it_s: float
    graph_it_s: float | None = None
    flops_per_it: float | None = None  # forward + backward (+ a chunk's label pass, shared)

    @property
    def best_it_s(self) -> float:
        return max(v for v in (self.eager_it_s, self.graph_it_s) if v is not None)


@dataclass
class Setup:
    """One step ready to loop: ``loss = step(idx)``, its optimiser, and a per-iteration hook
    (called with the iteration number before the step; DEC's target update)."""

    step: StepFn
    optimizer: torch.optim.Optimizer
    hook: Hook = None


class Indices:
    """Batches of indices on the device: slices of seeded random permutations."""

    def __init__(self, n: int, batch_size: int, device: torch.device, seed: int) -> None:
        self.n, self.b = int(n), min(int(batch_size), int(n))
        self.gen = torch.Generator(device=device)
        self.gen.manual_seed(int(seed))
        self.device = device
        self.perm = torch.randperm(self.n, generator=self.gen, device=device)
        self.pos = 0

    def next(self) -> torch.Tensor:
        if self.pos + self.b > self.n:
            self.perm = torch.randperm(self.n, generator=self.gen, device=self.device)
            self.pos = 0
        self.pos += self.b
        return self.perm[self.pos - self.b : self.pos]


def _bf16(enabled: bool, device: torch.device):
    """bf16 autocast of a network forward when ``enabled`` (a no-op context otherwise)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _rate(one: Callable[[int], None], iterations: int, device: torch.device) -> float:
    _sync(device)
    started = time.perf_counter()
    for i in range(iterations):
        one(i)
    _sync(device)
    return iterations / (time.perf_counter() - started)


def eager_rate(s: Setup, batches: Indices, iterations: int, warmup: int, device) -> float:
    """it/s of the plain eager loop."""

    def one(i: int) -> None:
        if s.hook is not None and i >= 0:
            s.hook(i)
        s.optimizer.zero_grad(set_to_none=True)
        s.step(batches.next()).backward()
        s.optimizer.step()

    for _ in range(warmup):
        one(-1)
    return _rate(one, iterations, device)


def graph_rate(s: Setup, batches: Indices, iterations: int, warmup: int, device) -> float:
    """it/s of the step captured once as a CUDA graph (forward, backward, optimiser update)
    and replayed; warm-up on a side stream first, as PyTorch's whole-network recipe does."""
    static_idx = batches.next().clone()
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(warmup, 1)):
            s.optimizer.zero_grad(set_to_none=True)
            s.step(static_idx).backward()
            s.optimizer.step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    s.optimizer.zero_grad(set_to_none=True)  # backward inside the capture allocates the grads
    with torch.cuda.graph(graph):
        s.step(static_idx).backward()
        s.optimizer.step()

    def one(i: int) -> None:
        if s.hook is not None:
            s.hook(i)
        static_idx.copy_(batches.next())
        graph.replay()

    return _rate(one, iterations, device)


def time_step(
    phase: str,
    make: Callable[[bool], Setup],
    n: int,
    batch_size: int,
    device: torch.device,
    iterations: int,
    warmup: int,
    seed: int,
) -> HandTiming:
    """Time a fresh ``make(graph)`` setup eagerly and, on CUDA, as a captured graph."""
    setup = make(False)
    batches = Indices(n, batch_size, device, seed)
    flops = count_flops(lambda: setup.step(batches.next()).backward())
    eager = eager_rate(setup, batches, iterations, warmup, device)
    graph = None
    if device.type == "cuda":
        graph = graph_rate(
            make(True), Indices(n, batch_size, device, seed), iterations, warmup, device
        )
    return HandTiming(phase, iterations, warmup, eager, graph, flops)


def _optimizer(
    kind: str, params: list[nn.Parameter], cfg: DictConfig, device, graph: bool, lr: float
) -> torch.optim.Optimizer:
    fused = device.type == "cuda"  # the fastest plain setting on a GPU
    if kind == "sgd":
        return torch.optim.SGD(
            params,
            lr=lr,
            momentum=float(cfg.momentum),
            weight_decay=float(cfg.get("weight_decay", 0.0)),
            fused=fused,
        )
    return torch.optim.Adam(
        params,
        lr=lr,
        weight_decay=float(cfg.get("weight_decay", 0.0)),
        fused=fused,
        capturable=graph,
    )


def _recon_loss(recon: torch.Tensor, target: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "caffe_sum":
        return (recon - target).pow(2).sum() / (2 * recon.shape[0])
    return F.mse_loss(recon, target)


def sae_stage_setup(
    x: torch.Tensor,
    arch: DictConfig,
    pre: DictConfig,
    layer: int | None,
    seed: int,
    graph: bool,
    bf16: bool = False,
) -> Setup:
    """Greedy denoising layer ``layer`` of a fresh SAE, or fine-tuning (``layer=None``)."""
    torch.manual_seed(seed)
    sae: SAE = build_sae(x.shape[1], arch).to(x.device)
    last = sae.n_layers - 1
    reduction = str(pre.get("reduction", "mean"))
    sae.requires_grad_(False)
    if layer is None:
        params = list(sae.parameters())
        kind = str(pre.get("finetune_optimizer", pre.optimizer))

        def step(idx: torch.Tensor) -> torch.Tensor:
            xb = x[idx]
            with _bf16(bf16, xb.device):
                recon = sae(xb)
            return _recon_loss(recon.float(), xb, reduction)

    else:
        with torch.no_grad():
            inputs = x
            for i in range(layer):
                inputs = F.relu(sae.encoder[i](inputs))
        enc, dec = sae.encoder[layer], sae.decoder[last - layer]
        params = [*enc.parameters(), *dec.parameters()]
        kind = str(pre.optimizer)
        p_in, p_hid = float(pre.input_dropout), float(pre.hidden_dropout)

        def step(idx: torch.Tensor) -> torch.Tensor:
            xb = inputs[idx]
            with _bf16(bf16, xb.device):
                h = enc(F.dropout(xb, p_in) if layer > 0 else xb)
                if layer < last:
                    h = F.dropout(F.relu(h), p_hid)
                r = dec(h)
                if layer > 0:
                    r = F.relu(r)
            return _recon_loss(r.float(), xb, reduction)

    for p in params:
        p.requires_grad_(True)
    lr = float(pre.lr if kind == "sgd" else pre.get("adam_lr", pre.lr))
    return Setup(step, _optimizer(kind, params, pre, x.device, graph, lr))


def dec_setup(
    x: torch.Tensor,
    arch: DictConfig,
    m: DictConfig,
    k: int,
    seed: int,
    graph: bool,
    bf16: bool = False,
) -> Setup:
    """DEC's KL phase on a fresh encoder, centroids at k random embeddings (speed does not
    depend on where they start)."""
    torch.manual_seed(seed)
    encoder = copy.deepcopy(build_sae(x.shape[1], arch).encoder).to(x.device)
    last = len(encoder) - 1
    alpha, interval = float(m.alpha), int(m.update_interval)

    def encode(xb: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(encoder):
            xb = layer(xb)
            if i < last:
                xb = F.relu(xb)
        return xb

    with torch.no_grad():
        z = torch.cat([encode(part) for part in x.split(65536)])
        mu = nn.Parameter(z[torch.randperm(len(z), device=x.device)[:k]].clone())
    p = torch.empty(len(x), k, device=x.device)
    previous: list[torch.Tensor | None] = [None]

    @torch.no_grad()
    def update_target() -> None:
        q = soft_assignment(torch.cat([encode(part) for part in x.split(65536)]), mu, alpha)
        p.copy_(target_distribution(q))
        labels = q.argmax(1)
        if previous[0] is not None:
            int((labels != previous[0]).sum())  # the tolerance rule reads this on the host
        previous[0] = labels

    update_target()

    def hook(i: int) -> None:
        if i % interval == 0:
            update_target()

    def step(idx: torch.Tensor) -> torch.Tensor:
        with _bf16(bf16, x.device):
            z = encode(x[idx])
        return kl_divergence(p[idx], soft_assignment(z.float(), mu, alpha))

    params = [mu, *encoder.parameters()]
    return Setup(step, _optimizer("sgd", params, m, x.device, graph, float(m.lr)), hook)


def _convnet(images: torch.Tensor, cfg: DictConfig, k: int, channels_last: bool) -> nn.Module:
    net = build_convnet(cfg.arch, images.shape[1:], k).to(images.device).train()
    return net.to(memory_format=torch.channels_last) if channels_last else net


def _nhwc(images: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return images.contiguous(memory_format=torch.channels_last) if channels_last else images


def _features(net: nn.Module, xb: torch.Tensor, bf16: bool) -> torch.Tensor:
    """The constraint layer's features in fp32, the ConvNet under bf16 autocast if asked."""
    with _bf16(bf16, xb.device):
        out = net(xb)
    return label_features(out.float())


def dac_setup(
    images: torch.Tensor,
    cfg: DictConfig,
    k: int,
    seed: int,
    graph: bool,
    bf16: bool = False,
    channels_last: bool = False,
) -> Setup:
    """One DAC step (online targets) at the thresholds the run starts with."""
    m = cfg.method
    torch.manual_seed(seed)
    net = _convnet(images, cfg, k, channels_last)
    images = _nhwc(images, channels_last)
    augment = build_augment(m.augment)
    if str(m.selection) == "adaptive":
        lam = float(m.lambda_start)
        upper = float(m.upper.start) - float(m.upper.slope) * lam
        lower = float(m.lower.start) + float(m.lower.slope) * lam
    else:
        upper = lower = float(m.threshold.start)
    bce, eps = str(m.pair_loss) == "bce", 1e-7

    def step(idx: torch.Tensor) -> torch.Tensor:
        xb = images[idx]
        feats = _features(net, augment(xb) if len(augment) else xb, bf16)
        sim = feats @ feats.T
        s = sim.detach()
        target = (s >= upper).to(sim.dtype)
        mask = ((s >= upper) | (s < lower)).to(sim.dtype)
        if bce:
            g = sim.clamp(eps, 1.0 - eps)
            per_pair = -(target * torch.log(g) + (1.0 - target) * torch.log1p(-g))
        else:
            per_pair = (sim - target) ** 2
        return (per_pair * mask).sum() / mask.sum().clamp_min(1.0)

    extra: dict[str, Any] = {"capturable": True} if graph else {}
    return Setup(step, instantiate(m.optimizer, params=net.parameters(), **extra))


def hand_written_dec(
    cfg: DictConfig, x: torch.Tensor, k: int, iterations: int, warmup: int, bf16: bool = False
) -> dict[str, HandTiming]:
    """Hand-written timings of every DEC training phase the config runs, by phase name."""
    pre, m, seed = cfg.pretrain, cfg.method, int(cfg.seed)
    n, b_pre, out = len(x), int(pre.batch_size), {}
    phases: list[tuple[str, int | None]] = []
    if pre.layerwise:
        phases += [(f"pretrain_layer{i}", i) for i in range(len(cfg.arch.hidden_dims) + 1)]
    if int(pre.finetune_iters) > 0:
        phases.append(("pretrain_finetune", None))
    for phase, layer in phases:

        def make(graph: bool, layer=layer) -> Setup:
            return sae_stage_setup(x, cfg.arch, pre, layer, seed, graph, bf16)

        out[phase] = time_step(phase, make, n, b_pre, x.device, iterations, warmup, seed)
    out["dec"] = time_step(
        "dec",
        lambda graph: dec_setup(x, cfg.arch, m, k, seed, graph, bf16),
        n,
        int(m.batch_size),
        x.device,
        iterations,
        warmup,
        seed,
    )
    return out


def _pair_targets(s: torch.Tensor, m: DictConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels and selection mask of DAC's pairs at the thresholds a run starts with."""
    if str(m.selection) == "all":  # DAC*: every pair, label 1 where sim > th
        th = float(m.threshold.start)
        return (s > th).to(s.dtype), torch.ones_like(s)
    upper, lower = float(m.upper.start), float(m.lower.start)
    return (s > 0.5 * (upper + lower)).to(s.dtype), ((s > upper) | (s < lower)).to(s.dtype)


@torch.no_grad()
def dac_chunk_labels(
    net: nn.Module, xc: torch.Tensor, m: DictConfig, bf16: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """A chunk's pair labels and mask from its un-augmented images, predicted in consecutive
    batches of ``label_batch_size`` with BN in ``label_bn`` mode."""
    net.train(str(m.label_bn) == "train")
    feats = torch.cat([_features(net, part, bf16) for part in xc.split(int(m.label_batch_size))])
    net.train()
    return _pair_targets(feats @ feats.T, m)


def dac_pair_loss(
    net: nn.Module,
    xb: torch.Tensor,
    target: torch.Tensor,
    mask: torch.Tensor,
    bce: bool,
    bf16: bool = False,
) -> torch.Tensor:
    """DAC's loss of one (augmented) batch against its sub-matrix of the chunk labels."""
    f = _features(net, xb, bf16)
    sim = f @ f.T
    if bce:
        g = sim.clamp(1e-7, 1.0 - 1e-7)
        per_pair = -(target * torch.log(g) + (1.0 - target) * torch.log1p(-g))
    else:
        per_pair = (sim - target) ** 2
    return (per_pair * mask).sum() / mask.sum().clamp_min(1.0)


def dac_chunk_loop(
    images: torch.Tensor,
    cfg: DictConfig,
    k: int,
    seed: int,
    bf16: bool = False,
    channels_last: bool = False,
) -> Callable[[int], int]:
    """The authors' chunk loop on a fresh ConvNet: ``one_chunk(i)`` trains chunk ``i`` (of
    consecutive images, wrapping around) and returns the optimiser steps it took."""
    m = cfg.method
    if float(m.get("self_weight", 0.0)) > 0:
        raise ValueError("the hand-written chunk loop has no self-target term (self_weight=0)")
    torch.manual_seed(seed)
    net = _convnet(images, cfg, k, channels_last)
    images = _nhwc(images, channels_last)
    augment = build_augment(m.augment)
    optimizer = instantiate(m.optimizer, params=net.parameters())
    n = len(images)
    c, b, bce = min(int(m.chunk_size), n), int(m.batch_size), str(m.pair_loss) == "bce"
    n_chunks = -(-n // c)

    def one_chunk(i: int) -> int:
        xc = images[(i % n_chunks) * c : (i % n_chunks + 1) * c]
        target, mask = dac_chunk_labels(net, xc, m, bf16)
        steps = 0
        for _ in range(int(m.chunk_passes)):
            for a in torch.randperm(len(xc), device=xc.device).split(b):
                t, w = target[a][:, a], mask[a][:, a]
                for _ in range(int(m.aug_repeats)):  # one step per augmented copy
                    xb = augment(xc[a]) if len(augment) else xc[a]
                    loss = dac_pair_loss(net, xb, t, w, bce, bf16)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    steps += 1
        return steps

    return one_chunk


def time_chunks(
    one_chunk: Callable[[int], int], iterations: int, warmup: int, device: torch.device
) -> HandTiming:
    """Steps/s of whole chunks: one warm-up chunk (its FLOPs counted: per step, the label
    pass shared), then chunks until ``iterations`` steps."""
    steps_of_first: list[int] = []
    flops = count_flops(lambda: steps_of_first.append(one_chunk(0))) if warmup > 0 else 0
    done = steps_of_first[0] if steps_of_first else 0
    per_step = flops / done if done else None
    _sync(device)
    started, steps, i = time.perf_counter(), 0, 1
    while steps < iterations:
        steps += one_chunk(i)
        i += 1
    _sync(device)
    return HandTiming("train", steps, done, steps / (time.perf_counter() - started), None, per_step)


def hand_written_dac(
    cfg: DictConfig,
    images: torch.Tensor,
    k: int,
    iterations: int,
    warmup: int,
    bf16: bool = False,
    channels_last: bool = False,
) -> dict[str, HandTiming]:
    """Hand-written timing of DAC's training step (the framework's ``train`` phase): the
    authors' chunk loop for ``targets=chunk``, else the online step."""
    seed = int(cfg.seed)
    if str(cfg.method.targets) == "chunk":
        loop = dac_chunk_loop(images, cfg, k, seed, bf16, channels_last)
        return {"train": time_chunks(loop, iterations, warmup, images.device)}
    return {
        "train": time_step(
            "train",
            lambda graph: dac_setup(images, cfg, k, seed, graph, bf16, channels_last),
            len(images),
            int(cfg.method.batch_size),
            images.device,
            iterations,
            warmup,
            seed,
        )
    }
