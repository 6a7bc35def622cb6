"""Every file-based data set in conf/dataset/: a one-line error naming files and folder."""

import pytest
from hydra import compose, initialize_config_dir

from src.core.config_groups import CONF_DIR, options
from src.core.errors import DataNotFoundError
from src.data import fashion_mnist as fm
from src.data import load_dataset

FILE_BASED = [n for n in options("dataset") if n not in ("digits", "custom")]


def test_registry_lists_the_papers_data_sets():
    expected = {"mnist", "fashion_mnist", "cifar10", "cifar100_20", "stl10", "imagenet10",
                "imagenet_dog15", "reuters10k"}  # fmt: skip
    assert expected <= set(FILE_BASED)


@pytest.mark.parametrize("name", FILE_BASED)
def test_missing_files_give_one_line_naming_the_folder(name, tmp_path, monkeypatch):
    monkeypatch.setattr(fm, "DEBIAN_DIR", tmp_path / "not-installed")
    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        cfg = compose("config", [f"dataset={name}", f"data_root={tmp_path}"])
    with pytest.raises(DataNotFoundError) as err:
        load_dataset(cfg.dataset, cfg.data_root)
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path) in msg
    assert "put" in msg or "make data" in msg
