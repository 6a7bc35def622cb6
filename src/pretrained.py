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
from src.fast import FastOptions, chunk_plan, fit_chunks, precision
from src.guard import check_finite_tensors, first_non_finite
from src.io_utils import atomic_torch_save
from src.methods.base import RunContext
from src.models.sae import SAE, SAEStack, build_sae
from src.modules.sae_pretrain import SAEPretrainModule, stages
from src.run_eta import sae_stage_work

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


def member_inputs(xs: list[torch.Tensor]) -> torch.Tensor:
    """``[S, n, d]`` from each seed's data: a view when they share one array (no copy)."""
    first = xs[0]
    if all(x is first or (x.shape == first.shape and torch.equal(x, first)) for x in xs[1:]):
        return first.unsqueeze(0).expand(len(xs), *first.shape)
    if any(x.shape != first.shape for x in xs):
        raise ValueError("seeds pretrained together need data of one shape")
    return torch.stack(xs)


def _resume(partials: list[Path] | None, saes: list[SAE], device: torch.device) -> tuple[int, list]:
    """(stages done, infos) from the seeds' ``.partial.pt`` files: resumed when every seed's
    file is readable and at the same stage, else started over (said on stderr)."""
    fresh = [{"stages": {}} for _ in saes]
    if not partials or not any(p.exists() for p in partials):
        return 0, fresh
    try:
        saved = [torch.load(p, map_location=device, weights_only=True) for p in partials]
        done = {int(s["stages_done"]) for s in saved}
        if len(done) != 1:
            raise ValueError("the seeds' partial files are at different stages")
        for sae, s in zip(saes, saved, strict=True):
            sae.load_state_dict(s["state_dict"])
    except Exception as exc:  # noqa: BLE001 - unreadable or mismatched partial files: start over
        print(f"warning: {partials[0].parent} holds partial SAEs that cannot be resumed "
              f"({type(exc).__name__}: {exc}); starting over", file=sys.stderr)  # fmt: skip
        return 0, fresh
    print(f"resuming SAE pretraining after stage {done.pop()} from {', '.join(map(str, partials))}",
          file=sys.stderr)  # fmt: skip
    return int(saved[0]["stages_done"]), [s["info"] for s in saved]


def pretrain_saes(
    cfg: DictConfig,
    xs: list[torch.Tensor],
    seeds: list[int],
    ctx: RunContext,
    fast: FastOptions,
    partials: list[Path] | None = None,
) -> list[tuple[SAE, dict[str, Any]]]:
    """Build each seed's SAE (seeded: the init a single run gets) and run every stage of
    ``cfg.pretrain`` on all of them at once (one :class:`SAEStack`; ``xs``: each seed's data,
    on the device). One seed is a single run.

    With ``partials`` (one path per seed), the weights are saved there after every stage and
    an interrupted pretraining resumes after its last finished stage. Each stage seeds its own
    generators, so a resumed run trains exactly as an uninterrupted one.
    """
    device = xs[0].device
    saes = []
    for seed in seeds:
        torch.manual_seed(int(seed))
        saes.append(build_sae(xs[0].shape[1], cfg.arch).to(device))
    done, infos = _resume(partials, saes, device)
    stack, x = SAEStack(saes), member_inputs(xs)
    together = len(seeds) > 1
    log_every = int(cfg.get("log_every_n_steps", 50))
    log_fn = ctx.log if ctx.logger is not None else None  # no logger: no loss reads
    for index, stage in enumerate(stages(saes[0], cfg.pretrain)):
        if index >= done:  # what is left to train, for the run's ETA (all seeds: S times)
            work = sae_stage_work(saes[0].dims, stage.layer, int(cfg.pretrain.batch_size))
            ctx.eta.plan(f"pretrain_{stage.name}", stage.iterations, work * len(seeds))
    for index, stage in enumerate(stages(saes[0], cfg.pretrain)):
        if index < done:
            continue
        module = SAEPretrainModule(stack, x, stage, cfg.pretrain, fast, seeds, index,
                                   log_fn=log_fn, log_every=log_every)  # fmt: skip
        started = time.perf_counter()
        with ctx.timer(f"pretrain_{stage.name}"):
            plan = chunk_plan(stage.iterations, fast.steps_per_call)
            fit_chunks(cfg, ctx, module, plan, f"pretrain_{stage.name}", device)
        seconds = time.perf_counter() - started
        losses = module.losses.tolist()
        for member, seed in enumerate(seeds):
            check_finite_tensors(
                ((f"the SAE's {k}", v) for k, v in stack.member_state_dict(member).items()),
                module.guard.phase + (f" (seed {seed})" if together else ""),
                stage.iterations,
                module.lr,
                module.lr_option,
            )  # nothing non-finite is cached, not even as a partial file
            infos[member]["stages"][stage.name] = {
                "iterations": stage.iterations,
                "seconds": seconds,
                "it_per_s": stage.iterations / seconds if seconds > 0 else None,
                "final_loss": losses[member],
            }
        for member, path in enumerate(partials or []):
            state = {
                k: v.detach().to("cpu", copy=True)
                for k, v in stack.member_state_dict(member).items()
            }
            atomic_torch_save(
                path, {"state_dict": state, "info": infos[member], "stages_done": index + 1}
            )
    stack.unstack_into(saes)
    for sae, info in zip(saes, infos, strict=True):
        sae.requires_grad_(True)
        if together:
            info["seed_batch"] = [int(s) for s in seeds]  # pretrained as one batched model
    return list(zip(saes, infos, strict=True))


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
