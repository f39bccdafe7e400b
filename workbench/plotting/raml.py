"""RAML figures: element-wise fusion-weight heatmaps (Fig. 5) and λ sensitivity curves (Fig. 4).
The advantage along the synthetic profile's redundancy knob is
:func:`workbench.plotting.advantage_plot`."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["lambda_curve", "weight_heatmap", "weight_heatmaps"]


def _axes(ax, figsize=(7, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def weight_heatmap(
    weights,
    modalities: Sequence[str],
    ax=None,
    *,
    max_samples: int = 8,
    max_elements: int = 32,
    cmap: str = "viridis",
    title: str | None = None,
    colorbar: bool = True,
):
    """Heatmap of RAML's element-wise fusion weights ω_m = (σ/σ_m)^2 (Eq. 4; Fig. 5).

    Rows are samples grouped by modality (one block per modality), columns are embedding
    elements. Given a mapping ``label -> weights`` (e.g. the noise level σ -> ω), the panels
    are placed side by side, one per label (Fig. 5 bottom).

    Args:
        weights: ``[N, M, D]`` array (from :func:`workbench.methods.raml.element_weights`), or a
            mapping ``label -> [N, M, D]``.
        modalities: the M modality names.
        ax: a matplotlib Axes (a new figure when ``None``).
        max_samples: samples shown per modality block.
        max_elements: elements shown per panel (the first ones).
        cmap: colour map; the colour scale is fixed to [0, 1].
        title: axes title.
        colorbar: add a colour bar.

    Returns:
        The ``AxesImage`` drawn.
    """
    panels = dict(weights) if isinstance(weights, Mapping) else {"": weights}
    blocks = []
    for label, w in panels.items():
        w = np.asarray(w, dtype=float)
        if w.ndim != 3 or w.shape[1] != len(modalities):
            raise ValueError(
                f"weight_heatmap(): weights{'[' + repr(label) + ']' if label != '' else ''} has shape "
                f"{w.shape}; expected [N, M={len(modalities)}, D]."
            )
        w = w[:max_samples, :, :max_elements]
        blocks.append(np.concatenate([w[:, j, :] for j in range(len(modalities))], axis=0))
    n, d = blocks[0].shape
    gap = np.full((n, 1), np.nan)
    image = np.concatenate(
        [b if i == 0 else np.concatenate([gap, b], 1) for i, b in enumerate(blocks)], axis=1
    )
    ax = _axes(ax)
    im = ax.imshow(image, aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
    rows = n // len(modalities)
    ax.set_yticks([rows * j + (rows - 1) / 2 for j in range(len(modalities))])
    ax.set_yticklabels(list(modalities))
    for j in range(1, len(modalities)):
        ax.axhline(rows * j - 0.5, color="white", lw=1.5)
    if len(panels) > 1:
        ax.set_xticks([(d + 1) * i + (d - 1) / 2 for i in range(len(panels))])
        ax.set_xticklabels([str(k) for k in panels])
    else:
        ax.set_xlabel("embedding element")
    ax.set_ylabel("samples per modality")
    if title:
        ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.04, label="ω")
    return im


_GRID_TITLES = {"noise": "Gaussian noise on the image", "mask": "masking on the sequence"}


def weight_heatmaps(
    grids: Mapping[str, Mapping[str, object]],
    modalities: Sequence[str],
    *,
    titles: Mapping[str, str] | None = None,
    max_samples: int = 8,
):
    """Fig. 5 (bottom): one :func:`weight_heatmap` row per corruption grid, its levels side by side.

    Args:
        grids: ``{grid: {level label: [N, M, D] weights}}`` (e.g.
            :func:`workbench.experiments.raml.corrupted_weights`).
        modalities: the M modality names.
        titles: ``grid -> title`` (default: the grid's corruption in words).
        max_samples: samples shown per modality block.

    Returns:
        The matplotlib Figure (one Axes per grid; an empty figure when ``grids`` is empty).
    """
    import matplotlib.pyplot as plt

    titles = {**_GRID_TITLES, **(titles or {})}
    fig, axes = plt.subplots(
        max(1, len(grids)), 1, figsize=(9, 3 * max(1, len(grids))), squeeze=False
    )
    for ax, (name, levels) in zip(axes[:, 0], grids.items()):
        weight_heatmap(
            levels, modalities, ax=ax, max_samples=max_samples, title=titles.get(name, name)
        )
    if not grids:
        axes[0, 0].set_axis_off()
    fig.tight_layout()
    return fig


def lambda_curve(
    df: pd.DataFrame,
    x: str = "lambda",
    hue: str = "parameter",
    y: str = "value",
    ax=None,
    *,
    title: str | None = None,
):
    """RAML's λ sensitivity (Fig. 4 right): the metric against λ1 and λ2, mean ± std over seeds.

    Args:
        df: a tidy frame with a ``hue`` column naming the swept parameter (``"lambda_u"`` /
            ``"lambda_d"``), an ``x`` column with its value and a ``y`` column (one row per seed).
        ax: a matplotlib Axes (a new figure when ``None``).

    Returns:
        The Axes drawn on.
    """
    missing = [c for c in (x, hue, y) if c not in df.columns]
    if missing:
        raise ValueError(
            f"lambda_curve(): columns {missing} are not in the frame; it has {list(df.columns)}."
        )
    ax = _axes(ax, (5, 3.5))
    for name, part in df.groupby(hue, sort=False):
        s = part.groupby(x, sort=True)[y].agg(["mean", "std"]).fillna({"std": 0.0})
        ax.errorbar(s.index, s["mean"], yerr=s["std"], marker="o", capsize=3, label=str(name))
    ax.set_xlabel("λ")
    metric = df["metric"].iloc[0] if "metric" in df.columns and df["metric"].nunique() == 1 else y
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(textwrap.fill(title, 48))  # a long title wraps instead of leaving the figure
    return ax
