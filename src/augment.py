"""On-device, per-sample image augmentation built from a config list of v2 transforms.

torchvision's ``v2.RandomAffine`` draws *one* transform per call, so on a batch tensor every
image would move the same way. The DAC authors' Keras generator draws one transform per image.
``PerSampleRandomAffine`` keeps v2's parameters and validation (it subclasses
``v2.RandomAffine``) but draws the angle, shift and zoom per image and warps the whole batch in
one ``grid_sample`` call on the device. Any other v2 transform may be listed too; it then acts
on the batch as torchvision defines it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn
from torchvision.transforms import v2


class PerSampleRandomAffine(v2.RandomAffine):
    """``v2.RandomAffine`` with independent parameters per image of a (n, c, h, w) batch.

    ``padding_mode``: ``border`` repeats edge pixels (Keras' ``fill_mode='nearest'``, the
    authors'), ``zeros`` fills with 0. ``mode``: ``bilinear`` or ``nearest`` interpolation.
    Shear is not supported (the DAC scripts use none).
    """

    def __init__(
        self,
        degrees: float | Sequence[float],
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        padding_mode: str = "border",
        mode: str = "bilinear",
    ) -> None:
        super().__init__(degrees, translate=translate, scale=scale)
        self.padding_mode = padding_mode
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, _, h, w = x.shape
        dev, dt = x.device, x.dtype
        lo, hi = float(self.degrees[0]), float(self.degrees[1])
        angle = torch.empty(n, device=dev, dtype=dt).uniform_(lo, hi) * (math.pi / 180.0)
        if self.scale is not None:
            s = torch.empty(n, device=dev, dtype=dt).uniform_(*map(float, self.scale))
        else:
            s = torch.ones(n, device=dev, dtype=dt)
        t = torch.zeros(n, 2, device=dev, dtype=dt)
        if self.translate is not None:
            # a shift of fraction f of the width is 2f in normalised [-1, 1] coordinates
            tx, ty = (float(v) for v in self.translate)
            t[:, 0].uniform_(-2.0 * tx, 2.0 * tx)
            t[:, 1].uniform_(-2.0 * ty, 2.0 * ty)
        cos, sin = torch.cos(angle), torch.sin(angle)
        # output = s·R·input + t  ⇒  input = R⁻¹(output − t)/s; affine_grid wants the latter
        inv = torch.stack([torch.stack([cos, sin], 1), torch.stack([-sin, cos], 1)], 1) / s.view(
            n, 1, 1
        )
        shift = -(inv @ t.unsqueeze(2))
        theta = torch.cat([inv, shift], dim=2)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        return F.grid_sample(
            x, grid, mode=self.mode, padding_mode=self.padding_mode, align_corners=False
        )


class ChannelShift(v2.Transform):
    """Keras' ``channel_shift_range``: add U(−r, r) per image and channel, clipped to the
    image's own [min, max]."""

    def __init__(self, intensity: float) -> None:
        super().__init__()
        self.intensity = float(intensity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n, c = x.shape[:2]
        shift = torch.empty(n, c, 1, 1, device=x.device, dtype=x.dtype)
        shift.uniform_(-self.intensity, self.intensity)
        flat = x.flatten(1)
        lo = flat.amin(1).view(n, 1, 1, 1)
        hi = flat.amax(1).view(n, 1, 1, 1)
        return torch.minimum(torch.maximum(x + shift, lo), hi)


class Augment(nn.Module):
    """The config's transforms applied in order to a batch tensor (identity when empty)."""

    def __init__(self, transforms: Sequence[Any]) -> None:
        super().__init__()
        self.transforms = list(transforms)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for t in self.transforms:
            x = t(x)
        return x

    def __len__(self) -> int:
        return len(self.transforms)


def build_augment(spec: Sequence[Any] | None) -> Augment:
    """Instantiate a list of ``{_target_: ..., ...}`` transform configs (None/[] = none)."""
    return Augment([instantiate(t) for t in (spec or [])])
