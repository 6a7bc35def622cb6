"""The order runs go in and how they are spread over workers.

Runs that may share a pretrained SAE (``ae_kmeans``, ``dec_nobp`` and ``dec`` on one data set
and seed: the SAE cache key is the data, seed, arch and schedule) run back to back, seed-major
inside a data set, so a window that ends early has finished whole seeds (DEC included) rather
than every seed's pretraining. For parallel workers the runs are cut into **seed groups** (one
data set, one seed): a group is run in order by one worker, groups in parallel. Two runs of
different groups never share an SAE cache file (its key holds the data set and the seed), so no
SAE is pretrained twice and no two processes write one cache file.
"""

from __future__ import annotations

import os
import subprocess
from itertools import groupby

from src.core.errors import UserError
from src.reproduce.spec import Run
from src.reproduce.store import override_key

# Overrides that change a run but not the SAE it pretrains (everything else may, e.g.
# dataset.subset, pretrain.*, arch.*, method.validation_fraction: DEC pretrains on the rest).
_SAE_NEUTRAL = ("method", "seed", "n_clusters")
_SAE_INPUT = ("method.validation_fraction",)

# --jobs auto on CUDA: GPU memory set aside per run (CUDA context ≈ 0.5 GiB, MNIST on the device
# 0.2 GiB, DAC's activations at batch 1000 ≈ 1 GiB; generous so that concurrent runs never run
# out), CPU cores per run (one drives the GPU, one for k-means and the data), and a cap.
GPU_GIB_PER_RUN = 4.0
CPUS_PER_RUN = 2
MAX_AUTO_JOBS = 8


def sae_signature(run: Run) -> tuple[str, ...]:
    """The overrides that could change the pretrained SAE of ``run`` (beyond data set and seed)."""
    kept = []
    for o in run.overrides:
        key = override_key(o)
        if key in _SAE_INPUT or not (key in _SAE_NEUTRAL or key.startswith("method.")):
            kept.append(o)
    return tuple(sorted(kept))


def order_runs(runs: list[Run]) -> list[Run]:
    """Data set by data set, seed by seed; inside a seed, runs with one SAE signature together
    (so ae_kmeans, dec_nobp and dec that share a pretrained SAE run back to back)."""
    first_dataset: dict[str, int] = {}
    first_signature: dict[tuple, int] = {}
    for r in runs:
        first_dataset.setdefault(r.dataset, len(first_dataset))
        first_signature.setdefault(sae_signature(r), len(first_signature))
    indexed = list(enumerate(runs))
    indexed.sort(
        key=lambda ir: (
            first_dataset[ir[1].dataset],
            ir[1].seed,
            first_signature[sae_signature(ir[1])],
            ir[0],
        )
    )
    return [r for _, r in indexed]


def seed_groups(runs: list[Run]) -> list[list[Run]]:
    """Consecutive runs of one (data set, seed), in the order given (see ``order_runs``)."""
    ordered = order_runs(runs)
    return [list(g) for _, g in groupby(ordered, key=lambda r: (r.dataset, r.seed))]


def parse_jobs(text: str) -> int | None:
    """``--jobs``: a positive count, or None for ``auto``."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"--jobs {text!r}: use a positive count, e.g. --jobs 4, or --jobs auto")
    return int(text)


def resolve_jobs(jobs: int | None, runs: list[Run]) -> int:
    """The number of workers: ``jobs`` as given, or for ``auto`` (None): on CUDA from free GPU
    memory and the CPU count, on the CPU (no CUDA, or every run has ``trainer=cpu``) 1."""
    if jobs is not None:
        return jobs
    if runs and all("trainer=cpu" in r.overrides for r in runs):
        return 1
    import torch

    if not torch.cuda.is_available():
        return 1
    by_memory = int(free_gpu_gib() // GPU_GIB_PER_RUN)
    by_cpu = (os.cpu_count() or 1) // CPUS_PER_RUN
    return max(1, min(by_memory, by_cpu, MAX_AUTO_JOBS))


def free_gpu_gib() -> float:
    """Free memory of the first visible GPU, from ``nvidia-smi`` (the harness then holds no CUDA
    context of its own), else from torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
    cmd = ["nvidia-smi", "--query-gpu=memory.free", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run([*cmd, "-i", visible or "0"], capture_output=True, text=True,
                             timeout=30, check=True).stdout  # fmt: skip
        return float(out.split()[0]) / 1024  # MiB
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return free / 2**30
