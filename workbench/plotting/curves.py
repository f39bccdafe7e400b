"""Robustness curves, training curves and rendered result tables (matplotlib / pandas Styler)."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

__all__ = ["results_table", "robustness_curve", "training_curves"]


def _axes(ax):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
    return ax


def _columns(x) -> list[str]:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


def robustness_curve(
    df: pd.DataFrame,
    x: str = "level",
    y: str = "value",
    hue: str | Sequence[str] | None = "method",
    ax=None,
    *,
    band: bool = True,
    marker: str = "o",
    xlabel: str | None = None,
    ylabel: str | None = None,
    title: str | None = None,
):
    """Metric against severity: one line per ``hue`` group, mean over seeds with a ±std band.

    Args:
        df: a tidy frame (from :func:`workbench.evaluation.robustness`), filtered to one
            metric (and usually one condition/modality; the clean rows at level 0 may be kept
            to anchor the curves).
        x: the severity column (amplitude, missing rate, sigma, ...).
        y: the value column.
        hue: column(s) giving one line each; several are joined with ``" / "``.
        ax: a matplotlib Axes (a new figure when ``None``).
        band: shade mean ± std (over every row sharing ``hue`` and ``x``, normally seeds).

    Returns:
        The Axes drawn on.
    """
    missing = [c for c in [x, y, *_columns(hue)] if c not in df.columns]
    if missing:
        raise ValueError(
            f"robustness_curve(): columns {missing} are not in the frame; it has {list(df.columns)}."
        )
    if df.empty:
        raise ValueError("robustness_curve(): the frame is empty; nothing to plot.")
    ax = _axes(ax)
    hues = _columns(hue)
    groups = df.groupby(hues, sort=False) if hues else [((), df)]
    for key, part in groups:
        key = key if isinstance(key, tuple) else (key,)
        label = " / ".join(str(k) for k in key) if hues else y
        s = part.groupby(x, sort=True)[y].agg(["mean", "std"]).fillna({"std": 0.0})
        (line,) = ax.plot(s.index, s["mean"], marker=marker, label=label)
        if band:
            ax.fill_between(
                s.index,
                s["mean"] - s["std"],
                s["mean"] + s["std"],
                color=line.get_color(),
                alpha=0.2,
            )
    metric = df["metric"].iloc[0] if "metric" in df.columns and df["metric"].nunique() == 1 else y
    ax.set_xlabel(xlabel or x)
    ax.set_ylabel(ylabel or metric)
    if title:
        ax.set_title(title)
    if hues:
        ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def training_curves(
    history: pd.DataFrame, ax=None, *, best_epoch: int | None = None, metric: str | None = None
):
    """Train loss (left axis) and validation metric (right axis) per epoch.

    Args:
        history: ``Trainer.history_``: columns ``epoch``, ``train_loss`` (or other
            ``train_*``) and ``val_<metric>``.
        ax: a matplotlib Axes (a new figure when ``None``); the metric goes on ``ax.twinx()``.
        best_epoch: draw a vertical line at the selected epoch (``Trainer.best_epoch_``).
        metric: which ``val_*`` column to draw (default: the first).

    Returns:
        The Axes holding the loss; the twin Axes is ``ax.right_ax_``.
    """
    if "epoch" not in history.columns or history.empty:
        raise ValueError(
            "training_curves(): expected Trainer.history_ with an 'epoch' column and at least one row."
        )
    train_cols = [c for c in history.columns if c.startswith("train_")]
    loss_col = (
        "train_loss" if "train_loss" in history.columns else (train_cols[0] if train_cols else None)
    )
    val_cols = [c for c in history.columns if c.startswith("val_")]
    val_col = f"val_{metric}" if metric else (val_cols[0] if val_cols else None)
    if val_col is not None and val_col not in history.columns:
        raise ValueError(
            f"training_curves(): no column {val_col!r}; history has {list(history.columns)}."
        )
    ax = _axes(ax)
    handles = []
    if loss_col is not None:
        handles += ax.plot(
            history["epoch"], history[loss_col], color="C0", marker=".", label=loss_col
        )
        ax.set_ylabel(loss_col)
    ax.set_xlabel("epoch")
    right = None
    if val_col is not None:
        right = ax.twinx()
        handles += right.plot(
            history["epoch"], history[val_col], color="C1", marker=".", label=val_col
        )
        right.set_ylabel(val_col)
    if best_epoch is not None:
        handles.append(
            ax.axvline(
                best_epoch, color="gray", linestyle="--", label=f"selected (epoch {best_epoch})"
            )
        )
    ax.legend(handles=handles, loc="center right", fontsize="small")
    ax.grid(alpha=0.3)
    ax.right_ax_ = right
    return ax


def results_table(
    df_or_styler,
    *,
    caption: str | None = None,
    precision: int = 3,
    highlight: str | None = None,
):
    """A rendered table (pandas Styler) of a results frame.

    Args:
        df_or_styler: a DataFrame (e.g. from :func:`workbench.evaluation.table` or
            :func:`~workbench.evaluation.paper_vs_workbench`) or an existing Styler.
        caption: table caption.
        precision: decimals of float cells.
        highlight: ``"max"`` or ``"min"`` to mark the best numeric cell of each column.

    Returns:
        A :class:`pandas.io.formats.style.Styler` (renders as HTML in a notebook;
        ``.to_html()`` / ``.to_latex()`` for files).
    """
    from pandas.io.formats.style import Styler

    if isinstance(df_or_styler, Styler):
        styler = df_or_styler
    elif isinstance(df_or_styler, pd.DataFrame):
        styler = df_or_styler.style.format(precision=precision, na_rep="")
    else:
        raise ValueError(
            f"results_table() takes a DataFrame or a Styler; got {type(df_or_styler).__name__}."
        )
    if highlight is not None:
        if highlight not in ("max", "min"):
            raise ValueError(
                f"results_table(highlight={highlight!r}); expected 'max', 'min' or None."
            )
        numeric = styler.data.select_dtypes("number").columns
        fn = styler.highlight_max if highlight == "max" else styler.highlight_min
        styler = fn(subset=numeric, props="font-weight: bold")
    if caption:
        styler = styler.set_caption(caption)
    return styler
