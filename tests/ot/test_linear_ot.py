"""Sinkhorn, exact OT and the cost helpers against POT and closed forms."""

import numpy as np
import ot
import torch

from workbench.ot import (
    cosine_cost,
    euclidean_cost,
    exact,
    pairwise_cost,
    sinkhorn,
    squared_euclidean_cost,
)


def test_costs_match_closed_forms():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(3, 5, 4, generator=g, dtype=torch.float64)
    Y = torch.randn(3, 7, 4, generator=g, dtype=torch.float64)
    torch.testing.assert_close(squared_euclidean_cost(X, Y), torch.cdist(X, Y) ** 2)
    torch.testing.assert_close(euclidean_cost(X, Y), torch.cdist(X, Y), atol=1e-6, rtol=0)
    cos = torch.nn.functional.cosine_similarity(X.unsqueeze(2), Y.unsqueeze(1), dim=-1)
    torch.testing.assert_close(cosine_cost(X, Y), 1 - cos)
    torch.testing.assert_close(pairwise_cost(X, Y, "cosine"), cosine_cost(X, Y))


def test_euclidean_gradient_finite_for_duplicates():
    X = torch.ones(3, 2, dtype=torch.float64, requires_grad=True)
    euclidean_cost(X, X).sum().backward()
    assert torch.isfinite(X.grad).all()


def test_exact_matches_pot():
    rng = np.random.default_rng(1)
    C = torch.tensor(rng.random((4, 6, 9)))
    res = exact(C)
    ref = torch.tensor([ot.emd2([], [], c) for c in C.numpy()], dtype=torch.float64)
    torch.testing.assert_close(res.value, ref)
    assert res.marginal_error.max() < 1e-12 and res.converged


def test_sinkhorn_approaches_exact_as_epsilon_shrinks():
    rng = np.random.default_rng(2)
    C = torch.tensor(rng.random((3, 10, 12)))
    ref = exact(C).value
    errs = [((sinkhorn(C, epsilon=e, n_iters=5000, tol=1e-9).value - ref) / ref).abs().max().item() for e in (0.1, 0.01, 0.001)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 1e-2


def test_sinkhorn_matches_pot_entropic_plan():
    rng = np.random.default_rng(3)
    C = rng.random((8, 11))
    res = sinkhorn(torch.tensor(C), epsilon=0.05, cost_scale=1.0, n_iters=5000, tol=1e-10)
    ref = ot.sinkhorn(np.ones(8) / 8, np.ones(11) / 11, C, 0.05, method="sinkhorn_log", numItermax=5000, stopThr=1e-12)
    np.testing.assert_allclose(res.plan.numpy(), ref, atol=1e-8)


def test_sinkhorn_masks_equal_unpadded():
    rng = np.random.default_rng(4)
    C = torch.tensor(rng.random((2, 6, 7)))
    mask_a = torch.tensor([[True] * 6, [True] * 3 + [False] * 3])
    mask_b = torch.tensor([[True] * 7, [True] * 5 + [False] * 2])
    res = sinkhorn(C, mask_a=mask_a, mask_b=mask_b)
    single = sinkhorn(C[1, :3, :5])
    torch.testing.assert_close(res.plan[1, :3, :5], single.plan)
    assert res.plan[1, 3:].sum() == 0 and res.plan[1, :, 5:].sum() == 0
