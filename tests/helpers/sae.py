"""Tiny SAEs for the pretraining and DEC tests."""

from __future__ import annotations

import torch

from src.models.sae import SAE


def tiny(seed=0, init_std=0.5):
    torch.manual_seed(seed)
    return SAE(6, [5, 4], 3, init_std=init_std)


def snapshot(net):
    return {k: v.clone() for k, v in net.state_dict().items()}
