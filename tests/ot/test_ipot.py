"""IPOT (Eq. 5-8 of the WMA paper) against POT's exact solver and its own invariants."""

import numpy as np
import ot
import pytest
import torch

from workbench.ot import cosine_cost, exact, ipot


def token_sets(seed, B=16, n=40, m=145, d=32, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(B, n, d, generator=g, dtype=dtype)
    Y = torch.randn(B, m, d, generator=g, dtype=dtype) + 0.3 * X.mean(1, keepdim=True)
    return cosine_cost(X, Y)


def rel_err(value, ref):
    return ((value.double() - ref.double()).abs() / ref.double().abs()).median().item()


def test_ipot_converges_to_exact_on_wma_shapes():
    C = token_sets(0)
    ref = torch.tensor([ot.emd2([], [], c.double().numpy()) for c in C])
    errs = [rel_err(ipot(C, n_outer=k).value, ref) for k in (5, 20, 50)]
    assert errs[0] > errs[1] > errs[2]
    assert errs[2] < 0.01  # default settings: below 1% median relative error


@pytest.mark.parametrize("cost_scale", ["max", 1.0])
def test_ipot_marginals_and_long_run_exactness(cost_scale):
    C = token_sets(1, B=4, n=20, m=30).double()
    res = ipot(C, n_outer=400, cost_scale=cost_scale)
    ref = exact(C)
    assert (res.plan >= 0).all()
    assert res.marginal_error.max() < 1e-3
    assert rel_err(res.value, ref.value) < 1e-3
    assert res.converged


def test_batched_equals_looped():
    C = token_sets(2, B=5, n=7, m=9)
    batched = ipot(C)
    for i in range(C.shape[0]):
        single = ipot(C[i])
        torch.testing.assert_close(batched.plan[i], single.plan, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(batched.value[i], single.value, rtol=1e-5, atol=1e-7)


def test_masks_equal_unpadded_problem():
    C = token_sets(3, B=3, n=10, m=12).double()
    lengths = [(10, 12), (6, 12), (4, 5)]
    mask_a = torch.zeros(3, 10, dtype=torch.bool)
    mask_b = torch.zeros(3, 12, dtype=torch.bool)
    padded = C.clone()
    for i, (la, lb) in enumerate(lengths):
        mask_a[i, :la] = True
        mask_b[i, :lb] = True
        padded[i, la:, :] = 1e6  # garbage on padding must not matter
        padded[i, :, lb:] = float("nan")
    res = ipot(padded, mask_a=mask_a, mask_b=mask_b)
    for i, (la, lb) in enumerate(lengths):
        single = ipot(C[i, :la, :lb])
        torch.testing.assert_close(res.plan[i, :la, :lb], single.plan, rtol=1e-6, atol=1e-10)
        assert res.plan[i, la:].abs().sum() == 0 and res.plan[i, :, lb:].abs().sum() == 0
        torch.testing.assert_close(res.value[i], single.value)


def test_gradient_flows_through_cost_with_plan_constant():
    C = token_sets(4, B=2, n=5, m=6).double().requires_grad_()
    res = ipot(C)
    res.value.sum().backward()
    torch.testing.assert_close(C.grad, res.plan)  # d<C, T>/dC = T when T is held constant
    assert not res.plan.requires_grad


def test_custom_marginals_and_tol_early_stop():
    rng = np.random.default_rng(5)
    C = torch.tensor(rng.random((6, 8)))
    a = torch.tensor(rng.random(6))
    a = a / a.sum()
    b = torch.tensor(rng.random(8))
    b = b / b.sum()
    res = ipot(C, a, b, n_outer=2000, tol=1e-6)
    assert res.converged and res.n_iters < 2000
    torch.testing.assert_close(res.plan.sum(1), a, atol=1e-5, rtol=0)
    torch.testing.assert_close(res.plan.sum(0), b, atol=1e-5, rtol=0)
    assert abs(res.value.item() - ot.emd2(a.numpy(), b.numpy(), C.numpy())) < 1e-3


def test_leading_batch_shape_is_kept():
    C = token_sets(6, B=6, n=4, m=5).reshape(2, 3, 4, 5)
    res = ipot(C)
    assert (
        res.plan.shape == (2, 3, 4, 5)
        and res.value.shape == (2, 3)
        and res.marginal_error.shape == (2, 3)
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    C = token_sets(7, B=4, n=10, m=12)
    torch.testing.assert_close(ipot(C.cuda()).plan.cpu(), ipot(C).plan, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "kw", [{}, {"cost_scale": 1.0}, {"n_inner": 3, "tol": 1e-4, "n_outer": 300}, {"masked": True}]
)
def test_native_kernel_matches_eager(monkeypatch, dtype, kw):
    from workbench.ot import _native

    if _native.load() is None:
        pytest.skip("no C compiler: ipot runs the eager path only")
    kw = dict(kw)
    C = token_sets(8, B=6, n=9, m=13, dtype=dtype)
    if kw.pop("masked", False):
        kw["mask_a"] = torch.arange(9).expand(6, 9) < torch.tensor([9, 5, 3, 9, 1, 7])[:, None]
        kw["mask_b"] = torch.arange(13).expand(6, 13) < torch.tensor([13, 13, 4, 2, 8, 1])[:, None]
    native = ipot(C, **kw)
    monkeypatch.setenv("WORKBENCH_OT_NATIVE", "0")
    eager = ipot(C, **kw)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    torch.testing.assert_close(native.plan, eager.plan, rtol=tol, atol=tol * 1e-2)
    torch.testing.assert_close(native.value, eager.value, rtol=tol, atol=tol * 1e-2)
    assert native.converged == eager.converged


def _threaded_plans(conn, C):  # a forked child: the parent has used the kernel's OpenMP team already
    torch.set_num_threads(2)
    conn.send(ipot(C).plan.numpy())  # a plain array: a tensor would travel as shared memory


def test_native_kernel_on_threads_matches_one_thread_and_survives_fork():
    # With 2 threads the batch is split over OpenMP (torch's thread pool) or the Python pool: each
    # problem is solved by the same code, so plans equal the one-thread plans bit for bit; the
    # NaN check returns through the threaded driver; a child forked after the parent ran the
    # kernel's OpenMP loop still solves on 2 threads (through the Python pool: a parallel region
    # of GNU OpenMP, ours or torch's, would wait there forever for the parent's threads; the
    # child gets its cost from the parent, as building it would run torch ops).
    import multiprocessing as mp

    from workbench.ot import _native

    if _native.load() is None:
        pytest.skip("no C compiler: ipot runs the eager path only")
    C = token_sets(3, B=9, n=7, m=11)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = ipot(C).plan
        torch.set_num_threads(2)
        two = ipot(C).plan
        assert torch.equal(one, two)
        bad = C.clone()
        bad[5, 2, 3] = float("nan")
        with pytest.raises(ValueError, match="NaN or inf"):
            ipot(bad)
        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_threaded_plans, args=(child, C))
        proc.start()
        assert parent.poll(60), "the forked child did not answer within 60 s"
        assert torch.equal(torch.from_numpy(parent.recv()), one)
        proc.join(10)
    finally:
        torch.set_num_threads(before)
