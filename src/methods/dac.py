"""DAC and DAC* (Chang et al., ICCV 2017): ``method=dac`` / ``method=dac_star``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from src.data.base import ClusterData
from src.engine.context import RunContext
from src.engine.device import resolve_device
from src.engine.placement import fit_in_place, to_device
from src.engine.switches import apply_tf32, resolve_fast
from src.engine.trainer import leave_unless_rank_zero, make_trainer
from src.methods.base import MethodOutput
from src.methods.kmeans import nearest_centre
from src.methods.tactics import cluster_features
from src.models.convnets import build_convnet
from src.recording.checkpoints import save_checkpoint
from src.recording.metrics import evaluate


def run(cfg: DictConfig, data: ClusterData, ctx: RunContext) -> MethodOutput:
    """Train the ConvNet (DAC: until u ≤ l; DAC*: ``max_epochs``), then cluster."""
    m = cfg.method
    k = ctx.n_clusters
    with ctx.timer("setup"):  # Lightning's import, the net, the module, the Trainer
        from src.callbacks.dac import DACThresholdStop
        from src.callbacks.dac_resume import DACResume, config_fingerprint
        from src.modules.dac import DACModule

        images = data.images()
        device = resolve_device(cfg.trainer)
        fast = resolve_fast(cfg.get("fast"), device)
        apply_tf32(fast)
        net = build_convnet(cfg.arch, images.shape[1:], k)
        module = DACModule(net, to_device(images, device), m, fast)
        stop = DACThresholdStop(ctx.run_dir / "dac_history.csv", data.y)
        resume = DACResume(ctx.run_dir, config_fingerprint(cfg), stop)
        # a backstop only (the callback stops the run); CUDA graphs bypass Lightning's count
        max_steps = module.max_epochs * module.steps_per_epoch()
        trainer = make_trainer(cfg, ctx, max_steps, [stop, resume], phase="dac")
    with ctx.timer("train"):
        fit_in_place(trainer, module, device)
    resume.finished()
    leave_unless_rank_zero(trainer)  # DDP: the other processes only trained
    with ctx.timer("predict"):
        net = module.net
        probs, feats = module.predict_all()
        feats_np = feats.cpu().numpy()
    with ctx.timer("tactic"):
        labels, centroids = cluster_features(
            feats_np,
            k,
            str(m.tactic),
            ctx.seed,
            int(m.tactic_subsample),
            int(m.tactic_n_init),
            grow_neighbors=bool(m.tactic_grow_neighbors),
        )
        tactic_metrics = evaluate_tactics(feats_np, data, ctx, m)
    argmax_labels = feats_np.argmax(1)
    with ctx.timer("export"):
        model_path = save_model(
            cfg, ctx.run_dir, net, images.shape[1:], k, centroids, module.channels_last, fast.amp,
            module.pass_batch_size("eval", int(m.eval_batch_size)),
        )  # fmt: skip
    last = stop.history[-1] if stop.history else {}
    extra: dict[str, Any] = {
        "epochs": module.epochs_done,
        "steps": module.steps_taken,
        "stopped_by": stop.stopped_by or "max_steps",
        "final_lambda": last.get("lambda"),
        "final_upper": last.get("upper"),
        "final_lower": last.get("lower"),
        "final_selected_fraction": last.get("selected_fraction"),
        "tactic": str(m.tactic),
        "argmax_nonempty_clusters": int(len(np.unique(argmax_labels))),
        "cluster_sizes": np.bincount(labels, minlength=k).tolist(),
        "history_csv": str(ctx.run_dir / "dac_history.csv"),
        "processes": module.world[1],  # DDP: the processes that trained it (steps averaged)
        # an interrupted run carried on from its last finished epoch (src/callbacks/dac_resume.py)
        "resumed_from_epoch": resume.resumed_from_epoch,
        "train_s_before_resume": resume.earlier_train_s,
        # the switches the steps really used (fast_cuda_graphs false when compile took over)
        **{f"fast_{k_}": v for k_, v in vars(fast).items()},
        **{f"fast_{k_}": v for k_, v in module.switches().items()},
    }
    if tactic_metrics:
        extra["tactics"] = tactic_metrics
    return MethodOutput(
        labels=labels,
        embeddings=feats_np,
        soft=probs.cpu().numpy(),
        extra=extra,
        model_path=model_path,
        device=str(device),
    )


def save_model(
    cfg: DictConfig,
    run_dir: Path,
    net: torch.nn.Module,
    image_shape,
    k: int,
    centroids,
    channels_last: bool = False,
    bf16: bool = False,
    eval_batch_size: int | None = None,
) -> Path:
    """``model.pt``: the trained ConvNet (contiguous CPU weights) and how to cluster with it,
    including the batch, memory format and precision of the run's final pass (``predict`` repeats
    them, so that it gives the run's own labels)."""
    m = cfg.method
    checkpoint = {
        "method": m.name,
        "state_dict": {k_: v.cpu().contiguous() for k_, v in net.state_dict().items()},
        "arch": OmegaConf.to_container(cfg.arch, resolve=True),
        "image_shape": list(image_shape),
        "n_clusters": k,
        "tactic": str(m.tactic),
        "centroids": centroids,
        "eval_batch_size": int(eval_batch_size or m.eval_batch_size),
        "channels_last": bool(channels_last),
        "precision": "bf16" if bf16 else "fp32",
    }
    return save_checkpoint(Path(run_dir) / "model.pt", checkpoint)


def evaluate_tactics(
    feats: np.ndarray, data: ClusterData, ctx: RunContext, m: DictConfig
) -> dict[str, dict[str, float]]:
    """Table 3 from one trained network: ACC/NMI/ARI of every tactic in ``eval_tactics``.

    Reading the clusters off the same label features four ways costs seconds, retraining the
    network per tactic costs a full run, so the reproduction reads these instead.
    """
    if data.y is None:
        return {}
    out = {}
    for tactic in m.get("eval_tactics") or []:
        labels, _ = cluster_features(
            feats,
            ctx.n_clusters,
            str(tactic),
            ctx.seed,
            int(m.tactic_subsample),
            int(m.tactic_n_init),
            grow_neighbors=bool(m.tactic_grow_neighbors),
        )
        out[str(tactic)] = evaluate(data.y, labels)
    return out


def predict(checkpoint: dict, data: ClusterData, device: torch.device | str) -> MethodOutput:
    """Cluster new images with a trained DAC model (argmax, or nearest tactic centroid), in the
    memory format and precision of the run's final pass."""
    from src.modules.dac import predict_features

    arch = OmegaConf.create(checkpoint["arch"])
    images = data.images()
    net = build_convnet(arch, checkpoint["image_shape"], int(checkpoint["n_clusters"]))
    net.load_state_dict(checkpoint["state_dict"])
    device = torch.device(device)
    net.to(device)
    channels_last = bool(checkpoint.get("channels_last", False))
    if channels_last:
        net.to(memory_format=torch.channels_last)
    probs, feats = predict_features(
        net,
        to_device(images, device),
        checkpoint["eval_batch_size"],
        channels_last=channels_last,
        bf16=checkpoint.get("precision", "fp32") == "bf16",
    )
    feats_np = feats.cpu().numpy()
    centroids = checkpoint.get("centroids")
    if checkpoint.get("tactic", "argmax") == "argmax" or centroids is None:
        labels = feats_np.argmax(1).astype(np.int64)
    else:
        labels = nearest_centre(feats_np, np.asarray(centroids, dtype=np.float32))
    return MethodOutput(labels=labels, embeddings=feats_np, soft=probs.cpu().numpy())
