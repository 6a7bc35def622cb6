"""``src.predict``: a saved model assigns the same clusters to the same data, from any form."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from src.core.errors import UserError
from src.data.digits import load_digits
from src.predict import execute, load_array_file, main
from tests.helpers.runs import run_in_process

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def kmeans_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("kmeans_run")
    run_in_process(run_dir, "dataset=digits", "plots=false", "export.embeddings=never")
    return run_dir


def clusters(path) -> np.ndarray:
    return pd.read_csv(path)["cluster"].to_numpy()


def test_predict_same_data_reproduces_training_assignments(kmeans_run, tmp_path):
    record = execute([f"ckpt={kmeans_run}", "data=digits", f"out={tmp_path}"])
    trained = pd.read_csv(kmeans_run / "assignments.csv")
    predicted = pd.read_csv(tmp_path / "assignments.csv")
    pd.testing.assert_frame_equal(trained, predicted)
    assert record["n_samples"] == 1797 and record["metrics"]["acc"] > 0.6
    assert (tmp_path / "prediction.json").exists()


def test_predict_from_raw_file_and_model_path(kmeans_run, tmp_path):
    # the raw, unscaled digits as flat rows: predict must reshape and apply the fitted scale
    raw = tmp_path / "raw_digits.npy"
    np.save(raw, load_digits().features())
    execute([f"ckpt={kmeans_run / 'model.pt'}", f"data={raw}", f"out={tmp_path / 'p'}"])
    assert np.array_equal(
        clusters(tmp_path / "p" / "assignments.csv"), clusters(kmeans_run / "assignments.csv")
    )
    # default output folder: <run dir>/predictions/<file stem>
    execute([f"ckpt={kmeans_run}", f"data={raw}"])
    assert (kmeans_run / "predictions" / "raw_digits" / "assignments.csv").exists()


def test_csv_reader_takes_label_column(tmp_path):
    path = tmp_path / "small.csv"
    path.write_text("a,b,label\n1,2,0\n3,4,1\n")
    data = load_array_file(path)
    assert data.x.tolist() == [[1.0, 2.0], [3.0, 4.0]] and data.y.tolist() == [0, 1]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data=digits"], "ckpt= is required"),
        (["ckpt=x", "data=digits", "colour=red"], "^colour is not a config key"),
        (
            ["ckpt=x", "data=digits", "devise=cpu"],
            "devise is not a config key; did you mean device",
        ),
        (["ckpt=x", "data=digits", "device=tpu"], "device='tpu' is invalid: use auto, cpu, cuda"),
        (["ckpt=x", "data=[digits"], "cannot parse the override 'data=\\[digits'"),
        (["ckpt=/nonexistent/run", "data=digits"], "no such run directory"),
    ],
)
def test_bad_arguments(argv, message):
    with pytest.raises(UserError, match=message):
        execute(argv)


def test_wrong_feature_count_names_the_fix(kmeans_run, tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 7), dtype=np.float32))
    with pytest.raises(UserError, match="trained on shape \\(1, 8, 8\\)"):
        execute([f"ckpt={kmeans_run}", f"data={bad}"])
    with pytest.raises(UserError, match="no such file, nor a data set name"):
        execute([f"ckpt={kmeans_run}", f"data={tmp_path / 'missing.csv'}"])


def test_cli_prints_one_line_and_errors_cleanly(kmeans_run, tmp_path, capsys):
    env = {**os.environ, "PYTHONPATH": REPO, "WANDB_MODE": "disabled"}
    cmd = [
        sys.executable,
        "-m",
        "src.predict",
        f"ckpt={kmeans_run}",
        "data=digits",
        f"out={tmp_path}",
    ]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ACC ") and "assignments.csv" in lines[0]
    with pytest.raises(SystemExit) as exit_info:
        main([f"ckpt={kmeans_run}", "data=nope"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "digits" in err


def test_file_dataset_config_reaches_the_loader(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    import src.predict as predict_mod

    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "custom.yaml").write_text(
        "name: custom\nsubset: null\nimbalance: null\npath: null\nlabel_column: null\n"
        "loader:\n  _target_: x.load\n  path: ${dataset.path}\n"
        "  label_column: ${dataset.label_column}\n"
    )
    monkeypatch.setattr(predict_mod, "CONF_DIR", tmp_path)
    monkeypatch.setattr(predict_mod, "options", lambda group: ["custom"])
    # the run trained on a custom file: its resolved config names the old file everywhere
    saved = OmegaConf.create(
        {
            "seed": 0,
            "dataset": {
                "name": "custom",
                "subset": 50,
                "imbalance": None,
                "path": "old.csv",
                "label_column": "species",
                "loader": {"_target_": "x.load", "path": "old.csv", "label_column": "species"},
            },
        }
    )
    ds = predict_mod.file_dataset_config(Path("new.csv"), saved, ["label_column=kind"])
    assert ds.loader.path == "new.csv" and ds.path == "new.csv"
    assert ds.loader.label_column == "kind" and ds.subset is None
    ds = predict_mod.file_dataset_config(Path("new.csv"), saved, [])
    assert ds.loader.label_column == "species"  # the run's own loader options carry over


def one_line_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_unwritable_out_is_one_line_before_predicting(kmeans_run, tmp_path, capsys, monkeypatch):
    import src.predict

    monkeypatch.setattr(src.predict, "predict", lambda *a, **k: pytest.fail("predicted anyway"))
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    line = one_line_error(capsys, [f"ckpt={kmeans_run}", "data=digits", f"out={blocker / 'x'}"])
    assert "cannot create the folder" in line and "out=DIR" in line


def test_binary_file_named_csv_is_a_short_clear_error(kmeans_run, tmp_path, capsys):
    binary = tmp_path / "photo.csv"
    binary.write_bytes(bytes(range(256)) * 48)  # 12 KB of non-text bytes
    line = one_line_error(capsys, [f"ckpt={kmeans_run}", f"data={binary}"])
    assert "is not a text CSV" in line and ".npy" in line and len(line) < 300
