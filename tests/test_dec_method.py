"""DEC end to end: dec_nobp's frozen encoder, the pretrained-SAE cache, predict, and a
quality floor for DEC on digits with the quick schedule."""

import json
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from src.modules.dec import DECModule
from tests.helpers.runs import run_cached, short_kl
from tests.helpers.sae import snapshot, tiny

CONF = str(Path(__file__).resolve().parent.parent / "conf")
TINY = [  # a few iterations of every stage: wiring, not quality
    "pretrain.layerwise_iters=4",
    "pretrain.finetune_iters=4",
    "dataset.subset=300",
    "method.n_init=2",
    "logger=none",
    "plots=false",
    "progress_bar=false",
    "trainer=cpu",
]


def run_in_process(tmp_path: Path, name: str, *overrides: str) -> dict:
    kl = short_kl(*overrides, max_iter=12, update_interval=4)
    return run_cached(tmp_path, name, *TINY, *kl, *overrides)


def test_dec_nobp_keeps_encoder_bit_identical():
    sae, x = tiny(init_std=0.3), torch.randn(50, 6, generator=torch.Generator().manual_seed(0))
    before = snapshot(sae)
    for train_encoder in (False, True):
        module = DECModule(sae, x, torch.randn(4, 3), batch_size=16, train_encoder=train_encoder)
        mu0 = module.centroids.detach().clone()
        module.update_target()
        module.training_step((0, 8), 0)
        enc_after = module.encoder.sae.encoder.state_dict()
        same = all(torch.equal(v, before[f"encoder.{k}"]) for k, v in enc_after.items())
        assert same is (not train_encoder)  # frozen for dec_nobp, trained for dec
        assert not torch.equal(module.centroids.detach(), mu0)  # centroids always move
    assert all(torch.equal(v, before[k]) for k, v in sae.state_dict().items())  # SAE untouched


def test_pretrained_sae_is_cached_and_shared(tmp_path):
    first = run_in_process(tmp_path, "dec")
    ckpt = Path(first["extra"]["pretrain_checkpoint"])
    assert first["extra"]["pretrain_cache_hit"] is False and ckpt.exists()
    mtime = ckpt.stat().st_mtime_ns
    again = run_in_process(tmp_path, "dec2")
    assert again["extra"]["pretrain_cache_hit"] is True
    assert ckpt.stat().st_mtime_ns == mtime and "pretrain" not in again["wall_time_s"]
    assert again["metrics"] == first["metrics"]  # same run whether pretrained now or cached
    nobp = run_in_process(tmp_path, "nobp", "method=dec_nobp")
    aek = run_in_process(tmp_path, "aek", "method=ae_kmeans")
    for result in (nobp, aek):
        assert result["extra"]["pretrain_cache_hit"] is True
        assert result["extra"]["pretrain_checkpoint"] == str(ckpt)
    other = run_in_process(tmp_path, "seed1", "seed=1")
    assert other["extra"]["pretrain_cache_hit"] is False
    assert other["extra"]["pretrain_checkpoint"] != str(ckpt)


def test_a_cached_sae_counts_in_the_cost_the_2d_view_is_weighed_against(tmp_path, monkeypatch):
    """export.projection=auto weighs t-SNE against what the clustering cost: a run on a cached
    SAE counts that SAE's pretraining, so AE+k-means, DEC w/o backprop and DEC on one SAE draw
    the same kind of view (before, only the run that trained it got t-SNE, the others PCA)."""
    from src.recording import plots

    chosen: list[tuple[str, float | None]] = []
    real = plots.resolve_projection

    def spy(kind: str, n_points: int | None = None, budget_s: float | None = None) -> str:
        chosen.append((real(kind, n_points, budget_s), budget_s))
        return chosen[-1][0]

    monkeypatch.setattr(plots, "umap_available", lambda: False)
    monkeypatch.setattr(plots, "resolve_projection", spy)
    first = run_in_process(tmp_path, "dec")
    ckpt = Path(first["extra"]["pretrain_checkpoint"])
    cached = torch.load(ckpt, weights_only=True)
    for stage in cached["info"]["stages"].values():
        stage["seconds"] = 250.0  # as if each stage had taken 250 s
    torch.save(cached, ckpt)
    aek = run_in_process(tmp_path, "aek", "method=ae_kmeans", "plots=true")
    assert aek["extra"]["pretrain_cache_hit"] is True
    kind, budget = chosen[-1]
    assert budget is not None and budget >= 1000.0
    assert kind == "tsne" and "embedding_2d" in aek["outputs"]


def test_corrupted_cache_is_rebuilt(tmp_path, capsys):
    first = run_in_process(tmp_path, "a")
    ckpt = Path(first["extra"]["pretrain_checkpoint"])
    ckpt.write_bytes(b"not a checkpoint")
    second = run_in_process(tmp_path, "b")
    assert second["extra"]["pretrain_cache_hit"] is False
    assert "unreadable" in capsys.readouterr().err
    assert second["metrics"] == first["metrics"]
    assert run_in_process(tmp_path, "c")["extra"]["pretrain_cache_hit"] is True


def test_predict_reproduces_run_labels(tmp_path):
    from src.data import build_data
    from src.methods import ae_kmeans, dec

    for method, module in (("dec", dec), ("ae_kmeans", ae_kmeans)):
        result = run_in_process(tmp_path, method, f"method={method}")
        ckpt = torch.load(result["model_path"], weights_only=True)
        assert ckpt["method"] == method
        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            cfg = compose("config", overrides=[*TINY, f"method={method}"])
        data = build_data(cfg)
        out = module.predict(ckpt, data, "cpu")
        acc = result["metrics"]["acc"]
        from src.recording.metrics import evaluate

        assert evaluate(data.y, out.labels)["acc"] == acc
        assert out.labels.shape == (300,) and out.embeddings.shape == (300, 10)


def test_dec_on_digits_quick_schedule_cli(cli, tmp_path):
    """The default run (DEC on digits, quick schedule) on CPU, shortened to fit the test budget
    (500 iterations per greedy layer, 200 of fine-tuning, 300 KL iterations), with a floor.

    Re-measured with exactly these settings after digits moved to batch 64 and T = 80 (1
    thread, shared 2-core CPU, ~34 s of CPU per run): seed 0 ACC 0.713 / NMI 0.682, seed 1
    ACC 0.690 / NMI 0.676 (AE+k-means ACC 0.687 / 0.640). The floors (unchanged) sit below both.
    The full quick schedule (`make run`) gives ACC 0.763 (seed 0) and 0.772 (seed 1); with the
    per-seed dropout generators (SAE cache version 2) 0.729 and 0.772 (the floors still pass).
    """
    proc = cli(
        "logger=csv",
        "plots=false",
        "progress_bar=false",
        "pretrain.layerwise_iters=500",
        "pretrain.finetune_iters=200",
        "method.max_iter=300",
        f"cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path}",
        env={"OMP_NUM_THREADS": "1"},  # oversubscribed threads are ~3x slower on a busy CI box
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["method"] == "dec" and result["config"]["pretrain"]["name"] == "quick"
    assert result["metrics"]["acc"] >= 0.65, result["metrics"]
    assert result["metrics"]["nmi"] >= 0.6, result["metrics"]
    assert result["extra"]["dec_target_updates"] >= 2  # T = 80: up to 4 in 300 iterations
    assert np.isfinite(result["extra"]["dec_last_label_change"])
    assert Path(result["model_path"]).exists()
    log = (tmp_path / "csv_logs" / "metrics.csv").read_text()
    assert "dec/label_change" in log and "dec/acc" in log and "pretrain/layer2/loss" in log


def test_validation_split_reports_generalizability_and_labels_every_sample(tmp_path):
    import pytest

    from src.core.errors import UserError
    from src.data.digits import load_digits
    from src.methods.dec import split_validation

    data = load_digits()
    fit, val = split_validation(data, 0.1, seed=3)
    assert len(val) == 180 and len(fit) == len(data) - 180
    np.testing.assert_array_equal(data.x[val.meta["index"]], val.x)
    assert split_validation(data, None, seed=3) == (data, None)
    with pytest.raises(UserError, match="validation_fraction"):
        split_validation(data, 1.5, seed=3)

    result = run_in_process(tmp_path, "dec", "method.validation_fraction=0.2")
    extra = result["extra"]
    assert extra["n_validation"] == 60  # 20 % of the 300-sample subset
    assert extra["kl_train"] > 0 and extra["kl_val"] > 0
    assert result["n_samples"] == 300 and result["metrics"]["n_nonempty_clusters"] >= 2
    # the autoencoder saw only the fit part: its cache entry differs from an unsplit run's
    plain = run_in_process(tmp_path, "plain")
    assert plain["extra"]["pretrain_checkpoint"] != extra["pretrain_checkpoint"]
    assert "kl_val" not in plain["extra"]


def test_interrupted_pretraining_resumes_after_its_last_finished_stage(tmp_path, monkeypatch):
    import pytest

    import src.pretraining.stages as stages

    real_fit = stages.fit_chunks
    calls: list[str] = []

    def fit_then_die_at_third_stage(cfg, ctx, module, plan, phase, *args, **kw):
        calls.append(phase)
        if len(calls) == 3 and phase == "pretrain_layer2":
            raise KeyboardInterrupt  # the run is killed during greedy layer 2
        return real_fit(cfg, ctx, module, plan, phase, *args, **kw)

    monkeypatch.setattr(stages, "fit_chunks", fit_then_die_at_third_stage)
    with pytest.raises(KeyboardInterrupt):
        run_in_process(tmp_path, "killed", "method=ae_kmeans")
    partial = list((tmp_path / "cache" / "sae").glob("*.partial.pt"))
    assert len(partial) == 1 and torch.load(partial[0])["stages_done"] == 2

    calls.clear()
    resumed = run_in_process(tmp_path, "resumed", "method=ae_kmeans")
    assert calls == ["pretrain_layer2", "pretrain_layer3", "pretrain_finetune"]
    assert not list((tmp_path / "cache" / "sae").glob("*.partial.pt"))  # done: removed

    monkeypatch.setattr(stages, "fit_chunks", real_fit)
    fresh = run_in_process(tmp_path / "fresh", "uninterrupted", "method=ae_kmeans")
    a = torch.load(resumed["extra"]["pretrain_checkpoint"])["state_dict"]
    b = torch.load(fresh["extra"]["pretrain_checkpoint"])["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)  # resuming changes nothing


def test_src_predict_works_on_dec_and_ae_kmeans_checkpoints(tmp_path):
    """Issue 13.1: the checkpoint holds the fitted preprocessing (not its name), so
    ``src.predict`` re-applies it and reproduces the run's labels."""
    import pandas as pd

    from src.predict import execute as predict_execute

    for method in ("dec", "ae_kmeans"):
        result = run_in_process(tmp_path, method, f"method={method}")
        ckpt = torch.load(result["model_path"], weights_only=True)
        assert isinstance(ckpt["preprocess"], dict) and ckpt["preprocess"]["kind"] == "dec_scale"
        out = tmp_path / f"pred_{method}"
        predict_execute([f"ckpt={tmp_path / method}", "data=digits", f"out={out}"])
        trained = pd.read_csv(tmp_path / method / "assignments.csv")["cluster"]
        predicted = pd.read_csv(out / "assignments.csv")["cluster"]
        assert (trained.to_numpy() == predicted.to_numpy()).all()


def test_predict_rejects_a_checkpoint_with_only_the_preprocessing_name(tmp_path):
    """Checkpoints written before the fix store 'dec_scale': one line naming the fix."""
    import pytest

    from src.core.errors import UserError
    from src.core.io_utils import atomic_torch_save
    from src.predict import resolve_run

    result = run_in_process(tmp_path, "old", "method=ae_kmeans")
    ckpt = torch.load(result["model_path"], weights_only=True)
    ckpt["preprocess"] = "dec_scale"
    atomic_torch_save(result["model_path"], ckpt)
    (tmp_path / "old" / "result.json").unlink()
    with pytest.raises(UserError, match="re-run training"):
        resolve_run(str(tmp_path / "old" / "model.pt"))
