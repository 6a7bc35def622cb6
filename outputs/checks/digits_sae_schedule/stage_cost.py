"""Interleaved CPU micro-benchmark of one SAE pretraining step per stage at batch 32 and 64
(min / median of 5 repeats of 40 steps). Run from the repository root with PYTHONPATH=. (measured
at 309e1d6: SAEStack with baddbmm, bernoulli dropout masks; ``stage_loss`` has since moved
from src.modules.sae_pretrain to src.pretraining.module)."""

import time

import torch
from sklearn.datasets import load_digits

from src.models.sae import SAE, SAEStack
from src.pretraining.module import stage_loss

X = torch.tensor(load_digits().data, dtype=torch.float32)
X = X / X.pow(2).mean().sqrt()
torch.manual_seed(0)
st = SAEStack([SAE(64, [500, 500, 2000], 10)])
inputs = {
    layer: (st.encode_below(X.unsqueeze(0), layer).detach() if layer else X.unsqueeze(0))
    for layer in range(4)
}
inputs[None] = X.unsqueeze(0)
g = [torch.Generator().manual_seed(3)]
res = {}


def timeit(layer, B, n=40):
    params = list(st.parameters())
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    x = inputs[layer]

    def step():
        idx = torch.randint(0, x.shape[1], (B,))
        xb = x.index_select(1, idx)
        loss = stage_loss(st, xb, layer, 0.2, 0.2, "mean", g).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(5):
        step()
    t = time.perf_counter()
    for _ in range(n):
        step()
    return (time.perf_counter() - t) / n * 1e3


for _repeat in range(5):
    for B in (32, 64):
        for layer in (0, 1, 2, 3, None):
            res.setdefault((B, layer), []).append(timeit(layer, B))
for k, v in sorted(res.items(), key=str):
    print(k, f"min {min(v):.2f} ms median {sorted(v)[2]:.2f}")
