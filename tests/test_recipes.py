"""Recipes (conf/recipe/): the settings of one method on one data set.

DAC on each data set with an authors' script composes that script's passes, augmentations,
self-target weight and network; DEC's per-data-set settings are the values they had when they
lived in the data set YAMLs (``dataset.dec_*``, read through ``oc.select``).
"""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from src.core.config_groups import options

CONF = str(Path(__file__).resolve().parent.parent / "conf")
DAC_METHODS = ("dac", "dac_star")  # the authors' loops (dac_online keeps the paper's text)

# data set: (chunk_passes, aug_repeats, self_weight, self_target, batch_size, chunk_order, arch)
AUTHORS = {
    "mnist": (5, 1, 0.0, "probs", 128, "sequential", "allconv_mnist"),  # MNIST/mnist.py (§A)
    "cifar10": (10, 2, 1.0, "probs", 32, "shuffled", "allconv_cifar"),  # cifar10_2.py (§B)
    "stl10": (10, 2, 10.0, "features", 32, "shuffled", "allconv_stl"),  # STL10/stl.py (§C)
}
# no authors' script: the one for the same image format
BY_ANALOGY = {"cifar100_20": "cifar10", "imagenet10": "stl10", "imagenet_dog15": "stl10"}


def compose_with(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=list(overrides))


def dac_recipe(cfg) -> tuple:
    m = cfg.method
    return (
        m.chunk_passes,
        m.aug_repeats,
        m.self_weight,
        m.self_target,
        m.batch_size,
        m.chunk_order,
        cfg.arch.name,
    )


@pytest.mark.parametrize("method", DAC_METHODS)
@pytest.mark.parametrize("dataset", sorted(AUTHORS))
def test_dac_composes_the_authors_recipe(method, dataset):
    cfg = compose_with(f"method={method}", f"dataset={dataset}")
    assert dac_recipe(cfg) == AUTHORS[dataset]


@pytest.mark.parametrize("method", DAC_METHODS)
@pytest.mark.parametrize("dataset", sorted(BY_ANALOGY))
def test_dac_without_a_script_takes_the_same_format_s_recipe(method, dataset):
    cfg = compose_with(f"method={method}", f"dataset={dataset}")
    assert dac_recipe(cfg) == AUTHORS[BY_ANALOGY[dataset]]


def test_the_recipe_network_is_the_whole_arch_config():
    """The recipe's network replaces every key of the method's MNIST net, not a few."""
    for dataset, arch in (("cifar10", "allconv_cifar"), ("stl10", "allconv_stl")):
        via_recipe = compose_with("method=dac", f"dataset={dataset}").arch
        chosen = compose_with("method=dac", "recipe=none", f"arch={arch}").arch
        assert via_recipe == chosen


@pytest.mark.parametrize("dataset", [*AUTHORS, *BY_ANALOGY])
def test_dac_online_takes_only_the_network(dataset):
    """The paper's text read literally keeps its own loop; only the ConvNet follows the data."""
    cfg = compose_with("method=dac_online", f"dataset={dataset}")
    plain = compose_with("method=dac_online", f"dataset={dataset}", "recipe=none")
    assert cfg.method == plain.method
    assert cfg.arch.name == AUTHORS[BY_ANALOGY.get(dataset, dataset)][-1]


def test_overrides_and_experiments_win_over_the_recipe():
    cfg = compose_with("method=dac", "dataset=cifar10", "method.chunk_passes=3")
    assert (cfg.method.chunk_passes, cfg.method.aug_repeats) == (3, 2)
    cfg = compose_with("experiment=dac_star_mnist_authors", "dataset=cifar10")
    assert (cfg.method.chunk_passes, cfg.method.aug_repeats, cfg.arch.name) == (
        5, 1, "allconv_cifar",
    )  # fmt: skip


# DEC's values before the recipes: (batch_size, update_interval, max_iter, SAE batch, finetune_lr)
DEC_BEFORE = {
    "digits": (64, 80, 600, 32, None),
    "mnist": (256, 160, 200000, 256, None),
    "fashion_mnist": (256, 40, 200000, 256, 0.01),
    "cifar10": (256, 40, 200000, 256, None),
}


@pytest.mark.parametrize("method", ["dec", "dec_nobp"])
@pytest.mark.parametrize("dataset", sorted(DEC_BEFORE))
def test_dec_recipes_keep_the_earlier_values(method, dataset):
    cfg = compose_with(f"method={method}", f"dataset={dataset}")
    m, p = cfg.method, cfg.pretrain
    assert (m.batch_size, m.update_interval, m.max_iter, p.batch_size, p.finetune_lr) == (
        DEC_BEFORE[dataset]
    )


@pytest.mark.parametrize("dataset", sorted(DEC_BEFORE))
def test_ae_kmeans_shares_dec_s_sae_settings(dataset):
    """AE+k-means pretrains the same SAE as DEC (one cache entry), so its pretrain config is DEC's."""
    ae = compose_with("method=ae_kmeans", f"dataset={dataset}")
    dec = compose_with("method=dec", f"dataset={dataset}")
    assert ae.pretrain == dec.pretrain
    assert ae.method.max_iter == 300  # k-means' own cap, untouched by DEC's recipe


def test_no_data_set_carries_method_settings():
    for dataset in options("dataset"):
        keys = set(compose_with(f"dataset={dataset}").dataset)
        assert not {k for k in keys if k.startswith(("dec_", "sae_"))} - {"dec_scale"}, dataset


def test_every_recipe_is_a_method_on_a_data_set():
    """A misspelt file name would never be selected: each recipe names a method and a data set."""
    methods, datasets = options("method"), options("dataset")
    for recipe in options("recipe"):
        if recipe == "none":
            continue
        assert any(recipe == f"{m}_{d}" for m in methods for d in datasets), (
            f"conf/recipe/{recipe}.yaml matches no method_dataset"
        )
        method = next(m for m in sorted(methods, key=len, reverse=True) if recipe.startswith(m))
        compose_with(f"method={method}", f"dataset={recipe[len(method) + 1 :]}")
