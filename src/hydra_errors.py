"""Hydra's own errors (a misspelt key, an override that does not parse) as the project's one
line, exit 2, with a "did you mean" for a close key, instead of Hydra's multi-line report."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import CompactHydraException, OverrideParseException

from src.errors import UserError


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
    from src.config_groups import groups

    known = set(groups())
    return [a for a in argv if a.partition("=")[0].lstrip("+~") in known and "," not in a]


def _close_key(key: str, argv: list[str]) -> str:
    """``; did you mean K?`` against the keys of the config ``argv``'s groups compose."""
    from hydra import compose, initialize_config_dir

    from src.config_groups import CONF_DIR
    from src.validation import config_keys, did_you_mean

    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            cfg = compose("config", overrides=_group_overrides(argv))
    except Exception:  # no suggestion rather than a second error
        return ""
    return did_you_mean(key, config_keys(cfg))


def one_line(exc: CompactHydraException, argv: list[str]) -> UserError:
    """The one-line form of a Hydra composition or override-parsing error."""
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
        hint = _close_key(key, argv) or "; `python -m src.run --cfg job` lists the keys"
        return UserError(f"{key} is not a config key{hint}")
    return UserError(f"{lines[0]}; check the overrides")
