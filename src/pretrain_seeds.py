"""``python -m src.pretrain_seeds seeds=0-4 [seed_batch=auto|N] [overrides]``: the SAEs of
several seeds, pretrained together.

Each seed's SAE is the one ``python -m src.run <overrides> seed=S`` would pretrain (its data,
init, batch stream and dropout masks), but the seeds train as one batched model
(``src.models.sae.SAEStack``: every matmul a ``baddbmm`` over the seeds, still one CUDA graph)
and each result goes to the SAE cache under the key its own run looks up, so the ``ae_kmeans``,
``dec_nobp`` and ``dec`` runs that follow find it there. On a GPU the SAE step is latency-bound
(tiny kernels), so S seeds take about the time of one; on the CPU there is no gain.
``seeds``: the harness's grammar (``0-4``, ``0,3,7``); ``seed_batch``: seeds per batched model
(``auto``: as many as fit in 80 % of the free GPU memory on CUDA, all on the CPU; at most
``MAX_SEED_BATCH``). Seeds already cached are reported and skipped.

The arguments are Hydra's ``key=value`` overrides of ``conf/pretrain_seeds.yaml`` (``src.run``'s
config plus ``seeds`` and ``seed_batch``), read and reported as ``src.run`` reads its own: one
line, exit 2, "did you mean" for a misspelt key, ``--cfg job`` to see them.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from src.core.config_groups import CONF_DIR, declaring
from src.core.errors import UserError, exit_with
from src.core.hydra_errors import run_hydra
from src.core.seeds import SEEDS_GRAMMAR, parse_seeds
from src.core.validation import Num

MAX_SEED_BATCH = 8
GPU_MEMORY_SHARE = 0.8


CONFIG_NAME = "pretrain_seeds"  # conf/pretrain_seeds.yaml: src.run's config + the keys below
COMMAND = "src.pretrain_seeds"
OWN_KEYS = ("seeds", "seed_batch")
SEED_BATCH = Num(int, 1, words=("auto",))


def _key(override: str) -> str:
    return override.partition("=")[0].lstrip("+~")


def hydra_argv(argv: list[str]) -> list[str]:
    """``argv`` as Hydra overrides: ``seeds=0,3,7`` (the harness's grammar, which Hydra would
    read as a sweep) quoted as one value."""
    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key == "seeds" and "," in value and not set(value) & set("[]'\"${}"):
            arg = f"seeds='{value}'"
        out.append(arg)
    return out


def seed_args(cfg: DictConfig, overrides: list[str]) -> tuple[list[int], str, list[str]]:
    """(seeds, seed_batch, each seed's ``src.run`` overrides) of a composed
    ``conf/pretrain_seeds.yaml`` and the overrides that composed it."""
    if seed := [o for o in overrides if _key(o) == "seed"]:
        raise UserError(f"{seed[0]}: give the seeds as seeds=LIST ({SEEDS_GRAMMAR})")
    if OmegaConf.is_missing(cfg, "seeds") or cfg.seeds is None:
        raise UserError(f"say which seeds to pretrain: seeds=LIST ({SEEDS_GRAMMAR})")
    text = cfg.seeds
    text = ",".join(map(str, text)) if OmegaConf.is_list(text) else str(text)
    seeds = parse_seeds(text, "seeds=")
    batch = cfg.seed_batch
    if not SEED_BATCH.accepts(batch):
        raise UserError(f"seed_batch={batch!r} is invalid: use {SEED_BATCH.describe()}")
    run_overrides = [o for o in overrides if _key(o) not in OWN_KEYS]
    return seeds, str(batch), run_overrides


def bytes_per_seed(x: torch.Tensor, cfg: DictConfig) -> int:
    """Device memory one more seed needs: its copy of the data, a stage's input (the widest
    layer) and the pass that computes it (the weights are a few MB)."""
    n, d = x.shape
    widest = max([int(h) for h in cfg.arch.hidden_dims] + [int(cfg.arch.embedding_dim)])
    return 4 * n * (d + 2 * widest)


def seed_batch_size(batch: str, n_seeds: int, per_seed: int, device: torch.device) -> int:
    """Seeds per batched model: ``batch`` as given, or ``auto`` (see the module docstring)."""
    if batch != "auto":
        return max(1, min(int(batch), n_seeds))
    size = min(MAX_SEED_BATCH, n_seeds)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        size = min(size, int(free * GPU_MEMORY_SHARE // max(1, per_seed)))
    return max(1, size)


def compose_runs(overrides: list[str], seeds: list[int]) -> list[DictConfig]:
    """Each seed's run config, composed as ``python -m src.run`` composes it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from src.core.config_groups import check_group_overrides
    from src.core.validation import device_problems, numeric_problems

    if complaint := check_group_overrides(overrides):
        raise UserError(complaint)
    try:
        if GlobalHydra.instance().is_initialized():  # inside python -m src.pretrain_seeds
            cfgs = [compose("config", overrides=[*overrides, f"seed={s}"]) for s in seeds]
        else:
            with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
                cfgs = [compose("config", overrides=[*overrides, f"seed={s}"]) for s in seeds]
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"{str(exc).splitlines()[0]}; check the overrides") from None
    if problems := numeric_problems(cfgs[0]) + device_problems(cfgs[0]):
        raise UserError("\n".join(problems))
    if not cfgs[0].method.get("uses_sae", False):
        raise UserError(
            f"method={cfgs[0].method.name} pretrains no SAE; use one of {', '.join(declaring('method', 'uses_sae'))}"
        )
    return cfgs


def pretrain_seeds(overrides: list[str], seeds: list[int], batch: str = "auto",
                   say=print) -> list:  # fmt: skip
    """Pretrain (or find cached) the SAE of every seed; returns their ``PretrainedSAE``s."""
    from src.data import build_data
    from src.engine.context import RunContext
    from src.engine.device import resolve_device
    from src.engine.placement import to_device
    from src.engine.switches import apply_tf32, resolve_fast
    from src.methods.dec import split_validation
    from src.pretraining.cache import pretrained_saes

    cfgs = compose_runs(overrides, seeds)
    device = resolve_device(cfgs[0].trainer)
    fast = resolve_fast(cfgs[0].get("fast"), device)
    apply_tf32(fast)
    datas, xs, arrays = [], [], []
    for cfg in cfgs:
        data = build_data(cfg)
        fit, _ = split_validation(data, cfg.method.get("validation_fraction"), int(cfg.seed))
        arr = fit.features()
        same = next((i for i, a in enumerate(arrays) if np.array_equal(a, arr)), None)
        datas.append(fit)
        arrays.append(arr)
        xs.append(xs[same] if same is not None else to_device(arr, device))  # shared: one copy
    size = seed_batch_size(batch, len(seeds), bytes_per_seed(xs[0], cfgs[0]), device)
    by_shape: dict[tuple, list[int]] = {}
    for i, x in enumerate(xs):
        by_shape.setdefault(tuple(x.shape), []).append(i)
    results: list = [None] * len(seeds)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pretrain_seeds-") as run_dir:
        ctx = RunContext(Path(run_dir), Path(cfgs[0].cache_dir), 0, seeds[0],
                         progress=bool(cfgs[0].get("progress_bar", True)))  # fmt: skip
        for members in by_shape.values():
            for k in range(0, len(members), size):
                part = members[k : k + size]
                pres = pretrained_saes([cfgs[i] for i in part], [datas[i] for i in part],
                                       [xs[i] for i in part], ctx, fast)  # fmt: skip
                for i, pre in zip(part, pres, strict=True):
                    results[i] = pre
                    how = "cached already" if pre.cache_hit else "pretrained"
                    batch_of = pre.info.get("seed_batch")
                    if not pre.cache_hit and batch_of:
                        how += f" with seeds {','.join(map(str, batch_of))}"
                    say(f"seed {seeds[i]}: {how} → {pre.path}")
    seconds = time.perf_counter() - started
    trained = sum(not r.cache_hit for r in results)
    say(f"{trained} SAEs pretrained, {len(seeds) - trained} cached already, in {seconds:.1f} s "
        f"on {device.type} (at most {size} seeds at once)")  # fmt: skip
    return results


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=CONFIG_NAME)
def hydra_entry(cfg: DictConfig) -> None:
    """Hydra's task function: each seed's run composed from the same overrides, pretrained."""
    from hydra.core.hydra_config import HydraConfig

    from src.core.validation import added_key_problems

    overrides = list(HydraConfig.get().overrides.task)
    try:
        if problems := added_key_problems(cfg, overrides, COMMAND):
            raise UserError("\n".join(problems))
        seeds, batch, run_overrides = seed_args(cfg, overrides)
        pretrain_seeds(run_overrides, seeds, batch)
    except UserError as exc:
        if cfg.get("debug"):
            raise
        exit_with(exc)


def main(argv: list[str] | None = None) -> int:
    """``python -m src.pretrain_seeds key=value ...`` (``argv``: the arguments, default the
    command line's): a group that names no choice is refused before Hydra, as ``src.run``."""
    from src.core.config_groups import check_group_overrides

    argv = sys.argv[1:] if argv is None else argv
    if complaint := check_group_overrides(argv):
        exit_with(UserError(complaint))
    run_hydra(hydra_entry, hydra_argv(argv), CONFIG_NAME, COMMAND)
    return 0


if __name__ == "__main__":
    sys.exit(main())
