"""Result types returned by the OT solvers: small frozen dataclasses, one per kind of answer."""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor

__all__ = ["OTResult", "BarycenterResult", "MixResult"]


@dataclass(frozen=True)
class OTResult:
    """Answer of a transport solver.

    Attributes:
        plan: Transport plan ``T``, shape ``[..., n, m]`` (no gradient).
        value: Objective at the plan, shape ``[...]``: ``<C, T>`` for linear OT, the FGW / GW
            objective for :func:`~workbench.ot.fgw`. Differentiable with respect to the costs
            with the plan treated as a constant (envelope gradient, as in IPOT implementations).
        marginal_error: ``||T 1 - a||_1 + ||T^T 1 - b||_1``, shape ``[...]``.
        n_iters: Iterations run (outer iterations for IPOT, CG steps for FGW).
        converged: Whether the stopping criterion was met (see each solver).
    """

    plan: Tensor
    value: Tensor
    marginal_error: Tensor
    n_iters: int
    converged: bool


@dataclass(frozen=True)
class BarycenterResult:
    """Answer of :func:`~workbench.ot.fgw_barycenter` (Algorithm 2 of the OTM paper).

    Attributes:
        codes: Barycenter codes ``Z_B``, shape ``[N_B, d]``.
        structure: Barycenter structure matrix ``A``, shape ``[N_B, N_B]``.
        plans: One plan ``T_m`` per modality, shape ``[N_B, N_m]`` each.
        weights: Barycenter weights ``mu_B``, shape ``[N_B]``.
        objective: ``sum_m lambda_m FGW(Z_B, Z_m; alpha)`` at the returned plans (float).
        history: Objective after each outer iteration.
        n_iters: Outer iterations run.
        converged: Whether the relative objective change fell below ``tol``.
    """

    codes: Tensor
    structure: Tensor
    plans: tuple[Tensor, ...]
    weights: Tensor
    objective: float
    history: tuple[float, ...]
    n_iters: int
    converged: bool


@dataclass(frozen=True)
class MixResult:
    """Answer of :func:`~workbench.ot.stochastic_mix` (Eq. 3 of the OTM paper).

    Attributes:
        fused: Mixed barycenter codes ``tilde Z_B``, shape ``[N_B, d]``.
        augmented: Per modality ``tilde Z_m``, shape ``[N_m, d]`` each (Eq. 3).
        masks: Masks ``M_m`` stacked, shape ``[M, N_B, d]``; they sum to one over ``M``.
    """

    fused: Tensor
    augmented: tuple[Tensor, ...]
    masks: Tensor
