"""Pretrained SAEs, cached on disk and shared by ``dec``, ``dec_nobp``, ``ae_kmeans`` and sweeps.

The cache key (``sae_cache_key``) hashes everything that decides the pretrained weights: the
data (name, shape and a digest of the preprocessed array, so subset, imbalance and
preprocessing are covered), the seed, ``arch`` and the ``pretrain`` config. Speed switches
(``fast``) and the method are *not* part of it: every method that shares data, seed, arch and
schedule reuses one checkpoint. Files: ``<cache_dir>/sae/<key>.pt``, written atomically; an
unreadable file is reported and rebuilt. What is not cached is trained by
:func:`src.pretraining.stages.pretrain_saes`.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from src.core.io_utils import atomic_torch_save
from src.data.base import ClusterData
from src.engine.context import RunContext
from src.engine.guard import first_non_finite
from src.engine.switches import FastOptions, precision
from src.models.sae import SAE
from src.pretraining.stages import pretrain_saes

# bump when the pretraining code changes its results (2: dropout masks from per-seed generators;
# 3: the masks drawn as uniform numbers ≥ p instead of bernoulli_)
CACHE_VERSION = 3


def data_digest(x: np.ndarray) -> str:
    """A content hash of the (preprocessed) feature array."""
    arr = np.ascontiguousarray(x, dtype=np.float32)
    h = hashlib.blake2b(digest_size=16)
    h.update(str(arr.shape).encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def sae_cache_key(
    data: ClusterData, seed: int, arch: DictConfig, pretrain: DictConfig, precision: str = "fp32"
) -> str:
    """The key of a pretrained SAE: data identity, seed, architecture, schedule and the
    training arithmetic (only a non-fp32 precision enters the hash, so fp32 keys are those
    of caches written before the switch existed)."""
    payload = {
        "version": CACHE_VERSION,
        "dataset": data.name,
        "shape": list(data.x.shape),
        "x_digest": data_digest(data.features()),
        "seed": int(seed),
        "arch": OmegaConf.to_container(arch, resolve=True),
        "pretrain": OmegaConf.to_container(pretrain, resolve=True),
    }
    if precision != "fp32":
        payload["precision"] = precision
    blob = json.dumps(payload, sort_keys=True).encode()
    return f"{data.name}-{hashlib.sha256(blob).hexdigest()[:20]}"


@dataclass
class PretrainedSAE:
    sae: SAE
    path: Path
    cache_hit: bool
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def reused_seconds(self) -> float:
        """The pretraining time a cache hit saved (its stages' recorded seconds); 0 when this
        run trained the SAE itself, so that time is already in the run's own."""
        if not self.cache_hit:
            return 0.0
        stages = self.info.get("stages", {}).values()
        return float(sum(s.get("seconds") or 0.0 for s in stages))


def load_cached(path: Path, device: torch.device) -> PretrainedSAE | None:
    """The cached SAE at ``path``, or None when there is none or it is unreadable (said)."""
    if not path.exists():
        return None
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
        sae = SAE.from_arch(ckpt["arch"]).to(device)
        sae.load_state_dict(ckpt["state_dict"])
        if (name := first_non_finite(sae.state_dict().items())) is not None:
            raise ValueError(f"non-finite values in {name}")
        return PretrainedSAE(sae, path, True, ckpt.get("info", {}))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is rebuilt
        print(
            f"warning: cached SAE {path} is unreadable ({type(exc).__name__}); retraining",
            file=sys.stderr,
        )
        return None


def pretrained_saes(
    cfgs: list[DictConfig],
    datas: list[ClusterData],
    xs: list[torch.Tensor],
    ctx: RunContext,
    fast: FastOptions,
) -> list[PretrainedSAE]:
    """The pretrained SAEs of several runs that differ only in their seed: each loaded from the
    cache, the others trained together (one batched model) and cached, each under the key
    its own run looks up (``sae_cache_key`` of its data, seed, arch and schedule)."""
    if any(c.arch != cfgs[0].arch or c.pretrain != cfgs[0].pretrain for c in cfgs):
        raise ValueError("SAEs pretrained together need one arch and one pretrain schedule")
    keys = [
        sae_cache_key(d, c.seed, c.arch, c.pretrain, precision(fast))
        for c, d in zip(cfgs, datas, strict=True)
    ]
    paths = [Path(ctx.cache_dir) / "sae" / f"{key}.pt" for key in keys]
    use_cache = bool(cfgs[0].pretrain.get("cache", True))
    device = xs[0].device
    out: list[PretrainedSAE | None] = [load_cached(p, device) if use_cache else None for p in paths]
    todo = [i for i, pre in enumerate(out) if pre is None]
    if todo:
        partials = [paths[i].with_suffix(".partial.pt") for i in todo] if use_cache else None
        with ctx.timer("pretrain"):
            trained = pretrain_saes(cfgs[todo[0]], [xs[i] for i in todo],
                                    [int(cfgs[i].seed) for i in todo], ctx, fast, partials)  # fmt: skip
        for i, (sae, info) in zip(todo, trained, strict=True):
            if use_cache:
                atomic_torch_save(
                    paths[i],
                    {
                        "arch": sae.arch(),
                        "state_dict": {k: v.detach().cpu() for k, v in sae.state_dict().items()},
                        "info": info,
                        "key": keys[i],
                        "pretrain": OmegaConf.to_container(cfgs[i].pretrain, resolve=True),
                    },
                )
                paths[i].with_suffix(".partial.pt").unlink(missing_ok=True)
            out[i] = PretrainedSAE(sae, paths[i], False, info)
    return out  # type: ignore[return-value]


def pretrained_sae(
    cfg: DictConfig, data: ClusterData, x: torch.Tensor, ctx: RunContext, fast: FastOptions
) -> PretrainedSAE:
    """The pretrained SAE for this run: loaded from the cache, or trained and cached."""
    return pretrained_saes([cfg], [data], [x], ctx, fast)[0]
