"""Issue #17's accuracy check, fp32 against bf16, from the runs' own ``result.json`` files.

Copies each finished run's ``result.json`` into ``runs/<name>.json`` here (``--runs DIR``: the
folder holding one sub-folder per run, named ``dec_tenth_<precision>_seed<k>`` or
``dac_star_1epoch_<precision>_seed<k>``), then writes ``README.md``'s tables from the copies
alone: ACC/NMI/ARI per seed and precision side by side, per precision the mean ± std over the
seeds that finished, and the bf16 − fp32 difference against the fp32 seed-to-seed std.
Unfinished runs are listed as missing, never filled in.

Usage: python outputs/checks/bf16_accuracy/collect.py [--runs DIR]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import statistics
from pathlib import Path

HERE = Path(__file__).parent
METRICS = ("acc", "nmi", "ari")
PLANNED = {"dec_tenth": {"fp32": [0, 1, 2], "bf16": [0, 1, 2]}, "dac_star_1epoch": {"bf16": [0, 1]}}
NOTE = (
    "Wall times are not speed measurements: the runs shared the 2 cores with other jobs "
    "(tests, helpers), one after another from `run_checks.sh` in a worktree of one commit; "
    "the first run (bf16 seed 0) ran with `OMP_WAIT_POLICY` unset, the later ones with "
    "`OMP_WAIT_POLICY=PASSIVE` (see `../omp_wait_policy/`). Speed: `outputs/bench/cpu-*`."
)
NAME = re.compile(r"^(dec_tenth|dac_star_1epoch)_(fp32|bf16)_seed(\d+)$")


def copy_finished(runs: Path) -> None:
    (HERE / "runs").mkdir(exist_ok=True)
    for folder in sorted(runs.iterdir()):
        result = folder / "result.json"
        if NAME.match(folder.name) and result.is_file():
            shutil.copyfile(result, HERE / "runs" / f"{folder.name}.json")


def load() -> dict[tuple[str, str, int], dict]:
    out = {}
    for path in sorted((HERE / "runs").glob("*.json")):
        m = NAME.match(path.stem)
        if m:
            out[(m[1], m[2], int(m[3]))] = json.loads(path.read_text())
    return out


def mean_std(values: list[float]) -> str:
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.4f} (n=1)"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n={len(values)})"


def section(check: str, runs: dict, title: str, command: str) -> list[str]:
    lines = [f"## {title}", "", f"`{command}`", ""]
    lines += [
        "| seed | precision | ACC | NMI | ARI | wall s | stopped by | commit |",
        "|---|---|---:|---:|---:|---:|---|---|",
    ]
    missing = []
    for precision, seeds in PLANNED[check].items():
        for seed in seeds:
            r = runs.get((check, precision, seed))
            if r is None:
                missing.append(f"{precision} seed {seed}")
                continue
            e, m = r.get("extra") or {}, r["metrics"]
            stop = e.get("dec_stopped_by") or e.get("stopped_by") or "max_epochs"
            lines.append(
                f"| {seed} | {precision} | {m['acc']:.4f} | {m['nmi']:.4f} | {m['ari']:.4f} "
                f"| {r['wall_time_s']['total']:,.0f} | {stop} | `{r['commit'][:7]}` |"
            )
    lines += [
        "",
        "| precision | " + " | ".join(k.upper() for k in METRICS) + " |",
        "|---|" + "---|" * len(METRICS),
    ]
    per: dict[str, dict[str, list[float]]] = {}
    for precision in PLANNED[check]:
        seeds = [s for s in PLANNED[check][precision] if (check, precision, s) in runs]
        per[precision] = {
            k: [runs[(check, precision, s)]["metrics"][k] for s in seeds] for k in METRICS
        }
        lines.append(
            f"| {precision} | " + " | ".join(mean_std(per[precision][k]) for k in METRICS) + " |"
        )
    both = [
        s
        for s in PLANNED[check].get("fp32", [])
        if (check, "fp32", s) in runs and (check, "bf16", s) in runs
    ]
    if both:
        lines += [
            "",
            "Same-seed difference bf16 − fp32 against the fp32 seed-to-seed std:",
            "",
            "| metric | seeds | mean difference | fp32 std | within one std |",
            "|---|---|---:|---:|---|",
        ]
        for k in METRICS:
            diffs = [
                runs[(check, "bf16", s)]["metrics"][k] - runs[(check, "fp32", s)]["metrics"][k]
                for s in both
            ]
            std = statistics.stdev(per["fp32"][k]) if len(per["fp32"][k]) > 1 else None
            if not diffs:
                continue
            d = statistics.mean(diffs)
            verdict = "–" if std is None else ("yes" if abs(d) <= std else "no")
            std_text = "–" if std is None else f"{std:.4f}"
            lines.append(
                f"| {k.upper()} | {','.join(map(str, both))} | {d:+.4f} | {std_text} | {verdict} |"
            )
    lines += ["", "Missing (not finished yet): " + (", ".join(missing) if missing else "none"), ""]
    return lines


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=Path, help="copy finished runs from here first")
    args = p.parse_args()
    if args.runs:
        copy_finished(args.runs)
    runs = load()
    any_run = next(iter(runs.values()), None)
    device = any_run["device"] if any_run else "–"
    lines = [
        "# bf16 against fp32 on full MNIST (issue #17)",
        "",
        "Generated by `python outputs/checks/bf16_accuracy/collect.py` from the runs' own "
        "`result.json` files (copied into `runs/`); nothing here is written by hand. Device: "
        f"{device}; each run's commit, date, command and environment are in its JSON.",
        "",
        NOTE,
        "",
    ]
    lines += section(
        "dec_tenth",
        runs,
        "DEC, a tenth of the paper's SAE schedule, seeds 0-2",
        "python -m src.run method=dec dataset=mnist pretrain.layerwise_iters=5000 "
        "pretrain.finetune_iters=10000 pretrain.lr_step=2000 fast.amp=true|false seed=S "
        "trainer=cpu logger=csv plots=false progress_bar=false",
    )
    lines += section(
        "dac_star_1epoch",
        runs,
        "DAC* (the authors' MNIST loop), 1 epoch, bf16, seeds 0-1",
        "python -m src.run experiment=dac_star_mnist_authors method.max_epochs=1 "
        "fast.channels_last=true fast.amp=true seed=S trainer=cpu logger=csv plots=false "
        "progress_bar=false",
    )
    lines += [
        "The fp32 DAC* seed-0 value to set these beside is committed in "
        "`../dac_star_mnist_authors_1epoch/` (ACC .9597, fp32, NCHW).",
        "",
    ]
    (HERE / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
