"""Every point of a sweep, and the harness's extra overrides, checked before the first job.

A ``--multirun`` sweep such as ``n_clusters=3,abc,5`` used to run job 0, fail on job 1 and
never reach job 2. Here each swept value is composed and checked with the run's own config
checks (:mod:`src.core.validation`) before Hydra launches anything: one line per problem, exit 2.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from omegaconf import DictConfig

from src.core.errors import UserError

MAX_POINTS = 64  # sweeps with more points are checked value by value, not point by point
MULTIRUN_FLAGS = ("-m", "--multirun")


def cli_overrides(argv: list[str]) -> list[str]:
    """The ``key=value`` arguments of a Hydra command line (not its ``--flags``)."""
    return [a for a in argv if "=" in a and not a.startswith("-")]


def _not_hydra(override: str) -> bool:
    return not override.lstrip("+~").startswith("hydra")


def compose_checked(overrides: list[str]) -> DictConfig:
    """``conf/config.yaml`` composed with ``overrides``; Hydra's errors as one-line
    :class:`UserError` (a misspelt key gets its "did you mean")."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, OverrideParseException

    from src.core.config_groups import CONF_DIR
    from src.core.hydra_errors import one_line

    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose("config", overrides=overrides)
    except (ConfigCompositionException, OverrideParseException) as exc:
        raise one_line(exc, overrides) from None


def config_problems(cfg: DictConfig, overrides: list[str], multirun: bool = False) -> list[str]:
    """What :func:`src.core.validation.validate_run` would refuse, short of the output folders."""
    from src.core.validation import (
        added_key_problems,
        choice_problems,
        ddp_problems,
        numeric_problems,
        size_problems,
    )

    problems = numeric_problems(cfg) + choice_problems(cfg) + added_key_problems(cfg, overrides)
    return problems or size_problems(cfg) or ddp_problems(cfg, multirun)


def overrides_problems(overrides: list[str], multirun: bool = False) -> list[str]:
    """Compose ``overrides`` once and list what a run with them would be refused for
    (``multirun``: as one job of a Hydra multirun)."""
    runnable = [o for o in overrides if _not_hydra(o)]
    try:
        cfg = compose_checked(runnable)
    except UserError as exc:
        return str(exc).splitlines()
    return config_problems(cfg, runnable, multirun)


def sweep_points(overrides: list[str]) -> Iterator[list[str]] | None:
    """The override lists of a sweep's points (every point, or for a large sweep each value
    once, the other swept keys at their first value); None when Hydra will report the line."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
        axes = [
            [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
            if o.is_sweep_override()
            else [o.input_line]
            for o in parsed
        ]
    except Exception:  # an override that does not parse, a glob: Hydra says it itself
        return None
    n_points = 1
    for axis in axes:
        n_points *= len(axis)
    if n_points <= MAX_POINTS:
        return (list(p) for p in itertools.product(*axes))
    return _value_by_value(axes)


def _value_by_value(axes: list[list[str]]) -> Iterator[list[str]]:
    first = [axis[0] for axis in axes]
    yield first
    for i, axis in enumerate(axes):
        for value in axis[1:]:
            yield [*first[:i], value, *first[i + 1 :]]


def sweep_problems(argv: list[str]) -> list[str]:
    """One line per problem of any point of a ``--multirun`` sweep (none for a single run)."""
    if not any(flag in argv for flag in MULTIRUN_FLAGS):
        return []
    overrides = [o for o in cli_overrides(argv) if _not_hydra(o)]
    points = sweep_points(overrides)
    if points is None:
        return []
    problems: dict[str, None] = {}
    for point in points:
        problems.update(dict.fromkeys(overrides_problems(point, multirun=True)))
    return [f"{p} (a sweep value; no job was started)" for p in problems]
