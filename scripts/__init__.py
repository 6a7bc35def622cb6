"""Command-line scripts; importing ``src`` first sets its OpenMP wait policy before torch loads."""

import src  # noqa: F401
