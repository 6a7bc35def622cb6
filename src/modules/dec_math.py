"""DEC's clustering objective as pure tensor functions (Xie et al. 2016, eqs. 1–3)."""

from __future__ import annotations

import torch


def soft_assignment(z: torch.Tensor, centroids: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """Student's t similarity of each embedding to each centroid, rows normalised (eq. 1).

    q_ij = (1 + ‖z_i − μ_j‖²/α)^(−(α+1)/2) / Σ_j' (1 + ‖z_i − μ_j'‖²/α)^(−(α+1)/2)
    """
    sq_dist = (z.unsqueeze(1) - centroids.unsqueeze(0)).pow(2).sum(dim=2)
    kernel = (1.0 + sq_dist / alpha).pow(-(alpha + 1.0) / 2.0)
    return kernel / kernel.sum(dim=1, keepdim=True)


def target_distribution(q: torch.Tensor) -> torch.Tensor:
    """Auxiliary target P from Q over the whole data set (eq. 3).

    p_ij = (q_ij² / f_j) / Σ_j' (q_ij'² / f_j'), with soft cluster frequencies f_j = Σ_i q_ij.
    Pass the Q of *all* samples: f_j is a sum over the data set, not over a batch.
    """
    weight = q.pow(2) / q.sum(dim=0, keepdim=True)
    return weight / weight.sum(dim=1, keepdim=True)


def kl_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(P‖Q) = Σ_j p_ij log(p_ij / q_ij), summed over clusters and *averaged* over the rows.

    The paper writes L as a sum over samples; averaging over the batch only rescales the
    gradient by 1/batch (the learning rate absorbs it, as in the authors' code). P is a
    constant target: no gradient flows into it. ``p_ij = 0`` contributes 0.
    """
    p = p.detach()
    return (torch.xlogy(p, p) - p * torch.log(q)).sum(dim=1).mean()


def hard_labels(q: torch.Tensor) -> torch.Tensor:
    """Cluster of each sample: argmax_j q_ij."""
    return q.argmax(dim=1)
