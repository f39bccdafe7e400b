"""FGW (Algorithm 1), FGW barycenter (Algorithm 2), mixing (Eq. 3) and Eq. 6 of the OTM paper."""

import numpy as np
import ot
import pytest
import torch

from workbench.ot import (
    euclidean_cost,
    fgw,
    fgw_barycenter,
    gw_cluster_loss,
    kmeans_init,
    pot_alpha,
    squared_euclidean_cost,
    stochastic_mix,
)


def clouds(seed, sizes=(12, 15), d=3):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(n, d, generator=g, dtype=torch.float64) + i for i, n in enumerate(sizes)]


@pytest.mark.parametrize("alpha", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_fgw_matches_pot_after_alpha_mapping(alpha):
    X, Y = clouds(0)
    M, A, B = squared_euclidean_cost(X, Y), euclidean_cost(X, X), euclidean_cost(Y, Y)
    res = fgw(M, A, B, alpha=alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = ot.gromov.fused_gromov_wasserstein2(M.numpy(), A.numpy(), B.numpy(), alpha=pot_alpha(alpha))
    assert res.value.item() == pytest.approx(ref, rel=1e-6)
    assert res.marginal_error < 1e-10


def test_fgw_ends_are_w_and_gw():
    X, Y = clouds(1)
    M, A, B = squared_euclidean_cost(X, Y), euclidean_cost(X, X), euclidean_cost(Y, Y)
    assert fgw(M, A, B, alpha=1.0).value.item() == pytest.approx(ot.emd2([], [], M.numpy()), rel=1e-9)
    gw = ot.gromov.gromov_wasserstein2(A.numpy(), B.numpy())
    assert fgw(M, A, B, alpha=0.0).value.item() == pytest.approx(gw, rel=1e-6)
    assert fgw(None, A, B).value.item() == pytest.approx(gw, rel=1e-6)


def test_fgw_value_gradient_and_warm_start():
    X, Y = clouds(2)
    M = squared_euclidean_cost(X, Y).requires_grad_()
    res = fgw(M, euclidean_cost(X, X), euclidean_cost(Y, Y), alpha=0.7)
    res.value.backward()
    torch.testing.assert_close(M.grad, 0.7 * res.plan)
    again = fgw(M.detach(), euclidean_cost(X, X), euclidean_cost(Y, Y), alpha=0.7, plan_init=res.plan)
    assert again.n_iters <= 2 and again.value.item() == pytest.approx(res.value.item(), rel=1e-9)


def test_fgw_bad_inputs():
    X, Y = clouds(3)
    A, B = euclidean_cost(X, X), euclidean_cost(Y, Y)
    with pytest.raises(ValueError, match="alpha must lie"):
        fgw(None, A, B, alpha=1.5)
    with pytest.raises(ValueError, match="expected \\(12, 15\\)"):
        fgw(torch.zeros(3, 3), A, B)
    with pytest.raises(ValueError, match="symmetric"):
        fgw(None, torch.rand(12, 12, dtype=torch.float64) + torch.eye(12), B)


def test_barycenter_matches_pot_objective():
    codes = clouds(4, sizes=(20, 25, 30), d=4)
    N_B, alpha = 8, 0.5
    ours = fgw_barycenter(codes, N_B, alpha=alpha, structure="free", tol=1e-9)
    Z0 = kmeans_init(codes, N_B, generator=torch.Generator().manual_seed(0))
    X, C = ot.gromov.fgw_barycenters(
        N_B, [c.numpy() for c in codes], [euclidean_cost(c, c).numpy() for c in codes],
        alpha=pot_alpha(alpha), init_X=Z0.numpy(), init_C=euclidean_cost(Z0, Z0).numpy(), warmstartT=True,
    )
    X, C = torch.tensor(X), torch.tensor(C)

    def objective(Z, S):  # same evaluation for both: mean FGW from the product coupling
        return np.mean([fgw(squared_euclidean_cost(Z, c), S, euclidean_cost(c, c), alpha=alpha).value.item() for c in codes])

    assert objective(ours.codes, ours.structure) == pytest.approx(objective(X, C), rel=1e-3)
    assert ours.history[-1] <= ours.history[0]


def test_barycenter_paper_structure_and_inits():
    codes = clouds(5, sizes=(15, 18), d=3)
    res = fgw_barycenter(codes, 6, alpha=0.5)
    assert res.codes.shape == (6, 3) and len(res.plans) == 2 and res.converged
    torch.testing.assert_close(res.structure, euclidean_cost(res.codes, res.codes), atol=1e-6, rtol=0)
    for T, z in zip(res.plans, codes):
        torch.testing.assert_close(T.sum(1), torch.full((6,), 1 / 6, dtype=T.dtype))
        torch.testing.assert_close(T.sum(0), torch.full((z.shape[0],), 1 / z.shape[0], dtype=T.dtype))
    # features update = diag(1/mu_B) sum_m lambda_m T_m Z_m at the fixed point (one more step changes little)
    upd = sum(T @ z for T, z in zip(res.plans, codes)) / len(codes) * 6
    assert (upd - res.codes).abs().max() < 0.05 * codes[0].abs().max()
    other = fgw_barycenter(codes, 6, init="modality", generator=torch.Generator().manual_seed(3))
    assert np.isfinite(other.objective)
    with pytest.raises(ValueError, match="codes\\[1\\]"):
        fgw_barycenter([codes[0], torch.zeros(4, 5, dtype=torch.float64)], 6)


@pytest.mark.parametrize("masks", ["binary", "dirichlet", "weighted"])
def test_stochastic_mix(masks):
    codes = [c.clone().requires_grad_() for c in clouds(6, sizes=(10, 14), d=3)]
    plans = fgw_barycenter(codes, 5).plans
    g = torch.Generator().manual_seed(0)
    mix = stochastic_mix(codes, plans, masks=masks, generator=g)
    torch.testing.assert_close(mix.masks.sum(0), torch.ones(5, 3, dtype=torch.float64))
    if masks == "binary":
        assert set(mix.masks.unique().tolist()) <= {0.0, 1.0}
    pushed = [T @ z.detach() * 5 for T, z in zip(plans, codes)]
    if masks == "weighted":  # WB ablation: the classic weighted barycenter
        torch.testing.assert_close(mix.fused, (pushed[0] + pushed[1]) / 2)
    assert [a.shape for a in mix.augmented] == [(10, 3), (14, 3)]
    again = stochastic_mix(codes, plans, masks=masks, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(again.fused, mix.fused)  # same seed, same masks
    mix.augmented[0].sum().backward()
    assert codes[0].grad is not None


def test_gw_cluster_loss_finds_clusters():
    g = torch.Generator().manual_seed(7)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], dtype=torch.float64)
    Z = (centres.repeat_interleave(6, 0) + 0.3 * torch.randn(18, 2, generator=g, dtype=torch.float64)).requires_grad_()
    res = gw_cluster_loss(Z, 3)
    labels = res.plan.argmax(1).reshape(3, 6)
    assert all(len(set(row.tolist())) == 1 for row in labels) and len(set(labels[:, 0].tolist())) == 3
    ref = ot.gromov.gromov_wasserstein2(
        torch.exp(-torch.cdist(Z, Z) ** 2 / (2 * torch.cdist(Z, Z)[~torch.eye(18, dtype=bool)].median() ** 2)).detach().numpy(),
        np.eye(3),
    )
    assert res.value.item() <= ref * (1 + 1e-6) + 1e-12
    res.value.backward()
    assert torch.isfinite(Z.grad).all()


def test_barycenter_threads_do_not_change_the_result():
    g = torch.Generator().manual_seed(7)
    codes = [torch.randn(40, 3, generator=g, dtype=torch.float64) for _ in range(3)]
    serial = fgw_barycenter(codes, 8, n_jobs=1, generator=torch.Generator().manual_seed(1))
    threaded = fgw_barycenter(codes, 8, n_jobs=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(serial.codes, threaded.codes)
    assert serial.history == threaded.history


@pytest.mark.parametrize("linear", ["ipot", "sinkhorn"])
def test_fgw_inexact_linear_step_is_close_to_exact(linear):
    X, Y = clouds(8, sizes=(14, 17))
    M, A, B = squared_euclidean_cost(X, Y), euclidean_cost(X, X), euclidean_cost(Y, Y)
    exact = fgw(M, A, B, alpha=0.5)
    kw = {"epsilon": 1e-3} if linear == "sinkhorn" else None
    approx = fgw(M, A, B, alpha=0.5, linear=linear, linear_kw=kw)
    assert approx.value.item() == pytest.approx(exact.value.item(), rel=0.05)
    assert approx.marginal_error < 0.05  # the entropic solvers stop at a small marginal error
    with pytest.raises(ValueError, match="linear must be"):
        fgw(M, A, B, linear="lp")


def test_barycenter_batches_equal_sizes_and_keeps_dtype():
    g = torch.Generator().manual_seed(9)
    codes = [torch.randn(30, 3, generator=g) for _ in range(3)] + [torch.randn(24, 3, generator=g)]
    res = fgw_barycenter(codes, 7, generator=torch.Generator().manual_seed(0))
    assert res.codes.dtype == torch.float32 and all(T.dtype == torch.float32 for T in res.plans)
    assert [tuple(T.shape) for T in res.plans] == [(7, 30)] * 3 + [(7, 24)]
    # the same problems in float64 reach the same objective
    single = fgw_barycenter([c.double() for c in codes], 7, generator=torch.Generator().manual_seed(0))
    assert res.objective == pytest.approx(single.objective, rel=1e-3)
    approx = fgw_barycenter(codes, 7, generator=torch.Generator().manual_seed(0), linear="ipot")
    assert approx.objective == pytest.approx(res.objective, rel=0.05)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("linear", ["exact", "ipot"])
def test_barycenter_on_cuda_matches_cpu(linear):
    codes = clouds(10, sizes=(20, 20, 25), d=4)
    cpu = fgw_barycenter(codes, 6, linear=linear)
    gpu = fgw_barycenter([c.cuda() for c in codes], 6, linear=linear)
    assert gpu.codes.device.type == "cuda" and all(T.device.type == "cuda" for T in gpu.plans)
    assert gpu.objective == pytest.approx(cpu.objective, rel=1e-6 if linear == "exact" else 1e-3)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fgw_matches_pot_on_cuda():
    X, Y = clouds(0)
    M, A, B = squared_euclidean_cost(X, Y), euclidean_cost(X, X), euclidean_cost(Y, Y)
    res = fgw(M.cuda(), A.cuda(), B.cuda(), alpha=0.5)
    ref = ot.gromov.fused_gromov_wasserstein2(M.numpy(), A.numpy(), B.numpy(), alpha=pot_alpha(0.5))
    assert res.plan.device.type == "cuda" and res.value.item() == pytest.approx(ref, rel=1e-6)


def test_assignment_step_finds_the_network_simplex_vertex():
    """Uniform square problems take SciPy's assignment solver: same vertex as POT's ``ot.emd``."""
    from workbench.ot.fgw import _exact_vertices

    g = torch.Generator().manual_seed(7)
    n = 40
    grad = torch.randn(3, n, n, generator=g, dtype=torch.float64)
    uni = torch.full((3, n), 1.0 / n, dtype=torch.float64)
    skew = torch.softmax(torch.randn(3, n, generator=g, dtype=torch.float64), 1)
    for p, q in ((uni, uni), (skew, uni)):  # assignment path, then the network simplex path
        for k, (i, j, v) in zip(range(3), _exact_vertices(grad, p, q, [0, 1, 2], n_jobs=2)):
            ref = ot.emd(p[k].numpy(), q[k].numpy(), grad[k].numpy() - grad[k].min().item())
            S = np.zeros((n, n))
            S[i, j] = v
            np.testing.assert_array_equal(S, ref)


@pytest.mark.parametrize("alpha", [0.25, 0.75])
def test_fgw_square_uniform_matches_pot(alpha):
    """The mixer's case (N_B = N_m, uniform weights: the assignment step) against POT."""
    X, Y = clouds(5, sizes=(30, 30))
    M, A, B = squared_euclidean_cost(X, Y), euclidean_cost(X, X), euclidean_cost(Y, Y)
    res = fgw(M, A, B, alpha=alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = ot.gromov.fused_gromov_wasserstein2(M.numpy(), A.numpy(), B.numpy(), alpha=pot_alpha(alpha))
    assert res.value.item() == pytest.approx(ref, rel=1e-6)
    assert res.marginal_error < 1e-10
