"""``method=dec`` and ``method=dec_nobp``: SAE pretraining (cached), k-means init, KL phase."""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig

from src.callbacks.dec_tolerance import DECToleranceStop
from src.data.base import ClusterData
from src.dec_math import hard_labels, soft_assignment
from src.fast import apply_tf32, batched, chunk_plan, fit_chunks, resolve_fast
from src.io_utils import atomic_torch_save
from src.methods.base import MethodOutput, RunContext
from src.methods.kmeans import fit_kmeans
from src.metrics import evaluate
from src.models.sae import SAE
from src.modules.dec import DECModule
from src.pretrained import pretrained_sae
from src.training import resolve_device, to_device


def run(cfg: DictConfig, data: ClusterData, ctx: RunContext) -> MethodOutput:
    m = cfg.method
    device = resolve_device(cfg.trainer)
    fast = resolve_fast(cfg.get("fast"), device)
    apply_tf32(fast)
    x = to_device(data.features(), device)
    pre = pretrained_sae(cfg, data, x, ctx, fast)

    with ctx.timer("kmeans_init"):
        z0 = batched(pre.sae.encode, x, fast.eval_batch_size)
        init_labels, centres, _ = fit_kmeans(
            z0.cpu().numpy(), ctx.n_clusters, int(m.n_init), ctx.seed
        )
    init_metrics = evaluate(data.y, init_labels) if data.y is not None else {}
    ctx.log({f"ae_kmeans/{k}": v for k, v in init_metrics.items()}, step=0)

    module = DECModule(
        pre.sae,
        x,
        torch.from_numpy(centres),
        alpha=float(m.alpha),
        lr=float(m.lr),
        momentum=float(m.momentum),
        batch_size=int(m.batch_size),
        train_encoder=bool(m.train_encoder),
        fast=fast,
        seed=int(ctx.seed) * 1009 + 7,
    )
    stop = DECToleranceStop(
        int(m.update_interval),
        float(m.tol),
        y=data.y,
        evaluate=evaluate,
        log_fn=ctx.log,
        log_metrics=bool(m.log_metrics_every_update),
    )
    plan = chunk_plan(int(m.max_iter), fast.steps_per_call, int(m.update_interval))
    with ctx.timer("dec"):
        fit_chunks(cfg, ctx, module, plan, phase="dec", callbacks=[stop])

    with torch.no_grad():
        z = module.embed()
        q = soft_assignment(z, module.centroids, module.alpha)
        labels = hard_labels(q).cpu().numpy()
    state = {
        "method": m.name,
        "arch": pre.sae.arch(),
        "encoder": {
            k: v.detach().cpu() for k, v in module.encoder.sae.encoder.state_dict().items()
        },
        "centroids": module.centroids.detach().cpu(),
        "alpha": module.alpha,
        "preprocess": data.meta.get("preprocess"),
        "pretrained_sae": str(pre.path),
    }
    model_path = atomic_torch_save(ctx.run_dir / "model.pt", state)
    extra = {
        "pretrain_cache_hit": pre.cache_hit,
        "pretrain_checkpoint": str(pre.path),
        "dec_iterations": int(module.iteration),
        "dec_stopped_by": "tol" if stop.stopped_at is not None else "max_iter",
        "dec_target_updates": stop.n_updates,
        "dec_last_label_change": stop.tracker.history[-1] if stop.tracker.history else None,
        "update_interval": int(m.update_interval),
        **{f"ae_kmeans_{k}": v for k, v in init_metrics.items()},
        **{f"fast_{k}": v for k, v in vars(fast).items()},
    }
    return MethodOutput(
        labels=labels.astype(np.int64),
        embeddings=z.cpu().numpy(),
        soft=q.cpu().numpy(),
        extra=extra,
        model_path=model_path,
    )


def load_encoder(checkpoint: dict, device: torch.device | str) -> SAE:
    """The trained encoder stored in a ``dec``/``ae_kmeans`` checkpoint (decoder left empty)."""
    sae = SAE.from_arch(checkpoint["arch"])
    sae.encoder.load_state_dict(checkpoint["encoder"])
    return sae.to(device).eval()


def predict(
    checkpoint: dict, data: ClusterData, device: torch.device | str = "cpu"
) -> MethodOutput:
    """Cluster new (already preprocessed) data with a saved DEC model: argmax of Q."""
    sae = load_encoder(checkpoint, device)
    x = to_device(data.features(), torch.device(device))
    centroids = checkpoint["centroids"].to(device)
    with torch.no_grad():
        z = batched(sae.encode, x, 4096)
        q = soft_assignment(z, centroids, float(checkpoint["alpha"]))
    return MethodOutput(
        labels=hard_labels(q).cpu().numpy().astype(np.int64),
        embeddings=z.cpu().numpy(),
        soft=q.cpu().numpy(),
    )
