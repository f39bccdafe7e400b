"""FGW barycenter of several modalities' latent codes (Algorithm 2 of the OTM paper)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Literal

import torch
from threadpoolctl import threadpool_limits
from torch import Tensor

from workbench.ot.fgw import Linear, _cg_batch, _weights
from workbench.ot.result import BarycenterResult

__all__ = ["fgw_barycenter", "kmeans_init"]


def _sqdist(X: Tensor, Y: Tensor) -> Tensor:
    """Squared distances ``[..., n, m]`` of batched point sets ``[..., n, d]`` and ``[..., m, d]``."""
    d = (X * X).sum(-1).unsqueeze(-1) + (Y * Y).sum(-1).unsqueeze(-2) - 2 * X @ Y.transpose(-1, -2)
    return d.clamp_min(0.0)


def _dist(X: Tensor) -> Tensor:
    D = _sqdist(X, X).sqrt()
    D.diagonal(dim1=-2, dim2=-1).zero_()
    return (D + D.transpose(-1, -2)) / 2


def kmeans_init(codes: Sequence[Tensor], n_points: int, *, generator: torch.Generator | None = None, n_iters: int = 10) -> Tensor:
    """``n_points`` k-means centres of the union of all modalities' codes (Lloyd iterations).

    Args:
        codes: Per modality ``[N_m, d]``.
        n_points: Number of centres ``N_B``.
        generator: Source of randomness for the initial centres; default a fresh generator
            seeded with 0 (never the global RNG).
        n_iters: Lloyd iterations.

    Returns:
        Centres ``[N_B, d]`` on the codes' device; empty clusters keep their previous centre.
    """
    X = torch.cat([z.detach() for z in codes], 0)
    g = generator if generator is not None else torch.Generator(device="cpu").manual_seed(0)
    idx = torch.randperm(X.shape[0], generator=g, device=g.device)
    if X.shape[0] < n_points:
        idx = torch.randint(X.shape[0], (n_points,), generator=g, device=g.device)
    centres = X[idx[:n_points].to(X.device)].clone()
    for _ in range(n_iters):
        assign = torch.cdist(X, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, X)
        counts = torch.zeros(n_points, dtype=X.dtype, device=X.device).index_add_(0, assign, torch.ones_like(X[:, 0]))
        nonempty = counts > 0
        centres[nonempty] = sums[nonempty] / counts[nonempty, None]
    return centres


def fgw_barycenter(
    codes: Sequence[Tensor],
    n_points: int,
    *,
    alpha: float = 0.5,
    weights: Sequence[Tensor] | None = None,
    lambdas: Sequence[float] | None = None,
    structures: Sequence[Tensor] | None = None,
    structure: Literal["features", "free"] = "features",
    init: Literal["kmeans", "modality"] | Tensor = "kmeans",
    init_structure: Tensor | None = None,
    generator: torch.Generator | None = None,
    n_outer: int = 100,
    tol: float = 1e-5,
    fgw_max_iter: int = 50,
    fgw_tol: float = 1e-7,
    warm_start: bool = True,
    n_jobs: int | None = None,
    linear: Linear = "exact",
    linear_kw: dict | None = None,
) -> BarycenterResult:
    r"""FGW barycenter :math:`Z_B` of latent codes (Eq. 1 and Algorithm 2 of the OTM paper).

    .. math::
        Z_B, \{T_m^*\} = \arg\min_{Z} \sum_m \lambda_m \mathrm{FGW}(Z, Z_m; \alpha)

    alternating (i) one FGW problem per modality by :func:`~workbench.ot.fgw`'s conditional
    gradient (Algorithm 1), warm-started from the previous outer iteration's plan, batched over
    modalities of equal size and run in torch on the codes' device (only ``linear="exact"``'s
    network simplex visits the host), and
    (ii) the feature update of Algorithm 2,

    .. math::
        Z_B = \mathrm{diag}(1/\mu_B) \sum_m \lambda_m T_m Z_m ,

    i.e. the paper's :math:`N_B \sum_m T_m Z_m` for uniform :math:`\mu_B`, with the modality
    weights :math:`\lambda_m` (default :math:`1/M`) that make it an average; this is also POT's
    feature update. Without them the update would scale the codes by ``M`` at every iteration.

    The barycenter's structure matrix :math:`A` is, with ``structure="features"`` (the OTM
    paper), the Euclidean distance matrix of :math:`Z_B`, recomputed after each update; with
    ``structure="free"`` (POT's ``fgw_barycenters``) a free matrix updated in closed form
    :math:`A = \sum_m \lambda_m T_m A_m T_m^\top / \mu_B \mu_B^\top`.

    Initialisation matters: zero codes make every row of the feature cost identical and the
    alternation stalls; the default is k-means centres of all codes (:func:`kmeans_init`);
    ``"modality"`` takes random codes of the first modality; a tensor ``[N_B, d]`` is used as is.

    Args:
        codes: Per modality latent codes :math:`Z_m` ``[N_m, d]`` (same ``d``).
        n_points: Number of barycenter codes :math:`N_B`.
        alpha: Weight of the Wasserstein term (OTM convention; POT's is ``1 - alpha``).
        weights: Per modality sample weights :math:`\mu_m` ``[N_m]``; default uniform.
        lambdas: Modality weights :math:`\lambda_m`, non-negative, summing to 1; default ``1/M``.
        structures: Per modality structure :math:`A_m` ``[N_m, N_m]``; default Euclidean
            distances of the codes.
        structure: ``"features"`` (paper) or ``"free"`` (POT), see above.
        init: ``"kmeans"``, ``"modality"`` or a tensor ``[N_B, d]``.
        init_structure: Optional initial :math:`A` ``[N_B, N_B]`` (``structure="free"`` only);
            default the distances of the initial codes.
        generator: Randomness of the initialisation; default a fresh generator seeded with 0.
        n_jobs: Threads running the exact linear steps of the modalities in parallel (POT's
            network simplex releases the GIL); default ``min(M, torch.get_num_threads())``.
            The result does not depend on it.
        linear: Linear step of the conditional gradient: ``"exact"`` (default, POT's network
            simplex on the host), ``"ipot"`` or ``"sinkhorn"`` (batched on the device, inexact:
            ``bench/ot_bench.py`` prints the objective gap).
        linear_kw: Keyword arguments of the ``"ipot"``/``"sinkhorn"`` solver.
        n_outer: Cap on outer iterations.
        tol: Stop when the objective's relative change is below ``tol``.
        fgw_max_iter: Cap on conditional-gradient steps per FGW problem.
        fgw_tol: Tolerance of each FGW problem.
        warm_start: Start each FGW problem from the previous plan (else from
            :math:`\mu_B \mu_m^\top`).

    Returns:
        BarycenterResult with codes ``[N_B, d]`` (on the codes' device and dtype), structure,
        plans, weights, objective (at the returned codes and plans) and its history.
    """
    if len(codes) == 0:
        raise ValueError("codes is empty: pass one [N_m, d] tensor per modality.")
    d = codes[0].shape[-1]
    for i, z in enumerate(codes):
        if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] != d:
            raise ValueError(f"codes[{i}] has shape {tuple(z.shape)}; every modality needs [N_m, {d}] with N_m >= 1.")
    if n_points < 1:
        raise ValueError(f"n_points must be at least 1, got {n_points}.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1] (weight of the Wasserstein term), got {alpha}.")
    if structure not in ("features", "free"):
        raise ValueError(f"structure must be 'features' or 'free', got {structure!r}.")
    M = len(codes)
    ref = codes[0]
    dt = torch.float64  # the solver works in float64 (as POT); results come back in the codes' dtype
    dev = ref.device
    lam = (torch.full((M,), 1.0 / M, dtype=dt, device=dev) if lambdas is None
           else _weights(torch.as_tensor(list(lambdas), dtype=torch.float64), M, "lambdas", dt, dev))
    lam_f = lam.tolist()
    Zs = [z.detach().to(dt) for z in codes]
    mus = [_weights(None if weights is None else weights[i], z.shape[0], f"weights[{i}]", dt, dev) for i, z in enumerate(Zs)]
    Bs = [_dist(z) if structures is None else structures[i].detach().to(dtype=dt, device=dev) for i, z in enumerate(Zs)]
    g = generator if generator is not None else torch.Generator(device="cpu").manual_seed(0)
    if isinstance(init, Tensor):
        if init.shape != (n_points, d):
            raise ValueError(f"init has shape {tuple(init.shape)}, expected ({n_points}, {d}).")
        Z0 = init.detach()
    elif init == "kmeans":
        Z0 = kmeans_init(codes, n_points, generator=g)
    elif init == "modality":
        n0 = codes[0].shape[0]
        idx = torch.randperm(n0, generator=g, device=g.device)[:n_points] if n0 >= n_points else torch.randint(n0, (n_points,), generator=g, device=g.device)
        Z0 = codes[0].detach()[idx.to(codes[0].device)]
    else:
        raise ValueError(f"init must be 'kmeans', 'modality' or a tensor [N_B, d], got {init!r}.")
    Zb = Z0.to(dtype=dt, device=dev).clone()
    muB = torch.full((n_points,), 1.0 / n_points, dtype=dt, device=dev)
    A = _dist(Zb) if init_structure is None else init_structure.detach().to(dtype=dt, device=dev)
    # Modalities of equal size are solved as one batch: groups of indices, stacked inputs.
    groups: dict[int, list[int]] = {}
    for i, z in enumerate(Zs):
        groups.setdefault(z.shape[0], []).append(i)
    batches = [(ix, torch.stack([Zs[i] for i in ix]), torch.stack([Bs[i] for i in ix]), torch.stack([mus[i] for i in ix]))
               for ix in groups.values()]
    BBqs = [(Bm * Bm) @ mum.unsqueeze(-1) for _, _, Bm, mum in batches]  # the constant part of each FGW cost
    state: list[tuple[Tensor, Tensor] | None] = [None] * len(batches)  # (T, T B) per batch
    plans: list[Tensor | None] = [None] * M
    history: list[float] = []
    converged, it = False, 0
    workers = max(1, min(M, n_jobs if n_jobs is not None else torch.get_num_threads()))
    stack = contextlib.ExitStack()
    if workers > 1 and linear == "exact":
        # One BLAS thread per worker while they run: nested threads would oversubscribe cores.
        stack.enter_context(threadpool_limits(1, user_api="blas"))
    with stack:
        for it in range(1, n_outer + 1):
            obj = 0.0
            fs = [0.0] * M
            for bi, (ix, Zm, Bm, mum) in enumerate(batches):
                K = len(ix)
                Mc = _sqdist(Zb.expand(K, *Zb.shape), Zm)
                T0, TB0 = state[bi] if (warm_start and state[bi] is not None) else (None, None)
                T, TB, f, _, _ = _cg_batch(Mc, A.expand(K, *A.shape), Bm, muB.expand(K, -1), mum, float(alpha), T0, TB0,
                                           max_iter=fgw_max_iter, tol_rel=fgw_tol, tol_abs=fgw_tol, linear=linear,
                                           linear_kw=linear_kw, n_jobs=workers, BBq=BBqs[bi], inplace=True)
                state[bi] = (T, TB)
                for k, i in enumerate(ix):
                    plans[i] = T[k]
                for k, f_k in zip(ix, f.tolist()):
                    fs[k] = f_k
            for m in range(M):  # summed in modality order: deterministic
                obj += lam_f[m] * fs[m]
            if history and abs(history[-1] - obj) <= tol * max(abs(obj), 1e-300):
                history.append(obj)
                converged = True
                break
            history.append(obj)
            if it == n_outer:
                break
            Zb = torch.zeros_like(Zb)
            for bi, (ix, Zm, _, _) in enumerate(batches):  # sum_m lambda_m T_m Z_m, one product per batch
                w = torch.as_tensor([lam_f[i] for i in ix], dtype=dt, device=dev).view(-1, 1, 1)
                Zb = Zb + (w * torch.bmm(state[bi][0], Zm)).sum(0)
            Zb = Zb / muB[:, None]
            if structure == "features":
                A = _dist(Zb)
            else:
                A = torch.zeros_like(A)
                for bi, (ix, _, _, _) in enumerate(batches):
                    T, TB = state[bi]
                    w = torch.as_tensor([lam_f[i] for i in ix], dtype=dt, device=dev).view(-1, 1, 1)
                    A = A + (w * torch.bmm(TB, T.transpose(1, 2))).sum(0)  # sum_m lambda_m T_m B_m T_m^T
                A = A / (muB[:, None] * muB[None, :])
    as_t = lambda x: x.to(dtype=ref.dtype if ref.is_floating_point() else dt)  # noqa: E731
    return BarycenterResult(
        codes=as_t(Zb), structure=as_t(A), plans=tuple(as_t(T) for T in plans), weights=as_t(muB),
        objective=float(history[-1]), history=tuple(history), n_iters=it, converged=converged,
    )
