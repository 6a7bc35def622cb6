"""The Hydra config groups under ``conf/``: the one registry of data sets, methods, …"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def options(group: str) -> list[str]:
    """The names a config group offers (its YAML files), sorted."""
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def declared(group: str, name: str, key: str, default: Any = None) -> Any:
    """What option ``name`` of ``group`` declares under ``key`` in its own YAML, or in an option
    of the same group its ``defaults`` list builds on (``dec_nobp`` on ``dec``), else
    ``default``. A method says what it needs this way (``uses_sae``, ``ddp``, ``family``)
    instead of being listed in the code that acts on it."""
    path = CONF_DIR / group / f"{name}.yaml"
    if not path.is_file():
        return default
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    if isinstance(raw, dict) and key in raw:
        return raw[key]
    parents = raw.get("defaults", []) if isinstance(raw, dict) else []
    for parent in reversed(parents):
        if isinstance(parent, str) and parent != "_self_":
            value = declared(group, parent, key, _UNSET)
            if value is not _UNSET:
                return value
    return default


def declaring(group: str, key: str) -> list[str]:
    """The options of ``group`` that declare ``key`` true, e.g. the methods with ``uses_sae``."""
    return [name for name in options(group) if declared(group, name, key, False) is True]


_UNSET = object()


def groups() -> list[str]:
    return sorted(p.name for p in CONF_DIR.iterdir() if p.is_dir())


def check_choice(group: str, name: str) -> str | None:
    """A one-line complaint when ``name`` is not an option of ``group``, else None."""
    valid = options(group)
    if name in valid:
        return None
    label = group.rstrip("/").split("/")[-1]
    return f"unknown {label} '{name}'; choose one of: {', '.join(valid)}"


def check_group_overrides(argv: list[str]) -> str | None:
    """Catch ``dataset=nope`` before Hydra does, with one line listing the valid names."""
    known = set(groups())
    for arg in argv:
        if "=" not in arg or arg.startswith(("-", "hydra.", "+", "~")):
            continue
        key, value = arg.split("=", 1)
        key = key.lstrip("+")
        if key not in known or "(" in value or "$" in value:
            continue
        for choice in value.split(","):
            if choice != "null" and (complaint := check_choice(key, choice)):
                return complaint
    return None
