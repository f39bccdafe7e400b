"""Figures of the MLA notebook: unimodal accuracies (modality laziness), missing-rate curves
(Table 2 / Fig. 2), the modality gap (Fig. 3) and the spectrum of the head gradient
modification's projector ``P`` over training (Eq. 3); MLA's advantage along the synthetic
profile's knob is :func:`~workbench.plotting.advantage_plot`. They take tidy frames,
:class:`~workbench.experiments.mla.ModalityGap` results or ``MLA.hgm_history`` and never train."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "missing_rate_curves",
    "modality_gap_plot",
    "projector_spectrum",
    "unimodal_bars",
]


def _ax(ax, figsize=(6, 3.5)):
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def unimodal_bars(
    frame: pd.DataFrame, *, methods: Sequence[str] | None = None, scale: float = 100.0, ax=None
):
    """Grouped bars: accuracy of each modality alone (and ``multi``) per method, mean ± std.

    Args:
        frame: tidy rows (method, modality, seed, value) from
            :func:`~workbench.experiments.mla.run_point`.
        methods: methods to show, in order (default: all, in frame order).
        scale: 100 for percent.

    Returns:
        the matplotlib Axes.
    """
    ax = _ax(ax)
    methods = list(methods or dict.fromkeys(frame["method"]))
    stats = (
        frame[frame["method"].isin(methods)]
        .groupby(["modality", "method"])["value"]
        .agg(["mean", "std"])
    )
    mods = [m for m in dict.fromkeys(frame["modality"]) if m != "multi"] + ["multi"]
    width = 0.8 / len(methods)
    x = np.arange(len(mods))
    for i, meth in enumerate(methods):
        mean = [scale * stats["mean"].get((m, meth), np.nan) for m in mods]
        std = [scale * np.nan_to_num(stats["std"].get((m, meth), 0.0)) for m in mods]
        ax.bar(
            x + (i - (len(methods) - 1) / 2) * width, mean, width, yerr=std, label=meth, capsize=2
        )
    ax.set_xticks(x, mods)
    ax.set_ylabel("test accuracy (%)" if scale == 100 else "test accuracy")
    ax.set_title("Unimodal accuracy: joint training vs MLA")
    ax.legend(fontsize=8, ncol=min(4, len(methods)))
    return ax


def missing_rate_curves(
    frame: pd.DataFrame, *, modality: str = "multi", scale: float = 100.0, ax=None
):
    """Accuracy vs missing rate (``level`` = ``missing_rate=<pct>``), one line per method, ±std band;
    each tick shows the nominal rate and, below it, the realised one (``missing_rate_realised``).

    Returns:
        the matplotlib Axes.
    """
    ax = _ax(ax)
    sel = frame[frame["modality"] == modality].copy()
    sel["rate"] = sel["level"].map(lambda s: float(str(s).split("=")[-1]))
    for meth, g in sel.groupby("method", sort=False):
        st = g.groupby("rate")["value"].agg(["mean", "std"]).sort_index()
        mean, std = scale * st["mean"].to_numpy(), scale * np.nan_to_num(st["std"].to_numpy())
        ax.plot(st.index, mean, marker="o", label=meth)
        ax.fill_between(st.index, mean - std, mean + std, alpha=0.2)
    if "missing_rate_realised" in sel:
        realised = sel.groupby("rate")["missing_rate_realised"].mean().sort_index()
        ax.set_xticks(
            realised.index, [f"{r:g}\n({100 * v:.0f})" for r, v in realised.items()], fontsize=8
        )
        ax.set_xlabel("missing rate (%): nominal (realised)")
    else:
        ax.set_xlabel("missing rate (%)")
    ax.set_ylabel("test accuracy (%)" if scale == 100 else "test accuracy")
    ax.set_title(f"Missing modalities in train/val/test ({modality})")
    ax.legend(fontsize=8)
    return ax


def modality_gap_plot(gaps: Mapping[str, object], *, axes=None, max_points: int = 600):
    """2-D projections of the normalised embeddings, one panel per model, coloured by modality,
    with the centroids (crosses) and the gap distance in the title (Fig. 3 of the MLA paper).

    Args:
        gaps: ``{model name: ModalityGap}``.
        axes: a sequence of Axes, one per model (created when omitted).
        max_points: points drawn per modality (evenly subsampled).

    Returns:
        the array of Axes.
    """
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, len(gaps), figsize=(4.2 * len(gaps), 3.8), squeeze=False)
        axes = axes[0]
    for ax, (name, gap) in zip(axes, gaps.items()):
        for m in dict.fromkeys(gap.modality):
            pts = gap.points[gap.modality == m]
            step = max(1, len(pts) // max_points)
            ax.scatter(pts[::step, 0], pts[::step, 1], s=6, alpha=0.5, label=m)
            c = pts.mean(0)
            ax.scatter([c[0]], [c[1]], marker="x", s=120, color="black")
        ax.set_title(f"{name}: gap = {gap.distance:.3f}")
        ax.legend(fontsize=8, markerscale=2)
        ax.set_xticks([])
        ax.set_yticks([])
    return np.asarray(axes)


def projector_spectrum(
    history: Sequence[Mapping[str, object]], *, thresholds=(0.1, 1e-3), axes=None
):
    """The head gradient modification over training (``MLA.hgm_history``): left, the eigenvalues
    of ``P`` (min, quartiles, max; log scale) and how many fall below each threshold; right, the
    norm of the head's update per recorded step.

    Args:
        history: ``MLA.hgm_history`` (records with ``step``, ``eigenvalues``, ``update_norm``).
        thresholds: eigenvalue levels whose counts are drawn (right axis of the left panel).
        axes: two Axes (created when omitted).

    Returns:
        the two Axes.
    """
    if axes is None:
        import matplotlib.pyplot as plt

        _, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
    rows = [r for r in history if r.get("eigenvalues") is not None]
    if not rows:
        for ax in axes:
            ax.set_title("no HGM history (HGM off, or a model loaded from a checkpoint)")
        return np.asarray(axes)
    steps = np.array([r["step"] for r in rows])
    ev = np.stack([np.asarray(r["eigenvalues"]) for r in rows])
    ax = axes[0]
    q = np.quantile(np.clip(ev, 1e-12, None), [0.0, 0.25, 0.5, 0.75, 1.0], axis=1)
    ax.fill_between(steps, q[0], q[4], alpha=0.15, label="min-max")
    ax.fill_between(steps, q[1], q[3], alpha=0.3, label="quartiles")
    ax.plot(steps, q[2], label="median")
    ax.set_yscale("log")
    ax.set_xlabel("unimodal step t")
    ax.set_ylabel("eigenvalue of P")
    twin = ax.twinx()
    for th, style in zip(thresholds, ("--", ":")):
        twin.plot(steps, (ev < th).sum(1), "k" + style, lw=1, label=f"# < {th:g}")
    twin.set_ylabel(f"count (of {ev.shape[1]})")
    twin.legend(fontsize=7, loc="center right")
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Spectrum of the projector P (Eq. 3)")
    ax = axes[1]
    all_steps = np.array([r["step"] for r in history])
    ax.plot(all_steps, [float(r["update_norm"]) for r in history], lw=1)
    ax.set_yscale("log")
    ax.set_xlabel("unimodal step t")
    ax.set_ylabel("|head update|")
    ax.set_title("Norm of the head's update (Eq. 4)")
    return np.asarray(axes)
