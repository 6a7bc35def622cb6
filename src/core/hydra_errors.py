"""Hydra's own errors (a misspelt key, an override that does not parse) as the project's one
line, exit 2, with a "did you mean" for a close key, instead of Hydra's multi-line report.

Every ``python -m src.*`` entry point that takes ``key=value`` arguments (``src.run``,
``src.predict``, ``src.pretrain_seeds``) runs its Hydra task function through
:func:`run_hydra`, so their errors read the same.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from hydra.errors import (
    CompactHydraException,
    ConfigCompositionException,
    MissingConfigException,
    OverrideParseException,
)

from src.core.errors import UserError, exit_with

# Hydra errors that come from the command line (not from inside the run)
HYDRA_USER_ERRORS = (ConfigCompositionException, MissingConfigException, OverrideParseException)


@contextmanager
def hydra_errors_raised() -> Iterator[None]:
    """Let Hydra raise its errors to the caller (``HYDRA_FULL_ERROR``), as it does for a
    debugger, instead of printing them and exiting 1; the user's own setting is kept."""
    was_set = "HYDRA_FULL_ERROR" in os.environ
    os.environ.setdefault("HYDRA_FULL_ERROR", "1")
    try:
        yield
    finally:
        if not was_set:
            os.environ.pop("HYDRA_FULL_ERROR", None)


def _group_overrides(argv: list[str]) -> list[str]:
    """The ``group=choice`` arguments of ``argv`` (what decides which keys exist)."""
    from src.core.config_groups import groups

    known = set(groups())
    return [a for a in argv if a.partition("=")[0].lstrip("+~") in known and "," not in a]


def _close_key(key: str, argv: list[str], config_name: str = "config") -> str:
    """``; did you mean K?`` against the keys of the config ``argv``'s groups compose."""
    from hydra import compose, initialize_config_dir

    from src.core.config_groups import CONF_DIR
    from src.core.validation import config_keys, did_you_mean

    for overrides in (_group_overrides(argv), []):
        try:
            with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
                cfg = compose(config_name, overrides=overrides)
        except Exception:  # no suggestion rather than a second error
            continue
        return did_you_mean(key, config_keys(cfg))
    return ""


def one_line(
    exc: CompactHydraException,
    argv: list[str],
    config_name: str = "config",
    command: str = "src.run",
) -> UserError:
    """The one-line form of a Hydra composition or override-parsing error of ``python -m
    {command}`` (whose primary config is ``conf/{config_name}.yaml``)."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    if isinstance(exc, OverrideParseException) and not exc.override.isascii():
        key, _, value = exc.override.partition("=")
        return UserError(
            f"the override '{exc.override}' has non-ASCII characters, which Hydra reads only in "
            f"quotes; quote the value: '{key}=\"{value}\"'"
        )
    if isinstance(exc, OverrideParseException):
        return UserError(
            f"cannot parse the override '{exc.override}' ({lines[0]}); check its syntax, and "
            "quote a value with brackets, spaces or non-ASCII characters: 'key=\"value\"'"
        )
    key = getattr(exc.__cause__, "full_key", None)
    if key and lines[0].startswith("Could not override"):
        hint = _close_key(key, argv, config_name) or (
            f"; `python -m {command} --cfg job` lists the keys"
        )
        return UserError(f"{key} is not a config key{hint}")
    return UserError(f"{lines[0]}; check the overrides")


def run_hydra(
    entry: Callable[[], Any],
    argv: list[str],
    config_name: str = "config",
    command: str = "src.run",
) -> None:
    """Call a ``@hydra.main`` task function on ``argv`` (the command line after the program),
    with Hydra's command-line errors as one line, exit 2 (``debug=true``: Hydra's traceback)."""
    saved = sys.argv
    sys.argv = [saved[0] if saved else command, *argv]  # what hydra.main parses
    try:
        with hydra_errors_raised():
            entry()
    except HYDRA_USER_ERRORS as exc:  # a misspelt key, an override that does not parse
        if "debug=true" in argv:
            raise
        exit_with(one_line(exc, argv, config_name, command))
    finally:
        sys.argv = saved


def compose_args(config_name: str, argv: list[str], command: str) -> Any:
    """``conf/{config_name}.yaml`` with the ``key=value`` overrides ``argv`` composed by Hydra's
    compose API (what ``python -m {command}`` composes from the same arguments), its errors
    raised as the same one-line :class:`UserError`. For calling an entry point from Python."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from src.core.config_groups import CONF_DIR

    try:
        if GlobalHydra.instance().is_initialized():
            return compose(config_name, overrides=argv)
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            return compose(config_name, overrides=argv)
    except HYDRA_USER_ERRORS as exc:
        raise one_line(exc, argv, config_name, command) from None
