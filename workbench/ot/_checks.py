"""Input checks and batching shared by the linear OT solvers (private)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class Problem:
    """A validated, flattened batch of linear OT problems."""

    C: Tensor  # [B, n, m] cost with invalid entries replaced by 0
    a: Tensor  # [B, n] source weights, 0 on padding
    b: Tensor  # [B, m] target weights, 0 on padding
    valid: Tensor | None  # [B, n, m] bool, None when nothing is masked
    batch_shape: tuple[int, ...]


def _marginal(w: Tensor | None, mask: Tensor | None, name: str, mask_name: str, lead, size, C):
    if mask is not None:
        if mask.dtype != torch.bool:
            raise ValueError(f"{mask_name} must be a bool tensor (True = real token), got {mask.dtype}.")
        try:
            mask = mask.to(C.device).expand(*lead, size)
        except RuntimeError as err:
            raise ValueError(
                f"{mask_name} has shape {tuple(mask.shape)}, expected {(*lead, size)} to match the "
                f"cost of shape {tuple(C.shape)}."
            ) from err
        counts = mask.sum(-1)
        if bool((counts == 0).any()):
            raise ValueError(
                f"{mask_name} masks out every entry of at least one set: each problem needs at least "
                "one real token on each side; drop empty problems from the batch before solving."
            )
    if w is None:
        if mask is None:
            return C.new_full((*lead, size), 1.0 / size), None
        m = mask.to(C.dtype)
        return m / m.sum(-1, keepdim=True), mask
    w = torch.as_tensor(w, dtype=C.dtype, device=C.device)
    try:
        w = w.expand(*lead, size)
    except RuntimeError as err:
        raise ValueError(
            f"Marginal {name} has shape {tuple(w.shape)}, expected {(*lead, size)} (or [{size}]) "
            f"to match the cost of shape {tuple(C.shape)}."
        ) from err
    if not bool(torch.isfinite(w).all()) or bool((w < 0).any()):
        raise ValueError(f"Marginal {name} must be finite and non-negative; got a negative or non-finite entry.")
    total = w.sum(-1)
    if bool(((total - 1).abs() > 1e-4).any()):
        raise ValueError(
            f"Marginal {name} must sum to 1 over its last dimension (found sums in "
            f"[{float(total.min()):.4g}, {float(total.max()):.4g}]); divide it by its sum."
        )
    if mask is not None and bool((w[~mask] > 0).any()):
        raise ValueError(f"Marginal {name} puts mass on entries that {mask_name} marks as padding.")
    return w, mask


NON_FINITE_COST = "The cost C contains NaN or inf on unmasked entries; check the features it was built from."


def prepare(C: Tensor, a, b, mask_a, mask_b, *, check_finite: bool = True) -> Problem:
    """Validate a cost ``[..., n, m]`` with marginals and masks; flatten the batch dimensions.

    ``check_finite=False`` leaves the NaN/inf check of the unmasked entries to the caller (IPOT's C
    kernel does it in its first pass over the cost and raises the same error).
    """
    if not isinstance(C, Tensor):
        raise ValueError(f"The cost C must be a torch.Tensor of shape [..., n, m], got {type(C).__name__}.")
    if C.ndim < 2:
        raise ValueError(f"The cost C must have shape [..., n, m] (at least 2 dims), got {tuple(C.shape)}.")
    if not C.is_floating_point():
        raise ValueError(f"The cost C must be a floating tensor, got {C.dtype}; use C.float().")
    n, m = C.shape[-2:]
    lead = tuple(C.shape[:-2])
    if n == 0 or m == 0 or any(s == 0 for s in lead):
        raise ValueError(f"The cost C of shape {tuple(C.shape)} is empty: both token sets need at least one point.")
    a, mask_a = _marginal(a, mask_a, "a", "mask_a", lead, n, C)
    b, mask_b = _marginal(b, mask_b, "b", "mask_b", lead, m, C)
    C = C.detach()
    valid = None
    if mask_a is not None or mask_b is not None:
        ma = mask_a if mask_a is not None else torch.ones(*lead, n, dtype=torch.bool, device=C.device)
        mb = mask_b if mask_b is not None else torch.ones(*lead, m, dtype=torch.bool, device=C.device)
        valid = ma.unsqueeze(-1) & mb.unsqueeze(-2)
        C = torch.where(valid, C, torch.zeros((), dtype=C.dtype, device=C.device))
    if check_finite:
        lo, hi = torch.aminmax(C)  # one pass without a mask tensor; NaN and inf propagate
        if not (bool(torch.isfinite(lo)) and bool(torch.isfinite(hi))):
            raise ValueError(NON_FINITE_COST)
    B = 1
    for s in lead:
        B *= s
    return Problem(
        C=C.reshape(B, n, m),
        a=a.reshape(B, n),
        b=b.reshape(B, m),
        valid=None if valid is None else valid.reshape(B, n, m),
        batch_shape=lead,
    )


def finish(C: Tensor, plan: Tensor, prob: Problem, n_iters: int, converged_tol: float | None):
    """Shape the answer: value <C, T> with gradient through C only, and marginal error."""
    from workbench.ot.result import OTResult

    n, m = plan.shape[-2:]
    err = (plan.sum(-1) - prob.a).abs().sum(-1) + (plan.sum(-2) - prob.b).abs().sum(-1)
    plan = plan.reshape(*prob.batch_shape, n, m)
    Cv = C if prob.valid is None else torch.where(prob.valid.reshape(C.shape), C, torch.zeros((), dtype=C.dtype, device=C.device))
    # elementwise product and sum: 4x faster on the CPU than the same dot products as a bmm of
    # [B, 1, n m] x [B, n m, 1] (0.3 vs 1.2 ms at 128 x 40 x 145, measured), gradient into C
    value = (Cv * plan.to(C.dtype)).sum((-2, -1))
    err = err.reshape(prob.batch_shape)
    converged = True if converged_tol is None else bool((err <= converged_tol).all())
    return OTResult(plan=plan, value=value, marginal_error=err, n_iters=n_iters, converged=converged)


def scale_of(Cr: Tensor, valid: Tensor | None) -> Tensor:
    """Per-problem maximum of a non-negative reduced cost ``[B, n, m]`` -> ``[B, 1, 1]``."""
    if valid is not None:
        Cr = torch.where(valid, Cr, torch.zeros((), dtype=Cr.dtype, device=Cr.device))
    return Cr.amax((-2, -1), keepdim=True).clamp_min(torch.finfo(Cr.dtype).tiny ** 0.5)


def reduce_cost(C: Tensor, valid: Tensor | None) -> Tensor:
    """Subtract row then column minima (over valid entries); the OT plan does not change."""
    big = torch.tensor(float("inf"), dtype=C.dtype, device=C.device)
    Cm = C if valid is None else torch.where(valid, C, big)
    r = Cm.amin(-1, keepdim=True)
    r = torch.where(torch.isfinite(r), r, torch.zeros_like(r))
    Cm = Cm - r
    s = Cm.amin(-2, keepdim=True)
    s = torch.where(torch.isfinite(s), s, torch.zeros_like(s))
    return Cm - s  # +inf on invalid entries
