"""The DAC authors' all-convolutional clustering networks and the constraint layer.

One builder covers the three families of the authors' Keras scripts (``conf/arch/allconv_*``):
blocks of [conv3×3, BN, ReLU] separated by max-pooling (MNIST also puts a BN after each pool),
a conv1×1 to k channels with BN and ReLU, global average pooling, then two FC-k layers with BN
(ReLU after each, or only after the first for CIFAR) and a softmax. The authors' convolutions
are "valid"; ``padding: auto`` keeps them valid when the image is large enough and switches to
"same" for small images (8×8 digits), so the same config adapts to any input size/channels.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from src.core.errors import UserError

BN_EVAL_MODES = ("batch", "running")


def label_features(logits: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """DAC's constraint layer: softmax, then L2 normalisation (l_i ≥ 0, ‖l_i‖₂ = 1)."""
    p = torch.softmax(logits, dim=1)
    return p / p.norm(dim=1, keepdim=True).clamp_min(eps)


def batch_independent_eval(net: nn.Module) -> bool:
    """True when an image's eval-mode output does not depend on the other images of its batch:
    every BN normalises with running statistics (``bn_eval=running``). With batch-statistics BN
    (``bn_eval=batch``, Keras BN mode 2) the batch is part of the prediction."""
    return all(
        m.track_running_stats
        for m in net.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    )


class ConstraintLayer(nn.Module):
    """``label_features`` as a module (the last layer of a DAC network)."""

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return label_features(logits)


def _bn(kind: str, n: int, dims: int) -> nn.Module:
    """BatchNorm; ``batch`` keeps no running statistics, so inference uses batch statistics
    (Keras 1 ``BatchNormalization(mode=2)``, as the authors), ``running`` the PyTorch default."""
    if kind not in BN_EVAL_MODES:
        raise UserError(f"arch.bn_eval={kind!r}; choose one of: {', '.join(BN_EVAL_MODES)}")
    cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    # Keras 1 BN: epsilon 1e-3 (1e-5 in the authors' other scripts), momentum 0.99
    return cls(n, eps=1e-3, momentum=0.01, track_running_stats=(kind == "running"))


def resolve_padding(padding: str, size: int, blocks: Sequence[Sequence[int]]) -> int:
    """Conv padding (0 = valid, 1 = same) so that every block leaves at least 1×1 after its pool."""
    if padding == "valid":
        return 0
    if padding == "same":
        return 1
    if padding != "auto":
        raise UserError(f"arch.padding={padding!r}; choose one of: auto, valid, same")
    s = size
    for block in blocks:
        s = (s - 2 * len(block)) // 2
        if s < 1:
            return 1
    return 0


class AllConvNet(nn.Module):
    """The authors' DAC ConvNet; ``forward`` returns the pre-softmax scores (n, k)."""

    def __init__(
        self,
        in_channels: int,
        image_size: int,
        n_clusters: int,
        blocks: Sequence[Sequence[int]] = ((64, 64, 64), (128, 128, 128)),
        bn_after_pool: bool = True,
        last_relu: bool = True,
        padding: str = "auto",
        bn_eval: str = "batch",
        fc_identity_init: bool = True,
    ) -> None:
        super().__init__()
        pad = resolve_padding(padding, image_size, blocks)
        layers: list[nn.Module] = []
        c = in_channels
        for block in blocks:
            for width in block:
                conv = nn.Conv2d(c, int(width), 3, padding=pad)
                nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")  # he_normal
                nn.init.zeros_(conv.bias)
                layers += [conv, _bn(bn_eval, int(width), 2), nn.ReLU(inplace=True)]
                c = int(width)
            layers.append(nn.MaxPool2d(2, ceil_mode=False))
            if bn_after_pool:
                layers.append(_bn(bn_eval, c, 2))
        head = nn.Conv2d(c, n_clusters, 1)
        nn.init.kaiming_normal_(head.weight, nonlinearity="relu")
        nn.init.zeros_(head.bias)
        layers += [head, _bn(bn_eval, n_clusters, 2), nn.ReLU(inplace=True)]
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        if bn_after_pool:
            layers.append(_bn(bn_eval, n_clusters, 1))
        self.features = nn.Sequential(*layers)
        fc: list[nn.Module] = []
        for i in range(2):
            lin = nn.Linear(n_clusters, n_clusters)
            if fc_identity_init:
                nn.init.eye_(lin.weight)
                nn.init.zeros_(lin.bias)
            fc += [lin, _bn(bn_eval, n_clusters, 1)]
            if i == 0 or last_relu:
                fc.append(nn.ReLU(inplace=True))
        self.head = nn.Sequential(*fc)
        self.padding = "same" if pad else "valid"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.forward(x), dim=1)

    def label_features(self, x: torch.Tensor) -> torch.Tensor:
        return label_features(self.forward(x))


def build_convnet(arch: DictConfig, image_shape: Sequence[int], n_clusters: int) -> AllConvNet:
    """The ConvNet an ``arch`` config describes, for ``(c, h, w)`` images and k clusters."""
    if arch.get("family") != "allconv":
        raise UserError(
            f"arch={arch.get('name')} is not a ConvNet; DAC needs arch=allconv_mnist, "
            "allconv_cifar or allconv_stl"
        )
    c, h, w = (int(s) for s in image_shape)
    return AllConvNet(
        in_channels=c,
        image_size=min(h, w),
        n_clusters=n_clusters,
        blocks=[list(b) for b in arch.blocks],
        bn_after_pool=bool(arch.bn_after_pool),
        last_relu=bool(arch.last_relu),
        padding=str(arch.padding),
        bn_eval=str(arch.bn_eval),
        fc_identity_init=bool(arch.get("fc_identity_init", True)),
    )
