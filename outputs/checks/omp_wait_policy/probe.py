"""How a CPU run degrades when another job shares its cores, by OpenMP wait policy.

Each measurement is a fresh subprocess timing a plain SAE step (DEC's 784-500-500-2000-10
autoencoder, batch 256, SGD momentum; fine-tuning, and greedy layer 3, the smallest step) with
``OMP_NUM_THREADS`` = the cores, ``OMP_WAIT_POLICY`` unset (libgomp spins before sleeping) or
``PASSIVE``, alone or beside a competitor (the same fine-tuning loop in another process with
the same policy). Writes ``results.json`` and prints a Markdown table.

Usage (with the project's venv, on an otherwise idle machine):
    python outputs/checks/omp_wait_policy/probe.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
STEP = r"""
import sys, time, torch
kind, bf16, seconds = sys.argv[1], sys.argv[2] == "bf16", float(sys.argv[3])
dims = [784, 500, 500, 2000, 10]
if kind == "layer3":
    net = torch.nn.Sequential(torch.nn.Linear(2000, 10), torch.nn.Linear(10, 2000), torch.nn.ReLU())
    x = torch.rand(256, 2000)
else:
    layers = []
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    back = []
    for a, b in zip(dims[::-1][:-1], dims[::-1][1:]):
        back += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    net = torch.nn.Sequential(*layers[:-1], *back[:-1])
    x = torch.rand(256, 784)
opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, foreach=True)
def step():
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        y = net(x)
    loss = (y.float() - x).pow(2).mean()
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
for _ in range(10):
    step()
n, t = 0, time.perf_counter()
while time.perf_counter() - t < seconds:
    step(); n += 1
print((time.perf_counter() - t) / n * 1e3)
"""


def measure(kind: str, precision: str, policy: str | None, shared: bool, seconds: float) -> float:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env["OMP_NUM_THREADS"] = str(os.cpu_count())
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    rival = None
    if shared:
        rival = subprocess.Popen(
            [sys.executable, "-c", STEP, "finetune", precision, str(seconds + 20)],
            env=env,
            stdout=subprocess.DEVNULL,
        )
        time.sleep(5)  # the competitor is past its start-up
    try:
        out = subprocess.run(
            [sys.executable, "-c", STEP, kind, precision, str(seconds)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
    finally:
        if rival is not None:
            rival.kill()
            rival.wait()
    return float(out.stdout.strip())


def main() -> None:
    import torch

    rows = []
    for precision in ("fp32", "bf16"):
        for kind in ("finetune", "layer3"):
            for policy in (None, "PASSIVE"):
                for shared in (False, True):
                    ms = measure(kind, precision, policy, shared, seconds=8.0)
                    rows.append(
                        {
                            "step": kind,
                            "precision": precision,
                            "policy": policy or "unset",
                            "shared": shared,
                            "ms_per_step": ms,
                        }
                    )
                    print(rows[-1], flush=True)
    record = {
        "command": "python outputs/checks/omp_wait_policy/probe.py",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "torch": torch.__version__,
        "cores": os.cpu_count(),
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=HERE
        ).stdout.strip(),
        "rows": rows,
    }
    (HERE / "results.json").write_text(json.dumps(record, indent=2) + "\n")
    print("| step | precision | OMP_WAIT_POLICY | alone ms | shared ms | shared ÷ alone |")
    print("|---|---|---|---:|---:|---:|")
    for r in rows:
        if not r["shared"]:
            s = next(
                x
                for x in rows
                if x["shared"] and all(x[k] == r[k] for k in ("step", "precision", "policy"))
            )
            print(
                f"| {r['step']} | {r['precision']} | {r['policy']} | {r['ms_per_step']:.1f} "
                f"| {s['ms_per_step']:.1f} | {s['ms_per_step'] / r['ms_per_step']:.2f} |"
            )


if __name__ == "__main__":
    main()
