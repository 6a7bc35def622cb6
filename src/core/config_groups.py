"""The Hydra config groups under ``conf/``: the one registry of data sets, methods, …"""

from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def options(group: str) -> list[str]:
    """The names a config group offers (its YAML files), sorted."""
    folder = CONF_DIR / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


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
