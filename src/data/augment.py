"""On-device, per-sample image augmentation built from a config list of transforms.

The DAC authors augment with Keras 1's ``ImageDataGenerator`` (their ``myImageDataGenerator``):
per image one random affine transform (rotation, shift, zoom drawn per axis) composed about
the image centre and applied with nearest-neighbour interpolation and edge fill, then a
channel shift clipped to the image's own range, then a rescale. Each of those is one transform
class here, drawn per image and applied to a whole (n, c, h, w) batch on the device in one
call; ``Augment`` chains the configured list in order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from torch import nn

from src.core.errors import UserError

INTERPOLATIONS = ("nearest", "bilinear")
FILLS = ("border", "zeros", "reflection")


def _uniform(n: int, lo: float, hi: float, like: torch.Tensor) -> torch.Tensor:
    return torch.empty(n, device=like.device, dtype=like.dtype).uniform_(lo, hi)


class PerSampleRandomAffine(nn.Module):
    """Keras 1 ``random_transform``'s affine part with independent parameters per image.

    ``degrees``: rotation uniform in ±degrees; ``translate``: (height, width) shift fractions,
    uniform in ±fraction × size; ``scale``: zoom range, one factor per axis drawn independently
    (``zoom_per_axis``, Keras) or one for both. The output pixel p samples the input at
    ``o + R·(Z·(p − o) + t)`` (Keras' transform matrix R·T·Z about o, rows/columns as axes),
    with ``o = size/2 + center_offset`` (Keras: +0.5, half a pixel past the true centre; 0 gives
    ``size/2``, −0.5 the exact centre). ``mode``: ``nearest`` (Keras' order 0) or ``bilinear``;
    ``padding_mode``: ``border`` (Keras' ``fill_mode='nearest'``) or ``zeros``.
    """

    def __init__(
        self,
        degrees: float = 0.0,
        translate: Sequence[float] | None = None,
        scale: Sequence[float] | None = None,
        zoom_per_axis: bool = True,
        mode: str = "nearest",
        padding_mode: str = "border",
        center_offset: float = 0.5,
    ) -> None:
        super().__init__()
        if mode not in INTERPOLATIONS:
            raise UserError(f"augment mode={mode!r}; choose one of: {', '.join(INTERPOLATIONS)}")
        if padding_mode not in FILLS:
            raise UserError(f"augment padding_mode={padding_mode!r}; choose one of: {FILLS}")
        self.degrees = float(degrees)
        self.translate = tuple(float(v) for v in translate) if translate else (0.0, 0.0)
        self.scale = tuple(float(v) for v in scale) if scale else (1.0, 1.0)
        self.zoom_per_axis = bool(zoom_per_axis)
        self.mode = mode
        self.padding_mode = padding_mode
        self.center_offset = float(center_offset)

    def draw(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image parameters: angle (radians), shifts (pixels) and zooms, each shape (n,)."""
        n, _, h, w = x.shape
        angle = _uniform(n, -self.degrees, self.degrees, x) * (math.pi / 180.0)
        th, tw = self.translate
        t_row = _uniform(n, -th, th, x) * h
        t_col = _uniform(n, -tw, tw, x) * w
        z_row = _uniform(n, *self.scale, x)
        z_col = _uniform(n, *self.scale, x) if self.zoom_per_axis else z_row
        return {"angle": angle, "t_row": t_row, "t_col": t_col, "z_row": z_row, "z_col": z_col}

    def source_coords(
        self, p: dict[str, torch.Tensor], h: int, w: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Input (row, col) coordinates, shape (n, h, w), that each output pixel samples."""
        dev, dt = p["angle"].device, p["angle"].dtype
        o_r, o_c = h / 2 + self.center_offset, w / 2 + self.center_offset
        rows = torch.arange(h, device=dev, dtype=dt).view(1, h, 1) - o_r
        cols = torch.arange(w, device=dev, dtype=dt).view(1, 1, w) - o_c
        v_r = p["z_row"].view(-1, 1, 1) * rows + p["t_row"].view(-1, 1, 1)
        v_c = p["z_col"].view(-1, 1, 1) * cols + p["t_col"].view(-1, 1, 1)
        cos, sin = torch.cos(p["angle"]).view(-1, 1, 1), torch.sin(p["angle"]).view(-1, 1, 1)
        return o_r + cos * v_r - sin * v_c, o_c + sin * v_r + cos * v_c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        src_r, src_c = self.source_coords(self.draw(x), h, w)
        # align_corners=True: −1 and +1 are the centres of the first and last pixels
        grid = torch.stack(
            [src_c * (2.0 / max(w - 1, 1)) - 1.0, src_r * (2.0 / max(h - 1, 1)) - 1.0], dim=3
        )
        return F.grid_sample(
            x, grid, mode=self.mode, padding_mode=self.padding_mode, align_corners=True
        )


class ChannelShift(nn.Module):
    """Keras' ``channel_shift_range``: add U(−r, r) per image and channel, clipped to the
    image's own [min, max] (over all its channels)."""

    def __init__(self, intensity: float) -> None:
        super().__init__()
        self.intensity = float(intensity)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[:2]
        shift = torch.empty(n, c, 1, 1, device=x.device, dtype=x.dtype)
        shift.uniform_(-self.intensity, self.intensity)
        flat = x.flatten(1)
        lo = flat.amin(1).view(n, 1, 1, 1)
        hi = flat.amax(1).view(n, 1, 1, 1)
        return torch.minimum(torch.maximum(x + shift, lo), hi)


class Rescale(nn.Module):
    """Keras' ``rescale``: multiply by a constant (the generator applies it after the
    random transform)."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = float(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


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
