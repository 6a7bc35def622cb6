"""Batch indices drawn on the device from seeded random permutations (no DataLoader)."""

from __future__ import annotations

import torch


class BatchStream:
    """Fixed-size batches of indices, consecutive slices of seeded random permutations.

    A batch that reaches the end of one permutation is completed from the next one (as a
    Caffe data layer wraps around), so every batch has exactly ``batch_size`` indices — the
    static shape a CUDA graph needs. Everything stays on ``device``; ``pos`` is a host int.
    """

    def __init__(self, n: int, batch_size: int, device: torch.device, seed: int) -> None:
        self.n = int(n)
        self.batch_size = min(int(batch_size), self.n)
        self.device = device
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(int(seed))
        self.perm = self._permutation()
        self.pos = 0

    def _permutation(self) -> torch.Tensor:
        return torch.randperm(self.n, generator=self.generator, device=self.device)

    def next(self) -> torch.Tensor:
        end = self.pos + self.batch_size
        if end <= self.n:
            batch = self.perm[self.pos : end]
            self.pos = end
            return batch
        head = self.perm[self.pos :]
        self.perm = self._permutation()
        rest = self.batch_size - len(head)
        self.pos = rest
        return torch.cat([head, self.perm[:rest]])
