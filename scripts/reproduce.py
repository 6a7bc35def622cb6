"""``make reproduce [PROFILE=full|quick|smoke] [ARGS=...]``: the papers' tables and figures.

Plans every run of the profile's tables (conf/reproduce/*.yaml) over its seeds, skips data sets
that cannot be loaded and methods not in this checkout (one line each), runs what the results
store does not hold yet, then writes ``<out>/tables/<table>.{md,csv}`` and ``<out>/figures/``.
Interrupt it at any point: finished runs are kept and the next call resumes.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import time
from pathlib import Path

from src.errors import UserError
from src.reproduce.aggregate import (
    TableResult,
    markdown,
    provenance,
    run_records,
    summarise,
    write_table,
)
from src.reproduce.availability import dataset_status
from src.reproduce.figures import table_figures
from src.reproduce.launch import LAUNCHERS, REPO, launch
from src.reproduce.readme import update_readme
from src.reproduce.spec import Plan, load_profile, load_table, plan
from src.reproduce.store import Store


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="scripts.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="full", help="conf/reproduce/profile/<name>.yaml")
    p.add_argument("--tables", help="comma-separated subset of the profile's tables")
    p.add_argument("--methods", help="comma-separated subset of methods")
    p.add_argument("--datasets", help="comma-separated subset of data sets")
    p.add_argument("--seeds", help="'5' (seeds 0-4) or '0,3,7'; default: the profile's")
    p.add_argument(
        "--store", default="outputs/store", help="the results store (default %(default)s)"
    )
    p.add_argument("--out", help="where tables/ and figures/ go (default: the profile's)")
    p.add_argument("--launcher", choices=LAUNCHERS, help="default: the profile's")
    p.add_argument("--jobs", type=int, default=2, help="parallel jobs for launcher=joblib")
    p.add_argument(
        "--launcher-override",
        action="append",
        default=[],
        help="Hydra override for the launcher, e.g. hydra.launcher.partition=gpu (repeatable)",
    )
    p.add_argument("--max-runs", type=int, help="run at most this many, then aggregate")
    p.add_argument("--dry-run", action="store_true", help="list the plan, run nothing")
    p.add_argument("--aggregate-only", action="store_true", help="only rebuild tables/figures")
    p.add_argument("--no-readme", action="store_true", help="leave README.md's block alone")
    p.add_argument("overrides", nargs="*", help="Hydra overrides added to every run")
    return p.parse_args(argv)


def _subset(names: list[str], wanted: str | None) -> list[str]:
    if not wanted:
        return names
    keep = [s.strip() for s in wanted.split(",") if s.strip()]
    return [n for n in names if n in keep]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    started = time.perf_counter()
    command = "python -m scripts.reproduce " + shlex.join(argv)
    profile = load_profile(args.profile)
    if args.seeds:
        s = args.seeds
        profile.seeds = list(range(int(s))) if s.isdigit() else [int(x) for x in s.split(",")]
    specs = []
    for name in _subset(profile.tables, args.tables):
        spec = load_table(name, profile)
        spec.methods = _subset(spec.methods, args.methods)
        spec.datasets = _subset(spec.datasets, args.datasets)
        specs.append(spec)
    out_dir = Path(args.out or profile.out)
    store = Store(Path(args.store))
    launcher = args.launcher or profile.launcher

    datasets = [d for spec in specs for d in spec.datasets]
    status = dataset_status(datasets, args.overrides)
    the_plan: Plan = plan(specs, profile.seeds, args.overrides, status)
    for table, reason in the_plan.skipped:
        print(f"skip [{table}] {reason}")

    unique = {r.overrides: r for r in the_plan.runs}  # tables share runs (same overrides)
    pending = [r for r in unique.values() if not store.is_done(list(r.overrides), r.seed)]
    print(
        f"profile {profile.name}: {len(the_plan.runs)} planned runs ({len(unique)} distinct), "
        f"{len(unique) - len(pending)} already in {store.root}, {len(pending)} to run"
    )
    if args.dry_run:
        for r in pending:
            print(f"  would run [{r.table}] {r.label}")
        return 0
    failed = 0
    if pending and not args.aggregate_only:
        if args.max_runs is not None:
            pending = pending[: args.max_runs]
        mine = [r for r in pending if store.lock(list(r.overrides), r.seed)]
        if len(mine) < len(pending):
            print(
                f"{len(pending) - len(mine)} runs are being run by another invocation; left to it"
            )
        try:
            launch(mine, store, launcher, jobs=args.jobs, launcher_overrides=args.launcher_override)
        finally:
            for r in mine:
                store.unlock(list(r.overrides), r.seed)
        failed = sum(not store.is_done(list(r.overrides), r.seed) for r in mine)

    elapsed = time.perf_counter() - started
    for spec in specs:
        records = run_records(spec, the_plan, store)
        result = TableResult(spec, records, summarise(spec, records))
        figures = table_figures(result, out_dir)
        skipped = [reason for table, reason in the_plan.skipped if table == spec.name]
        prov = provenance(records, command, profile.seeds, elapsed)
        md, csv = write_table(result, out_dir, markdown(result, prov, figures, skipped))
        print(f"table: {md} (+ {csv.name}, {len(figures)} figures)")
    readme = REPO / "README.md"
    if (
        profile.name == "full"
        and not args.no_readme
        and (out_dir / "tables").resolve() == (REPO / "outputs" / "tables")
    ):
        if update_readme(readme, out_dir / "tables"):
            print(f"README results block updated from {out_dir / 'tables'}")
    if failed:
        print(f"{failed} runs failed (see the lines above); run again to retry them")
        return 1
    return 0


def _interrupt(signum, frame):
    raise KeyboardInterrupt


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupt)  # a killed job stops its run and frees its locks
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume")
        sys.exit(130)
