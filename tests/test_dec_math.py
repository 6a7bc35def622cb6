"""DEC's soft assignment, target distribution and KL loss against hand computations."""

import pytest
import torch

from src.modules.dec_math import hard_labels, kl_divergence, soft_assignment, target_distribution

Z = torch.tensor([[0.0, 0.0], [2.0, 0.0]], dtype=torch.float64)
MU = torch.tensor([[0.0, 0.0], [1.0, 0.0]], dtype=torch.float64)


def test_soft_assignment_by_hand():
    # squared distances: point 0 → [0, 1], point 1 → [4, 1]; α = 1: kernel 1/(1 + d²)
    # point 0: [1, 1/2] → [2/3, 1/3]; point 1: [1/5, 1/2] → [2/7, 5/7]
    q = soft_assignment(Z, MU, alpha=1.0)
    expected = torch.tensor([[2 / 3, 1 / 3], [2 / 7, 5 / 7]], dtype=torch.float64)
    torch.testing.assert_close(q, expected)


def test_soft_assignment_alpha_two_by_hand():
    # α = 2: kernel (1 + d²/2)^(-3/2); point 0: [1, 1.5^-1.5]; point 1: [3^-1.5, 1.5^-1.5]
    q = soft_assignment(Z, MU, alpha=2.0)
    k0 = torch.tensor([1.0, 1.5**-1.5], dtype=torch.float64)
    k1 = torch.tensor([3.0**-1.5, 1.5**-1.5], dtype=torch.float64)
    torch.testing.assert_close(q, torch.stack([k0 / k0.sum(), k1 / k1.sum()]))


def test_target_distribution_by_hand():
    q = torch.tensor([[2 / 3, 1 / 3], [2 / 7, 5 / 7]], dtype=torch.float64)
    f = [2 / 3 + 2 / 7, 1 / 3 + 5 / 7]  # soft cluster frequencies over the WHOLE set
    rows = []
    for qi in q.tolist():
        w = [qi[0] ** 2 / f[0], qi[1] ** 2 / f[1]]
        rows.append([w[0] / sum(w), w[1] / sum(w)])
    p = target_distribution(q)
    torch.testing.assert_close(p, torch.tensor(rows, dtype=torch.float64))
    # sharper than q: the dominant assignment of each point gains weight
    assert p[0, 0] > q[0, 0] and p[1, 1] > q[1, 1]


def test_target_rows_sum_to_one():
    q = torch.softmax(torch.randn(500, 7, generator=torch.Generator().manual_seed(0)), dim=1)
    p = target_distribution(q)
    torch.testing.assert_close(p.sum(dim=1), torch.ones(500))
    assert (p >= 0).all()


def test_kl_is_mean_over_rows_of_sum_over_clusters():
    p = torch.tensor([[0.9, 0.1], [0.0, 1.0]], dtype=torch.float64)
    q = torch.tensor([[0.6, 0.4], [0.3, 0.7]], dtype=torch.float64)
    row0 = 0.9 * torch.log(torch.tensor(0.9 / 0.6)) + 0.1 * torch.log(torch.tensor(0.1 / 0.4))
    row1 = 1.0 * torch.log(torch.tensor(1.0 / 0.7))  # p = 0 contributes nothing
    torch.testing.assert_close(kl_divergence(p, q), ((row0 + row1) / 2).double())
    assert kl_divergence(q, q).abs() < 1e-12


def test_kl_gradient_flows_into_q_only():
    p = torch.tensor([[0.7, 0.3]], requires_grad=True)
    logits = torch.zeros(1, 2, requires_grad=True)
    kl_divergence(p, torch.softmax(logits, dim=1)).backward()
    assert p.grad is None
    # d KL / d logits = q − p for a softmax q
    torch.testing.assert_close(logits.grad, torch.tensor([[0.5 - 0.7, 0.5 - 0.3]]))


@pytest.mark.parametrize("alpha", [0.5, 1.0, 3.0])
def test_labels_follow_nearest_centroid(alpha):
    assert hard_labels(soft_assignment(Z.float(), MU.float(), alpha)).tolist() == [0, 1]
