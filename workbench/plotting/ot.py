"""Optimal-transport figures: plan heatmaps, matching lines, IPOT convergence, barycenters.

Every function takes data or a result (:class:`workbench.ot.OTResult`,
:class:`workbench.ot.BarycenterResult`), accepts ``ax=None`` and returns the Axes it drew on;
the multi-panel figures (:func:`plot_fgw_matchings`, :func:`plot_mixing`) accept ``axes=None``
and return the Figure. Nothing here solves a transport problem or calls ``plt.show()``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "plot_plan",
    "plot_matching",
    "plot_ipot_convergence",
    "plot_barycenter",
    "plot_fgw_matchings",
    "plot_mixing",
]


def _np(x):
    if hasattr(x, "plan"):
        x = x.plan
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def _ax(ax, figsize=(4.5, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def plot_plan(
    plan,
    ax=None,
    *,
    title: str | None = None,
    cmap: str = "viridis",
    xlabel="target j",
    ylabel="source i",
):
    """Heatmap of a transport plan.

    Args:
        plan: ``[n, m]`` array/tensor or an ``OTResult`` (unbatched).
        ax: Axes to draw on; a new figure when None.
        title, cmap, xlabel, ylabel: Cosmetics.

    Returns:
        The matplotlib Axes.
    """
    P = _np(plan)
    if P.ndim != 2:
        raise ValueError(
            f"plot_plan() needs one plan [n, m], got shape {P.shape}; index the batch first."
        )
    ax = _ax(ax)
    im = ax.imshow(P, aspect="auto", cmap=cmap, interpolation="nearest")
    from matplotlib.ticker import MaxNLocator

    for axis in (ax.xaxis, ax.yaxis):  # rows and columns are token indices: integer ticks
        axis.set_major_locator(MaxNLocator(integer=True))
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or "transport plan")
    return ax


def plot_matching(X, Y, plan, ax=None, *, top: int | None = None, title: str | None = None):
    """Two point sets (first two coordinates) joined by lines whose opacity is the plan's mass.

    Args:
        X: Source points ``[n, >=2]``.
        Y: Target points ``[m, >=2]``.
        plan: ``[n, m]`` or an ``OTResult``.
        ax: Axes; new figure when None.
        top: Draw only the ``top`` heaviest pairs (default: all with mass > 1e-3 of the max).
        title: Axes title.

    Returns:
        The matplotlib Axes.
    """
    X, Y, P = _np(X), _np(Y), _np(plan)
    ax = _ax(ax, (4.5, 4.5))
    pmax = P.max() if P.size else 1.0
    idx = np.argwhere(P > 1e-3 * pmax)
    if top is not None:
        order = np.argsort(-P[idx[:, 0], idx[:, 1]])[:top]
        idx = idx[order]
    for i, j in idx:
        ax.plot(
            [X[i, 0], Y[j, 0]],
            [X[i, 1], Y[j, 1]],
            color="0.3",
            lw=1,
            alpha=float(min(1.0, P[i, j] / pmax)),
        )
    ax.scatter(X[:, 0], X[:, 1], c="C0", s=25, label="source", zorder=3)
    ax.scatter(Y[:, 0], Y[:, 1], c="C1", s=25, marker="s", label="target", zorder=3)
    ax.legend(loc="best", fontsize=8)
    ax.set_title(title or "OT matching")
    return ax


def plot_ipot_convergence(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    ax=None,
    *,
    title: str | None = None,
):
    """IPOT relative error against iterations, one line per setting (e.g. per beta).

    Args:
        curves: ``label -> (iterations, relative errors)`` (e.g. from
            :func:`workbench.ot.ipot_error_curve`).
        ax: Axes; new figure when None.
        title: Axes title.

    Returns:
        The matplotlib Axes (log-scaled error).
    """
    ax = _ax(ax)
    for label, (its, errs) in curves.items():
        ax.plot(
            list(its),
            np.maximum(np.asarray(errs, dtype=float), 1e-12),
            marker="o",
            ms=3,
            label=label,
        )
    ax.set_yscale("log")
    ax.axhline(0.01, color="0.5", ls=":", lw=1)
    ax.set(
        xlabel="outer iterations",
        ylabel="relative error of <C,T> vs exact",
        title=title or "IPOT converges to exact OT",
    )
    ax.legend(fontsize=8)
    return ax


def plot_barycenter(
    codes: Sequence,
    barycenter,
    ax=None,
    *,
    names: Sequence[str] | None = None,
    title: str | None = None,
):
    """Scatter of each modality's codes and the barycenter codes (first two coordinates).

    Args:
        codes: Per modality ``[N_m, >=2]``.
        barycenter: ``[N_B, >=2]`` codes, or a ``BarycenterResult`` / ``MixResult``.
        ax: Axes; new figure when None.
        names: Modality names for the legend.
        title: Axes title.

    Returns:
        The matplotlib Axes.
    """
    if hasattr(barycenter, "codes"):
        barycenter = barycenter.codes
    elif hasattr(barycenter, "fused"):
        barycenter = barycenter.fused
    ax = _ax(ax, (4.5, 4.5))
    for k, z in enumerate(codes):
        z = _np(z)
        ax.scatter(z[:, 0], z[:, 1], s=10, alpha=0.4, label=names[k] if names else f"modality {k}")
    Zb = _np(barycenter)
    ax.scatter(Zb[:, 0], Zb[:, 1], s=40, c="k", marker="*", label="barycenter")
    ax.legend(fontsize=8)
    ax.set_title(title or "FGW barycenter")
    return ax


def _row(axes, n: int, figsize):
    """``n`` Axes side by side (new figure when ``axes`` is None) and whether we made them."""
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, n, figsize=figsize, squeeze=False)
        return list(axes[0]), True
    axes = list(np.ravel(axes))
    if len(axes) < n:
        raise ValueError(f"needs {n} Axes, got {len(axes)}.")
    return axes, False


def plot_fgw_matchings(X, Y, matchings: Sequence[Mapping], axes=None):
    """One matching panel per α, titled with the number of correctly matched points.

    Args:
        X, Y: the two point sets (first two coordinates drawn).
        matchings: the output of :func:`workbench.ot.fgw_matchings` (``alpha``, ``kind``,
            ``result``, ``correct``, ``n`` per entry).
        axes: as many Axes as ``matchings``; a new row of panels when None.

    Returns:
        The matplotlib Figure.
    """
    axes, new = _row(axes, len(matchings), (13, 3.8))
    for ax, m in zip(axes, matchings):
        hits = "" if m.get("correct") is None else f": {m['correct']}/{m['n']} correct"
        plot_matching(X, Y, m["result"], ax=ax, title=f"alpha={m['alpha']} ({m['kind']}){hits}")
    fig = axes[0].figure
    if new:
        fig.tight_layout()
    return fig


def plot_mixing(
    codes: Sequence, barycenter, mix, weighted, axes=None, *, names: Sequence[str] | None = None
):
    """Three panels of OTM's fusion (Algorithm 2, Eq. 3): the FGW barycenter, the stochastic
    mix with binary masks and the weighted barycenter (WB ablation), over the modalities' codes.

    Args:
        codes: per modality ``[N_m, >=2]``.
        barycenter: a :class:`~workbench.ot.BarycenterResult` (its ``n_iters`` goes in the title).
        mix: the :class:`~workbench.ot.MixResult` of ``masks="binary"``.
        weighted: the :class:`~workbench.ot.MixResult` of ``masks="weighted"``.
        axes: three Axes; a new row of panels when None.
        names: modality names for the legends.

    Returns:
        The matplotlib Figure.
    """
    axes, new = _row(axes, 3, (13, 4))
    its = getattr(barycenter, "n_iters", None)
    first = "FGW barycenter" + (f" ({its} outer its)" if its is not None else "")
    plot_barycenter(codes, barycenter, ax=axes[0], names=names, title=first)
    plot_barycenter(
        codes, mix, ax=axes[1], names=names, title="stochastic mix (binary masks, Eq. 3)"
    )
    plot_barycenter(
        codes, weighted, ax=axes[2], names=names, title="weighted barycenter (WB ablation)"
    )
    fig = axes[0].figure
    if new:
        fig.tight_layout()
    return fig
