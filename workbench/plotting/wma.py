"""WMA figures: α×β heatmaps shaped like Tables 3-6 and the β curve of Fig. 2 of the WMA paper,
WMA's advantage along the synthetic profile's noise knob is :func:`~workbench.plotting.advantage_plot`.

The first two take the tidy rows of :func:`workbench.experiments.wma.run_grid` or
:func:`~workbench.experiments.wma.alpha_beta_grid` (columns ``regime, alpha, beta, condition,
value, seed``; one learning rate per cell: :func:`~workbench.experiments.wma.cell_frame`) and
never train anything.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["alpha_beta_heatmaps", "beta_curve"]


def _case(grid: pd.DataFrame) -> pd.DataFrame:
    """Use the test-case label (``case``, e.g. ``"noise/text"``) as the condition when present."""
    return grid.assign(condition=grid["case"]) if "case" in grid.columns else grid


def _check(grid: pd.DataFrame, name: str) -> None:
    missing = [
        c for c in ("regime", "alpha", "beta", "condition", "value") if c not in grid.columns
    ]
    if missing:
        raise ValueError(
            f"{name}(): the frame lacks columns {missing}; pass the output of alpha_beta_grid()."
        )
    if grid.empty:
        raise ValueError(f"{name}(): the frame is empty; nothing to plot.")


def alpha_beta_heatmaps(
    grid: pd.DataFrame,
    conditions: Sequence[str] | None = None,
    axes=None,
    *,
    higher_is_better: bool = True,
    fmt: str = "{:.3f}",
    cmap: str = "viridis",
    bars_below: int = 5,
):
    """One α×β heatmap per test case, as the rows of Tables 3-6 of the WMA paper.

    Cells are the mean over seeds of the WMA runs; a cell at least as good as the baseline
    (``regime == "baseline"``, same test case) is printed in bold, as the paper's tables do.
    A grid of at most ``bars_below`` cells (e.g. the smoke profile's α = 1, β ∈ {0.5, 2}) is
    drawn as bars with the seeds' standard deviation as error bars and the baseline as a line
    instead: a colour bar spanning a few thousandths says less than the numbers and their spread.

    Args:
        grid: the frame of :func:`~workbench.experiments.wma.run_grid`.
        conditions: test cases to draw (default: every one, in the frame's order).
        axes: a sequence of matplotlib Axes, one per test case (a new figure when ``None``).
        higher_is_better: False for an error metric (MAE), which flips "better".
        fmt: format of the cell annotations.
        cmap: colour map.
        bars_below: grids with fewer α×β cells than this are drawn as bars.

    Returns:
        The array of Axes drawn on.
    """
    import matplotlib.pyplot as plt

    _check(grid, "alpha_beta_heatmaps")
    grid = _case(grid)
    wma = grid[grid["regime"] == "WMA"]
    if wma.empty:
        raise ValueError("alpha_beta_heatmaps(): the frame has no WMA rows (alpha > 0, beta > 0).")
    conditions = (
        list(conditions) if conditions is not None else list(dict.fromkeys(wma["condition"]))
    )
    if axes is None:
        n = len(conditions)
        n_alpha, n_beta = wma["alpha"].nunique(), wma["beta"].nunique()
        cols = min(n, 3 if n_beta <= 6 else 2)
        rows = int(np.ceil(n / cols))
        _, axes = plt.subplots(
            rows,
            cols,
            figsize=(cols * max(4.2, 1.6 + 0.45 * n_beta), (1.6 + 0.35 * n_alpha) * rows + 0.4),
            squeeze=False,
            layout="constrained",
        )
    axes = np.asarray(axes).ravel()
    if len(axes) < len(conditions):
        raise ValueError(
            f"alpha_beta_heatmaps(): {len(conditions)} test cases but only {len(axes)} axes."
        )
    base = grid[grid["regime"] == "baseline"].groupby("condition")["value"].mean()
    for ax, cond in zip(axes, conditions):
        table = wma[wma["condition"] == cond].pivot_table(
            index="alpha", columns="beta", values="value", aggfunc="mean"
        )
        if table.size < bars_below:
            _bars(ax, wma[wma["condition"] == cond], base.get(cond, np.nan), cond, fmt)
            continue
        table = table.sort_index(ascending=False)
        im = ax.imshow(table.to_numpy(), cmap=cmap, aspect="auto")
        many = table.shape[1] > 8
        ax.set_xticks(
            range(table.shape[1]),
            [f"{b:g}" for b in table.columns],
            rotation=45 if many else 0,
            fontsize=8 if many else None,
        )
        ax.set_yticks(range(table.shape[0]), [f"{a:g}" for a in table.index])
        ax.set_xlabel("β")
        ax.set_ylabel("α")
        ref = base.get(cond, np.nan)
        title = cond if np.isnan(ref) else f"{cond} (baseline {fmt.format(ref)})"
        ax.set_title(title, fontsize=9)
        for i in range(table.shape[0]):
            for j in range(table.shape[1]):
                v = table.iat[i, j]
                if np.isnan(v):
                    continue
                better = not np.isnan(ref) and (v >= ref if higher_is_better else v <= ref)
                ax.text(
                    j,
                    i,
                    fmt.format(v),
                    ha="center",
                    va="center",
                    fontsize=5.5 if many else 7,
                    color="k" if im.norm(v) > 0.6 else "w",  # readable on light cells
                    fontweight="bold" if better else "normal",
                )
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    for ax in axes[len(conditions) :]:
        ax.set_visible(False)
    return axes


def _bars(ax, rows: pd.DataFrame, ref: float, cond: str, fmt: str) -> None:
    """Mean ± std over seeds of each (α, β) cell as a bar, the baseline as a dashed line."""
    stats = rows.groupby(["alpha", "beta"])["value"].agg(["mean", "std"]).reset_index()
    labels = [f"α={a:g}\nβ={b:g}" for a, b in zip(stats["alpha"], stats["beta"])]
    x = np.arange(len(stats))
    ax.bar(x, stats["mean"], yerr=stats["std"].fillna(0.0), capsize=4, color="tab:blue", alpha=0.8)
    lo = float((stats["mean"] - stats["std"].fillna(0.0)).min())
    hi = float((stats["mean"] + stats["std"].fillna(0.0)).max())
    if not np.isnan(ref):
        ax.axhline(ref, color="k", ls="--", lw=1, label=f"baseline {fmt.format(ref)}")
        lo, hi = min(lo, ref), max(hi, ref)
        ax.legend(fontsize=7, loc="lower right")
    pad = max(0.02, 0.25 * (hi - lo))
    ax.set_ylim(lo - pad, hi + pad)
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylabel("mean ± std over seeds")
    ax.set_title(cond, fontsize=9)


def beta_curve(
    grid: pd.DataFrame,
    alpha: float = 1.0,
    conditions: Sequence[str] | None = None,
    ax=None,
    *,
    band: bool = True,
):
    """Score against β at a fixed α, one line per test case (Fig. 2 of the WMA paper).

    The point at ``β = 0`` is the "minimize OT" run (``alpha=1, beta=0``) when ``alpha == 1``,
    as in the paper; the baseline of each test case is a dashed horizontal line.

    Args:
        grid: the frame of :func:`~workbench.experiments.wma.run_grid`.
        alpha: the α of the curve (the paper: 1).
        conditions: test cases (default: all).
        ax: a matplotlib Axes (a new figure when ``None``).
        band: shade mean ± std over seeds.

    Returns:
        The Axes drawn on.
    """
    import matplotlib.pyplot as plt

    _check(grid, "beta_curve")
    grid = _case(grid)
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.8), layout="constrained")
    keep = (grid["regime"] == "WMA") | ((grid["regime"] == "minimize OT") & (grid["alpha"] == 1.0))
    rows = grid[keep & np.isclose(grid["alpha"], alpha)]
    if rows.empty:
        raise ValueError(
            f"beta_curve(): no WMA runs at alpha={alpha}; the grid has alphas {sorted(grid['alpha'].unique())}."
        )
    conditions = (
        list(conditions) if conditions is not None else list(dict.fromkeys(rows["condition"]))
    )
    base = grid[grid["regime"] == "baseline"].groupby("condition")["value"].mean()
    for k, cond in enumerate(conditions):
        s = (
            rows[rows["condition"] == cond]
            .groupby("beta")["value"]
            .agg(["mean", "std"])
            .fillna(0.0)
        )
        color = f"C{k % 10}"
        ax.plot(s.index, s["mean"], marker="o", color=color, label=cond)
        if band:
            ax.fill_between(
                s.index, s["mean"] - s["std"], s["mean"] + s["std"], color=color, alpha=0.15
            )
        if cond in base.index:
            ax.axhline(base[cond], color=color, ls="--", lw=0.8)
    ax.set_xlabel("β (0 = minimize OT)")
    ax.set_ylabel(str(grid["metric"].iloc[0]) if "metric" in grid.columns else "score")
    ax.set_title(f"α = {alpha:g}; dashed: baseline", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    return ax
