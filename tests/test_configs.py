"""Every config group option composes, and the experiments pick what they say."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from src.core.config_groups import options

CONF = str(Path(__file__).resolve().parent.parent / "conf")


def compose_with(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_default_run_is_dec_on_digits_with_the_quick_schedule():
    cfg = compose_with()
    assert (cfg.method.name, cfg.dataset.name, cfg.pretrain.name) == ("dec", "digits", "quick")
    assert compose_with("dataset=mnist").pretrain.name == "paper"


@pytest.mark.parametrize("method", options("method"))
def test_every_method_composes(method):
    cfg = compose_with(f"method={method}")
    assert cfg.method.name == method and cfg.preprocess == cfg.method.preprocess
    expected_arch = "allconv_mnist" if method.startswith("dac") else "sae"
    assert cfg.arch.name == expected_arch


@pytest.mark.parametrize(
    "experiment, method, dataset",
    [("dec_mnist", "dec", "mnist"), ("dac_mnist", "dac", "mnist"),
     ("dac_star_mnist_authors", "dac_star", "mnist")],
)  # fmt: skip
def test_experiments(experiment, method, dataset):
    assert experiment in options("experiment")
    cfg = compose_with(f"experiment={experiment}")
    assert (cfg.method.name, cfg.dataset.name) == (method, dataset)
    if experiment == "dec_mnist":
        assert cfg.pretrain.name == "paper" and cfg.method.update_interval == 160
