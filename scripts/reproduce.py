"""``make reproduce [PROFILE=full|quick|smoke] [ARGS=...]``: the papers' tables and figures.

Plans every run of the profile's tables (conf/reproduce/*.yaml) over its seeds, skips data sets
that cannot be loaded and methods not in this checkout (one line each), runs what neither the
results ledger (committed records) nor the results store holds as a current record, copies each
finished run into the ledger, then writes ``<out>/tables/<table>.{md,csv}`` and
``<out>/figures/`` from the records. Interrupt it at any point: finished runs are kept and the
next call resumes.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

from src.core.errors import UserError, exit_with
from src.core.seeds import MAX_RUNS, SEEDS_GRAMMAR, parse_seeds
from src.core.sweep_checks import overrides_problems
from src.core.validation import folder_problems
from src.reproduce.aggregate import (
    TableResult,
    count_runs,
    markdown,
    provenance,
    run_records,
    summarise,
    write_table,
)
from src.reproduce.availability import configured_status, dataset_status
from src.reproduce.figures import table_figures
from src.reproduce.freshness import Checker
from src.reproduce.launch import LAUNCHERS, REPO, launch
from src.reproduce.ledger import Ledger
from src.reproduce.projection import projection
from src.reproduce.readme import update_readme
from src.reproduce.records import Results
from src.reproduce.schedule import order_runs, parse_jobs, resolve_jobs
from src.reproduce.seed_batch import parse_seed_batch, pretrain_together, resolve_seed_batch
from src.reproduce.spec import Profile, Run, TableSpec, load_profile, load_table, plan
from src.reproduce.store import Store
from src.reproduce.sync import copy_finished, set_aside, stale_lines


class OneLineParser(argparse.ArgumentParser):
    """argparse whose errors are one line (exit 2) with a "did you mean" for a misspelt option,
    not the usage block."""

    def error(self, message: str) -> NoReturn:
        import difflib

        options = [o for a in self._actions for o in a.option_strings if o.startswith("--")]
        unknown = message.startswith("unrecognized arguments")
        words = [w.split("=")[0] for w in message.split() if unknown and w.startswith("--")]
        hint = ""
        for word in words:
            if match := difflib.get_close_matches(word, options, n=1, cutoff=0.6):
                hint = f"; did you mean {match[0]}?"
                break
        raise UserError(f"{message}{hint or '; --help lists the options'}")


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = OneLineParser(prog="scripts.reproduce", description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", default="full", help="conf/reproduce/profile/<name>.yaml")
    p.add_argument("--tables", help="comma-separated subset of the profile's tables")
    p.add_argument("--methods", help="comma-separated subset of the tables' methods")
    p.add_argument("--datasets", help="comma-separated subset of the tables' data sets")
    p.add_argument("--seeds", help=f"{SEEDS_GRAMMAR} ('3' is seed 3); default: the profile's")
    p.add_argument("--store", help="the results store (default: the profile's)")
    p.add_argument("--out", help="where tables/ and figures/ go (default: the profile's)")
    p.add_argument(
        "--ledger",
        help="the results ledger, the finished runs' records (default: <out>/ledger; for the "
        "full profile outputs/ledger, committed)",
    )
    p.add_argument("--launcher", choices=LAUNCHERS, help="default: the profile's")
    p.add_argument(
        "--jobs",
        default="auto",
        help="runs at once (seed groups in parallel; joblib: n_jobs); auto: from free GPU "
        "memory and CPU count on CUDA, 1 on the CPU (default)",
    )
    p.add_argument(
        "--seed-batch",
        default="auto",
        help="pretrain the SAEs of a data set's seeds together (one batched model, before the "
        "runs; src.pretrain_seeds): auto on CUDA (seeds per model from free GPU memory), off, "
        "or at most N seeds per model (CPU too)",
    )
    p.add_argument(
        "--launcher-override",
        action="append",
        default=[],
        help="Hydra override for the launcher, e.g. hydra.launcher.partition=gpu (repeatable)",
    )
    p.add_argument("--max-runs", type=int, help="run at most this many, then aggregate")
    p.add_argument("--dry-run", action="store_true", help="list the plan, run nothing")
    p.add_argument(
        "--project-device",
        default="H100",
        help="--dry-run projects the wall time from runs measured on this device (%(default)s)",
    )
    p.add_argument(
        "--aggregate-only",
        action="store_true",
        help="run nothing: rebuild tables/figures from the ledger (and the store, if any)",
    )
    p.add_argument("--no-readme", action="store_true", help="leave README.md's block alone")
    p.add_argument("overrides", nargs="*", help="Hydra overrides added to every run")
    return p.parse_args(argv)


def choose(option: str, wanted: str | None, valid: list[str]) -> list[str]:
    """``--tables a,b``: the names, each one of ``valid`` (one-line error naming the choices)."""
    if wanted is None:
        return valid
    names = [s.strip() for s in wanted.split(",")]
    unknown = [n for n in names if n not in valid]
    if "" in names or unknown:
        what = "an empty name" if "" in names else ", ".join(unknown)
        raise UserError(f"{option} {wanted!r}: {what} is not one of: {', '.join(valid)}")
    return [n for n in valid if n in names]


def load_specs(profile: Profile, args: argparse.Namespace) -> list[TableSpec]:
    """The profile's tables, narrowed by --tables/--methods/--datasets (names checked)."""
    specs = [load_table(n, profile) for n in choose("--tables", args.tables, profile.tables)]
    methods = choose(
        "--methods", args.methods, list(dict.fromkeys(m for s in specs for m in s.methods))
    )
    datasets = choose(
        "--datasets", args.datasets, list(dict.fromkeys(d for s in specs for d in s.datasets))
    )
    for spec in specs:
        spec.methods = [m for m in spec.methods if m in methods]
        spec.datasets = [d for d in spec.datasets if d in datasets]
    return specs


def launcher_problem(launcher: str) -> str | None:
    """A Hydra launcher whose plugin is not installed, said before any run is planned."""
    import importlib.util

    plugin = {"joblib": "hydra_joblib_launcher", "submitit_slurm": "hydra_submitit_launcher",
              "submitit_local": "hydra_submitit_launcher"}.get(launcher)  # fmt: skip
    if plugin is None or importlib.util.find_spec(f"hydra_plugins.{plugin}") is not None:
        return None
    name = plugin.replace("_", "-")
    return (
        f"--launcher {launcher} needs Hydra's {name} plugin, which is not installed (a "
        f"dependency of dcrepro: make install, or pip install '{name}>=1.2'), or use "
        "--launcher local or batch"
    )


def checked_in_checkout(overrides: list[str]) -> list[str]:
    """:func:`overrides_problems` where the runs start (the checkout), so relative paths in
    the overrides are checked where the runs will read and write them."""
    here = os.getcwd()
    os.chdir(REPO)
    try:
        return overrides_problems(overrides)
    finally:
        os.chdir(here)


def claim(pending: list[Run], store: Store) -> list[Run]:
    """The pending runs this invocation locks (and that are still unfinished once locked)."""
    mine = []
    for r in pending:
        if not store.lock(list(r.overrides), r.seed):
            continue
        if store.is_done(list(r.overrides), r.seed):  # finished by another invocation meanwhile
            store.unlock(list(r.overrides), r.seed)
            continue
        mine.append(r)
    return mine


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.max_runs is not None and args.max_runs < 0:
        raise UserError(
            f"--max-runs {args.max_runs}: use a number of runs ≥ 0 (0 runs nothing, then "
            "aggregates)"
        )
    if problems := checked_in_checkout(args.overrides):
        raise UserError("\n".join(f"{p} (in the overrides for every run)" for p in problems))
    _line_buffered()
    started = time.perf_counter()
    command = "python -m scripts.reproduce " + shlex.join(argv)
    profile = load_profile(args.profile)
    cli_seeds = parse_seeds(args.seeds) if args.seeds is not None else None
    jobs_wanted = parse_jobs(args.jobs)
    seed_batch_wanted = parse_seed_batch(args.seed_batch)
    specs = load_specs(profile, args)
    out_dir = Path(args.out).resolve() if args.out else REPO / profile.out
    store_dir = Path(args.store).resolve() if args.store else REPO / profile.store
    if not args.dry_run and (
        problems := folder_problems(store_dir, "--store DIR")
        + folder_problems(out_dir, "--out DIR")
    ):
        raise UserError("\n".join(problems))
    store = Store(store_dir)
    ledger = Ledger(Path(args.ledger).resolve() if args.ledger else out_dir / "ledger")
    results = Results(ledger, store, Checker())
    launcher = args.launcher or profile.launcher
    if problem := launcher_problem(launcher):
        raise UserError(problem)
    for leftover in store.remove_leftovers():
        print(f"removed {leftover} (left by a batch worker that is gone)")

    # The tables cover their own seeds (or the profile's) and every configured data set, so
    # they do not depend on what this machine can load; the runs are what --seeds asks for.
    datasets = [d for spec in specs for d in spec.datasets]
    table_seeds = {s.name: sorted({*(s.seeds or profile.seeds), *(cli_seeds or [])}) for s in specs}
    table_plan = plan(specs, profile.seeds, args.overrides, configured_status(datasets),
                      table_seeds)  # fmt: skip
    if args.aggregate_only:
        the_plan = table_plan
    else:
        run_seeds = {s.name: cli_seeds or s.seeds or profile.seeds for s in specs}
        status = dataset_status(datasets, args.overrides)
        the_plan = plan(specs, profile.seeds, args.overrides, status, run_seeds)
    for table, reason in the_plan.skipped:
        print(f"skip [{table}] {reason}")

    if not the_plan.runs and not the_plan.skipped:
        raise UserError(
            "these options select no run (no table has the chosen methods and data sets)"
        )
    unique = {r.overrides: r for r in the_plan.runs}  # tables share runs (same overrides)
    if len(unique) > MAX_RUNS:
        raise UserError(
            f"these options plan {len(unique):,} runs, more than {MAX_RUNS:,}; narrow them "
            "with --seeds, --tables, --methods or --datasets"
        )
    ordered = order_runs(list(unique.values()))  # seed-major: runs sharing an SAE back to back
    if not args.dry_run:
        copy_finished(ordered, results, ledger, store)
    for line in stale_lines(ordered, results):
        print(line)
    pending = [r for r in ordered if results.find(r.overrides, r.seed).result is None]
    waiting = set(pending)
    in_ledger = sum(
        results.find(r.overrides, r.seed).record_dir is not None and r not in waiting
        for r in ordered
    )
    print(
        f"profile {profile.name}, seeds {_seeds(cli_seeds or profile.seeds)}: "
        f"{len(the_plan.runs)} planned runs ({len(unique)} distinct), "
        f"{len(unique) - len(pending)} already done ({in_ledger} in the ledger {ledger.root}, "
        f"the rest in {store.root}), {len(pending)} "
        + ("missing (--aggregate-only runs nothing)" if args.aggregate_only else "to run")
    )
    if args.dry_run:
        for r in pending:
            print(f"  would run [{r.table}] {r.label}")
        for line in projection(pending, store, args.project_device, jobs_wanted):
            print(line)
        return 0
    failed = 0
    if pending and not args.aggregate_only:
        if args.max_runs is not None:
            pending = pending[: args.max_runs]
        for r in pending:
            if set_aside(r, store):
                print(f"set aside the stale result of {store.run_dir(list(r.overrides), r.seed)}")
        mine = claim(pending, store)
        if len(mine) < len(pending):
            print(
                f"{len(pending) - len(mine)} runs are run (or were finished) by another invocation"
            )
        jobs = resolve_jobs(jobs_wanted, mine)
        seed_batch = resolve_seed_batch(seed_batch_wanted, mine)
        if jobs > 1 and launcher in ("local", "batch"):
            print(f"{jobs} workers: seed groups in parallel, runs inside a group in order")

        def record(run: Run) -> None:
            """A finished run goes into the ledger at once."""
            try:
                ledger.add(store, list(run.overrides), run.seed, command)
            except OSError as exc:  # the final copy below tries again
                print(f"could not copy {run.label} into the ledger: {exc}")
            results.forget(run.overrides, run.seed)

        try:
            if seed_batch is not None and launcher in ("local", "batch"):
                pretrain_together(mine, store, seed_batch, command=command)
            launch(mine, store, launcher, jobs=jobs, launcher_overrides=args.launcher_override,
                   command=command, on_done=record)  # fmt: skip
        finally:
            for r in mine:
                store.unlock(list(r.overrides), r.seed)
                results.forget(r.overrides, r.seed)
            copy_finished(mine, results, ledger, store)
        failed = sum(not store.is_done(list(r.overrides), r.seed) for r in mine)

    print(f"{ledger.count()} records in the ledger {ledger.root}")
    for spec in specs:
        records = run_records(spec, table_plan, results)
        md_path = out_dir / "tables" / f"{spec.name}.md"
        if records.empty or not records["finished"].any():
            why = "nothing planned" if records.empty else "no planned run has finished"
            print(f"table [{spec.name}]: {why}; {md_path} not written (left as it was)")
            continue
        result = TableResult(spec, records, summarise(spec, records))
        figures = table_figures(result, out_dir)
        skipped = [reason for table, reason in table_plan.skipped if table == spec.name]
        prov = provenance(records, table_seeds[spec.name], command)
        md, csv = write_table(result, out_dir, markdown(result, prov, figures, skipped))
        runs = f"{count_runs(records[records['finished']])}/{count_runs(records)} runs"
        print(f"table: {md} (+ {csv.name}, {len(figures)} figures; {runs})")
    readme = REPO / "README.md"
    if (
        profile.name == "full"
        and not args.no_readme
        and (out_dir / "tables").resolve() == (REPO / "outputs" / "tables")
    ):
        if update_readme(readme, out_dir / "tables"):
            print(f"README results block updated from {out_dir / 'tables'}")
    print(f"this invocation: {time.perf_counter() - started:.0f} s")
    if failed:
        print(f"{failed} runs failed (see the lines above); run again to retry them")
        return 1
    return 0


def _line_buffered() -> None:
    """Progress reaches a log file line by line (``> reproduce.log 2>&1`` in the background)."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True)


def _seeds(seeds: list[int]) -> str:
    return ",".join(map(str, seeds))


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cli() -> NoReturn:
    """The command line: one-line errors (exit 2), Ctrl-C or SIGTERM kept resumable (130)."""
    signal.signal(signal.SIGTERM, _interrupt)  # a killed job stops its run and frees its locks
    try:
        sys.exit(main())
    except UserError as exc:
        exit_with(exc)
    except KeyboardInterrupt:
        print("interrupted: finished runs are kept; run the same command again to resume")
        sys.exit(130)


if __name__ == "__main__":
    cli()
