"""``method=dec`` and ``method=dec_nobp``: SAE pretraining (cached), k-means init, KL phase."""

from __future__ import annotations

import numpy as np
import torch
from omegaconf import DictConfig

from src.callbacks.dec_tolerance import DECToleranceStop
from src.core.errors import UserError
from src.data.base import ClusterData
from src.engine.chunks import chunk_plan, fit_chunks
from src.engine.context import RunContext
from src.engine.device import resolve_device
from src.engine.inference import batched
from src.engine.placement import to_device
from src.engine.run_eta import encoder_work, sae_dims
from src.engine.switches import apply_tf32, autocast, precision, resolve_fast
from src.methods.base import MethodOutput
from src.methods.kmeans import fit_kmeans, kmeans_message
from src.models.sae import SAE
from src.modules.dec import DECModule
from src.modules.dec_math import hard_labels, kl_divergence, soft_assignment, target_distribution
from src.pretraining.cache import pretrained_sae
from src.recording.checkpoints import save_checkpoint
from src.recording.metrics import evaluate


def run(cfg: DictConfig, data: ClusterData, ctx: RunContext) -> MethodOutput:
    m = cfg.method
    device = resolve_device(cfg.trainer)
    fast = resolve_fast(cfg.get("fast"), device)
    apply_tf32(fast)
    fit_data, val_data = split_validation(data, m.get("validation_fraction"), ctx.seed)
    x = to_device(fit_data.features(), device)
    dims = sae_dims(x.shape[1], cfg.arch)
    # DEC stops by its tolerance; max_iter is only a cap
    ctx.eta.plan("dec", int(m.max_iter), encoder_work(dims, int(m.batch_size)), capped=True)
    pre = pretrained_sae(cfg, fit_data, x, ctx, fast)

    with ctx.timer("kmeans_init"):
        z0 = batched(pre.sae.encode, x, fast.eval_batch_size)
        with ctx.status(kmeans_message(m.n_init, z0, ctx.n_clusters)):
            init_labels, centres, _ = fit_kmeans(
                z0.cpu().numpy(), ctx.n_clusters, int(m.n_init), ctx.seed
            )
    init_metrics = evaluate(fit_data.y, init_labels) if fit_data.y is not None else {}
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
        momentum_reset=bool(m.get("momentum_reset", False)),
    )
    stop = DECToleranceStop(
        int(m.update_interval),
        float(m.tol),
        y=fit_data.y,
        log_fn=ctx.log,
        log_metrics=bool(m.log_metrics_every_update),
    )
    plan = chunk_plan(int(m.max_iter), fast.steps_per_call, int(m.update_interval))
    with ctx.timer("dec"):
        fit_chunks(cfg, ctx, module, plan, "dec", device, callbacks=[stop])
    module.guard.after_chunk(module.runner.loss, module.iteration, module.lr, force=True)

    with torch.no_grad():
        z = module.embed()
        q = soft_assignment(z, module.centroids, module.alpha)
        kl_fit = float(kl_divergence(target_distribution(q), q))
        if val_data is not None:  # every sample gets a label: embed the held-out part too
            x_all = to_device(data.features(), device)
            z = module.encode(x_all)
            q = soft_assignment(z, module.centroids, module.alpha)
            held_out = torch.from_numpy(val_data.meta["index"]).to(device)
            q_val = q.index_select(0, held_out)
            kl_val = float(kl_divergence(target_distribution(q_val), q_val))
        labels = hard_labels(q).cpu().numpy()
    state = {
        "method": m.name,
        "arch": pre.sae.arch(),
        "encoder": {
            k: v.detach().cpu() for k, v in module.encoder.sae.encoder.state_dict().items()
        },
        "centroids": module.centroids.detach().cpu(),
        "alpha": module.alpha,
        "pretrained_sae": str(pre.path),
        # the arithmetic of the run's final embedding, which predict() repeats
        "precision": precision(fast),
    }
    model_path = save_checkpoint(ctx.run_dir / "model.pt", state)
    extra = {
        "pretrain_cache_hit": pre.cache_hit,
        "pretrain_checkpoint": str(pre.path),
        "pretrain_stages": pre.info.get("stages", {}),  # iterations, seconds, it/s per stage
        "dec_iterations": int(module.iteration),
        "dec_stopped_by": "tol" if stop.stopped_at is not None else "max_iter",
        "dec_target_updates": stop.n_updates,
        "dec_last_label_change": stop.tracker.history[-1] if stop.tracker.history else None,
        "update_interval": int(m.update_interval),
        "momentum_reset": bool(m.get("momentum_reset", False)),
        "kl_train": kl_fit,
        **({"kl_val": kl_val, "n_validation": len(val_data)} if val_data is not None else {}),
        **{f"ae_kmeans_{k}": v for k, v in init_metrics.items()},
        **{f"fast_{k}": v for k, v in vars(fast).items()},
    }
    return MethodOutput(
        labels=labels.astype(np.int64),
        embeddings=z.cpu().numpy(),
        soft=q.cpu().numpy(),
        extra=extra,
        model_path=model_path,
        reused_s=pre.reused_seconds,
        device=str(device),
    )


def split_validation(
    data: ClusterData, fraction: float | None, seed: int
) -> tuple[ClusterData, ClusterData | None]:
    """(fit part, held-out part or None): a seeded random split for DEC's generalizability.

    With a fraction, the autoencoder and DEC see only the fit part; the held-out part's KL
    loss gives G = L_train / L_validation (the paper's number-of-clusters study). The held-out
    rows' positions in ``data`` are in ``meta["index"]``.
    """
    if not fraction:
        return data, None
    if not 0.0 < float(fraction) < 1.0:
        raise UserError(f"method.validation_fraction must be in (0, 1), got {fraction}")
    n_val = max(1, round(len(data) * float(fraction)))
    order = np.random.default_rng([int(seed), 20160619]).permutation(len(data))
    val_index, fit_index = np.sort(order[:n_val]), np.sort(order[n_val:])
    val = data.take(val_index)
    val.meta = {**val.meta, "index": val_index}
    return data.take(fit_index), val


def load_encoder(checkpoint: dict, device: torch.device | str) -> SAE:
    """The trained encoder stored in a ``dec``/``ae_kmeans`` checkpoint (decoder left empty)."""
    sae = SAE.from_arch(checkpoint["arch"])
    sae.encoder.load_state_dict(checkpoint["encoder"])
    return sae.to(device).eval()


def predict(
    checkpoint: dict, data: ClusterData, device: torch.device | str = "cpu"
) -> MethodOutput:
    """Cluster new (already preprocessed) data with a saved DEC model: argmax of Q, the
    encoder in the arithmetic the run embedded with (``precision``: bf16 autocast or fp32)."""
    sae = load_encoder(checkpoint, device)
    x = to_device(data.features(), torch.device(device))
    centroids = checkpoint["centroids"].to(device)
    bf16 = checkpoint.get("precision", "fp32") == "bf16"  # as the run embedded its data
    with torch.no_grad():
        with autocast(bf16, torch.device(device)):
            z = batched(sae.encode, x, 4096).float()
        q = soft_assignment(z, centroids, float(checkpoint["alpha"]))
    return MethodOutput(
        labels=hard_labels(q).cpu().numpy().astype(np.int64),
        embeddings=z.cpu().numpy(),
        soft=q.cpu().numpy(),
    )
