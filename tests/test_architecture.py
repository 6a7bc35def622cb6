"""Imports run one way (issue 19): core below everything, the engine below the methods, the
run-time code never on top of the harness, and no test module importing another.

A small AST check over every ``import`` and ``from … import`` (lazy ones inside functions
included). The layers, bottom up: ``core`` → ``data``/``recording`` → ``engine`` (with
``callbacks``, ``models``) → ``modules`` → ``pretraining`` → ``methods`` → the entry points
(``src/run.py``, ``src/predict.py``, ``src/pretrain_seeds.py``, ``src/checkpoints.py``) → the harness
(``src/reproduce``, ``src/bench``, ``scripts/``)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.helpers import REPO

ENTRY_POINTS = {"src.run", "src.predict", "src.pretrain_seeds", "src.checkpoints", "src.api"}
HARNESS = ("src.reproduce", "src.bench", "scripts")
TOP_LEVEL = {"__init__.py", "run.py", "predict.py", "pretrain_seeds.py", "checkpoints.py", "api.py"}
# a package → the packages of src it must not import (besides the harness and the entry points)
FORBIDDEN = {
    "src.core": ("src.data", "src.recording", "src.engine", "src.callbacks", "src.models",
                 "src.modules", "src.pretraining", "src.methods"),
    "src.data": ("src.recording", "src.engine", "src.callbacks", "src.models", "src.modules",
                 "src.pretraining", "src.methods"),
    "src.recording": ("src.engine", "src.callbacks", "src.models", "src.modules",
                      "src.pretraining", "src.methods"),
    "src.engine": ("src.models", "src.modules", "src.pretraining", "src.methods"),
    "src.callbacks": ("src.modules", "src.pretraining", "src.methods"),
    "src.models": ("src.recording", "src.engine", "src.callbacks", "src.modules",
                   "src.pretraining", "src.methods"),
    "src.modules": ("src.pretraining", "src.methods"),
    "src.pretraining": ("src.methods",),
    "src.methods": (),
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every absolute module name ``path`` imports, at any depth of its code."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            pytest.fail(f"{path}: relative import; write the absolute module name")
    return found


def under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def src_modules() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in sorted((REPO / "src").rglob("*.py"))}


def test_top_level_of_src_holds_only_entry_points():
    loose = sorted(p.name for p in (REPO / "src").glob("*.py") if p.name not in TOP_LEVEL)
    assert loose == [], f"modules at the top of src/ belong in a package: {loose}"


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_downwards_only(package):
    banned = (*FORBIDDEN[package], *HARNESS)
    bad = [
        f"{mod} imports {name}"
        for mod, names in src_modules().items()
        if under(mod, package)
        for name in names
        if any(under(name, b) for b in banned) or name in ENTRY_POINTS
    ]
    assert bad == []


def test_core_imports_nothing_else_of_src():
    bad = [
        f"{mod} imports {name}"
        for mod, names in src_modules().items()
        if under(mod, "src.core")
        for name in names
        if under(name, "src") and not under(name, "src.core") and name != "src"
    ]
    assert bad == []


def test_run_time_code_never_depends_on_the_harness():
    """Only the harness itself (``src/reproduce``, ``src/bench``, ``scripts/``) and the tests
    import the harness; the entry points import no other entry point (but the Python API,
    ``src/api.py``, a facade over ``src.run`` and ``src.predict``)."""
    files = sorted((REPO / "src").rglob("*.py")) + sorted((REPO / "scripts").glob("*.py"))
    bad = []
    for path in files:
        mod = module_name(path)
        if any(under(mod, h) for h in HARNESS):
            continue
        for name in imports(path):
            if any(under(name, h) for h in HARNESS):
                bad.append(f"{mod} imports {name}")
            elif name in ENTRY_POINTS and name != mod and mod != "src.api":
                bad.append(f"{mod} imports the entry point {name}")
    assert bad == []


def test_no_test_module_imports_another():
    """Shared test code lives in ``tests/helpers/``; a test module (or ``conftest.py``) is never
    imported by another, and the helpers import no test module."""
    bad = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        for name in imports(path):
            if under(name, "tests") and not under(name, "tests.helpers") and name != "tests":
                bad.append(f"{module_name(path)} imports {name}")
    assert bad == []


def test_the_checker_sees_a_violation(tmp_path):
    """The AST walk finds lazy imports inside functions (so the checks above can fail)."""
    path = tmp_path / "lazy.py"
    path.write_text("def f():\n    from src.methods.base import MethodOutput\n")
    assert "src.methods.base" in imports(path)


def test_every_import_of_the_project_resolves_in_this_checkout():
    """``from src.pkg import name``: ``name`` is a module of the checkout or defined in
    ``pkg``. (An editable install of another checkout would otherwise answer a stale name,
    e.g. a module that moved, from that checkout's files.)"""
    missing = []
    for path in [*(REPO / "src").rglob("*.py"), *(REPO / "tests").rglob("*.py"),
                 *(REPO / "scripts").glob("*.py")]:  # fmt: skip
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            if node.module.split(".")[0] not in ("src", "tests", "scripts"):
                continue
            base = REPO.joinpath(*node.module.split("."))
            source = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
            if not source.exists():
                missing.append(f"{module_name(path)}: no module {node.module}")
                continue
            text = source.read_text()
            for alias in node.names:
                submodule = base / f"{alias.name}.py"
                if not (submodule.exists() or (base / alias.name).is_dir() or alias.name in text):
                    missing.append(f"{module_name(path)}: {node.module} has no {alias.name}")
    assert missing == []
