"""The arena panel: dataset, corruption and method pickers over a stored arena frame."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from ._live import View, figure, live_panel

__all__ = ["arena_panel"]


def arena_panel(
    df: pd.DataFrame, *, baseline: str = "Late Fusion", methods: Sequence[str] | None = None
):
    """Pick a dataset, a corruption family and methods; see their severity curves and their
    AUC / relative / effective robustness (mean ± std over seeds).

    Nothing is trained or evaluated: the panel only filters ``df`` (e.g. the frame of
    :func:`workbench.experiments.arena.run_arena`, loaded from the sweep store).

    Args:
        df: an arena frame.
        baseline: the effective-robustness baseline.
        methods: the methods selected at first (default: all).

    Returns:
        A :func:`~workbench.widgets._live.live_panel`, evaluated once with the defaults (so it
        runs headless); ``panel.result`` holds the summary table of the last selection.
    """
    import ipywidgets as widgets

    from ..experiments.arena import FAMILIES, robustness_summary
    from ..plotting.arena import arena_curves

    summary = robustness_summary(df, baseline)
    datasets = list(dict.fromkeys(summary["dataset"]))
    families = [f for f in FAMILIES if f in set(summary["condition"])]
    all_methods = list(dict.fromkeys(summary["method"]))
    chosen = [m for m in (methods or all_methods) if m in all_methods] or all_methods
    dataset_w = widgets.Dropdown(options=datasets, value=datasets[0], description="dataset")
    family_w = widgets.Dropdown(options=families, value=families[0], description="corruption")
    methods_w = widgets.SelectMultiple(
        options=all_methods,
        value=tuple(chosen),
        description="methods",
        rows=min(8, len(all_methods)),
    )

    def render(dataset, corruption, methods) -> View:
        methods = list(methods) or all_methods
        fig, ax = figure(5, 3.3)
        try:
            arena_curves(df, dataset, families=[corruption], methods=methods, axes=[ax])
        except ValueError as e:  # e.g. a family this dataset lacks (no image modality)
            ax.text(0.5, 0.5, str(e), ha="center", va="center", wrap=True, fontsize=8)
        s = summary[
            (summary["dataset"] == dataset)
            & (summary["condition"] == corruption)
            & summary["method"].isin(methods)
        ]
        per_seed = s.groupby(["method", "seed"], sort=False)[
            ["clean", "auc", "relative", "effective"]
        ].mean()
        g = per_seed.groupby(level="method", sort=False)
        mean, std = g.mean(), g.std(ddof=1).fillna(0.0)
        table = mean.round(3).astype(str) + " ± " + std.round(3).astype(str)
        table = table.loc[mean.sort_values("auc", ascending=False).index]
        return View(table, f"{dataset}, {corruption}: mean ± std over seeds", fig, table)

    return live_panel(render, {"dataset": dataset_w, "corruption": family_w, "methods": methods_w})
