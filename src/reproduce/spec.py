"""Table specs, profiles and published numbers → the list of runs a reproduction needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from src.core.config_groups import CONF_DIR, options
from src.core.errors import UserError
from src.core.seeds import parse_seeds
from src.reproduce.store import merge_overrides

TABLE_DIR = CONF_DIR / "reproduce"
PROFILE_DIR = TABLE_DIR / "profile"
PAPER_DIR = CONF_DIR / "paper"


@dataclass
class TableSpec:
    """One paper table or figure (``conf/reproduce/<name>.yaml``) after the profile's settings."""

    name: str
    title: str
    paper: str | None
    paper_tables: list[str]
    metrics: list[str]
    datasets: list[str]
    methods: list[str]
    sweep: dict | None
    figures: list[str]
    overrides: dict[str, list[str]]
    seeds: list[int] | None = None  # its own (profile table_settings), else the profile's


@dataclass
class Profile:
    """A reproduction profile (``conf/reproduce/profile/<name>.yaml``): which tables, seeds and
    launcher, and the overrides of their runs. Not a benchmark profile
    (:class:`src.bench.profiles.BenchProfile`, what ``make bench`` times): the two describe
    different jobs and share no field; a bench's table part names one of these."""

    name: str
    seeds: list[int]
    launcher: str
    tables: list[str]
    out: Path
    store: Path
    table_settings: dict[str, dict]
    overrides: dict[str, list[str]]


@dataclass(frozen=True)
class Run:
    """One run of one table: a data set, a method, a sweep value and a seed."""

    table: str
    dataset: str
    method: str
    setting: Any  # the sweep value, or None
    seed: int
    overrides: tuple[str, ...]  # every override, seed included

    @property
    def label(self) -> str:
        return " ".join(self.overrides)


@dataclass
class Plan:
    runs: list[Run] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (table, one-line reason)


def _load(path: Path, what: str) -> dict:
    if not path.is_file():
        names = ", ".join(sorted(p.stem for p in path.parent.glob("*.yaml")))
        raise UserError(f"unknown {what} '{path.stem}'; choose one of: {names}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)  # type: ignore[return-value]


def table_names() -> list[str]:
    return options("reproduce")


def _profile_seeds(raw, name: str) -> list[int]:
    what = f"seeds in conf/reproduce/profile/{name}.yaml:"
    if isinstance(raw, list):
        return parse_seeds(",".join(str(s) for s in raw), what)
    if isinstance(raw, int) or not isinstance(raw, str):
        raise UserError(
            f"{what} {raw!r} is ambiguous (a seed or a count?); write a range such as '0-4' "
            "or a list such as [0, 3]"
        )
    return parse_seeds(raw, what)


def load_profile(name: str) -> Profile:
    raw = _load(PROFILE_DIR / f"{name}.yaml", "profile")
    return Profile(
        name=name,
        seeds=_profile_seeds(raw.get("seeds", "0-4"), name),
        launcher=raw.get("launcher", "local"),
        tables=list(raw.get("tables") or table_names()),
        out=Path(raw.get("out") or f"outputs/runs/reproduce_{name}"),
        store=Path(raw.get("store") or "outputs/store"),
        table_settings=raw.get("table_settings") or {},
        overrides=_selector_map(raw.get("overrides")),
    )


def load_table(name: str, profile: Profile | None = None) -> TableSpec:
    raw = _load(TABLE_DIR / f"{name}.yaml", "table")
    profile_overrides: dict[str, list[str]] = {}
    if profile is not None:
        raw.update(profile.table_settings.get(name) or {})
        profile_overrides = profile.overrides
    own = _selector_map(raw.get("overrides"))
    merged = {s: own.get(s, []) + profile_overrides.get(s, []) for s in {*own, *profile_overrides}}
    return TableSpec(
        name=name,
        title=raw.get("title", name),
        paper=raw.get("paper"),
        paper_tables=list(raw.get("paper_tables") or []),
        metrics=list(raw.get("metrics") or ["acc", "nmi", "ari"]),
        datasets=list(raw["datasets"]),
        methods=list(raw["methods"]),
        sweep=raw.get("sweep"),
        figures=list(raw.get("figures") or []),
        overrides=merged,
        seeds=_table_seeds(raw.get("seeds"), profile.name if profile else name),
    )


def _table_seeds(raw, where: str) -> list[int] | None:
    """A table's own ``seeds`` (in the profile's ``table_settings``), or None."""
    return None if raw is None else _profile_seeds(raw, where)


def _selector_map(raw: dict | None) -> dict[str, list[str]]:
    out = {}
    for selector, items in (raw or {}).items():
        out[str(selector)] = [items] if isinstance(items, str) else [str(i) for i in items or []]
    return out


def run_overrides(
    spec: TableSpec, dataset: str, method: str, setting: Any, seed: int, extra: list[str]
) -> list[str]:
    """Every Hydra override of one run, in order of precedence (later wins)."""
    sel = spec.overrides
    sweep = []
    if (
        spec.sweep is not None
        and not spec.sweep.get("from_extra")
        and not ("default" in spec.sweep and spec.sweep["default"] == setting)
    ):
        # the sweep's default value needs no override: that run is shared with other tables;
        # a `from_extra` sweep is read out of one run's result.json (no run per value)
        sweep = [f"{spec.sweep['key']}={format_value(setting)}"]
    return merge_overrides(
        [f"method={method}", f"dataset={dataset}"],
        sel.get("*", []),
        sel.get(dataset, []),
        sel.get(method, []),
        sel.get(f"{method}@{dataset}", []),
        sweep,
        extra,
        [f"seed={seed}"],
    )


def format_value(value: Any) -> str:
    if value is None:
        return "null"
    return str(value)


def settings(spec: TableSpec) -> list[Any]:
    return [None] if spec.sweep is None else list(spec.sweep["values"])


def plan(
    specs: list[TableSpec],
    seeds: list[int],
    extra: list[str],
    dataset_ok: dict[str, str | None],
    per_table: dict[str, list[int]] | None = None,
) -> Plan:
    """Every run of every table whose method and data set exist here.

    ``dataset_ok`` maps a data set to None (loadable) or the one-line reason it is not;
    ``per_table`` gives some tables seeds of their own instead of ``seeds``.
    """
    result = Plan()
    known = set(options("method"))
    for spec in specs:
        missing = [m for m in spec.methods if m not in known]
        if missing:
            names = ", ".join(missing)
            result.skipped.append(
                (spec.name, f"methods not in this checkout (no conf/method/<name>.yaml): {names}")
            )
        for dataset in spec.datasets:
            if (why := dataset_ok.get(dataset)) is not None:
                result.skipped.append((spec.name, f"{dataset}: {why}"))
                continue
            for method in (m for m in spec.methods if m in known):
                for setting in settings(spec):
                    for seed in (per_table or {}).get(spec.name, seeds):
                        ovr = run_overrides(spec, dataset, method, setting, seed, extra)
                        result.runs.append(
                            Run(spec.name, dataset, method, setting, seed, tuple(ovr))
                        )
    return result


@dataclass(frozen=True)
class PaperNumber:
    value: float
    verified: bool


def paper_numbers(spec: TableSpec) -> dict[tuple, PaperNumber]:
    """(dataset, method, metric, setting) → the published number for this table."""
    if not spec.paper:
        return {}
    raw = _load(PAPER_DIR / f"{spec.paper}.yaml", "paper")
    out = {}
    for row in raw.get("results", []):
        if row["table"] not in spec.paper_tables:
            continue
        key = (row["dataset"], row["method"], row["metric"], row.get("setting"))
        out[key] = PaperNumber(float(row["value"]), bool(row["verified"]))
    return out


def authors_log(spec: TableSpec, dataset: str) -> dict | None:
    """The authors' per-epoch log for ``dataset`` (``authors_logs`` in the paper's YAML:
    ``source`` and lists ``epoch``, ``nmi``, ``ari``, ``acc``), or None."""
    if not spec.paper:
        return None
    raw = _load(PAPER_DIR / f"{spec.paper}.yaml", "paper")
    return (raw.get("authors_logs") or {}).get(dataset)
