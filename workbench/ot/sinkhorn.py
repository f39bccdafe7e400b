"""Entropic OT by log-domain Sinkhorn iterations (Cuturi 2013), the entropic peer of IPOT."""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from workbench.ot._checks import finish, prepare, reduce_cost, scale_of
from workbench.ot.result import OTResult

__all__ = ["sinkhorn"]


def sinkhorn(
    C: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    epsilon: float = 0.01,
    n_iters: int = 1000,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    tol: float | None = 1e-6,
    cost_scale: Literal["max"] | float = "max",
) -> OTResult:
    r"""Solve batched entropic OT with log-domain Sinkhorn.

    .. math::
        \min_{T \in \Sigma(a, b)} \langle C, T \rangle - \varepsilon H(T),

    computed with dual potentials :math:`f, g` and log-sum-exp updates, so no kernel
    :math:`e^{-C/\varepsilon}` is ever formed (stable for any :math:`\varepsilon`). The plan
    approaches the exact one of Eq. (5) of the WMA paper only as :math:`\varepsilon \to 0`;
    :func:`~workbench.ot.ipot` reaches it for a fixed step.

    Args:
        C: Cost ``[..., n, m]``.
        a: Source weights ``[..., n]`` or ``[n]``; default uniform over real tokens.
        b: Target weights ``[..., m]`` or ``[m]``; default uniform over real tokens.
        epsilon: Entropic regularisation, relative to the cost range when
            ``cost_scale="max"`` (default), else in units of ``C / cost_scale``.
        n_iters: Maximum number of (f, g) updates.
        mask_a: Bool ``[..., n]``, True for real tokens.
        mask_b: Bool ``[..., m]``, True for real tokens.
        tol: Stop when every problem's L1 marginal error is at most ``tol`` (checked every
            10 iterations). None runs ``n_iters`` iterations.
        cost_scale: ``"max"`` or a positive float dividing the (row/column reduced) cost.

    Returns:
        OTResult; ``value`` is :math:`\langle C, T \rangle` (without the entropy), differentiable
        in ``C`` with the plan held constant.
    """
    if not epsilon > 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}.")
    if n_iters < 1:
        raise ValueError(f"n_iters must be at least 1, got {n_iters}.")
    if not (cost_scale == "max" or (isinstance(cost_scale, (int, float)) and cost_scale > 0)):
        raise ValueError(f"cost_scale must be 'max' or a positive number, got {cost_scale!r}.")
    prob = prepare(C, a, b, mask_a, mask_b)
    dtype = prob.C.dtype if prob.C.dtype in (torch.float32, torch.float64) else torch.float32
    with torch.no_grad():
        Cr = reduce_cost(prob.C.to(dtype), prob.valid)  # +inf on padding
        scale = scale_of(Cr, prob.valid) if cost_scale == "max" else float(cost_scale)
        K = -Cr / (epsilon * scale)  # log-kernel, -inf on padding
        log_a = prob.a.to(dtype).log()
        log_b = prob.b.to(dtype).log()
        f = torch.zeros_like(log_a)
        g = torch.zeros_like(log_b)
        it = 0
        for it in range(1, n_iters + 1):
            f = log_a - torch.logsumexp(K + g.unsqueeze(-2), dim=-1)
            f = torch.where(torch.isfinite(f), f, torch.full_like(f, -float("inf")))
            g = log_b - torch.logsumexp(K + f.unsqueeze(-1), dim=-2)
            g = torch.where(torch.isfinite(g), g, torch.full_like(g, -float("inf")))
            if tol is not None and it % 10 == 0:
                row = torch.logsumexp(K + f.unsqueeze(-1) + g.unsqueeze(-2), dim=-1).exp()
                if bool(((row - prob.a).abs().sum(-1) <= tol).all()):
                    break
        plan = (K + f.unsqueeze(-1) + g.unsqueeze(-2)).exp()
    return finish(C, plan.to(prob.C.dtype), prob, it, tol if tol is not None else 1e-3)
