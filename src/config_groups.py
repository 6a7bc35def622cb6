"""The Hydra config groups under ``conf/``: the one registry of data sets, methods, …"""

from __future__ import annotations

from pathlib import Path

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"


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
