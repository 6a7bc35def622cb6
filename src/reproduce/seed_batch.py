"""Before the runs: the SAEs of a data set's seeds pretrained together (``--seed-batch``).

On a GPU the SAE step is latency-bound, so ``python -m src.pretrain_seeds`` trains the SAEs of
several seeds as one batched model in about the time of one, and writes each into the SAE
cache under the key its own runs look up; the per-seed runs (``ae_kmeans``, ``dec_nobp``,
``dec``) that follow find them there. ``auto`` does this on CUDA only (on the CPU batching saves
nothing); ``off`` never; a count ``N`` always (at most ``N`` seeds per model, CPU included). A
failed batched pretraining is reported and left to the runs: each pretrains its own SAE.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from src.core.config_groups import declaring
from src.core.errors import UserError
from src.reproduce.schedule import order_runs, sae_signature
from src.reproduce.spec import Run
from src.reproduce.store import Store, config_key, override_key


def parse_seed_batch(text: str) -> str:
    """``--seed-batch``: ``auto``, ``off`` or a count ≥ 1 (``1`` is ``off``)."""
    if text in ("auto", "off"):
        return text
    if not text.isdigit() or int(text) < 1:
        raise UserError(
            f"--seed-batch {text!r}: use auto (on CUDA), off, or a count of seeds per model, "
            "e.g. --seed-batch 5"
        )
    return "off" if int(text) == 1 else text


def resolve_seed_batch(option: str, runs: list[Run]) -> str | None:
    """The ``seed_batch=`` value for ``src.pretrain_seeds``, or None to leave pretraining to
    the runs: ``auto`` needs CUDA and a run not pinned to the CPU."""
    if option == "off":
        return None
    if option != "auto":
        return option
    if not [r for r in runs if "trainer=cpu" not in r.overrides]:
        return None
    import torch

    return "auto" if torch.cuda.is_available() else None


def seed_batch_jobs(runs: list[Run], skip_cpu: bool = False) -> list[tuple[list[str], list[int]]]:
    """``(overrides without the seed, seeds)`` for each set of ≥ 2 seeds whose runs pretrain
    one SAE schedule: per (SAE signature, seed) the first run in the harness's order, seeds
    whose first runs differ only in the seed together. ``skip_cpu``: leave out ``trainer=cpu``."""
    first: dict[tuple, dict[int, Run]] = {}
    sae_methods = declaring("method", "uses_sae")  # conf/method/*.yaml: uses_sae: true
    for r in order_runs(runs):
        if r.method in sae_methods and not (skip_cpu and "trainer=cpu" in r.overrides):
            first.setdefault(sae_signature(r), {}).setdefault(r.seed, r)
    jobs: dict[tuple[str, ...], list[int]] = {}
    for by_seed in first.values():
        for seed, r in by_seed.items():
            base = tuple(o for o in r.overrides if override_key(o) != "seed")
            jobs.setdefault(base, []).append(seed)
    return [(list(base), seeds) for base, seeds in jobs.items() if len(seeds) > 1]


def pretrain_together(
    runs: list[Run],
    store: Store,
    seed_batch: str,
    say: Callable[[str], None] = print,
    command: str = "",
) -> float:
    """Run ``src.pretrain_seeds`` for every set of :func:`seed_batch_jobs`, one after the other
    (each uses the whole device); the log goes to ``<store>/pretrain/<key>.log`` and one
    ``pretrain`` (or ``pretrain_failed``) event per seed to the executions log. Returns the
    seconds spent."""
    from src.reproduce.launch import _last_error, run_logged

    total = 0.0
    for overrides, seeds in seed_batch_jobs(runs, skip_cpu=seed_batch == "auto"):
        listed = ",".join(map(str, seeds))
        cmd = [sys.executable, "-m", "src.pretrain_seeds", *overrides, f"seeds={listed}",
               f"seed_batch={seed_batch}"]  # fmt: skip
        log = store.root / "pretrain" / f"{config_key(overrides)}.log"
        say(f"pretraining the SAEs of seeds {listed} together | {' '.join(overrides)}")
        returncode, seconds = run_logged(cmd, log)
        total += seconds
        ok = returncode == 0
        for seed in seeds:
            store.log("pretrain" if ok else "pretrain_failed", [*overrides, f"seed={seed}"],
                      seed, seeds=seeds, seconds=seconds, seed_batch=seed_batch,
                      command=command, log=str(log))  # fmt: skip
        if ok:
            say(f"  done in {seconds:.1f} s")
        else:
            say(f"  failed ({_last_error(log)}; log {log}); each run pretrains its own SAE")
    return total
