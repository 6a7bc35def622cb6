"""The SAE's pretraining stages run on one or several seeds at once (one batched model),
with resume after the last finished stage."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from src.core.io_utils import atomic_torch_save
from src.engine.chunks import chunk_plan, fit_chunks
from src.engine.context import RunContext
from src.engine.guard import check_finite_tensors
from src.engine.run_eta import sae_stage_work
from src.engine.switches import FastOptions
from src.models.sae import SAE, SAEStack, build_sae
from src.pretraining.module import SAEPretrainModule, stages


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
