"""Claims figures: the "claims forest" of a paper-vs-workbench table.

>>> from workbench.experiments.evidence import committed
>>> claims_forest(committed("raml", "cpu").table)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import NullLocator

__all__ = ["VERDICT_COLOURS", "claims_forest"]

VERDICT_COLOURS = {"holds": "#2e7d32", "not clearly": "#c08a00", "fails": "#c62828"}
"""Verdict colours shared by the figures and the report (green, amber, red)."""

_NOT_JUDGED = "#888888"


def _label(row: pd.Series, several_datasets: bool) -> str:
    text = str(row["id"])
    if "." in text:
        text = text.split(".", 1)[1]
    if several_datasets and str(row.get("dataset", "")) not in ("", "nan"):
        text += f" [{row['dataset']}]"
    return text


def claims_forest(
    table: pd.DataFrame,
    ax=None,
    *,
    z: float = 2.0,
    title: str | None = None,
    xscale: str = "auto",
):
    """Each claim's per-seed paired difference ``diff_mean ± z·diff_se`` as a horizontal
    interval, coloured by verdict, with the zero line (the claims engine's rule,
    :func:`workbench.claims.verdict`: an interval wholly right of zero holds, wholly left
    fails, across zero is not clearly). Claims the profile did not judge (no differences) are
    listed with "not judged" and no interval.

    Args:
        table: a paper table (:func:`workbench.claims.evaluate`; ``paper_table.csv`` of a
            committed run) with ``id``, ``diff_mean``, ``diff_se``, ``verdict`` (and
            ``dataset`` when judged per dataset).
        ax: a matplotlib Axes (a new figure sized to the claims when ``None``).
        z: the standard-error multiple of the intervals (2, as the verdicts).
        title: axes title.
        xscale: ``"linear"``, ``"symlog"`` or ``"auto"`` (symlog when the largest difference is
            more than 20 times the median interval half-width, so small gaps stay visible next
            to large ones).

    Returns:
        The Axes.

    Raises:
        ValueError: a needed column is missing or ``xscale`` is unknown.
    """
    missing = {"id", "diff_mean", "diff_se", "verdict"} - set(table.columns)
    if missing:
        raise ValueError(
            f"claims_forest(): the table lacks {sorted(missing)}; give a paper table "
            "(workbench.claims.evaluate, paper_table.csv)."
        )
    if xscale not in ("auto", "linear", "symlog"):
        raise ValueError(f"claims_forest(): xscale {xscale!r}; use 'auto', 'linear' or 'symlog'.")
    df = table.reset_index(drop=True)
    mean = pd.to_numeric(df["diff_mean"], errors="coerce").to_numpy(float)
    se = pd.to_numeric(df["diff_se"], errors="coerce").to_numpy(float)
    half = z * np.where(np.isfinite(se), se, 0.0)
    several = "dataset" in df.columns and df["dataset"].astype(str).nunique() > 1
    labels = [_label(r, several) for _, r in df.iterrows()]
    n = len(df)
    if ax is None:
        import matplotlib.pyplot as plt

        width = 7.5
        _, ax = plt.subplots(figsize=(width, 1.2 + 0.32 * max(n, 1)), layout="constrained")
    y = np.arange(n)[::-1]
    for yi, m, h, verdict in zip(y, mean, half, df["verdict"].astype(str)):
        if not np.isfinite(m):
            ax.text(0, yi, "not judged", va="center", ha="center", fontsize=8, color=_NOT_JUDGED)
            continue
        colour = VERDICT_COLOURS.get(verdict, _NOT_JUDGED)
        ax.errorbar(m, yi, xerr=h, fmt="o", color=colour, ecolor=colour, capsize=3, ms=5)
    ax.axvline(0.0, color="#444", lw=0.8, zorder=0)
    ax.set_yticks(y, labels, fontsize=8)
    ax.set_ylim(-0.7, n - 0.3)
    finite = np.isfinite(mean)
    positive = half[finite & (half > 0)]
    linthresh = float(np.median(positive)) if positive.size else 1e-3
    if xscale == "auto":
        big = float(np.max(np.abs(mean[finite]))) if finite.any() else 0.0
        xscale = "symlog" if positive.size and big > 20 * linthresh else "linear"
    if xscale == "symlog":
        ax.set_xscale("symlog", linthresh=linthresh, linscale=1.0)
        lim = float(np.nanmax(np.abs(mean[finite]) + half[finite])) if finite.any() else 1.0
        ax.set_xlim(-lim * 2, lim * 2)
        # zero and the decades beyond the linear range (closer ones would crowd the zero tick)
        decades = [
            10.0**k
            for k in range(int(np.ceil(np.log10(linthresh))), int(np.floor(np.log10(lim * 2))) + 1)
        ]
        ticks = sorted([0.0, *decades, *(-d for d in decades)])
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
    elif finite.any():
        lim = float(np.nanmax(np.abs(mean[finite]) + half[finite]))
        lim = lim if lim > 0 else 1.0
        ax.set_xlim(-lim * 1.15, lim * 1.15)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel(
        f"paired difference, claimed method − other (mean ± {z:g} SE over seeds)"
        + (", symlog scale" if xscale == "symlog" else ""),
        fontsize=8,
    )
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="o", color=c, ls="", label=v) for v, c in VERDICT_COLOURS.items()
    ]
    ax.legend(
        handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
