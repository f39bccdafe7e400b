"""IPOT: the inexact proximal point method for exact optimal transport (Xie et al., 2018).

Used by the WMA paper to compute the OT distance between the token sets of two modalities
(Eq. 5-8 of the WMA paper).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor
from torch.nn import functional as F

from workbench.ot import _native
from workbench.ot._checks import finish, prepare, reduce_cost, scale_of
from workbench.ot.result import OTResult

__all__ = ["ipot", "ipot_error_curve"]

_DEFAULT_TOL = 1e-3  # marginal error under which ``converged`` is reported when tol is None


def ipot(
    C: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    beta: float = 0.5,
    n_outer: int = 50,
    n_inner: int = 1,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    tol: float | None = None,
    cost_scale: Literal["max"] | float = "max",
) -> OTResult:
    r"""Solve batched OT problems with IPOT (Eq. 5-8 of the WMA paper, Xie et al. 2018).

    Solves :math:`\min_{T \in \Sigma(a, b)} \langle C, T \rangle` (Eq. 5-6 of the WMA paper)
    by proximal point steps with a KL proximity term of weight :math:`\beta`:

    .. math::
        T^{(t+1)} = \arg\min_{T \in \Sigma(a, b)} \langle C, T \rangle
                    + \beta\, \mathrm{KL}(T \,\|\, T^{(t)}),

    each step approximated by ``n_inner`` Sinkhorn scalings of :math:`Q = e^{-C/\beta} \odot T^{(t)}`.
    Unlike entropic Sinkhorn, the iterates converge to the *exact* plan as ``n_outer`` grows.
    The marginals default to uniform weights over the real tokens (Eq. 7 of the WMA paper) and
    ``value`` is :math:`D = \langle C, T^* \rangle` (Eq. 8 of the WMA paper).

    Numerics (the algorithm is unchanged, only how it is computed):

    * The cost is *reduced*: row then column minima are subtracted, which leaves every IPOT
      plan unchanged (they are absorbed in the scalings), and puts a zero in every row and column
      of the cost so no row of the kernel can underflow to zero.
    * ``cost_scale="max"`` (default) divides the reduced cost by its per-problem maximum, so
      ``beta`` is relative to the cost range and the solver behaves the same for costs of any
      scale (1e-6 or 1e4). ``cost_scale=1.0`` uses the raw cost as the ViLT reference code does
      (``beta=0.5`` on a cosine cost in [0, 2]); both converge to the same exact plan.
    * Scalings are accumulated as vectors and folded into the kernel every few iterations, so an
      iteration costs one elementwise product and two matrix-vector products; entries below
      ``sqrt(finfo.tiny)`` are flushed to zero so that no subnormal numbers slow CPU runs.
    * On the CPU, where a C compiler works, the same iterations run in a small C kernel
      (``workbench/ot/_native.py``, built once per machine) that solves one problem at a time
      while it stays in cache; elsewhere (GPU, no compiler, ``WORKBENCH_OT_NATIVE=0``) the eager
      torch path runs. Both agree to rounding.

    Args:
        C: Cost matrices, shape ``[..., n, m]`` (any leading batch shape, or none).
        a: Source weights, shape ``[..., n]`` or ``[n]``, non-negative, summing to 1. Default:
            uniform over the real tokens of ``mask_a`` (Eq. 7 of the WMA paper).
        b: Target weights, shape ``[..., m]`` or ``[m]``. Default: uniform, as ``a``.
        beta: Proximal step size :math:`\beta` (WMA/ViLT use 0.5). Smaller moves faster towards
            the exact plan per iteration but needs more inner iterations to stay feasible.
        n_outer: Maximum number of proximal (outer) iterations; ViLT uses 50.
        n_inner: Sinkhorn scalings per proximal step; ViLT uses 1.
        mask_a: Bool ``[..., n]``, True for real tokens, False for padding.
        mask_b: Bool ``[..., m]``, True for real tokens, False for padding.
        tol: If given, each problem stops once its L1 marginal error is at most ``tol`` (checked
            every few iterations; ``n_iters`` is then the largest count run) and ``converged``
            tells whether every problem's error is below ``tol``. If None, run ``n_outer``
            iterations and report ``converged`` for an error below 1e-3.
        cost_scale: ``"max"`` (default, scale free) or a positive float dividing the reduced cost.

    Returns:
        OTResult with ``plan [..., n, m]`` (detached), ``value [...]`` = :math:`\langle C, T\rangle`
        whose gradient flows into ``C`` with the plan held constant (as in the ViLT reference),
        ``marginal_error [...]``, ``n_iters`` and ``converged``.

    Raises:
        ValueError: On mismatched shapes, empty sets, all-masked rows, invalid marginals or
            non-positive ``beta``/``n_outer``/``n_inner``.
    """
    if not beta > 0:
        raise ValueError(f"beta must be positive (the proximal step size), got {beta}.")
    if n_outer < 1 or n_inner < 1:
        raise ValueError(f"n_outer and n_inner must be at least 1, got {n_outer} and {n_inner}.")
    if not (cost_scale == "max" or (isinstance(cost_scale, (int, float)) and cost_scale > 0)):
        raise ValueError(f"cost_scale must be 'max' or a positive number, got {cost_scale!r}.")
    # The C kernel's full path checks the cost for NaN/inf in its first pass (same error).
    native_full = isinstance(C, Tensor) and _native_full(C.device, cost_scale)
    prob = prepare(C, a, b, mask_a, mask_b, check_finite=not native_full)
    work_dtype = prob.C.dtype if prob.C.dtype in (torch.float32, torch.float64) else torch.float32
    with torch.no_grad():
        plan, n_iters, reached = _ipot_kernel(
            prob.C.to(work_dtype), prob.a.to(work_dtype), prob.b.to(work_dtype), prob.valid,
            beta=float(beta), n_outer=int(n_outer), n_inner=int(n_inner), tol=tol,
            cost_scale=cost_scale,
        )
    return finish(C, plan.to(prob.C.dtype), prob, n_iters, tol if tol is not None else _DEFAULT_TOL)


def _native_full(device: torch.device, cost_scale) -> bool:
    """Whether the C kernel runs the whole solver, prologue included (CPU, ``cost_scale="max"``)."""
    return device.type == "cpu" and cost_scale == "max" and _native.load() is not None


def _ipot_kernel(C, mu, nu, valid, *, beta, n_outer, n_inner, tol, cost_scale):
    """IPOT on ``[B, n, m]`` with pending scalings; returns (plan, n_iters, reached_tol)."""
    tiny = torch.finfo(C.dtype).tiny
    flush = tiny**0.5  # P >= flush and G >= flush keep every product a normal number
    headroom = 20.0 if C.dtype == torch.float32 else 200.0
    native = C.device.type == "cpu" and _native.load() is not None
    if _native_full(C.device, cost_scale):  # the same steps, one problem at a time in cache (_native.py)
        k = int(min(10, max(1, math.floor(headroom * beta))))
        return _native.ipot_full_cpu(C, valid, mu, nu, beta=beta, n_outer=n_outer, n_inner=n_inner, k=k,
                                     flush=flush, tiny=tiny, tol=tol)
    Cr = reduce_cost(C, valid)  # +inf on padding
    if cost_scale == "max":
        scale = scale_of(Cr, valid)
        step = 1.0 / beta  # largest exponent per step, cost/(beta*scale) <= 1/beta
    else:
        scale = float(cost_scale)
        finite = Cr if valid is None else torch.where(valid, Cr, torch.zeros_like(Cr))
        step = float(finite.max()) / (beta * scale)
    G = torch.exp(-Cr / (beta * scale))
    F.threshold(G, flush, 0.0, inplace=True)
    # Fold scalings into P every k steps: P >= flush * exp(-k*step) stays a normal number.
    k = int(min(10, max(1, math.floor(headroom / max(step, 1e-12)))))
    B, n, m = C.shape
    mu = mu.unsqueeze(1)  # [B, 1, n]
    nu = nu.unsqueeze(1)  # [B, 1, m]
    P = torch.ones_like(G) if valid is None else valid.to(C.dtype)  # T0 = 1 on real entries
    row = torch.ones(B, 1, n, dtype=C.dtype, device=C.device)  # pending diag scalings of P
    col = torch.ones(B, 1, m, dtype=C.dtype, device=C.device)
    if native:
        P = P.contiguous()
        n_iters, reached = _native.ipot_cpu(P, G, mu.squeeze(1), nu.squeeze(1), n_outer=n_outer, n_inner=n_inner,
                                            k=k, flush=flush, tiny=tiny, tol=tol)
        return P, n_iters, reached
    sb = nu.clone()  # the Sinkhorn b vector, carried across outer iterations as in IPOT
    out, active = P, None  # with tol, problems that reach it leave the batch (as in the C kernel)
    reached = False
    t = 0
    while t < n_outer:
        t += 1
        P.mul_(G)  # Q = G * T, with T = diag(row) P diag(col)
        for _ in range(n_inner):
            sa = mu / (torch.bmm(col * sb, P.transpose(1, 2)) * row).clamp_min(tiny)
            sb = nu / (torch.bmm(row * sa, P) * col).clamp_min(tiny)
        row = row * sa  # T = diag(sa) Q diag(sb)
        col = col * sb
        if t % k == 0 or t == n_outer:
            P.mul_(row.transpose(1, 2)).mul_(col)
            F.threshold(P, flush, 0.0, inplace=True)
            row.fill_(1.0)
            col.fill_(1.0)
            if tol is not None and t < n_outer:
                err = (P.sum(-1) - mu.squeeze(1)).abs().sum(-1) + (P.sum(-2) - nu.squeeze(1)).abs().sum(-1)
                done = err <= tol
                if bool(done.all()):
                    reached = True
                    break
                if bool(done.any()):  # each problem stops at its own check: batched == looped
                    idx = torch.arange(P.shape[0], device=P.device) if active is None else active
                    if active is None:
                        out = P.clone()
                    out[idx[done]] = P[done]
                    keep = ~done
                    active = idx[keep]
                    P, G, mu, nu, sb = P[keep], G[keep], mu[keep], nu[keep], sb[keep]
                    row, col = row[keep], col[keep]
    if active is None:
        return P, t, reached
    out[active] = P
    return out, t, reached


def ipot_error_curve(
    C: Tensor,
    iterations: list[int] | tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100),
    betas: list[float] | tuple[float, ...] = (0.5,),
    **kwargs,
) -> dict[str, tuple[list[int], list[float]]]:
    r"""Median relative error of IPOT's :math:`\langle C, T\rangle` against exact OT.

    For the figure "IPOT converges to the exact plan" (see
    :func:`workbench.plotting.plot_ipot_convergence`).

    Args:
        C: Costs ``[..., n, m]``.
        iterations: Values of ``n_outer`` to evaluate.
        betas: Values of ``beta``; one curve each.
        **kwargs: Passed to :func:`ipot` (masks, ``cost_scale``...).

    Returns:
        ``{"beta=...": (iterations, median relative errors)}``.
    """
    from workbench.ot.exact import exact

    masks = {k: kwargs[k] for k in ("mask_a", "mask_b") if k in kwargs}
    ref = exact(C, **masks).value.double()
    out = {}
    for beta in betas:
        errs = [
            float(((ipot(C, beta=beta, n_outer=k, **kwargs).value.double() - ref).abs() / ref.abs().clamp_min(1e-300)).median())
            for k in iterations
        ]
        out[f"beta={beta:g}"] = (list(iterations), errs)
    return out
