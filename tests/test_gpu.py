"""Every CUDA path, briefly (``pytest -m gpu``; skipped without CUDA, so CI on the CPU reports
them as skipped). ``scripts/gpu_session.sh`` runs these first on a lent GPU machine and stops
if one fails: DEC with CUDA graphs (``fast=auto``) and eager (``fast=off``), DEC w/o backprop,
AE+k-means, DAC, ``src.predict`` on CUDA, the reproduction harness through the ``local`` and
``batch`` launchers with hydra/omegaconf reachable only through PYTHONPATH (as the runbook
installs them into ``/tmp/site``), and the device named in ``result.json``.
"""

from __future__ import annotations

import csv
import json
import os
import site
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from src.core.config_groups import CONF_DIR
from tests.helpers.runs import run_cached, short_kl

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
]

REPO = CONF_DIR.parent
GPU = ["trainer=gpu", "logger=none", "plots=false", "progress_bar=false"]
TINY_SAE = [
    "pretrain.layerwise_iters=50",
    "pretrain.finetune_iters=50",
    "dataset.subset=500",
    "method.n_init=2",
]
PYTHONPATH_ONLY = ("hydra", "omegaconf", "antlr4")  # what the GPU machine lacks (runbook)


def cuda_name() -> str:
    return torch.cuda.get_device_name(torch.cuda.current_device())


def run(tmp_path: Path, name: str, *overrides: str) -> dict:
    return run_cached(tmp_path, name, *GPU, *overrides)


def assignments(path: Path) -> np.ndarray:
    with open(path) as f:
        return np.array([int(row["cluster"]) for row in csv.DictReader(f)])


def predict_on_cuda(run_dir: Path, out: Path) -> np.ndarray:
    from src.predict import execute as predict

    record = predict([f"ckpt={run_dir}", "data=digits", f"out={out}", "device=cuda"])
    assert record["n_samples"] > 0
    return assignments(out / "assignments.csv")


def check_result(result: dict) -> None:
    assert result["device"] == cuda_name()  # not "CPU (…)": the device that trained
    assert all(np.isfinite(result["metrics"][m]) for m in ("acc", "nmi", "ari"))


@pytest.mark.parametrize("fast", ["auto", "off"])
def test_dec_on_cuda_quick_schedule_with_a_floor(tmp_path, cli, fast):
    """``python -m src.run`` (DEC on digits, quick schedule) on CUDA: CUDA graphs or eager."""
    proc = cli(
        *GPU,
        f"fast={fast}",
        f"cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    check_result(result)
    assert result["extra"]["fast_cuda_graphs"] is (fast == "auto")
    assert result["extra"]["fast_steps_per_call"] == (200 if fast == "auto" else 1)
    assert result["metrics"]["acc"] >= 0.65 and result["metrics"]["nmi"] >= 0.6  # CPU floor
    predicted = predict_on_cuda(tmp_path / "run", tmp_path / "pred")
    assert (predicted == assignments(tmp_path / "run" / "assignments.csv")).all()


def test_dec_family_share_the_sae_and_predict_on_cuda(tmp_path):
    for method in ("ae_kmeans", "dec_nobp", "dec"):
        kl = short_kl(f"method={method}", max_iter=200, update_interval=20)
        result = run(tmp_path, method, f"method={method}", *TINY_SAE, *kl)
        check_result(result)
        assert result["extra"]["pretrain_cache_hit"] is (method != "ae_kmeans")
        predicted = predict_on_cuda(tmp_path / method, tmp_path / f"pred-{method}")
        assert (predicted == assignments(tmp_path / method / "assignments.csv")).all()


def test_dac_on_cuda_and_predict(tmp_path):
    result = run(
        tmp_path,
        "dac",
        "method=dac",
        "dataset.subset=1000",
        "method.max_epochs=2",
        "method.eval_tactics=[argmax,kmeans]",
    )
    assert result["extra"]["steps"] > 0
    assert result["device"] == cuda_name()
    assert all(np.isfinite(result["metrics"][m]) for m in ("acc", "nmi", "ari"))
    predicted = predict_on_cuda(tmp_path / "dac", tmp_path / "pred")
    assert (predicted == assignments(tmp_path / "dac" / "assignments.csv")).all()


def test_divergence_guard_on_cuda(tmp_path):
    """The guard reads the loss once per 200-iteration chunk on CUDA (CUDA graphs on)."""
    from src.engine.guard import DivergenceError

    with pytest.raises(DivergenceError, match="SAE pretraining stage layer0 diverged"):
        run(tmp_path, "diverge", "method=ae_kmeans", "pretrain.lr=1e6", *TINY_SAE[2:])
    assert not list((tmp_path / "cache").rglob("*.pt"))


def python_without(tmp_path: Path, hidden: tuple[str, ...]) -> tuple[Path, Path]:
    """(an interpreter that sees this environment's packages except ``hidden``, a folder holding
    only ``hidden``): the GPU machine after the runbook, whose hydra/omegaconf are reachable
    only through ``PYTHONPATH=/tmp/site``. Children started with ``sys.executable`` inherit it.
    ``hidden`` packages are taken from site-packages or wherever they are imported from now
    (e.g. the runbook's ``/tmp/site``)."""
    import importlib.util

    venv, deps, only = tmp_path / "venv", tmp_path / "deps", tmp_path / "site"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps.mkdir()
    only.mkdir()

    def link(entry: Path, folder: Path) -> None:
        if not (folder / entry.name).exists():
            (folder / entry.name).symlink_to(entry)

    for root in map(Path, site.getsitepackages()):
        if not root.is_dir():  # e.g. a venv's .../local/lib/python3.12/dist-packages, never made
            continue
        for entry in root.iterdir():
            if entry.suffix != ".pth" and not entry.name.startswith("__"):
                link(entry, only if entry.name.lower().startswith(hidden) else deps)
    for name in hidden:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, f"{name} is not importable here"
        package = Path(spec.origin).parent
        link(package, only)
        for info in package.parent.glob(f"{name}*.dist-info"):
            link(info, only)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    (venv / "lib" / version / "site-packages" / "deps.pth").write_text(f"{deps}\n")
    return venv / "bin" / "python", only


@pytest.mark.parametrize("launcher", ["local", "batch"])
def test_reproduce_smoke_with_dependencies_only_on_pythonpath(tmp_path, launcher):
    python, only = python_without(tmp_path, PYTHONPATH_ONLY)
    env = {
        **os.environ,
        "PYTHONPATH": f"{only}{os.pathsep}{REPO}",
        "WANDB_MODE": "disabled",
    }
    hidden = subprocess.run([python, "-c", "import hydra"], env={**env, "PYTHONPATH": str(REPO)},
                            capture_output=True)  # fmt: skip
    assert hidden.returncode != 0  # the simulation hides hydra outside PYTHONPATH
    store, out = tmp_path / "store", tmp_path / "out"
    proc = subprocess.run(
        [str(python), "-m", "scripts.reproduce", "--profile", "smoke", "--tables", "dec_table2",
         "--datasets", "digits", "--launcher", launcher, "--store", str(store), "--out", str(out),
         "--no-readme", "trainer=gpu"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = [json.loads(p.read_text()) for p in store.glob("*/seed*/result.json")]
    assert len(results) == 8  # 4 methods × 2 seeds, none failed
    trained = [r for r in results if r["method"] != "kmeans"]
    assert trained and all(r["device"] == cuda_name() for r in trained)
    table = (out / "tables" / "dec_table2.csv").read_text()
    assert cuda_name() in table
