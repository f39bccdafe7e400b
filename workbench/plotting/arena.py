"""Figures of the robustness arena: severity curves, the leaderboard heatmap, a plotly dashboard."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd

from .curves import robustness_curve

__all__ = ["arena_curve_grid", "arena_curves", "arena_dashboard", "leaderboard_heatmap"]

_LABELS = {
    "noise": "uniform noise on embeddings (amplitude)",
    "gaussian_noise": "Gaussian noise on images (sigma)",
    "missing": "missing modality (rate)",
    "missing_pattern": "missing pattern (fraction of modalities dropped)",
    "unaligned": "unaligned training (0: aligned, 1: unaligned)",
}


def _pick(df: pd.DataFrame, column: str, value):
    if value is None:
        values = list(dict.fromkeys(df[column]))
        if not values:
            raise ValueError(f"The frame has no {column!r} values.")
        return values[0]
    if value not in set(df[column]):
        raise ValueError(
            f"{column}={value!r} is not in the frame; it has {sorted(set(df[column]))}."
        )
    return value


def arena_curves(
    df: pd.DataFrame,
    dataset: str | None = None,
    *,
    metric: str | None = None,
    families: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    axes=None,
):
    """Severity curves of one dataset, one panel per corruption family.

    Each panel is :func:`~workbench.plotting.robustness_curve` of
    :func:`workbench.experiments.arena.severity_curves` averaged over the family's modalities: the mean over
    seeds with a ±std band, anchored at the clean score (severity 0).

    Args:
        df: an arena frame (:func:`workbench.experiments.arena.run_point` / :func:`~workbench.experiments.arena.run_arena`).
        dataset: the dataset shown (default: the first in the frame).
        metric: the metric shown (default: the first).
        families: the corruption families (default: every family in the frame).
        methods: the methods drawn (default: all).
        axes: a sequence of matplotlib Axes, one per family (a new figure when ``None``).

    Returns:
        The array of Axes drawn on.
    """
    from ..experiments.arena import FAMILIES, severity_curves

    curves = severity_curves(df)
    dataset = _pick(curves, "dataset", dataset)
    curves = curves[curves["dataset"] == dataset]
    metric = _pick(curves, "metric", metric)
    curves = curves[curves["metric"] == metric]
    if methods is not None:
        curves = curves[curves["method"].isin(list(methods))]
    present = [f for f in FAMILIES if f in set(curves["condition"])]
    families = present if families is None else [f for f in families if f in present]
    if not families:
        raise ValueError(f"arena_curves(): no corruption family to draw for dataset {dataset!r}.")
    own_figure = axes is None
    if own_figure:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(
            1,
            len(families),
            figsize=(3.6 * len(families), 3.6),
            squeeze=False,
            sharey=True,
            layout="constrained",
        )
        axes = axes[0]
    axes = np.asarray(axes, dtype=object).ravel()
    if len(axes) < len(families):
        raise ValueError(
            f"arena_curves(): {len(families)} families need as many Axes; got {len(axes)}."
        )
    for ax, fam in zip(axes, families):
        part = curves[curves["condition"] == fam]
        # mean over modalities per seed, so the band is the spread over seeds
        part = (
            part.groupby(["method", "seed", "severity"], sort=False)["value"].mean().reset_index()
        )
        part = part.assign(metric=metric)
        # long family labels wrap so that neighbouring panels' labels never overlap
        xlabel = textwrap.fill(_LABELS.get(fam, fam), 26)
        robustness_curve(part, x="severity", hue="method", ax=ax, xlabel=xlabel, title=fam)
        if ax is not axes[0] and ax.get_legend() is not None:
            ax.get_legend().remove()
    if own_figure:  # a caller's figure (e.g. arena_curve_grid) has its own title
        axes[0].figure.suptitle(f"{dataset}: {metric} under corruption (mean ± std over seeds)")
    return axes


def arena_curve_grid(
    df: pd.DataFrame,
    *,
    metric: str | None = None,
    methods: Sequence[str] | None = None,
):
    """:func:`arena_curves` of every dataset of ``df``: one row of panels per dataset, one
    panel per corruption family that dataset has (unused panels are hidden).

    Returns:
        The ``[n_datasets, n_families]`` array of Axes.
    """
    import matplotlib.pyplot as plt

    from ..experiments.arena import FAMILIES

    datasets = list(dict.fromkeys(df["dataset"]))
    if not datasets:
        raise ValueError("arena_curve_grid(): the frame has no rows.")
    per = {
        d: [f for f in FAMILIES if f in set(df.loc[df["dataset"] == d, "condition"])]
        for d in datasets
    }
    n_cols = max(1, *(len(f) for f in per.values()))
    fig, axes = plt.subplots(
        len(datasets),
        n_cols,
        figsize=(3.6 * n_cols, 3.6 * len(datasets)),
        squeeze=False,
        layout="constrained",
    )
    for row, d in zip(axes, datasets):
        n = len(per[d])
        arena_curves(df, d, metric=metric, families=per[d], methods=methods, axes=row[:n])
        row[0].set_ylabel(f"{d}\n{row[0].get_ylabel()}")
        for ax in row[n:]:
            ax.set_visible(False)
    fig.suptitle("Severity curves (mean ± std over seeds)")
    return axes


def leaderboard_heatmap(
    df: pd.DataFrame,
    ax=None,
    *,
    baseline: str = "Late Fusion",
    columns: Sequence[str] | None = None,
    cmap: str = "viridis",
):
    """The leaderboard's means as a heatmap: rows ``dataset / method``, columns the clean score,
    each family's AUC, ``relative`` and ``effective`` robustness; cells annotated.

    Each column is coloured on its own scale (min to max of the column), so a column's best
    method stands out whatever its units.

    Args:
        df: an arena frame, or the output of :func:`workbench.experiments.arena.leaderboard_numeric`.
        ax: a matplotlib Axes (a new figure when ``None``).
        baseline: the effective-robustness baseline.
        columns: the columns shown (default all).

    Returns:
        The Axes drawn on.
    """
    from ..experiments.arena import leaderboard_numeric

    num = df if isinstance(df.columns, pd.MultiIndex) else leaderboard_numeric(df, baseline)
    mean = num["mean"]
    if columns is not None:
        mean = mean[list(columns)]
    values = mean.to_numpy(dtype=float)
    lo, hi = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
    scaled = (values - lo) / np.where(hi > lo, hi - lo, 1.0)
    if ax is None:
        import matplotlib.pyplot as plt

        size = (1.1 * mean.shape[1] + 2.5, 0.38 * mean.shape[0] + 1.2)
        _, ax = plt.subplots(figsize=size, layout="constrained")
    ax.imshow(scaled, cmap=cmap, aspect="auto", vmin=0, vmax=1)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(
                    j,
                    i,
                    f"{values[i, j]:.3f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if scaled[i, j] < 0.5 else "black",
                )
    ax.set_xticks(range(mean.shape[1]), [str(c) for c in mean.columns], rotation=35, ha="right")
    ax.set_yticks(range(mean.shape[0]), [" / ".join(map(str, k)) for k in mean.index])
    ax.set_title("Arena leaderboard (mean over seeds; colour per column)")
    return ax


# ----------------------------------------------------------------------------- dashboard


def arena_dashboard(
    df: pd.DataFrame, *, metric: str | None = None, title: str = "Robustness arena"
):
    """A plotly dashboard: dropdowns pick the dataset, the corruption family and the methods.

    One trace per (dataset, family, method): the mean over seeds and modalities against the
    severity, with the std over seeds as error bars. The menus are plotly ``updatemenus``, so
    the figure works in a static HTML file: choosing a dataset shows its first family and
    refills the corruption and method menus; choosing a family refills the method menu; the
    method menu shows all methods or one. The legend toggles methods too.

    Args:
        df: an arena frame.
        metric: the metric shown (default: the first in the frame).
        title: the figure title.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    import plotly.graph_objects as go

    from ..experiments.arena import FAMILIES, severity_curves

    curves = severity_curves(df)
    metric = _pick(curves, "metric", metric)
    curves = curves[curves["metric"] == metric]
    per_seed = (
        curves.groupby(["dataset", "condition", "method", "seed", "severity"], sort=False)["value"]
        .mean()
        .reset_index()
    )
    stats = (
        per_seed.groupby(["dataset", "condition", "method", "severity"], sort=True)["value"]
        .agg(["mean", "std"])
        .fillna({"std": 0.0})
        .reset_index()
    )
    datasets = list(dict.fromkeys(curves["dataset"]))
    methods = list(dict.fromkeys(curves["method"]))
    families = {
        d: [f for f in FAMILIES if f in set(stats.loc[stats["dataset"] == d, "condition"])]
        for d in datasets
    }
    fig = go.Figure()
    keys = []
    colors = {
        m: f"hsl({int(360 * k / max(1, len(methods)))}, 65%, 45%)" for k, m in enumerate(methods)
    }
    for d in datasets:
        for f in families[d]:
            for m in methods:
                s = stats[
                    (stats["dataset"] == d) & (stats["condition"] == f) & (stats["method"] == m)
                ]
                if s.empty:
                    continue
                keys.append((d, f, m))
                fig.add_trace(
                    go.Scatter(
                        x=s["severity"],
                        y=s["mean"],
                        error_y={"type": "data", "array": s["std"], "visible": True},
                        mode="lines+markers",
                        name=m,
                        legendgroup=m,
                        line={"color": colors[m]},
                        visible=False,
                        hovertemplate=f"{m}<br>severity %{{x}}<br>{metric} %{{y:.3f}}<extra>{d} / {f}</extra>",
                    )
                )

    def visible(d, f, chosen=None):
        return [k[0] == d and k[1] == f and (chosen is None or k[2] == chosen) for k in keys]

    def layout(d, f):
        return {
            "title.text": f"{title}: {d}, {f}",
            "xaxis.title.text": _LABELS.get(f, f),
        }

    def method_buttons(d, f):
        here = [m for m in methods if (d, f, m) in keys]
        out = [
            {"label": "all methods", "method": "update", "args": [{"visible": visible(d, f)}, {}]}
        ]
        out += [
            {"label": m, "method": "update", "args": [{"visible": visible(d, f, m)}, {}]}
            for m in here
        ]
        return out

    def family_buttons(d):
        return [
            {
                "label": f,
                "method": "update",
                "args": [
                    {"visible": visible(d, f)},
                    {
                        **layout(d, f),
                        "updatemenus[2].buttons": method_buttons(d, f),
                        "updatemenus[2].active": 0,
                    },
                ],
            }
            for f in families[d]
        ]

    dataset_buttons = [
        {
            "label": d,
            "method": "update",
            "args": [
                {"visible": visible(d, families[d][0])},
                {
                    **layout(d, families[d][0]),
                    "updatemenus[1].buttons": family_buttons(d),
                    "updatemenus[1].active": 0,
                    "updatemenus[2].buttons": method_buttons(d, families[d][0]),
                    "updatemenus[2].active": 0,
                },
            ],
        }
        for d in datasets
        if families[d]
    ]
    if not dataset_buttons:
        raise ValueError("arena_dashboard(): the frame has no corrupted rows to plot.")
    d0 = dataset_buttons[0]["label"]
    f0 = families[d0][0]
    for i, v in enumerate(visible(d0, f0)):
        fig.data[i].visible = v

    def menu(buttons, x, label):
        return {
            "buttons": buttons,
            "direction": "down",
            "x": x,
            "y": 1.17,
            "xanchor": "left",
            "yanchor": "top",
            "showactive": True,
            "active": 0,
            "name": label,
        }

    fig.update_layout(
        title={"text": f"{title}: {d0}, {f0}", "y": 0.98},
        xaxis_title=_LABELS.get(f0, f0),
        yaxis_title=f"{metric} (mean ± std over seeds)",
        updatemenus=[
            menu(dataset_buttons, 0.0, "dataset"),
            menu(family_buttons(d0), 0.28, "corruption"),
            menu(method_buttons(d0, f0), 0.62, "methods"),
        ],
        annotations=[
            {
                "text": t,
                "x": x,
                "y": 1.23,
                "xref": "paper",
                "yref": "paper",
                "showarrow": False,
                "xanchor": "left",
                "font": {"size": 11},
            }
            for t, x in (("dataset", 0.0), ("corruption", 0.28), ("methods", 0.62))
        ],
        margin={"t": 120},
        template="plotly_white",
    )
    return fig
