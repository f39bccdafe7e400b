"""Fused Gromov-Wasserstein distance by conditional gradient (Algorithm 1 of the OTM paper).

Convention for ``alpha`` (read this before comparing with POT):

* **Here, as in Eq. (2) of the OTM paper**, ``alpha`` weights the *Wasserstein (feature)* term:
  ``alpha * <D, T> + (1 - alpha) * GW(A, B, T)``. ``alpha = 1`` is pure W, ``alpha = 0`` pure GW.
* **In POT** (``ot.gromov.fused_gromov_wasserstein``, ``fgw_barycenters``) ``alpha`` weights the
  *Gromov-Wasserstein (structure)* term: ``(1 - alpha) * <M, T> + alpha * GW``.

So ``alpha_POT = 1 - alpha`` (see :func:`pot_alpha`). The objectives are then identical.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

import numpy as np
import ot
import scipy.sparse as sp
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

from workbench.ot.result import OTResult

__all__ = ["fgw", "pot_alpha", "fgw_objective"]

Linear = Literal["exact", "ipot", "sinkhorn"]


def pot_alpha(alpha: float) -> float:
    """Map the OTM paper's ``alpha`` (weight of the W term) to POT's (weight of the GW term)."""
    return 1.0 - float(alpha)


def _tensor(x, name, dtype=None, device=None) -> Tensor:
    if isinstance(x, Tensor):
        x = x.detach()
        return x.to(dtype=dtype or (x.dtype if x.is_floating_point() else torch.float64), device=device or x.device)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype or torch.float64, device=device)


def _weights(w, size, name, dtype=torch.float64, device=None) -> Tensor:
    if w is None:
        return torch.full((size,), 1.0 / size, dtype=dtype, device=device)
    w = _tensor(w, name, dtype, device).reshape(-1)
    if w.shape != (size,):
        raise ValueError(f"Weights {name} have shape {tuple(w.shape)}, expected ({size},) to match the structure matrix.")
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"Weights {name} must be finite and non-negative.")
    total = float(w.sum())
    if abs(total - 1) > 1e-6:
        raise ValueError(f"Weights {name} must sum to 1 (found {total:.6g}); divide them by their sum.")
    return w


def _check_square(X: Tensor, name, size=None):
    if X.ndim != 2 or X.shape[0] != X.shape[1] or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix [n, n], got shape {tuple(X.shape)}.")
    if size is not None and X.shape[0] != size:
        raise ValueError(f"{name} has {X.shape[0]} rows, expected {size} to match the other inputs.")
    tol = 1e-8 * max(1.0, float(X.abs().max())) if X.dtype == torch.float64 else 1e-5 * max(1.0, float(X.abs().max()))
    if not bool(((X - X.T).abs() <= tol).all()):
        raise ValueError(f"{name} must be symmetric (a distance or similarity matrix); use (X + X.T) / 2.")


_emd_pool: tuple[ThreadPoolExecutor, int] | None = None  # (pool, pid that made it)


def _exact_vertices(grad: Tensor, p: Tensor, q: Tensor, todo: list[int], n_jobs: int) -> list[tuple[np.ndarray, ...]]:
    """Exact LP vertices argmin <grad_k, T> over Pi(p_k, q_k), as (rows, cols, values) of their nonzeros.

    POT's network simplex on the host (float64). Where ``p_k`` and ``q_k`` are uniform with
    ``n == m`` the LP is an assignment problem: by Birkhoff-von Neumann its vertices are the
    permutation matrices divided by ``n``, and SciPy's ``linear_sum_assignment`` (shortest
    augmenting paths) finds the same vertex as the network simplex in a fraction of its time
    (the vertex is unique unless the gradient has exact ties, which float64 data do not meet).
    """
    global _emd_pool
    G = grad[todo].detach().to("cpu", torch.float64).numpy()
    P = p[todo].detach().to("cpu", torch.float64).numpy()
    Q = q[todo].detach().to("cpu", torch.float64).numpy()
    n, m = G.shape[1:]
    # Uniform square problems: one check for the batch (the entries are exactly equal or not).
    assignment = n == m and bool((P == P[:, :1]).all()) and bool((Q == P[:, :1]).all())

    def one(i):
        if assignment:
            rows, cols = linear_sum_assignment(G[i])
            return rows, cols, P[i][rows]
        # shift: the same LP, POT needs a non-negative cost
        V = ot.emd(P[i], Q[i], G[i] - G[i].min(), numItermax=1_000_000, center_dual=False)
        rows, cols = np.nonzero(V)
        return rows, cols, V[rows, cols]

    if n_jobs > 1 and len(todo) > 1:  # the network simplex and SciPy's assignment release the GIL
        if _emd_pool is None or _emd_pool[1] != os.getpid() or _emd_pool[0]._max_workers < n_jobs:  # new after a fork
            _emd_pool = (ThreadPoolExecutor(n_jobs, thread_name_prefix="workbench-emd"), os.getpid())
        return list(_emd_pool[0].map(one, range(len(todo))))
    return [one(i) for i in range(len(todo))]


def _cg_batch(M, A, B, p, q, alpha, T0=None, TB0=None, *, max_iter=100, tol_rel=1e-9, tol_abs=1e-9,
              linear: Linear = "exact", linear_kw=None, n_jobs=1, BBq=None, inplace=False):
    """Conditional gradient for K FGW problems at once (torch, on the inputs' device).

    f(T) = alpha <M, T> + (1 - alpha) <constC - 2 A T B, T>, with M [K, n, m], A [K, n, n],
    B [K, m, m] (A and B symmetric), p [K, n], q [K, m]. The plan's product ``T B`` is carried
    along (and may be passed back in as ``TB0`` with ``T0``). With the exact linear step the LP
    vertex ``S`` is sparse (at most n + m - 1 entries): ``S B`` costs (n + m) m instead of n m^2
    and every inner product with ``S`` is a gather. With D = S - T and symmetric A, B, the line
    search needs <A D B, D> = <A S B, S> - 2 <A T B, S> + <A T B, T>; with a sparse ``S``,
    <A S B, S> is a gather too (row i of A times column j of S B at each nonzero (i, j)), so the
    dense product ``A (S B)`` that updates ``A T B`` is deferred to the start of the next step and
    skipped for the problems that stop (the last step of each problem, often half of them).
    <lin, T> and <A T B, T> follow the step in closed form (T' = (1 - tau) T + tau S), so a step
    reads the dense [K, n, m] arrays only for the gradient and the updates of T, T B and A T B.
    ``BBq`` = (B * B) q ``[K, m, 1]`` may be passed in when B and q repeat (the barycenter);
    ``inplace`` lets the solver update ``T0`` and ``TB0`` instead of copies.

    Returns (T, TB, f [K], iters [K] (long), converged [K] (bool)).
    """
    K, n, m = M.shape
    beta = 1.0 - alpha
    dev, dt = M.device, M.dtype
    if BBq is None:
        BBq = (B * B) @ q.unsqueeze(-1)
    constC = ((A * A) @ p.unsqueeze(-1)) + BBq.transpose(1, 2)
    lin = alpha * M + beta * constC
    T = p.unsqueeze(-1) * q.unsqueeze(1) if T0 is None else (T0 if inplace else T0.clone())
    if T0 is None:  # T = p q^T is rank one and B symmetric: T B = p (B q)^T, A T B = (A p)(B q)^T
        Bq = torch.bmm(B, q.unsqueeze(-1)).transpose(1, 2)  # [K, 1, m]
        TB = p.unsqueeze(-1) * Bq
        ATB = torch.bmm(A, p.unsqueeze(-1)) * Bq
    else:
        TB = torch.bmm(T, B) if TB0 is None else (TB0 if inplace else TB0.clone())
        ATB = torch.bmm(A, TB)
    lin_T = (lin * T).sum((1, 2))
    atb_T = (ATB * T).sum((1, 2))
    f = lin_T - 2 * beta * atb_T
    active = torch.ones(K, dtype=torch.bool, device=dev)
    iters = torch.zeros(K, dtype=torch.long, device=dev)
    kw = dict(linear_kw or {})
    grad = torch.empty_like(T)
    SB = torch.empty_like(TB)
    ASB = torch.empty_like(TB)
    host_B = B.detach().numpy() if dev.type == "cpu" and linear == "exact" else None
    zero = torch.zeros((), dtype=dt, device=dev)
    pending = None  # step sizes [K, 1, 1] of an A T B update deferred from the previous (exact) step
    for _ in range(max_iter):
        todo = active.nonzero().flatten().tolist() if K > 1 else ([0] if bool(active[0]) else [])
        if not todo:
            break
        if pending is not None:  # A T B <- A T B + tau (A S B - A T B), for the problems still running
            if len(todo) == K:
                torch.bmm(A, SB, out=ASB)
                ATB.lerp_(ASB, pending)
            else:
                idx = torch.as_tensor(todo, device=dev)
                ATB[idx] = ATB[idx].lerp(torch.bmm(A[idx], SB[idx]), pending[idx])
            pending = None
        iters[todo] += 1
        torch.add(lin, ATB, alpha=-4 * beta, out=grad)  # gradient of f up to the constant beta*constC
        if linear == "exact":
            verts = _exact_vertices(grad, p, q, todo, n_jobs)
            SB.zero_()
            bs, is_, js, vs = [], [], [], []
            # One nonzero per row (a permutation vertex): S B is a gather of rows of B, exact in
            # any order, so the batched gather below serves; else sum sparse rows on the host.
            rowwise = host_B is None or all(len(i) == n for i, _, _ in verts)
            for k, (i, j, v) in zip(todo, verts):
                if not rowwise:  # sparse rows of B, summed on the host
                    SB[k] = torch.from_numpy(sp.csr_matrix((v, (i, j)), shape=(n, m)) @ host_B[k])
                bs.append(np.full(i.shape, k))
                is_.append(i)
                js.append(j)
                vs.append(v)
            b_ = torch.as_tensor(np.concatenate(bs), device=dev)
            i_ = torch.as_tensor(np.concatenate(is_), device=dev)
            j_ = torch.as_tensor(np.concatenate(js), device=dev)
            v_ = torch.as_tensor(np.concatenate(vs), dtype=dt, device=dev)
            if rowwise:
                SB.view(K * n, m).index_add_(0, b_ * n + i_, v_.unsqueeze(1) * B.reshape(K * m, m)[b_ * m + j_])
            asb_S = torch.zeros(K, dtype=dt, device=dev).index_add_(0, b_, (A[b_, i_] * SB[b_, :, j_]).sum(1) * v_)

            def dot_S(X, b_=b_, i_=i_, j_=j_, v_=v_):  # <X_k, S_k> for every k (0 where k is done)
                return torch.zeros(K, dtype=dt, device=dev).index_add_(0, b_, X[b_, i_, j_] * v_)
        else:
            from workbench.ot.ipot import ipot
            from workbench.ot.sinkhorn import sinkhorn

            S = torch.zeros_like(T)
            idx = torch.as_tensor(todo, device=dev)
            solve = ipot if linear == "ipot" else sinkhorn
            S[idx] = solve(grad[idx], p[idx], q[idx], **kw).plan.to(dt)
            torch.bmm(S, B, out=SB)
            torch.bmm(A, SB, out=ASB)

            def dot_S(X, S=S):
                return (X * S).sum((1, 2))
            asb_S = dot_S(ASB)
        atb_S = dot_S(ATB)
        lin_S = dot_S(lin)
        qa = -2 * beta * (asb_S - 2 * atb_S + atb_T)
        qb = (lin_S - lin_T) - 4 * beta * (atb_S - atb_T)
        tau_q = (-qb / (2 * qa).clamp_min(torch.finfo(dt).tiny)).clamp(0.0, 1.0)
        tau = torch.where(qa > 0, tau_q, ((qa + qb) < 0).to(dt))
        tau = torch.where(active, tau, zero)
        delta = torch.where(active, qb * tau + qa * tau * tau, zero)
        t3 = tau.view(K, 1, 1)
        T.mul_(1 - t3)  # T + tau (S - T)
        if linear == "exact":
            T.index_put_((b_, i_, j_), tau[b_] * v_, accumulate=True)
        else:
            T.add_(t3 * S)
        TB.lerp_(SB, t3)
        if linear == "exact":
            pending = t3
        else:
            ATB.lerp_(ASB, t3)
        f = f + delta
        lin_T = (1 - tau) * lin_T + tau * lin_S
        atb_T = (1 - tau) ** 2 * atb_T + 2 * tau * (1 - tau) * atb_S + tau * tau * asb_S
        change = delta.abs()
        done = (tau == 0) | (change <= tol_abs) | (change <= tol_rel * f.abs())
        active = active & ~done
    converged = ~active
    return T, TB, f, iters, converged


def fgw(
    M: Tensor | None,
    A: Tensor,
    B: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    alpha: float = 0.5,
    max_iter: int = 100,
    tol: float = 1e-9,
    plan_init: Tensor | None = None,
    linear: Linear = "exact",
    linear_kw: dict | None = None,
) -> OTResult:
    r"""Fused Gromov-Wasserstein by conditional gradient (Algorithm 1 of the OTM paper).

    Solves Eq. (2) of the OTM paper (square loss), with ``alpha`` weighting the W term:

    .. math::
        \min_{T \in \Pi(a, b)} \alpha \sum_{ij} D_{ij} T_{ij}
        + (1-\alpha) \sum_{ijkl} |A_{ik} - B_{jl}|^2 T_{ij} T_{kl}.

    Each step solves the linear problem at the gradient exactly with POT's network flow
    (``ot.emd``, ``linear="exact"``, the default; with uniform weights and ``n == m`` an
    assignment problem, solved by SciPy's ``linear_sum_assignment``: the same vertex) and
    takes the closed-form step of the quadratic line search (Vayer et al. 2019, as in POT). The iterations run in torch on the inputs'
    device; only the exact linear step goes through the host. ``linear="ipot"`` or
    ``"sinkhorn"`` replaces it by :func:`~workbench.ot.ipot` / :func:`~workbench.ot.sinkhorn`
    on the device (an inexact direction: a slightly higher objective, see ``bench/ot_bench.py``). Note: the OTM paper's Algorithm 1 writes the linearised cost as
    :math:`\alpha D - 2(1-\alpha) A T A_m`; the true gradient of Eq. (2) has
    :math:`4(1-\alpha) A T A_m` (the quadratic term counts both ``T`` factors), which is what
    POT and this function use, so the line search and the LP step minimise the same objective.

    ``alpha`` follows the OTM paper: POT's ``alpha`` is ``1 - alpha`` (:func:`pot_alpha`).

    Args:
        M: Feature cost :math:`D` ``[n, m]`` (e.g. :func:`squared_euclidean_cost`), or None for
            pure GW (then ``alpha`` is ignored and set to 0).
        A: Symmetric structure matrix of the source ``[n, n]`` (e.g. Euclidean distances).
        B: Symmetric structure matrix of the target ``[m, m]``.
        a: Source weights ``[n]``; default uniform.
        b: Target weights ``[m]``; default uniform.
        alpha: Weight of the Wasserstein term in [0, 1] (paper convention).
        max_iter: Cap on conditional-gradient steps.
        tol: Stop when the objective changes by less than ``tol`` (relative or absolute) or the
            line search returns a zero step.
        plan_init: Warm start ``[n, m]`` (a feasible plan); default :math:`a b^\top`.
        linear: Solver of the linear subproblem: ``"exact"`` (POT's network simplex on the host),
            ``"ipot"`` or ``"sinkhorn"`` (batched, on the device).
        linear_kw: Keyword arguments of that solver (e.g. ``{"n_outer": 100}`` for IPOT).

    Returns:
        OTResult: ``plan [n, m]``; ``value`` is the FGW objective, differentiable in ``M``,
        ``A`` and ``B`` with the plan held constant; ``n_iters`` CG steps; ``converged``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (weight of the Wasserstein term), got {alpha}.")
    if linear not in ("exact", "ipot", "sinkhorn"):
        raise ValueError(f"linear must be 'exact', 'ipot' or 'sinkhorn', got {linear!r}.")
    ref = next((x for x in (A, M, B) if isinstance(x, Tensor) and x.is_floating_point()), None)
    out_dtype = ref.dtype if ref is not None else torch.float64
    dtype = torch.float64  # the solver works in float64 (as POT), on the inputs' device
    device = ref.device if ref is not None else torch.device("cpu")
    At, Bt = _tensor(A, "A", dtype, device), _tensor(B, "B", dtype, device)
    _check_square(At, "A")
    _check_square(Bt, "B")
    n, m = At.shape[0], Bt.shape[0]
    if M is None:
        Mt, alpha = torch.zeros(n, m, dtype=dtype, device=device), 0.0
    else:
        Mt = _tensor(M, "M", dtype, device)
        if Mt.shape != (n, m):
            raise ValueError(f"M has shape {tuple(Mt.shape)}, expected ({n}, {m}) from A [n, n] and B [m, m].")
    p, q = _weights(a, n, "a", dtype, device), _weights(b, m, "b", dtype, device)
    T0 = None
    if plan_init is not None:
        T0 = _tensor(plan_init, "plan_init", dtype, device)
        if T0.shape != (n, m):
            raise ValueError(f"plan_init has shape {tuple(T0.shape)}, expected ({n}, {m}).")
        T0 = T0[None]
    T, _, _, it, conv = _cg_batch(Mt[None], At[None], Bt[None], p[None], q[None], float(alpha), T0, max_iter=int(max_iter),
                                  tol_rel=tol, tol_abs=tol, linear=linear, linear_kw=linear_kw)
    plan = T[0].to(out_dtype)
    p, q = p.to(out_dtype), q.to(out_dtype)
    value = fgw_objective(plan, M, A if isinstance(A, Tensor) else At, B if isinstance(B, Tensor) else Bt, alpha=alpha)
    err = (plan.sum(1) - p).abs().sum() + (plan.sum(0) - q).abs().sum()
    return OTResult(plan=plan, value=value, marginal_error=err, n_iters=int(it[0]), converged=bool(conv[0]))


def fgw_objective(plan: Tensor, M: Tensor | None, A: Tensor, B: Tensor, *, alpha: float = 0.5) -> Tensor:
    r"""Value of Eq. (2) of the OTM paper at a given plan (differentiable in ``M``, ``A``, ``B``).

    .. math::
        \alpha \langle D, T\rangle + (1-\alpha)\langle (A\odot A) T 1 1^\top
        + 1 1^\top T (B \odot B) - 2 A T B, T\rangle

    Args:
        plan: ``[n, m]``, held constant.
        M: ``[n, m]`` feature cost or None (pure GW).
        A: ``[n, n]`` symmetric.
        B: ``[m, m]`` symmetric.
        alpha: Weight of the Wasserstein term (paper convention).
    """
    A = torch.as_tensor(A)
    B = torch.as_tensor(B, dtype=A.dtype, device=A.device)
    T = plan.detach().to(A.dtype)
    p, q = T.sum(1), T.sum(0)
    gw = ((A * A) @ p) @ p + ((B * B) @ q) @ q - 2 * ((A @ T @ B) * T).sum()
    if M is None:
        return gw
    w = (torch.as_tensor(M, dtype=A.dtype, device=A.device) * T).sum()
    return alpha * w + (1 - alpha) * gw
