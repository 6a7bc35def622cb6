"""Benchmark profiles: which runs ``make bench`` times and how long the hand-written loops run."""

from __future__ import annotations

from dataclasses import dataclass, field

# Every benchmark run: no logger, no figures, no progress bar (the bench runs unattended).
COMMON = ("logger=none", "plots=false", "progress_bar=false")


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    dec: tuple[str, ...]  # Hydra overrides of the DEC run
    dac: tuple[str, ...]  # Hydra overrides of the DAC run
    hand_iterations: int  # timed iterations of each hand-written SAE/DEC step
    hand_dac_iterations: int  # timed iterations of the hand-written DAC step
    warmup: int  # untimed iterations before each hand-written timing (and before a capture)
    targets: dict[str, float] = field(default_factory=dict)  # the targets, if any


PROFILES: dict[str, Profile] = {
    "paper": Profile(
        "paper",
        "Full MNIST (70,000 images), DEC with the paper's SAE schedule (4 greedy layers × "
        "50,000 iterations, 100,000 fine-tuning, batch 256, SGD) and its KL phase to the "
        "tolerance stop (T = 160, tol 0.1 %); DAC on full MNIST to its stopping rule u(λ) ≤ l(λ).",
        dec=("method=dec", "dataset=mnist", "pretrain=paper"),
        dac=("method=dac", "dataset=mnist"),
        hand_iterations=3000,
        hand_dac_iterations=1000,
        warmup=20,
        targets={"dec_end_to_end_s": 120.0, "min_ratio": 0.8, "dac_end_to_end_s": 600.0},
    ),
    "quick": Profile(
        "quick",
        "CPU-sized: sklearn digits (1,797 8×8 images), DEC with the quick SAE schedule "
        "(4 × 1,000 greedy iterations, 300 fine-tuning) and its KL phase to the tolerance stop "
        "or 600 iterations (T = 20); DAC on digits with u and l meeting (u ≤ l stops it) "
        "after 9 epochs (meet_epochs=9; the default is 20).",
        dec=("method=dec", "dataset=digits", "pretrain=quick"),
        dac=("method=dac", "dataset=digits", "method.meet_epochs=9"),
        hand_iterations=300,
        hand_dac_iterations=40,
        warmup=5,
    ),
    "smoke": Profile(
        "smoke",
        "Seconds-long wiring check: 300 digits, 20 iterations per SAE stage, at most 40 KL "
        "iterations (T = 10); DAC for one epoch.",
        dec=(
            "method=dec",
            "dataset=digits",
            "dataset.subset=300",
            "pretrain=quick",
            "pretrain.layerwise_iters=20",
            "pretrain.finetune_iters=20",
            "dataset.dec_max_iter=40",
            "dataset.dec_update_interval=10",
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
        hand_iterations=5,
        hand_dac_iterations=2,
        warmup=1,
    ),
}
