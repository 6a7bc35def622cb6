"""Issue 19, "one way each" and "one dialect": one device rule, one metrics line (the harness
reads ``result.json``), one checkpoint schema, one assignment rule for AE+k-means, two profile
classes named for their jobs, and the same ``key=value`` grammar and one-line errors for every
``python -m src.*`` entry point."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf

from src.core.errors import UserError
from tests.helpers import REPO
from tests.helpers.runs import run_cached

# ---------------------------------------------------------------- one device rule


def test_resolve_device_is_defined_once_and_used_by_predict():
    defined = [
        path
        for path in (REPO / "src").rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef) and node.name == "resolve_device"
    ]
    assert defined == [REPO / "src" / "engine" / "device.py"]
    assert "from src.engine.device import resolve_device" in (REPO / "src/predict.py").read_text()


@pytest.mark.parametrize("cuda", [True, False])
def test_one_device_rule_for_trainer_configs_and_device_names(monkeypatch, cuda):
    from src.engine.device import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    auto = torch.device("cuda" if cuda else "cpu")
    trainer = lambda acc: OmegaConf.create({"accelerator": acc})  # noqa: E731
    assert resolve_device(trainer("auto")) == resolve_device("auto") == auto
    assert resolve_device(None) == resolve_device("") == auto
    assert resolve_device(trainer("cpu")) == resolve_device("cpu") == torch.device("cpu")
    if cuda:
        assert resolve_device(trainer("gpu")) == resolve_device("cuda") == torch.device("cuda")
        assert resolve_device("cuda:1") == torch.device("cuda:1")
    else:
        with pytest.raises(UserError, match="trainer.accelerator=gpu but no CUDA device"):
            resolve_device(trainer("gpu"))
        with pytest.raises(UserError, match="device=cuda:1 but no CUDA device.*device=cpu"):
            resolve_device("cuda:1")
    with pytest.raises(UserError, match=r"device='tpu' is invalid: use auto, cpu, cuda"):
        resolve_device("tpu")


# ---------------------------------------------------------------- one metrics line


def test_metrics_line_labelled_and_label_free():
    from src.recording.metrics import metrics_line

    labelled = {"metrics": {"acc": 0.81234, "nmi": 0.7, "ari": 0.654321, "silhouette": 0.2}}
    assert metrics_line(labelled) == "ACC 0.8123  NMI 0.7000  ARI 0.6543"
    run = {"metrics": {"silhouette": 0.25}, "internal": {"silhouette": 0.25}}
    assert metrics_line(run) == "no labels: ACC/NMI/ARI skipped; silhouette 0.2500"
    assert metrics_line({"metrics": {}, "internal": {"silhouette": None}}).endswith("n/a")
    assert metrics_line({"metrics": {}}) == "no labels: ACC/NMI/ARI skipped"  # a prediction


def test_run_and_predict_lines_start_with_the_metrics_line():
    from src.data import ClusterData
    from src.predict import summary
    from src.recording.metrics import metrics_line
    from src.run import summary_line

    result = {"metrics": {"acc": 0.5, "nmi": 0.25, "ari": 0.125}, "wall_time_s": {"total": 2.0}}
    data = ClusterData("toy", np.zeros((4, 2), np.float32), np.array([0, 1, 0, 1]))
    line = summary_line("kmeans", result, data, 2, 0)
    assert line == f"{metrics_line(result)}  | kmeans on toy (n=4, k=2, seed=0) in 2.0 s"
    record = {**result, "method": "kmeans", "n_samples": 4, "data": "toy", "wall_time_s": 1.0,
              "cluster_sizes": [2, 2], "outputs": {"assignments": "a.csv"}}  # fmt: skip
    assert summary(record).startswith(metrics_line(record) + "  | kmeans predicted 4 samples")


def test_harness_reads_the_metrics_line_from_result_json_not_the_log(tmp_path):
    import json

    from src.reproduce.launch import _summary
    from src.reproduce.spec import Run
    from src.reproduce.store import Store

    store = Store(tmp_path / "store")
    run = Run("t", "digits", "kmeans", None, 0, ("method=kmeans", "dataset=digits", "seed=0"))
    run_dir = store.run_dir(list(run.overrides), run.seed)
    run_dir.mkdir(parents=True)
    (run_dir / "run.log").write_text("ACC 0.1111  NMI 0.2222  ARI 0.3333  | stale line\n")
    assert _summary(store, run) == ""  # no result.json: nothing, whatever the log says
    result = {"metrics": {"acc": 0.5, "nmi": 0.25, "ari": 0.125}}
    (run_dir / "result.json").write_text(json.dumps(result))
    assert _summary(store, run) == "ACC 0.5000  NMI 0.2500  ARI 0.1250"
    launch_src = (REPO / "src/reproduce/launch.py").read_text()
    assert 'startswith(("ACC ' not in launch_src  # no scraping of run.log


# ---------------------------------------------------------------- one assignment rule


def test_nearest_centre_gives_sklearns_labels():
    """The one rule reproduces sklearn's own k-means labels (the numbers do not change)."""
    from src.methods.kmeans import fit_kmeans, nearest_centre

    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(c, 1.0, (200, 10)) for c in range(5)]).astype(np.float32)
    labels, centres, _ = fit_kmeans(z, 5, 3, 0)
    assert np.array_equal(nearest_centre(z, centres), labels)


def test_ae_kmeans_run_and_predict_assign_with_one_rule(tmp_path, monkeypatch):
    """``run`` and ``predict`` both call ``nearest_centre`` on the embedding; the run's labels
    are sklearn's, and predict on the run's data gives them back."""
    import src.methods.ae_kmeans as ae_kmeans
    from src.predict import execute

    sklearn_labels, rule_calls = [], []
    real_fit, real_rule = ae_kmeans.fit_kmeans, ae_kmeans.nearest_centre

    def fit(*args, **kwargs):
        out = real_fit(*args, **kwargs)
        sklearn_labels.append(out[0])
        return out

    def rule(z, centres):
        rule_calls.append(len(z))
        return real_rule(z, centres)

    monkeypatch.setattr(ae_kmeans, "fit_kmeans", fit)
    monkeypatch.setattr(ae_kmeans, "nearest_centre", rule)
    monkeypatch.setattr(torch, "cdist", lambda *a, **k: pytest.fail("a second rule"))
    small = ["method=ae_kmeans", "dataset=digits", "dataset.subset=300", "pretrain=quick",
             "pretrain.layerwise_iters=20", "pretrain.finetune_iters=20", "method.n_init=2",
             "logger=none", "plots=false", "export.embeddings=never"]  # fmt: skip
    run_cached(tmp_path, "ae", *small)
    trained = pd.read_csv(tmp_path / "ae" / "assignments.csv")["cluster"].to_numpy()
    assert np.array_equal(trained, sklearn_labels[0])
    execute([f"ckpt={tmp_path / 'ae'}", "data=digits", f"out={tmp_path / 'pred'}"])
    predicted = pd.read_csv(tmp_path / "pred" / "assignments.csv")["cluster"].to_numpy()
    assert np.array_equal(predicted, trained)
    assert rule_calls == [300, 300]  # once in run, once in predict


# ---------------------------------------------------------------- two profiles, two names


def test_bench_and_reproduction_profiles_are_named_apart():
    import src.bench.profiles as bench
    import src.reproduce.spec as spec
    from src.core.config_groups import options

    assert not hasattr(bench, "Profile") and "BenchProfile" in (spec.Profile.__doc__ or "")
    assert all(isinstance(p, bench.BenchProfile) for p in bench.PROFILES.values())
    # the one link between them: a bench's table part names a reproduction profile
    for profile in bench.PROFILES.values():
        assert profile.table.profile in options("reproduce/profile")


# ---------------------------------------------------------------- one dialect


def entry(module: str, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": pythonpath, "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# (module, the arguments every call needs, a key of its own config to misspell)
ENTRIES = [
    ("src.run", ["method=kmeans", "logger=none"], "plots"),
    ("src.predict", ["ckpt=nowhere", "data=digits"], "device"),
    ("src.pretrain_seeds", ["seeds=0-1", "method=dec"], "seed_batch"),
]


@pytest.mark.parametrize(("module", "base", "key"), ENTRIES, ids=[e[0] for e in ENTRIES])
def test_every_entry_point_reports_hydra_errors_the_same_way(tmp_path, module, base, key):
    misspelt = key[:-1] + "x" + key[-1]  # plots → plotxs, device → devicxe
    line = one_error_line(entry(module, *base, f"{misspelt}=1", cwd=tmp_path))
    assert line == f"error: {misspelt} is not a config key; did you mean {key}?"
    line = one_error_line(entry(module, *base, "nosuchkeyatall=1", cwd=tmp_path))
    assert line == (
        f"error: nosuchkeyatall is not a config key; `python -m {module} --cfg job` lists the keys"
    )
    line = one_error_line(entry(module, *base, "x=[1", cwd=tmp_path))
    assert line.startswith("error: cannot parse the override 'x=[1' (")
    line = one_error_line(entry(module, *base, "+extra=1", cwd=tmp_path))
    assert line == (
        f"error: +extra: unknown key, nothing reads it; remove it (`python -m {module} --cfg "
        "job` lists keys)"
    )
    if module != "src.run":  # (src.run's run folder and run.log hold its errors too)
        assert list(tmp_path.iterdir()) == []  # nothing written: no log file, no folder


def test_bad_values_are_one_line_in_the_shared_format(tmp_path):
    from src.core.validation import Num

    line = one_error_line(entry("src.pretrain_seeds", "seeds=0-1", "seed_batch=0", cwd=tmp_path))
    assert line == f"error: seed_batch=0 is invalid: use {Num(int, 1, words=('auto',)).describe()}"
    line = one_error_line(entry("src.predict", "ckpt=x", "data=digits", "device=tpu", cwd=tmp_path))
    assert line == "error: device='tpu' is invalid: use auto, cpu, cuda (or gpu) or cuda:N"
    # the same bad value says the same thing through src.run and src.pretrain_seeds
    run = one_error_line(entry("src.run", "pretrain.lr=-1", cwd=tmp_path))
    seeds = one_error_line(entry("src.pretrain_seeds", "seeds=0-1", "pretrain.lr=-1", cwd=tmp_path))
    assert run == seeds == "error: pretrain.lr=-1 is invalid: use a number > 0"


def test_predict_checks_dataset_overrides_as_src_run_does(tmp_path):
    from tests.helpers.runs import run_in_process

    run_in_process(tmp_path / "km", "dataset=digits", "plots=false", "export.embeddings=never")
    from src.predict import execute

    ckpt = f"ckpt={tmp_path / 'km'}"
    with pytest.raises(UserError, match=r"^dataset\.sbset is not a config key; did you mean "):
        execute([ckpt, "data=digits", "dataset.sbset=100"])
    with pytest.raises(UserError, match=r"^dataset\.subset=1 is invalid: use an integer ≥ 2"):
        execute([ckpt, "data=digits", "dataset.subset=1"])
    record = execute([ckpt, "data=digits", "dataset.subset=100", f"out={tmp_path / 'p'}"])
    assert record["n_samples"] == 100


def test_documented_commands_keep_working(tmp_path):
    """README: ``src.predict ckpt=… data=…`` and ``src.pretrain_seeds seeds=…`` (the harness
    passes seeds as ``0,1``, a comma list Hydra would otherwise read as a sweep)."""
    from src.pretrain_seeds import main as pretrain_main

    small = ["method=ae_kmeans", "dataset=digits", "dataset.subset=200", "pretrain=quick",
             "pretrain.layerwise_iters=10", "pretrain.finetune_iters=10", "progress_bar=false",
             f"cache_dir={tmp_path / 'cache'}"]  # fmt: skip
    assert pretrain_main([*small, "seeds=0,1", "seed_batch=2"]) == 0
    assert len(list((tmp_path / "cache").rglob("*.pt"))) == 2
    proc = entry("src.pretrain_seeds", *small, "seeds=0-1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "0 SAEs pretrained, 2 cached already" in proc.stdout  # the same cache keys
