"""OTM's stochastic mixing of pushed-forward codes (Eq. 3) and GW clustering loss (Eq. 6)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from workbench.ot.costs import squared_euclidean_cost
from workbench.ot.fgw import fgw, fgw_objective
from workbench.ot.result import MixResult, OTResult

__all__ = ["stochastic_mix", "gw_cluster_loss"]


def stochastic_mix(
    codes: Sequence[Tensor],
    plans: Sequence[Tensor],
    *,
    masks: Literal["binary", "dirichlet", "weighted"] = "binary",
    lambdas: Sequence[float] | None = None,
    concentration: float = 1.0,
    generator: torch.Generator | None = None,
) -> MixResult:
    r"""Stochastic FGW-barycenter mixing (Eq. 3 of the OTM paper and the text before it).

    .. math::
        \tilde Z_B = \sum_m M_m \odot \big(\mathrm{diag}(1/\mu_B)\, T_m Z_m\big),
        \qquad \sum_m M_m = \mathbf{1}_{N_B \times d},
        \qquad \tilde Z_m = \mathrm{diag}(1/\mu_m)\, T_m^\top \tilde Z_B .

    ``diag(1/mu_B)`` is the paper's :math:`N_B` for uniform weights. For Eq. 3 the paper writes
    :math:`T_m^\top \tilde Z_B`, whose rows carry the mass :math:`1/N_m`; we rescale by
    :math:`\mathrm{diag}(1/\mu_m)` so that :math:`\tilde Z_m` lives on the scale of :math:`Z_m`,
    which the loss :math:`\|Z_m - \tilde Z_m\|^2` of Eq. 5 needs.

    Masks:

    * ``"binary"`` (the paper): each entry of :math:`\tilde Z_B` is taken from one modality,
      drawn with probabilities ``lambdas`` (default uniform).
    * ``"dirichlet"`` (the OTM reference code's soft masks): for each entry, weights drawn from
      Dirichlet(``concentration``).
    * ``"weighted"`` (the WB ablation of the paper): :math:`M_m = \lambda_m`, no randomness.

    Gradients flow into ``codes``; the plans are constants.

    Args:
        codes: Per modality :math:`Z_m` ``[N_m, d]``.
        plans: Per modality :math:`T_m^*` ``[N_B, N_m]`` (e.g. ``fgw_barycenter(...).plans``).
        masks: ``"binary"``, ``"dirichlet"`` or ``"weighted"``.
        lambdas: Modality weights (mask probabilities or WB weights), summing to 1.
        concentration: Dirichlet concentration (``masks="dirichlet"`` only).
        generator: Randomness of the masks; default a fresh generator seeded with 0.

    Returns:
        MixResult with ``fused [N_B, d]``, ``augmented`` (one ``[N_m, d]`` each) and
        ``masks [M, N_B, d]``.
    """
    if len(codes) == 0 or len(codes) != len(plans):
        raise ValueError(f"codes and plans must be non-empty and of equal length, got {len(codes)} and {len(plans)}.")
    Mn = len(codes)
    NB, d = plans[0].shape[0], codes[0].shape[1]
    for i, (z, T) in enumerate(zip(codes, plans)):
        if T.shape != (NB, z.shape[0]) or z.shape[1] != d:
            raise ValueError(f"plans[{i}] has shape {tuple(T.shape)} and codes[{i}] {tuple(z.shape)}; expected [{NB}, N_m] and [N_m, {d}].")
    lam = torch.full((Mn,), 1.0 / Mn, dtype=codes[0].dtype, device=codes[0].device) if lambdas is None else torch.as_tensor(
        lambdas, dtype=codes[0].dtype, device=codes[0].device)
    if lam.shape != (Mn,) or bool((lam < 0).any()) or abs(float(lam.sum()) - 1) > 1e-6:
        raise ValueError(f"lambdas must be {Mn} non-negative weights summing to 1, got {lam.tolist()}.")
    g = generator if generator is not None else torch.Generator(device="cpu").manual_seed(0)
    dev, dt = codes[0].device, codes[0].dtype
    if masks == "binary":
        pick = torch.multinomial(lam.cpu().double().expand(NB * d, Mn), 1, replacement=True, generator=g) if g.device.type == "cpu" else torch.multinomial(lam.expand(NB * d, Mn), 1, replacement=True, generator=g)
        W = torch.nn.functional.one_hot(pick.view(NB, d).to(dev), Mn).permute(2, 0, 1).to(dt)
    elif masks == "dirichlet":
        if not concentration > 0:
            raise ValueError(f"concentration must be positive, got {concentration}.")
        seed = int(torch.randint(0, 2**62, (1,), generator=g, device=g.device))
        w = np.random.default_rng(seed).dirichlet(np.full(Mn, float(concentration)), size=(NB, d))
        W = torch.as_tensor(w, dtype=dt, device=dev).permute(2, 0, 1)
    elif masks == "weighted":
        W = lam.view(Mn, 1, 1).expand(Mn, NB, d).clone()
    else:
        raise ValueError(f"masks must be 'binary', 'dirichlet' or 'weighted', got {masks!r}.")
    Ts = [T.detach().to(dt) for T in plans]
    pushed = [T @ z / T.sum(1, keepdim=True).clamp_min(torch.finfo(dt).tiny) for T, z in zip(Ts, codes)]
    fused = sum(W[m] * pushed[m] for m in range(Mn))
    augmented = tuple(T.t() @ fused / T.sum(0).clamp_min(torch.finfo(dt).tiny)[:, None] for T in Ts)
    return MixResult(fused=fused, augmented=augmented, masks=W)


def gw_cluster_loss(
    codes: Tensor,
    n_clusters: int,
    *,
    sigma: float | None = None,
    weights: Tensor | None = None,
    max_iter: int = 100,
) -> OTResult:
    r"""GW clustering regulariser of the fused codes (Eq. 6 of the OTM paper).

    .. math::
        \min_{T \in \Pi(\mu_B, \mu_C)} \sum_{ijkl} |K_{ik} - (I_C)_{jl}|^2 T_{ij} T_{kl},
        \qquad K_{ik} = \exp\!\big(-\|\tilde z_i - \tilde z_k\|^2 / (2\sigma^2)\big),

    with :math:`\mu_C = \mathbf{1}_C / C`. The plan is found by :func:`~workbench.ot.fgw` with
    pure GW on the detached kernel; ``value`` is differentiable in ``codes`` through :math:`K`
    with the plan held constant. ``plan.argmax(1)`` gives cluster assignments.

    Args:
        codes: Fused codes :math:`\tilde Z_B` ``[N_B, d]``.
        n_clusters: Number of clusters :math:`C`.
        sigma: Kernel bandwidth; default the median pairwise distance (detached).
        weights: :math:`\mu_B` ``[N_B]``; default uniform.
        max_iter: Conditional-gradient cap.

    Returns:
        OTResult with ``plan [N_B, C]`` and scalar ``value``.
    """
    if codes.ndim != 2 or codes.shape[0] == 0:
        raise ValueError(f"codes must have shape [N_B, d] with N_B >= 1, got {tuple(codes.shape)}.")
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be at least 1, got {n_clusters}.")
    D2 = squared_euclidean_cost(codes, codes)
    if sigma is None:
        off = D2.detach()[~torch.eye(codes.shape[0], dtype=torch.bool, device=codes.device)]
        sigma = float(off.clamp_min(0).sqrt().median()) if off.numel() else 1.0
        sigma = sigma if sigma > 0 else 1.0
    K = torch.exp(-D2 / (2 * sigma**2))
    K = (K + K.t()) / 2
    I = torch.eye(n_clusters, dtype=codes.dtype, device=codes.device)  # noqa: E741
    res = fgw(None, K.detach(), I, weights, None, max_iter=max_iter)
    value = fgw_objective(res.plan.to(codes.dtype), None, K, I)
    return OTResult(plan=res.plan, value=value, marginal_error=res.marginal_error, n_iters=res.n_iters, converged=res.converged)
