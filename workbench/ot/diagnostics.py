r"""Small experiments on the solvers: how far each is from exact OT, and what FGW's α does.

They back ``notebooks/01_optimal_transport`` (the figures are in
:mod:`workbench.plotting.ot`) and return plain Python values, not frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from workbench.ot.costs import euclidean_cost, squared_euclidean_cost
from workbench.ot.exact import exact
from workbench.ot.fgw import fgw
from workbench.ot.ipot import ipot as _ipot
from workbench.ot.sinkhorn import sinkhorn

__all__ = ["fgw_matchings", "median_relative_error", "solver_errors"]


def median_relative_error(value: Tensor, reference: Tensor) -> float:
    r"""Median over the batch of :math:`|v - v^*| / |v^*|` (in float64)."""
    ref = reference.detach().double().cpu()
    err = (value.detach().double().cpu() - ref).abs() / ref.abs().clamp_min(1e-300)
    return float(err.median())


def solver_errors(
    C: Tensor,
    sinkhorn_eps: Sequence[float] = (0.1, 0.03, 0.01),
    *,
    ipot: bool = True,
    ipot_options: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    r"""Median relative error of each solver's :math:`\langle C, T\rangle` against exact OT.

    Entropic Sinkhorn converges to a plan blurred by ε, so its error stalls at a bias that
    depends on ε; IPOT's keeps shrinking (:func:`~workbench.ot.ipot_error_curve` draws it
    against the iterations).

    Args:
        C: costs ``[..., n, m]`` (uniform marginals).
        sinkhorn_eps: the ε of one Sinkhorn run each, in order.
        ipot: add a row for :func:`~workbench.ot.ipot` at its defaults (ViLT's β=0.5, 50
            iterations) or at ``ipot_options``.
        ipot_options: keyword arguments of :func:`~workbench.ot.ipot`.

    Returns:
        One dict per run: ``{"solver": "sinkhorn" | "ipot", "epsilon": ε or None,
        "median_rel_error": float}``.
    """
    ref = exact(C).value
    rows = [
        {
            "solver": "sinkhorn",
            "epsilon": float(eps),
            "median_rel_error": median_relative_error(sinkhorn(C, epsilon=float(eps)).value, ref),
        }
        for eps in sinkhorn_eps
    ]
    if ipot:
        value = _ipot(C, **dict(ipot_options or {})).value
        rows.append(
            {
                "solver": "ipot",
                "epsilon": None,
                "median_rel_error": median_relative_error(value, ref),
            }
        )
    return rows


def fgw_matchings(
    X: Tensor,
    Y: Tensor,
    alphas: Sequence[float] = (1.0, 0.5, 0.0),
    *,
    truth: Tensor | None = None,
    **fgw_options: Any,
) -> list[dict[str, Any]]:
    r"""FGW plans between two point sets for several α (OTM's convention: α weights W).

    The feature cost is the squared Euclidean distance between ``X`` and ``Y``, the structure
    costs the Euclidean distances within each set; α = 1 is plain Wasserstein, α = 0 pure
    Gromov-Wasserstein.

    Args:
        X: source points ``[n, d]``.
        Y: target points ``[m, d]`` (e.g. a rotated copy of ``X``: W is fooled, GW is not).
        alphas: the α of one solve each, in order.
        truth: ``long [n]``, the true target of each source point; default: point ``i`` of
            ``Y`` is the image of point ``i`` of ``X`` when ``n == m``, else none.
        **fgw_options: passed to :func:`~workbench.ot.fgw`.

    Returns:
        One dict per α: ``{"alpha", "kind": "W" | "FGW" | "GW", "result": OTResult,
        "correct": sources whose heaviest target is the true one (None without truth),
        "n": n}``.
    """
    D, A, B = squared_euclidean_cost(X, Y), euclidean_cost(X, X), euclidean_cost(Y, Y)
    if truth is None and len(X) == len(Y):
        truth = torch.arange(len(X))
    out = []
    for alpha in alphas:
        alpha = float(alpha)
        res = fgw(D, A, B, alpha=alpha, **fgw_options)
        correct = None
        if truth is not None:
            correct = int((res.plan.argmax(-1).cpu() == truth.cpu()).sum())
        kind = "W" if alpha == 1.0 else "GW" if alpha == 0.0 else "FGW"
        out.append({"alpha": alpha, "kind": kind, "result": res, "correct": correct, "n": len(X)})
    return out
