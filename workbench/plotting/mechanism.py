"""The mechanism figure every paper shares: a method's paired advantage over its baselines
against a mechanism knob (:func:`advantage_plot`).

The input is one tidy frame, either summarised (per knob value, series and panel: ``mean``,
``se``, ``n``; :func:`workbench.experiments.evidence.seed_summary`) or per seed (one paired
difference a row, summarised here the same way). Nothing here trains or evaluates.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

__all__ = ["advantage_plot"]

_OFFSET = 0.012  # horizontal offset between series, as a share of the knob's span
_CHARS_PER_INCH = 13  # legend characters per inch of figure width at fontsize "small"


def _label(fmt: str | Callable[[object], str], value) -> str:
    return fmt(value) if callable(fmt) else fmt.format(value)


def advantage_plot(
    frame: pd.DataFrame,
    *,
    knob: str,
    series: str | None = None,
    panel: str | None = None,
    mean: str = "mean",
    se: str = "se",
    values: str | None = None,
    z: float = 2.0,
    scale: float = 1.0,
    axes=None,
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
    panel_title: str | Callable[[object], str] = "{}",
    series_label: str | Callable[[object], str] = "{}",
    invert_x: bool = False,
    symlog: bool = False,
):
    """A method's paired advantage over baselines against a knob: one panel per value of
    ``panel``, one line per value of ``series``, mean ± ``z`` standard errors over seeds as error
    bars, a zero line (above it the method is ahead; a bar clear of it is the claims engine's
    ``holds``/``fails``, :func:`workbench.claims.verdict`) and one legend shared by the panels.

    Args:
        frame: a tidy frame with the column ``knob`` and either ``mean`` and ``se`` (one row per
            knob value, series and panel; an ``n`` column, if any, names the seeds in the title)
            or, with ``values``, one per-seed difference a row.
        knob: the knob's column (the x axis).
        series: the column whose values are the lines (e.g. the comparison); one line if None.
        panel: the column whose values are the panels (e.g. the baseline); one panel if None.
        mean, se: the summary's columns (ignored with ``values``).
        values: the per-seed column; the summary is
            :func:`~workbench.experiments.evidence.seed_summary` over it.
        z: the error bars' multiple of the standard error.
        scale: a factor on the values (100 for percentage points).
        axes: one matplotlib Axes per panel (a new figure when None).
        xlabel, ylabel: axis labels (default the knob's name, "advantage (± z SE)").
        title: the figure's title (default "paired difference, mean ± z SE over n seeds").
        panel_title, series_label: a format string (``"vs {}"``) or a function of the value.
        invert_x: draw the knob's largest value on the left.
        symlog: a symmetric-log knob axis (values spread over decades, 0 kept).

    Returns:
        The list of Axes drawn on, one per panel in order of first appearance.

    Raises:
        ValueError: a missing column, an empty frame, or too few axes (the message says which).
    """
    need = [c for c in (knob, series, panel) if c is not None]
    need += [values] if values is not None else [mean, se]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValueError(
            f"advantage_plot(): the frame lacks columns {missing}; it has {list(frame.columns)}. "
            "Pass a paper's advantage frame and name its columns (knob=, series=, panel=, "
            "mean=/se= or values=)."
        )
    if frame.empty:
        raise ValueError("advantage_plot(): the frame is empty; nothing to draw.")
    df = frame.assign(_series="" if series is None else frame[series])
    df = df.assign(_panel="" if panel is None else df[panel])
    df = df.assign(_knob=df[knob].astype(float))
    if values is not None:
        from ..experiments.evidence import seed_summary

        df = seed_summary(df, ["_panel", "_series", "_knob"], values, sort=False)
        mean, se = "mean", "se"
    panels = list(dict.fromkeys(df["_panel"]))
    names = list(dict.fromkeys(df["_series"]))
    created = axes is None
    if created:
        import matplotlib.pyplot as plt

        width = 4.6 if len(panels) > 1 else 6.4
        _, grid = plt.subplots(
            1, len(panels), figsize=(width * len(panels), 3.9), sharey=True, squeeze=False,
            layout="constrained",
        )  # fmt: skip
        axes = list(grid[0])
    axes = list(np.atleast_1d(axes))
    if len(axes) < len(panels):
        raise ValueError(
            f"advantage_plot(): {len(panels)} panels {panels} need as many axes; got {len(axes)}."
        )
    knobs = sorted(df["_knob"].unique())
    positive = [k for k in knobs if k > 0]
    linthresh = min(positive) if positive else 1.0
    span = (knobs[-1] - knobs[0]) or 1.0
    for ax, name in zip(axes, panels):
        part = df[df["_panel"] == name]
        for i, s in enumerate(names):
            line = part[part["_series"] == s].sort_values("_knob")
            if line.empty:
                continue
            shift = (i - (len(names) - 1) / 2) * _OFFSET
            x = line["_knob"].to_numpy(dtype=float)
            x = (
                np.where(x > 0, x * np.exp(10 * shift), 10 * shift * linthresh)
                if symlog
                else x + shift * span
            )
            ax.errorbar(
                x,
                scale * line[mean].to_numpy(dtype=float),
                yerr=z * scale * np.nan_to_num(line[se].to_numpy(dtype=float)),
                marker="o",
                markersize=4,
                capsize=3,
                color=f"C{i % 10}",
                label=_label(series_label, s) if series is not None else None,
            )
        ax.axhline(0.0, color="0.3", lw=1, ls="--")
        if symlog and len(positive) > 1:
            ax.set_xscale("symlog", linthresh=linthresh)
            ax.set_xlim(-0.2 * linthresh, 1.15 * max(positive))
        ax.set_xticks(knobs, [f"{k:g}" for k in knobs], fontsize=8)
        ax.minorticks_off()
        if invert_x:
            ax.invert_xaxis()
        ax.set_xlabel(xlabel or knob)
        if panel is not None:
            ax.set_title(_label(panel_title, name), fontsize="medium")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel or f"advantage (± {z:g} SE)")
    fig = axes[0].figure
    if series is not None:
        labels = {}
        for ax in axes[: len(panels)]:
            for h, lab in zip(*ax.get_legend_handles_labels()):
                labels.setdefault(lab, h)
        longest = max((len(lab) for lab in labels), default=1)  # columns that fit the width
        ncol = max(
            1, min(len(labels), 4, int(fig.get_figwidth() * _CHARS_PER_INCH) // (longest + 5))
        )
        if created:
            fig.legend(labels.values(), labels.keys(), loc="outside lower center", ncol=ncol,
                       fontsize="small", frameon=False)  # fmt: skip
        else:
            axes[0].legend(labels.values(), labels.keys(), fontsize="small")
    if title is None:
        title = f"paired difference, mean ± {z:g} SE"
        if "n" in df.columns:
            n = sorted({int(v) for v in df["n"] if np.isfinite(v)})
            if n:
                title += f" over {n[0] if len(n) == 1 else f'{n[0]}-{n[-1]}'} seeds"
    if title:
        fig.suptitle(title, fontsize="medium")
    return axes[: len(panels)]
