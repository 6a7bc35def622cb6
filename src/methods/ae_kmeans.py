"""``method=ae_kmeans``: k-means on the pretrained SAE's embedding (DEC's AE+k-means row)."""

from __future__ import annotations

import torch
from omegaconf import DictConfig

from src.data.base import ClusterData
from src.engine.context import RunContext
from src.engine.device import resolve_device
from src.engine.inference import batched
from src.engine.placement import to_device
from src.engine.switches import apply_tf32, resolve_fast
from src.methods.base import MethodOutput
from src.methods.dec import load_encoder
from src.methods.kmeans import fit_kmeans, kmeans_message, nearest_centre
from src.pretraining.cache import pretrained_sae
from src.recording.checkpoints import save_checkpoint


def run(cfg: DictConfig, data: ClusterData, ctx: RunContext) -> MethodOutput:
    device = resolve_device(cfg.trainer)
    fast = resolve_fast(cfg.get("fast"), device)
    apply_tf32(fast)
    x = to_device(data.features(), device)
    pre = pretrained_sae(cfg, data, x, ctx, fast)
    with ctx.timer("kmeans"):
        z = batched(pre.sae.encode, x, fast.eval_batch_size).cpu().numpy()
        with ctx.status(kmeans_message(cfg.method.n_init, z, ctx.n_clusters)):
            _, centres, inertia = fit_kmeans(
                z, ctx.n_clusters, int(cfg.method.n_init), ctx.seed, int(cfg.method.max_iter)
            )
            labels = nearest_centre(z, centres)  # the rule predict() applies too
    state = {
        "method": cfg.method.name,
        "arch": pre.sae.arch(),
        "encoder": {k: v.detach().cpu() for k, v in pre.sae.encoder.state_dict().items()},
        "centroids": torch.from_numpy(centres),
        "pretrained_sae": str(pre.path),
    }
    model_path = save_checkpoint(ctx.run_dir / "model.pt", state)
    return MethodOutput(
        labels=labels,
        embeddings=z,
        extra={
            "inertia": inertia,
            "pretrain_cache_hit": pre.cache_hit,
            "pretrain_checkpoint": str(pre.path),
        },
        model_path=model_path,
        device=str(device),
        reused_s=pre.reused_seconds,
    )


def predict(
    checkpoint: dict, data: ClusterData, device: torch.device | str = "cpu"
) -> MethodOutput:
    """Nearest k-means centroid in the saved encoder's embedding: the rule :func:`run` assigns
    with (:func:`src.methods.kmeans.nearest_centre`, float64 on the CPU)."""
    sae = load_encoder(checkpoint, device)
    x = to_device(data.features(), torch.device(device))
    with torch.no_grad():
        z = batched(sae.encode, x, 4096).cpu().numpy()
    return MethodOutput(
        labels=nearest_centre(z, checkpoint["centroids"].cpu().numpy()), embeddings=z
    )
