"""The seed-list grammar every command shares: ``0-4``, ``0,3,7``, ``0-2,9``."""

from __future__ import annotations

from collections import Counter

from src.core.errors import UserError

SEEDS_GRAMMAR = "a comma-separated list of seeds and inclusive ranges, e.g. 0-4, 0,3,7 or 0-2,9"

MAX_SEED = 2**32 - 1  # numpy's seed range

MAX_RUNS = 10_000  # more is a typo, not a plan (and would take minutes only to list)


def parse_seeds(text: str, what: str = "--seeds") -> list[int]:
    """``0-4`` → [0, 1, 2, 3, 4]; ``0,3,7`` → [0, 3, 7]; ``3`` → [3] (seed 3, not a count).

    Empty items, non-integers, reversed ranges and repeated seeds are one-line errors.
    """
    seeds: list[int] = []
    for item in str(text).split(","):
        item = item.strip()
        lo, sep, hi = item.partition("-")
        if not item or not lo.strip().isdigit() or (sep and not hi.strip().isdigit()):
            shown = "an empty item" if not item else f"{item!r}"
            raise UserError(f"{what} {text!r}: {shown} is not a seed or range; use {SEEDS_GRAMMAR}")
        first, last = int(lo), int(hi) if sep else int(lo)
        if last < first or last > MAX_SEED:
            raise UserError(
                f"{what} {text!r}: range {item!r} is empty or beyond {MAX_SEED}; "
                f"use {SEEDS_GRAMMAR}"
            )
        if len(seeds) + last - first + 1 > MAX_RUNS:
            raise UserError(
                f"{what} {text!r} lists more than {MAX_RUNS:,} seeds (each at least one run); "
                "a reproduction plans at most that many runs: use fewer seeds"
            )
        seeds.extend(range(first, last + 1))
    repeated = sorted(s for s, n in Counter(seeds).items() if n > 1)
    if repeated:
        raise UserError(
            f"{what} {text!r} lists seed {', '.join(map(str, repeated))} more than once; "
            "each seed is one run"
        )
    return seeds
