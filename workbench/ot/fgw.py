"""Fused Gromov-Wasserstein distance by conditional gradient (Algorithm 1 of the OTM paper).

Convention for ``alpha`` (read this before comparing with POT):

* **Here, as in Eq. (2) of the OTM paper**, ``alpha`` weights the *Wasserstein (feature)* term:
  ``alpha * <D, T> + (1 - alpha) * GW(A, B, T)``. ``alpha = 1`` is pure W, ``alpha = 0`` pure GW.
* **In POT** (``ot.gromov.fused_gromov_wasserstein``, ``fgw_barycenters``) ``alpha`` weights the
  *Gromov-Wasserstein (structure)* term: ``(1 - alpha) * <M, T> + alpha * GW``.

So ``alpha_POT = 1 - alpha`` (see :func:`pot_alpha`). The objectives are then identical.
"""

from __future__ import annotations

import numpy as np
import ot
import scipy.sparse as sp
import torch
from torch import Tensor

from workbench.ot.result import OTResult

__all__ = ["fgw", "pot_alpha", "fgw_objective"]


def pot_alpha(alpha: float) -> float:
    """Map the OTM paper's ``alpha`` (weight of the W term) to POT's (weight of the GW term)."""
    return 1.0 - float(alpha)


def _np(x, name):
    if isinstance(x, Tensor):
        return x.detach().cpu().double().numpy()
    return np.asarray(x, dtype=np.float64)


def _weights(w, size, name):
    if w is None:
        return np.full(size, 1.0 / size)
    w = _np(w, name).reshape(-1)
    if w.shape != (size,):
        raise ValueError(f"Weights {name} have shape {w.shape}, expected ({size},) to match the structure matrix.")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError(f"Weights {name} must be finite and non-negative.")
    if abs(w.sum() - 1) > 1e-6:
        raise ValueError(f"Weights {name} must sum to 1 (found {w.sum():.6g}); divide them by their sum.")
    return w


def _check_square(X, name, size=None):
    if X.ndim != 2 or X.shape[0] != X.shape[1] or X.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty square matrix [n, n], got shape {X.shape}.")
    if size is not None and X.shape[0] != size:
        raise ValueError(f"{name} has {X.shape[0]} rows, expected {size} to match the other inputs.")
    if not np.allclose(X, X.T, atol=1e-8 * max(1.0, np.abs(X).max())):
        raise ValueError(f"{name} must be symmetric (a distance or similarity matrix); use (X + X.T) / 2.")


def _cg(M, A, B, p, q, alpha, T0, max_iter, tol_rel, tol_abs):
    """Conditional gradient on f(T) = alpha <M,T> + (1-alpha) <constC - 2 A T B, T> (numpy)."""
    beta = 1.0 - alpha
    constC = np.outer((A * A) @ p, np.ones_like(q)) + np.outer(np.ones_like(p), (B * B) @ q)
    T = np.outer(p, q) if T0 is None else T0.copy()
    ATB = A @ (T @ B)
    lin = alpha * M + beta * constC
    f = float(np.sum((lin - 2 * beta * ATB) * T))
    it, converged = 0, False
    while it < max_iter:
        it += 1
        grad = lin - 4 * beta * ATB  # gradient of f up to the constant beta*constC
        Tt = ot.emd(p, q, grad - grad.min(), numItermax=1_000_000)  # shift: same LP, POT needs >= 0
        AttB = A @ (sp.csr_matrix(Tt) @ B)  # the LP vertex is sparse (<= n + m - 1 entries)
        D = Tt - T
        ADB = AttB - ATB
        qa = -2 * beta * float(np.sum(ADB * D))
        qb = float(np.sum(lin * D)) - 4 * beta * float(np.sum(ATB * D))
        if qa > 0:
            tau = min(1.0, max(0.0, -qb / (2 * qa)))
        else:
            tau = 1.0 if qa + qb < 0 else 0.0
        delta = qb * tau + qa * tau * tau
        if tau > 0:
            T = T + tau * D
            ATB = ATB + tau * ADB
        f_new = f + delta
        change = abs(delta)
        f = f_new
        if tau == 0 or change <= tol_abs or change <= tol_rel * abs(f):
            converged = True
            break
    return T, f, it, converged


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
) -> OTResult:
    r"""Fused Gromov-Wasserstein by conditional gradient (Algorithm 1 of the OTM paper).

    Solves Eq. (2) of the OTM paper (square loss), with ``alpha`` weighting the W term:

    .. math::
        \min_{T \in \Pi(a, b)} \alpha \sum_{ij} D_{ij} T_{ij}
        + (1-\alpha) \sum_{ijkl} |A_{ik} - B_{jl}|^2 T_{ij} T_{kl}.

    Each step solves the linear problem at the gradient exactly with POT's network flow
    (``ot.emd``) and takes the closed-form step of the quadratic line search (Vayer et al.
    2019, as in POT). Note: the OTM paper's Algorithm 1 writes the linearised cost as
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

    Returns:
        OTResult: ``plan [n, m]``; ``value`` is the FGW objective, differentiable in ``M``,
        ``A`` and ``B`` with the plan held constant; ``n_iters`` CG steps; ``converged``.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (weight of the Wasserstein term), got {alpha}.")
    An, Bn = _np(A, "A"), _np(B, "B")
    _check_square(An, "A")
    _check_square(Bn, "B")
    n, m = An.shape[0], Bn.shape[0]
    if M is None:
        Mn, alpha = np.zeros((n, m)), 0.0
    else:
        Mn = _np(M, "M")
        if Mn.shape != (n, m):
            raise ValueError(f"M has shape {Mn.shape}, expected ({n}, {m}) from A [n, n] and B [m, m].")
    p, q = _weights(a, n, "a"), _weights(b, m, "b")
    T0 = None
    if plan_init is not None:
        T0 = _np(plan_init, "plan_init")
        if T0.shape != (n, m):
            raise ValueError(f"plan_init has shape {T0.shape}, expected ({n}, {m}).")
    T, _, it, conv = _cg(Mn, An, Bn, p, q, float(alpha), T0, int(max_iter), tol, tol)
    ref = A if isinstance(A, Tensor) else (M if isinstance(M, Tensor) else torch.as_tensor(An))
    plan = torch.as_tensor(T, dtype=ref.dtype if ref.is_floating_point() else torch.float64, device=ref.device)
    value = fgw_objective(plan, M, A, B, alpha=alpha)
    err = (plan.sum(1) - torch.as_tensor(p, dtype=plan.dtype, device=plan.device)).abs().sum() + (
        plan.sum(0) - torch.as_tensor(q, dtype=plan.dtype, device=plan.device)
    ).abs().sum()
    return OTResult(plan=plan, value=value, marginal_error=err, n_iters=it, converged=conv)


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
