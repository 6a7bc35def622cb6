"""Pretrained SAEs, cached on disk and shared by ``dec``, ``dec_nobp``, ``ae_kmeans`` and sweeps.

The cache key (``sae_cache_key``) hashes everything that decides the pretrained weights: the
data (name, shape and a digest of the preprocessed array, so subset, imbalance and
preprocessing are covered), the seed, ``arch`` and the ``pretrain`` config. Speed switches
(``fast``) and the method are *not* part of it: every method that shares data, seed, arch and
schedule reuses one checkpoint. Files: ``<cache_dir>/sae/<key>.pt``, written atomically; an
unreadable file is reported and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from src.data.base import ClusterData
from src.fast import FastOptions, chunk_plan, fit_chunks
from src.guard import check_finite_tensors, first_non_finite
from src.io_utils import atomic_torch_save
from src.methods.base import RunContext
from src.models.sae import SAE, build_sae
from src.modules.sae_pretrain import SAEPretrainModule, stages
from src.run_eta import sae_stage_work

CACHE_VERSION = 1  # bump when the pretraining code changes its results


def data_digest(x: np.ndarray) -> str:
    """A content hash of the (preprocessed) feature array."""
    arr = np.ascontiguousarray(x, dtype=np.float32)
    h = hashlib.blake2b(digest_size=16)
    h.update(str(arr.shape).encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def sae_cache_key(data: ClusterData, seed: int, arch: DictConfig, pretrain: DictConfig) -> str:
    """The key of a pretrained SAE: data identity, seed, architecture and schedule."""
    payload = {
        "version": CACHE_VERSION,
        "dataset": data.name,
        "shape": list(data.x.shape),
        "x_digest": data_digest(data.features()),
        "seed": int(seed),
        "arch": OmegaConf.to_container(arch, resolve=True),
        "pretrain": OmegaConf.to_container(pretrain, resolve=True),
    }
    blob = json.dumps(payload, sort_keys=True).encode()
    return f"{data.name}-{hashlib.sha256(blob).hexdigest()[:20]}"


@dataclass
class PretrainedSAE:
    sae: SAE
    path: Path
    cache_hit: bool
    info: dict[str, Any] = field(default_factory=dict)


def stage_seed(seed: int, index: int) -> int:
    """A distinct, reproducible seed per pretraining stage."""
    return int(seed) * 1009 + 17 * (index + 1)


def pretrain_sae(
    cfg: DictConfig,
    x: torch.Tensor,
    ctx: RunContext,
    fast: FastOptions,
    partial: Path | None = None,
) -> tuple[SAE, dict[str, Any]]:
    """Build the SAE (seeded) and run every stage of ``cfg.pretrain`` on ``x`` (on device).

    With ``partial``, the weights are saved there after every stage and an interrupted
    pretraining resumes after its last finished stage. Each stage seeds itself, so a resumed
    run trains exactly as an uninterrupted one.
    """
    torch.manual_seed(int(cfg.seed))
    sae = build_sae(x.shape[1], cfg.arch).to(x.device)
    info: dict[str, Any] = {"stages": {}}
    done = 0
    if partial is not None and partial.exists():
        try:
            saved = torch.load(partial, map_location=x.device, weights_only=True)
            sae.load_state_dict(saved["state_dict"])
            info, done = saved["info"], int(saved["stages_done"])
            print(f"resuming SAE pretraining after stage {done} from {partial}", file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - an unreadable partial file is started over
            print(f"warning: {partial} is unreadable ({type(exc).__name__}); starting over",
                  file=sys.stderr)  # fmt: skip
    log_every = int(cfg.get("log_every_n_steps", 50))
    for index, stage in enumerate(stages(sae, cfg.pretrain)):
        if index >= done:  # what is left to train, for the run's ETA
            work = sae_stage_work(sae.dims, stage.layer, int(cfg.pretrain.batch_size))
            ctx.eta.plan(f"pretrain_{stage.name}", stage.iterations, work)
    for index, stage in enumerate(stages(sae, cfg.pretrain)):
        if index < done:
            continue
        seed = stage_seed(cfg.seed, index)
        torch.manual_seed(seed)  # dropout masks
        module = SAEPretrainModule(
            sae, x, stage, cfg.pretrain, fast, seed, log_fn=ctx.log, log_every=log_every
        )
        started = time.perf_counter()
        with ctx.timer(f"pretrain_{stage.name}"):
            plan = chunk_plan(stage.iterations, fast.steps_per_call)
            fit_chunks(cfg, ctx, module, plan, f"pretrain_{stage.name}", x.device)
        seconds = time.perf_counter() - started
        check_finite_tensors(
            ((f"the SAE's {k}", v) for k, v in sae.state_dict().items()),
            module.guard.phase,
            stage.iterations,
            module.lr,
            module.lr_option,
        )  # nothing non-finite is cached, not even as a partial file
        info["stages"][stage.name] = {
            "iterations": stage.iterations,
            "seconds": seconds,
            "it_per_s": stage.iterations / seconds if seconds > 0 else None,
            "final_loss": float(module.runner.loss),
        }
        if partial is not None:
            atomic_torch_save(
                partial,
                {"state_dict": {k: v.detach().cpu() for k, v in sae.state_dict().items()},
                 "info": info, "stages_done": index + 1},
            )  # fmt: skip
    sae.requires_grad_(True)
    return sae, info


def pretrained_sae(
    cfg: DictConfig, data: ClusterData, x: torch.Tensor, ctx: RunContext, fast: FastOptions
) -> PretrainedSAE:
    """The pretrained SAE for this run: loaded from the cache, or trained and cached."""
    key = sae_cache_key(data, cfg.seed, cfg.arch, cfg.pretrain)
    path = Path(ctx.cache_dir) / "sae" / f"{key}.pt"
    use_cache = bool(cfg.pretrain.get("cache", True))
    if use_cache and path.exists():
        try:
            ckpt = torch.load(path, map_location=x.device, weights_only=True)
            sae = SAE.from_arch(ckpt["arch"]).to(x.device)
            sae.load_state_dict(ckpt["state_dict"])
            if (name := first_non_finite(sae.state_dict().items())) is not None:
                raise ValueError(f"non-finite values in {name}")
            return PretrainedSAE(sae, path, True, ckpt.get("info", {}))
        except Exception as exc:  # noqa: BLE001 - any unreadable file is rebuilt
            print(
                f"warning: cached SAE {path} is unreadable ({type(exc).__name__}); retraining",
                file=sys.stderr,
            )
    partial = path.with_suffix(".partial.pt") if use_cache else None
    with ctx.timer("pretrain"):
        sae, info = pretrain_sae(cfg, x, ctx, fast, partial)
    if use_cache:
        atomic_torch_save(
            path,
            {
                "arch": sae.arch(),
                "state_dict": {k: v.detach().cpu() for k, v in sae.state_dict().items()},
                "info": info,
                "key": key,
                "pretrain": OmegaConf.to_container(cfg.pretrain, resolve=True),
            },
        )
        partial.unlink(missing_ok=True)
    return PretrainedSAE(sae, path, False, info)
