"""Figures of the OTM notebook: t-SNE of latent codes (Fig. 2), code scatter and noise curves
(the mixer's advantage along the synthetic profile's knob is
:func:`~workbench.plotting.advantage_plot`).

Every function takes data, accepts ``ax=None`` and returns what it drew; none trains or
solves a transport problem (t-SNE and PCA are the projections being drawn).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

__all__ = ["codes_scatter", "noise_curves", "tsne", "tsne_pair"]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _scatter(points: np.ndarray, labels, ax, title: str | None):
    labels = _np(labels).reshape(-1)
    sc = ax.scatter(points[:, 0], points[:, 1], c=labels, cmap="tab10", s=8, alpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return sc


def tsne(
    codes, labels, ax=None, *, title: str | None = None, perplexity: float = 30.0, seed: int = 0
):
    """t-SNE of latent codes coloured by class (Fig. 2 of the OTM paper).

    Args:
        codes: ``[N, d]`` codes (tensor or array).
        labels: ``[N]`` class ids used as colours.
        ax: matplotlib axes (a new figure when ``None``).
        title: axes title.
        perplexity: t-SNE perplexity (clipped to ``(N - 1) / 3``).
        seed: t-SNE seed.

    Returns:
        the axes.
    """
    from sklearn.manifold import TSNE

    X = _np(codes).astype(np.float64)
    if X.ndim != 2 or len(X) < 5:
        raise ValueError(f"tsne: codes must be [N, d] with N >= 5; got shape {X.shape}.")
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    points = TSNE(
        2, perplexity=min(perplexity, (len(X) - 1) / 3), random_state=seed, init="pca"
    ).fit_transform(X)
    _scatter(points, labels, ax, title)
    return ax


def tsne_pair(
    aligned_codes, aligned_labels, fused_codes, fused_labels, *, axes=None, seed: int = 0
):
    """Fig. 2: t-SNE of the aligned latent codes next to the fused OTM codes.

    Args:
        aligned_codes: ``[N, d]`` codes of aligned data (e.g. concatenated per-modality codes).
        aligned_labels: ``[N]`` their classes.
        fused_codes: ``[N_B, d]`` fused codes ``tilde Z_B``.
        fused_labels: ``[N_B]`` labels carried from one modality (paper: the 6th).
        axes: two axes, or ``None`` for a new figure.

    Returns:
        the two axes.
    """
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(8, 4))
    tsne(aligned_codes, aligned_labels, axes[0], title="aligned latent codes", seed=seed)
    tsne(fused_codes, fused_labels, axes[1], title=r"fused codes $\tilde Z_B$ (OTM)", seed=seed)
    return axes


def codes_scatter(codes, labels, ax=None, *, title: str | None = None):
    """PCA projection of codes ``[N, d]`` coloured by ``labels`` (fast, for widgets)."""
    X = _np(codes).astype(np.float64)
    X = X - X.mean(0)
    _, _, vt = np.linalg.svd(X, full_matrices=False)
    points = X @ vt[:2].T if vt.shape[0] >= 2 else np.c_[X[:, :1], np.zeros(len(X))]
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 4))
    _scatter(points, labels, ax, title)
    return ax


def noise_curves(
    frame: pd.DataFrame, ax=None, *, x: str = "energy_ratio", hue: str = "method", y: str = "value"
):
    """Metric against noise level, mean ± std over seeds (Figs. 3-4 of the OTM paper).

    Args:
        frame: tidy rows with columns ``x`` (noise energy ratio), ``hue`` (model) and ``y``.
        ax: matplotlib axes or ``None``.

    Returns:
        the axes.
    """
    missing = {x, hue, y} - set(frame.columns)
    if missing:
        raise ValueError(
            f"noise_curves: frame lacks columns {sorted(missing)}; it has {list(frame.columns)}."
        )
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    stats = frame.groupby([hue, x])[y].agg(["mean", "std"]).reset_index()
    for name, part in stats.groupby(hue, sort=False):
        std = part["std"].fillna(0.0)
        ax.plot(part[x], part["mean"], marker="o", label=str(name))
        ax.fill_between(part[x], part["mean"] - std, part["mean"] + std, alpha=0.2)
    ax.set_xlabel("noise energy / data energy")
    ax.set_ylabel(y)
    ax.legend(fontsize=8)
    return ax
