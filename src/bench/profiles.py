"""Benchmark profiles: which runs ``make bench`` times and how long the hand-written loops run.

A :class:`BenchProfile` is not a reproduction profile (:class:`src.reproduce.spec.Profile`,
``conf/reproduce/profile/*.yaml``): that one says which paper tables to reproduce (seeds,
launcher, per-table data sets, overrides, where results go); this one says what to *time* (one
DEC, DAC and DAC* run, hand-written loop iterations, speed-switch variants, targets). The two
meet in one place only: a bench's ``table`` part runs the harness with a reproduction profile,
which it names (:class:`~src.bench.table.TableBench` ``profile``) instead of copying.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from src.bench.table import TableBench
from src.bench.variants import VARIANTS

ALL_VARIANTS = tuple(VARIANTS)

# The parts a bench can time: single framework runs (each next to its hand-written loops) and
# DEC's table through the harness, seeds one after the other against all at once.
PARTS = ("dec", "dac", "dac_star", "table")

# Every benchmark run: no logger, no figures, no progress bar (the bench runs unattended).
COMMON = ("logger=none", "plots=false", "progress_bar=false")


@dataclass(frozen=True)
class BenchProfile:
    """What one ``make bench PROFILE=…`` times (see the module docstring)."""

    name: str
    description: str
    dec: tuple[str, ...]  # Hydra overrides of the DEC run
    dac: tuple[str, ...]  # Hydra overrides of the DAC run
    dac_star: tuple[str, ...]  # Hydra overrides of the DAC* run (the authors' MNIST recipe)
    table: TableBench  # DEC's table through the harness
    parts: tuple[str, ...]  # what the profile times by default (--parts)
    table_jobs: str  # --jobs of the table's parallel run (auto: the harness's choice)
    hand_iterations: int  # timed iterations of each hand-written SAE/DEC step
    hand_dac_iterations: int  # timed iterations of the hand-written DAC step
    warmup: int  # untimed iterations before each hand-written timing (and before a capture)
    variants: tuple[str, ...] = ()  # DAC's speed-switch variants (src.bench.variants)
    variant_overrides: tuple[str, ...] = ()  # added to the DAC/DAC* overrides of each variant
    targets: dict[str, float] = field(default_factory=dict)  # the targets, if any
    # DEC's run projected to the paper's SAE schedule (pretrain=paper's iterations at the
    # stage rates measured here; every other phase as measured)
    project_paper_schedule: bool = False


PROFILES: dict[str, BenchProfile] = {
    "paper": BenchProfile(
        "paper",
        "Full MNIST (70,000 images), DEC with the paper's SAE schedule (4 greedy layers × "
        "50,000 iterations, 100,000 fine-tuning, batch 256, SGD) and its KL phase to the "
        "tolerance stop (T = 160, tol 0.1 %); the DAC authors' MNIST recipe "
        "(experiment=dac_star_mnist_authors, 20 epochs); DEC Table 2 on MNIST (k-means, "
        "AE + k-means, DEC w/o backprop, DEC × seeds 0-4) through `make reproduce`'s harness "
        "(full profile, batch launcher), seed groups at once (--jobs auto) and in turn "
        "(--jobs 1). DAC (u ≤ l "
        "stop) only with --parts dac. DAC's speed-switch variants (eager, channels_last, "
        "graphs, compile, amp) for 1 epoch each.",
        dec=("method=dec", "dataset=mnist", "pretrain=paper"),
        dac=("method=dac", "dataset=mnist"),
        dac_star=("experiment=dac_star_mnist_authors",),
        table=TableBench("full", "mnist", "0-4", launcher="batch"),
        parts=("dec", "dac_star", "table"),
        table_jobs="auto",
        hand_iterations=3000,
        hand_dac_iterations=1000,
        warmup=20,
        variants=ALL_VARIANTS,
        variant_overrides=("method.max_epochs=1",),
        # issue 12: table ≤ 3 min, one DEC run ≤ 45 s, DAC* 20 epochs ≤ 4 min, ratio ≥ 0.9
        targets={
            "table_parallel_s": 180.0,
            "dec_end_to_end_s": 45.0,
            "dac_star_end_to_end_s": 240.0,
            "min_ratio": 0.9,
        },
    ),
    "cpu": BenchProfile(
        "cpu",
        "The CPU as a reproduction machine, full MNIST (70,000 images): DEC with a fiftieth "
        "of the paper's SAE schedule (4 greedy layers × 1,000 iterations, 2,000 fine-tuning, "
        "batch 256, SGD) and its KL phase to the tolerance stop (T = 160, tol 0.1 %), "
        "projected to the paper's schedule (4 × 50,000 + 100,000) from the stage rates "
        "measured here; one epoch of the DAC authors' MNIST recipe "
        "(experiment=dac_star_mnist_authors, 2,800 optimiser steps), measured end to end. "
        "The runs' own switches (conf/fast/auto.yaml) decide precision and memory format.",
        dec=(
            "method=dec",
            "dataset=mnist",
            "pretrain=paper",
            "pretrain.layerwise_iters=1000",
            "pretrain.finetune_iters=2000",
        ),
        dac=("method=dac", "dataset=mnist", "method.max_epochs=1"),
        dac_star=("experiment=dac_star_mnist_authors", "method.max_epochs=1"),
        table=TableBench("quick", "digits", "0-1"),
        parts=("dec", "dac_star"),
        table_jobs="2",
        hand_iterations=300,
        hand_dac_iterations=200,
        warmup=10,
        # issue 17: paper-schedule DEC ≤ 20 min, one DAC* epoch ≤ 4 min, ratio ≥ 0.9
        targets={
            "dec_paper_schedule_s": 1200.0,
            "dac_star_end_to_end_s": 240.0,
            "min_ratio": 0.9,
        },
        project_paper_schedule=True,
    ),
    "quick": BenchProfile(
        "quick",
        "CPU-sized: sklearn digits (1,797 8×8 images), DEC with the quick SAE schedule "
        "(4 × 1,000 greedy iterations, 300 fine-tuning) and its KL phase to the tolerance stop "
        "or 600 iterations (T = 20); DAC on digits with u and l meeting (u ≤ l stops it) "
        "after 9 epochs (meet_epochs=9; the default is 20); the DAC authors' recipe on digits "
        "for 3 epochs; DAC's speed-switch variants for 1 epoch each; DEC Table 2 on digits "
        "through the harness (quick profile, seeds 0-1), --jobs 1 against --jobs 2.",
        dec=("method=dec", "dataset=digits", "pretrain=quick"),
        dac=("method=dac", "dataset=digits", "method.meet_epochs=9"),
        dac_star=("experiment=dac_star_mnist_authors", "dataset=digits", "method.max_epochs=3"),
        table=TableBench("quick", "digits", "0-1"),
        parts=PARTS,
        table_jobs="2",
        hand_iterations=300,
        hand_dac_iterations=40,
        warmup=5,
        variants=ALL_VARIANTS,
        variant_overrides=("method.max_epochs=1",),
    ),
    "smoke": BenchProfile(
        "smoke",
        "Seconds-long wiring check: 300 digits, 20 iterations per SAE stage, at most 40 KL "
        "iterations (T = 10); DAC for one epoch; the DAC authors' recipe for one epoch of one "
        "chunk pass; DEC Table 2 on 300 digits through the harness (smoke profile, seeds 0-1), "
        "--jobs 1 against --jobs 2.",
        dec=(
            "method=dec",
            "dataset=digits",
            "dataset.subset=300",
            "pretrain=quick",
            "pretrain.layerwise_iters=20",
            "pretrain.finetune_iters=20",
            "method.max_iter=40",
            "method.update_interval=10",
            "method.n_init=2",
        ),
        dac=(
            "method=dac",
            "dataset=digits",
            "dataset.subset=300",
            "method.max_epochs=1",
            "method.targets=online",
            "method.eval_tactics=[argmax]",
        ),
        dac_star=(
            "experiment=dac_star_mnist_authors",
            "dataset=digits",
            "dataset.subset=300",
            "method.max_epochs=1",
            "method.chunk_passes=1",
        ),
        table=TableBench("smoke", "digits", "0-1"),
        parts=PARTS,
        table_jobs="2",
        hand_iterations=5,
        hand_dac_iterations=2,
        warmup=1,
    ),
}
