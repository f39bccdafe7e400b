"""Exact OT with POT's network simplex (``ot.emd``), the reference for IPOT and Sinkhorn."""

from __future__ import annotations

import numpy as np
import ot
import torch
from torch import Tensor

from workbench.ot._checks import finish, prepare
from workbench.ot.result import OTResult

__all__ = ["exact"]


def exact(
    C: Tensor,
    a: Tensor | None = None,
    b: Tensor | None = None,
    *,
    mask_a: Tensor | None = None,
    mask_b: Tensor | None = None,
    max_iter: int = 1_000_000,
) -> OTResult:
    r"""Exact OT :math:`\min_{T \in \Sigma(a, b)} \langle C, T\rangle` (Eq. 5-6 of the WMA paper)
    by POT's network simplex, one problem at a time on the CPU in float64.

    This is the reference the iterative solvers are tested and benchmarked against; it is not
    differentiable beyond the envelope gradient of ``value`` in ``C``.

    Args:
        C: Cost ``[..., n, m]``.
        a: Source weights ``[..., n]`` or ``[n]``; default uniform over real tokens.
        b: Target weights ``[..., m]`` or ``[m]``; default uniform over real tokens.
        mask_a: Bool ``[..., n]``, True for real tokens.
        mask_b: Bool ``[..., m]``, True for real tokens.
        max_iter: Network simplex iteration cap (``numItermax`` of ``ot.emd``).

    Returns:
        OTResult with the plan on ``C``'s device and dtype; ``converged`` is False if POT warned
        (iteration cap hit) for any problem.
    """
    prob = prepare(C, a, b, mask_a, mask_b)
    Cn = prob.C.cpu().double().numpy()
    an = prob.a.cpu().double().numpy()
    bn = prob.b.cpu().double().numpy()
    plans = np.zeros_like(Cn)
    ok = True
    for i in range(Cn.shape[0]):
        ri = np.flatnonzero(an[i] > 0)
        ci = np.flatnonzero(bn[i] > 0)
        ai, bi = an[i, ri], bn[i, ci]
        T, log = ot.emd(ai / ai.sum(), bi / bi.sum(), np.ascontiguousarray(Cn[i][np.ix_(ri, ci)]), numItermax=max_iter, log=True)
        ok = ok and log.get("warning") is None
        plans[i][np.ix_(ri, ci)] = T
    plan = torch.from_numpy(plans).to(device=prob.C.device, dtype=prob.C.dtype)
    res = finish(C, plan, prob, 1, None)
    from dataclasses import replace

    return replace(res, converged=ok)
