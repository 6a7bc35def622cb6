"""Helpers shared by the test modules (not collected): a test module imports these, never
another test module."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # the checkout
