"""Pairwise costs between token sets (batched): squared Euclidean, Euclidean, cosine."""

from __future__ import annotations

from typing import Literal

from torch import Tensor

__all__ = ["squared_euclidean_cost", "euclidean_cost", "cosine_cost", "pairwise_cost"]


def _check(X: Tensor, Y: Tensor) -> None:
    if X.ndim < 2 or Y.ndim < 2:
        raise ValueError(f"X and Y must have shape [..., n, d] and [..., m, d], got {tuple(X.shape)} and {tuple(Y.shape)}.")
    if X.shape[-1] != Y.shape[-1]:
        raise ValueError(
            f"X and Y must share the feature dimension d, got {X.shape[-1]} and {Y.shape[-1]}; "
            "project them to a common space first."
        )
    if X.shape[-2] == 0 or Y.shape[-2] == 0:
        raise ValueError(f"X and Y must hold at least one point each, got shapes {tuple(X.shape)} and {tuple(Y.shape)}.")


def squared_euclidean_cost(X: Tensor, Y: Tensor) -> Tensor:
    r"""Squared Euclidean cost :math:`C_{ij} = \|x_i - y_j\|^2` (the :math:`d^2_\mathcal{Z}` of Eq. 2
    of the OTM paper).

    Args:
        X: Points ``[..., n, d]``.
        Y: Points ``[..., m, d]`` (leading dims broadcast with ``X``).

    Returns:
        Cost ``[..., n, m]``, non-negative.
    """
    _check(X, Y)
    sq = (X * X).sum(-1, keepdim=True) + (Y * Y).sum(-1).unsqueeze(-2) - 2 * X @ Y.transpose(-1, -2)
    return sq.clamp_min(0)


def euclidean_cost(X: Tensor, Y: Tensor, eps: float = 1e-12) -> Tensor:
    r"""Euclidean cost :math:`C_{ij} = \|x_i - y_j\|` (the :math:`d_\mathcal{Z}` building the
    structure matrices :math:`A, A_m` of Eq. 2 of the OTM paper).

    Args:
        X: Points ``[..., n, d]``.
        Y: Points ``[..., m, d]``.
        eps: Floor under the square root, keeping the gradient finite for duplicated points.

    Returns:
        Cost ``[..., n, m]``.
    """
    return (squared_euclidean_cost(X, Y) + eps).sqrt() - eps**0.5


def cosine_cost(X: Tensor, Y: Tensor, eps: float = 1e-8) -> Tensor:
    r"""Cosine cost :math:`C_{ij} = 1 - \cos(x_i, y_j)` in [0, 2], the token cost of the ViLT
    reference used by WMA (the cost :math:`\mathbf{C}` of Eq. 5 of the WMA paper).

    Args:
        X: Tokens ``[..., n, d]``.
        Y: Tokens ``[..., m, d]``.
        eps: Floor on the norms (zero tokens, e.g. padding, get cost 1).

    Returns:
        Cost ``[..., n, m]``.
    """
    _check(X, Y)
    Xn = X / X.norm(dim=-1, keepdim=True).clamp_min(eps)
    Yn = Y / Y.norm(dim=-1, keepdim=True).clamp_min(eps)
    return (1 - Xn @ Yn.transpose(-1, -2)).clamp(0, 2)


def pairwise_cost(X: Tensor, Y: Tensor, metric: Literal["sqeuclidean", "euclidean", "cosine"] = "sqeuclidean") -> Tensor:
    """Dispatch to one of the costs above by name (shapes as there)."""
    table = {"sqeuclidean": squared_euclidean_cost, "euclidean": euclidean_cost, "cosine": cosine_cost}
    if metric not in table:
        raise ValueError(f"Unknown metric {metric!r}; expected one of {sorted(table)}.")
    return table[metric](X, Y)
