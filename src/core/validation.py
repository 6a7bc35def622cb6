"""Config checks before any data are loaded: every numeric option in its valid range, every
on/off option true or false, every declared choice one of its names, the run's output files
writable, and a GPU present when the trainer asks for one.

One line per problem, naming the key and what it accepts; :func:`validate_run` raises them
together as one :class:`~src.core.errors.UserError` (``src.run`` prints each line, exit 2).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.core.config_groups import declaring
from src.core.errors import UserError

_ABSENT = object()


@dataclass(frozen=True)
class Num:
    """A number's valid range: ``int`` or ``float``, bounds (open or closed), words and null;
    ``bool``: true or false only (a typo such as ``maybe`` would read as true)."""

    kind: type = float
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    nullable: bool = False
    words: tuple[str, ...] = ()

    def accepts(self, value: Any) -> bool:
        if value is None:
            return self.nullable
        if self.kind is bool:
            return isinstance(value, bool)
        if isinstance(value, str):
            return value in self.words
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind is int and not isinstance(value, int):
            return False
        if not math.isfinite(value):  # NaN compares false with every bound; inf is no value
            return False
        if self.lo is not None and (value <= self.lo if self.lo_open else value < self.lo):
            return False
        return not (self.hi is not None and (value >= self.hi if self.hi_open else value > self.hi))

    def _fmt(self, value: float) -> str:
        return str(int(value)) if self.kind is int else f"{value:g}"

    def describe(self) -> str:
        if self.kind is bool:
            return "true or false" + (" or null" if self.nullable else "")
        noun = "an integer" if self.kind is int else "a number"
        lo, hi = (None if v is None else self._fmt(v) for v in (self.lo, self.hi))
        if lo is not None and hi is not None:
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            text = f"{noun} in {left}{lo}, {hi}{right}"
        elif lo is not None:
            text = f"{noun} {'>' if self.lo_open else '≥'} {lo}"
        elif hi is not None:
            text = f"{noun} {'<' if self.hi_open else '≤'} {hi}"
        else:
            text = noun
        extra = [*self.words, *(["null"] if self.nullable else [])]
        return text + "".join(f" or {w}" for w in extra)


@dataclass(frozen=True)
class Choice:
    """An option that names one of ``words`` (``many``: a list of them)."""

    words: tuple[str, ...]
    many: bool = False

    def accepts(self, value: Any) -> bool:
        if not self.many:
            return isinstance(value, str) and value in self.words
        return OmegaConf.is_list(value) and all(v in self.words for v in value)

    def describe(self) -> str:
        return f"{'a list of' if self.many else 'one of'} {', '.join(self.words)}"


COUNT = Num(int, 1)  # a positive count: iterations, batch sizes, restarts
ITERS = Num(int, 0)  # a stage length that may be skipped with 0
RATE = Num(float, 0, lo_open=True)  # learning rates, scales
FRACTION = Num(float, 0, 1, hi_open=True)  # dropout, momentum
UNIT = Num(float, 0, 1)  # thresholds and probabilities
FLAG = Num(bool)  # an on/off option

RULES: dict[str, Num] = {
    # the run
    "seed": Num(int, 0, 2**32 - 1),
    "n_clusters": Num(int, 2, nullable=True),
    "silhouette_points": Num(int, 0),
    "log_every_n_steps": COUNT,
    "export.projection_points": Num(int, 3),
    "progress_bar": FLAG,
    "debug": FLAG,
    # data set
    "dataset.subset": Num(int, 2, nullable=True),
    "dataset.imbalance": Num(float, 0, 1, lo_open=True, nullable=True),
    "dataset.dec_scale": Num(float, 0, lo_open=True, nullable=True, words=("auto",)),
    "dataset.download": FLAG,
    # method.*: each method's own ranges, in its conf/method/<name>.yaml (`ranges:`)
    # SAE pretraining
    "pretrain.layerwise_iters": ITERS,
    "pretrain.finetune_iters": ITERS,
    "pretrain.input_dropout": FRACTION,
    "pretrain.hidden_dropout": FRACTION,
    "pretrain.lr": RATE,
    "pretrain.lr_step": Num(int, 1, nullable=True),
    "pretrain.lr_gamma": RATE,
    "pretrain.momentum": FRACTION,
    "pretrain.weight_decay": Num(float, 0),
    "pretrain.adam_lr": RATE,
    "pretrain.batch_size": COUNT,
    "pretrain.layerwise": FLAG,
    "pretrain.cache": FLAG,
    # model and trainer
    "arch.embedding_dim": COUNT,
    "arch.init_std": RATE,
    "arch.bn_after_pool": FLAG,
    "arch.last_relu": FLAG,
    "arch.fc_identity_init": FLAG,
    "trainer.devices": Num(int, -1, words=("auto",)),
    "fast.steps_per_call": Num(int, 1, words=("auto",)),
    "fast.eval_batch_size": Num(int, 1, words=("auto",)),
}


# on/off speed switches: true, false or auto (on for CUDA, off for CPU)
SWITCHES = tuple(
    f"fast.{k}"
    for k in ("cuda_graphs", "fused_optimizer", "tf32", "channels_last", "compile", "amp")
)


def _select(cfg: DictConfig, key: str) -> Any:
    try:
        return OmegaConf.select(cfg, key, default=_ABSENT, throw_on_missing=False)
    except Exception as exc:  # an interpolation that does not resolve
        raise UserError(f"{key}: cannot resolve its value ({exc}); check the override") from None


# the range names a method's YAML may give its own options (``ranges: {my_option: count}``)
NAMED_RANGES: dict[str, Num] = {
    "count": COUNT,
    "iters": ITERS,
    "rate": RATE,
    "fraction": FRACTION,
    "unit": UNIT,
    "bool": FLAG,
}
_RANGE = re.compile(
    r"^(?P<kind>int|float)"
    r"(?:\s*(?P<op>≥|>)\s*(?P<lo>-?[\d.]+)"
    r"|\s+in\s*(?P<left>[\[(])\s*(?P<a>-?[\d.]+)\s*,\s*(?P<b>-?[\d.]+)\s*(?P<right>[\])]))?"
    r"(?P<words>(?:\s+or\s+\w+)*)$"
)


_CHOICE = re.compile(r"^(?P<many>one|list) of (?P<words>\w+(?:\s*,\s*\w+)*)$")


def parse_range(text: str) -> Num | Choice | None:
    """A range as a method's YAML writes it: a name of :data:`NAMED_RANGES`, or ``int ≥ 2``,
    ``float > 0``, ``float in (0, 1]`` (brackets: closed, parentheses: open), each optionally
    followed by ``or auto`` / ``or null``; or ``one of a, b`` / ``list of a, b`` (names). None
    when ``text`` is none of these."""
    if text in NAMED_RANGES:
        return NAMED_RANGES[text]
    if choice := _CHOICE.match(str(text).strip()):
        words = tuple(w.strip() for w in choice["words"].split(","))
        return Choice(words, many=choice["many"] == "list")
    m = _RANGE.match(str(text).strip())
    if m is None:
        return None
    kind = int if m["kind"] == "int" else float
    words = [w for w in m["words"].split() if w != "or"]
    extra = dict(nullable="null" in words, words=tuple(w for w in words if w != "null"))
    if m["op"]:
        return Num(kind, kind(float(m["lo"])), lo_open=m["op"] == ">", **extra)
    if m["left"]:
        lo, hi = kind(float(m["a"])), kind(float(m["b"]))
        return Num(kind, lo, hi, lo_open=m["left"] == "(", hi_open=m["right"] == ")", **extra)
    return Num(kind, **extra)


def _flatten(mapping: Any, prefix: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in dict(mapping).items():
        if OmegaConf.is_dict(value) or isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def declared_rules(cfg: DictConfig) -> tuple[dict[str, Num | Choice], list[str]]:
    """The ranges the chosen method declares beside its options (``method.ranges``: option →
    a range, nested like the options), and one line per range that does not parse."""
    ranges = _select(cfg, "method.ranges")
    if ranges is _ABSENT or ranges is None:
        return {}, []
    rules, problems = {}, []
    for option, text in _flatten(ranges, "").items():
        rule = parse_range(text)
        if rule is None:
            problems.append(
                f"method.ranges.{option}={text!r} is invalid: use one of "
                f"{', '.join(NAMED_RANGES)}, or e.g. 'int ≥ 2', 'float in (0, 1] or null', "
                "'one of a, b'"
            )
        else:
            rules[f"method.{option}"] = rule
    return rules, problems


def numeric_problems(cfg: DictConfig) -> list[str]:
    """One line per option outside its range (numbers, on/off options, declared choices;
    options a config lacks are skipped): the shared options' :data:`RULES` and the ranges the
    method declares in its YAML."""
    own, problems = declared_rules(cfg)
    for key, rule in {**RULES, **own}.items():
        value = _select(cfg, key)
        if value is not _ABSENT and not rule.accepts(value):
            problems.append(f"{key}={value!r} is invalid: use {rule.describe()}")
    for key in SWITCHES:
        value = _select(cfg, key)
        if value is not _ABSENT and not (isinstance(value, bool) or value == "auto"):
            problems.append(f"{key}={value!r} is invalid: use true, false or auto")
    dims = _select(cfg, "arch.hidden_dims")
    if dims is not _ABSENT and not (
        OmegaConf.is_list(dims) and all(COUNT.accepts(d) for d in dims)
    ):
        problems.append(f"arch.hidden_dims={dims} is invalid: use a list of integers ≥ 1")
    return problems


def _devices_problem(cfg: DictConfig) -> list[str]:
    if _select(cfg, "trainer.devices") == 0:
        return ["trainer.devices=0 is invalid: use an integer ≥ 1, -1 (all devices) or auto"]
    return []


def _export_problems(cfg: DictConfig) -> list[str]:
    """``export.projection``/``export.embeddings`` names and ``plots`` a real boolean."""
    from src.core.export_options import EMBEDDING_POLICIES, PROJECTIONS, umap_available

    problems = []
    plots = _select(cfg, "plots")
    if plots is not _ABSENT and not isinstance(plots, bool):
        problems.append(f"plots={plots!r} is invalid: use true or false")
    projection = _select(cfg, "export.projection")
    if projection is not _ABSENT and projection not in PROJECTIONS:
        problems.append(
            f"export.projection={projection!r} is invalid: use one of {', '.join(PROJECTIONS)}"
        )
    elif projection == "umap" and plots is True and not umap_available():
        problems.append(
            "export.projection=umap needs umap-learn (pip install umap-learn); "
            "or use export.projection=tsne or pca"
        )
    embeddings = _select(cfg, "export.embeddings")
    if embeddings is not _ABSENT and embeddings not in EMBEDDING_POLICIES:
        problems.append(
            f"export.embeddings={embeddings!r} is invalid: use one of "
            f"{', '.join(EMBEDDING_POLICIES)}"
        )
    return problems


def _batch_norm_problem(cfg: DictConfig) -> list[str]:
    """A BatchNorm network (DAC's ConvNets) cannot train on batches of one sample."""
    if _select(cfg, "arch.family") == "allconv" and _select(cfg, "method.batch_size") == 1:
        return [
            "method.batch_size=1 is invalid for a BatchNorm network "
            f"(arch={_select(cfg, 'arch.name')}): use method.batch_size=2 or more"
        ]
    return []


SAE_CACHE_ENTRIES = ("src.methods.dec.run", "src.methods.ae_kmeans.run")  # write cache_dir


def _cache_dir_problem(cfg: DictConfig) -> list[str]:
    cache_dir = _select(cfg, "cache_dir")
    if isinstance(cache_dir, str) and Path(cache_dir).is_file():
        return [
            f"cache_dir={cache_dir} is a file, not a folder; remove it or choose another "
            "with cache_dir=DIR"
        ]
    entry, cache = _select(cfg, "method.entry"), _select(cfg, "pretrain.cache")
    if isinstance(cache_dir, str) and entry in SAE_CACHE_ENTRIES and cache is not False:
        return folder_problems(Path(cache_dir), "cache_dir=DIR (or pretrain.cache=false)")
    return []


def folder_problems(folder: Path, fix: str) -> list[str]:
    """Why ``folder`` could not be written or created, without creating it: its nearest
    existing ancestor must be a writable folder. ``fix`` names the option that picks another
    (``hydra.run.dir=DIR``)."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return [
            f"cannot create the folder {folder}: {probe} is a file; remove it or choose "
            f"another with {fix}"
        ]
    if not os.access(probe, os.W_OK | os.X_OK):
        if probe == folder:
            return [f"the folder {folder} is not writable; choose another with {fix}"]
        return [
            f"cannot create the folder {folder}: {probe} is not writable; choose another with {fix}"
        ]
    return []


def size_problems(cfg: DictConfig) -> list[str]:
    """``n_clusters`` or ``dataset.subset`` beyond a data set of known size
    (``dataset.n_samples``), said before the data are loaded."""
    size, name = _select(cfg, "dataset.n_samples"), _select(cfg, "dataset.name")
    subset, k = _select(cfg, "dataset.subset"), _select(cfg, "n_clusters")
    if not isinstance(size, int):
        return []
    if isinstance(subset, int) and subset > size:
        return [
            f"dataset.subset={subset} exceeds the {size} samples of {name}; "
            f"use dataset.subset≤{size} or dataset.subset=null (all of them)"
        ]
    limit, what = (subset, f"dataset.subset={subset}") if isinstance(subset, int) else (size, name)
    if isinstance(k, int) and k > limit:
        return [f"n_clusters={k} exceeds the {limit} samples of {what}; use n_clusters≤{limit}"]
    return []


def choice_problems(cfg: DictConfig) -> list[str]:
    """One line per option that names no valid choice or contradicts another option."""
    return (
        _devices_problem(cfg)
        + _export_problems(cfg)
        + _batch_norm_problem(cfg)
        + _cache_dir_problem(cfg)
    )


def output_problems(
    folder: Path, names: tuple[str, ...], fix: str = "hydra.run.dir=DIR"
) -> list[str]:
    """Why ``names`` could not be written in ``folder`` (checked before any work); ``fix`` is
    the option that picks another folder."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return [f"cannot create the folder {folder} ({exc.strerror}); choose another with {fix}"]
    if not os.access(folder, os.W_OK | os.X_OK):
        return [f"the folder {folder} is not writable; choose another with {fix}"]
    return [
        f"{folder / name} is a directory, so it cannot be written; remove it or choose "
        f"another folder with {fix}"
        for name in names
        if (folder / name).is_dir()
    ]


def device_problems(cfg: DictConfig) -> list[str]:
    """A GPU trainer on a machine without CUDA, said in one line with the CPU alternative."""
    accelerator = str(_select(cfg, "trainer.accelerator"))
    if accelerator not in ("gpu", "cuda"):
        return []
    import torch

    if torch.cuda.is_available():
        return []
    return [
        f"trainer={_select(cfg, 'trainer.name')} asks for a GPU but this machine has none "
        "(CUDA is not available); run on the CPU with trainer=cpu (or trainer=auto)"
    ]


def ddp_problems(cfg: DictConfig, multirun: bool = False) -> list[str]:
    """DDP (``trainer=ddp`` / ``ddp_cpu``) where it cannot work, said before any work: a method
    other than the DAC family (their data and full-batch steps are not split over processes),
    or a ``--multirun`` (Lightning starts every extra process by re-running the command)."""
    if not str(_select(cfg, "trainer.strategy")).startswith("ddp"):
        return []
    trainer, method = _select(cfg, "trainer.name"), _select(cfg, "method.name")
    if _select(cfg, "method.ddp") is not True:  # conf/method/*.yaml: ddp: true
        ddp_methods = declaring("method", "ddp")
        return [
            f"trainer={trainer} (DDP) runs only {', '.join(ddp_methods)}, not method={method}: "
            "use trainer=cpu, gpu or auto"
        ]
    if multirun:
        return [
            f"trainer={trainer} (DDP) cannot run inside --multirun (Lightning starts its extra "
            "processes by re-running the command): run each configuration on its own"
        ]
    return []


RUN_OUTPUTS = (
    "result.json",
    "model.pt",
    "assignments.csv",
    "soft_assignments.npy",
    "embeddings.npy",
    "embedding_2d.png",
    "confusion.png",
    "confusion.csv",
    "run.log",
)


def validate_run(cfg: DictConfig, run_dir: Path, multirun: bool = False) -> None:
    """Raise one :class:`UserError` listing every problem found before the run starts."""
    problems = numeric_problems(cfg) + choice_problems(cfg)
    problems = problems or size_problems(cfg) or ddp_problems(cfg, multirun)
    if not problems:
        problems = output_problems(run_dir, RUN_OUTPUTS) + device_problems(cfg)
    if problems:
        raise UserError("\n".join(problems))


def config_keys(cfg: DictConfig) -> list[str]:
    """The dotted keys of ``cfg``'s values (not of its sections; list items are no keys)."""
    keys: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for name, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{name}.")
            else:
                keys.append(f"{prefix}{name}")

    walk(OmegaConf.to_container(cfg, resolve=False), "")
    return keys


def did_you_mean(key: str, keys: list[str]) -> str:
    """``; did you mean K?`` for the closest of ``keys`` (difflib), or ``""``."""
    import difflib

    match = difflib.get_close_matches(key, keys, n=1, cutoff=0.75)
    return f"; did you mean {match[0]}?" if match else ""


def added_key_problems(
    cfg: DictConfig, overrides: list[str], command: str = "src.run"
) -> list[str]:
    """Keys added with ``+KEY=VALUE`` that no part of the project reads: one line each.

    Allowed: group options (``+experiment=…``) and keyword arguments of an instantiated
    node (one with ``_target_``, e.g. ``+method.optimizer.weight_decay=…``).
    """
    from src.core.config_groups import groups

    added = [
        ov[1:].partition("=")[0]
        for ov in overrides
        if ov.startswith("+") and not ov.startswith("++")
    ]
    known = [k for k in config_keys(cfg) if k not in added]
    problems = []
    for key in added:
        if key.startswith("hydra.") or key in groups() or "@" in key or "/" in key:
            continue
        parent = key.rpartition(".")[0]
        node = _select(cfg, parent) if parent else cfg
        if isinstance(node, DictConfig) and "_target_" in node:
            continue
        hint = (
            did_you_mean(key, known) or f"; remove it (`python -m {command} --cfg job` lists keys)"
        )
        problems.append(f"+{key}: unknown key, nothing reads it{hint}")
    return problems
