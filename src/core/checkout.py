"""Entry points that live in the checkout's ``scripts/`` (the harness, the bench), reachable
as package modules from any working directory: ``python -m src.reproduce``, ``python -m
src.bench`` and the console commands ``dcrepro-reproduce``/``dcrepro-bench``."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parents[2]  # the checkout (through an editable install too)


def run_script(name: str) -> NoReturn:
    """Run ``scripts/<name>.py``'s command line, the checkout first on ``sys.path``."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    importlib.import_module(f"scripts.{name}").cli()
    raise SystemExit(0)  # cli() always exits; for the type checker
