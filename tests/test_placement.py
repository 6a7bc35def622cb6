"""Every phase runs with Lightning's accelerator teardown simulated (``tests/conftest.py``: after
each ``fit`` the module and optimiser state are moved to float64, as a GPU fit moves them to the
CPU). A phase that relied on where ``fit`` leaves a module would fail here with a dtype error,
as it crashed on CUDA. Small runs (300 digits, a few iterations per stage): wiring, not quality.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from lightning.pytorch.strategies.strategy import Strategy

from src.core.config_groups import CONF_DIR
from src.recording.provenance import device_name
from tests.helpers.runs import run_cached, short_kl

TINY_SAE = [
    "pretrain.layerwise_iters=6",
    "pretrain.finetune_iters=6",
    "dataset.subset=300",
    "method.n_init=2",
]
COMMON = ["logger=none", "plots=false", "progress_bar=false", "trainer=cpu"]


def run(tmp_path: Path, name: str, *overrides: str) -> dict:
    return run_cached(tmp_path, name, *COMMON, *overrides)


@pytest.fixture
def teardowns(monkeypatch):
    """Counts the (simulated) accelerator teardowns, i.e. the ``fit`` calls that ended."""
    count = {"n": 0}
    simulated = Strategy.teardown  # conftest's float64 teardown, already patched in

    def counting(self):
        count["n"] += 1
        simulated(self)

    monkeypatch.setattr(Strategy, "teardown", counting)
    return count


def assignments(path: Path) -> np.ndarray:
    with open(path) as f:
        return np.array([int(row["cluster"]) for row in csv.DictReader(f)])


def predicted_labels(run_dir: Path, out: Path) -> np.ndarray:
    from src.predict import execute as predict

    predict([f"ckpt={run_dir}", "data=digits", f"out={out}", "device=cpu"])
    return assignments(out / "assignments.csv")


def test_the_simulation_moves_a_module_that_fit_leaves_alone(tmp_path):
    """Sanity of the fixture: a bare ``trainer.fit`` leaves float64 behind; ``fit_in_place``
    puts the module and its optimiser state back in float32 on the run's device."""
    from omegaconf import OmegaConf

    from src.engine.chunks import chunk_loader, chunk_plan
    from src.engine.context import RunContext
    from src.engine.placement import fit_in_place
    from src.engine.switches import FastOptions
    from src.engine.trainer import make_trainer
    from src.models.sae import SAE, SAEStack
    from src.pretraining.module import SAEPretrainModule, stages

    cfg = OmegaConf.create(
        {
            "trainer": {"accelerator": "cpu", "devices": 1, "strategy": "auto", "precision": 32},
            "progress_bar": False,
        }
    )
    pre = OmegaConf.load(CONF_DIR / "pretrain" / "quick.yaml")
    pre = OmegaConf.merge(OmegaConf.load(CONF_DIR / "pretrain" / "paper.yaml"), pre)
    sae, x = SAEStack([SAE(6, [5, 4], 3)]), torch.randn(1, 40, 6)
    ctx = RunContext(tmp_path, tmp_path, 3, 0)
    for bare in (True, False):
        stage = stages(sae, pre)[0]
        module = SAEPretrainModule(sae, x, stage, pre, FastOptions(), seeds=[0])
        trainer = make_trainer(cfg, ctx, max_steps=-1, max_epochs=1)
        loader = chunk_loader(chunk_plan(3, 1))
        if bare:
            trainer.fit(module, train_dataloaders=loader)
            assert next(sae.parameters()).dtype == torch.float64
            sae.to(torch.float32)
        else:
            fit_in_place(trainer, module, torch.device("cpu"), train_dataloaders=loader)
            assert all(p.dtype == torch.float32 for p in sae.parameters())
            states = [v for s in module.opt.state.values() for k, v in s.items() if k != "step"]
            assert states and all(v.dtype == torch.float32 for v in states)


@pytest.mark.parametrize(
    ("method", "fits"),
    [("ae_kmeans", 5), ("dec", 6), ("dec_nobp", 6)],  # 4 greedy layers + fine-tuning (+ KL)
)
def test_dec_family_phases_and_predict_after_teardown(tmp_path, teardowns, method, fits):
    kl = short_kl(f"method={method}", max_iter=12, update_interval=4)
    result = run(tmp_path, method, f"method={method}", *TINY_SAE, *kl)
    assert teardowns["n"] == fits  # every stage really went through a (simulated) teardown
    assert result["device"] == device_name("cpu")
    assert all(np.isfinite(result["metrics"][m]) for m in ("acc", "nmi", "ari"))
    run_dir = tmp_path / method
    # src.predict on the run's own data gives the run's assignments back
    assert (predicted_labels(run_dir, tmp_path / "pred") == assignments(
        run_dir / "assignments.csv"
    )).all()  # fmt: skip


def test_sae_stages_resume_from_cache_after_teardown(tmp_path, teardowns):
    """A second method on the same data and seed loads the SAE (no fit) and then trains DEC."""
    run(tmp_path, "first", "method=ae_kmeans", *TINY_SAE)
    teardowns["n"] = 0
    kl = short_kl("method=dec", max_iter=12, update_interval=4)
    result = run(tmp_path, "second", "method=dec", *TINY_SAE, *kl)
    assert result["extra"]["pretrain_cache_hit"] is True
    assert teardowns["n"] == 1  # only the KL phase


def test_dac_train_predict_and_tactics_after_teardown(tmp_path, teardowns):
    result = run(
        tmp_path,
        "dac",
        "method=dac",
        "dataset.subset=256",
        "method.max_epochs=1",
        "method.augment=[]",
        "method.tactic=kmeans",
        "method.eval_tactics=[argmax,kmeans]",
    )
    assert teardowns["n"] == 1
    assert result["extra"]["steps"] > 0
    assert result["device"] == device_name("cpu")
    assert set(result["extra"]["tactics"]) == {"argmax", "kmeans"}
    run_dir = tmp_path / "dac"
    predicted = predicted_labels(run_dir, tmp_path / "pred")
    assert (predicted == assignments(run_dir / "assignments.csv")).all()
