"""Figures read: no two text elements (titles, suptitles, axis and tick labels, legends)
overlap, and integer axes get integer ticks."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from figure_checks import overlapping_texts  # noqa: E402


def _arena_frame(datasets=("av_digits", "mfeat")) -> pd.DataFrame:
    rows = []
    families = {
        "noise": [0.5, 1.0, 3.0],
        "gaussian_noise": [0.1, 0.2],
        "missing": [0.25, 0.5, 0.75],
        "missing_pattern": [0.5],
    }
    for d in datasets:
        for method, slope in {"Late Fusion": 0.2, "RAML": 0.1, "MLA": 0.05}.items():
            for seed in (0, 1):
                rows.append(dict(dataset=d, method=method, condition="normal", modality="",
                                 level=0.0, seed=seed, value=0.9))  # fmt: skip
                for fam, levels in families.items():
                    for m in ("image", "audio"):
                        for lv in levels:
                            rows.append(dict(dataset=d, method=method, condition=fam, modality=m,
                                             level=lv, seed=seed, value=0.9 - slope * lv))  # fmt: skip
    return pd.DataFrame(rows).assign(metric="accuracy", detail="")


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_overlap_check_catches_overlapping_labels():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_xticks(range(5), ["a long tick label"] * 5)
    assert overlapping_texts(fig)


def test_arena_curves_texts_do_not_overlap():
    from workbench.plotting import arena_curves

    axes = arena_curves(_arena_frame(), "av_digits")
    assert overlapping_texts(axes[0].figure) == []


def test_arena_curve_grid_texts_do_not_overlap():
    from workbench.plotting.arena import arena_curve_grid

    axes = arena_curve_grid(_arena_frame())
    fig = axes[0, 0].figure
    assert overlapping_texts(fig) == []
    assert fig.get_suptitle()  # one title for the grid, not one per row


def test_plot_plan_has_integer_ticks():
    from workbench.plotting import plot_plan

    ax = plot_plan(np.full((10, 12), 1 / 120))
    for ticks in (ax.get_xticks(), ax.get_yticks()):
        inside = [t for t in ticks if -0.5 <= t <= 11.5]
        assert inside and all(float(t).is_integer() for t in inside)
    assert overlapping_texts(ax.figure) == []


def _wma_grid(alphas, betas, seeds=(0, 1, 2)) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for cond in ("normal", "noise/text", "missing/image"):
        for s in seeds:
            rows.append(dict(regime="baseline", alpha=0.0, beta=0.0, condition=cond, seed=s,
                             value=0.71 + 0.01 * rng.normal()))  # fmt: skip
            for a in alphas:
                for b in betas:
                    rows.append(dict(regime="WMA", alpha=a, beta=b, condition=cond, seed=s,
                                     value=0.715 + 0.003 * rng.normal()))  # fmt: skip
    return pd.DataFrame(rows)


def test_small_alpha_beta_grid_is_drawn_as_bars_with_error_bars():
    from workbench.plotting import alpha_beta_heatmaps

    axes = alpha_beta_heatmaps(_wma_grid([1.0], [0.5, 2.0]))
    ax = axes[0]
    assert not ax.images and len(ax.patches) == 2  # two bars, no heatmap
    assert any(type(c).__name__ == "ErrorbarContainer" for c in ax.containers)
    assert any(line.get_linestyle() == "--" for line in ax.lines)  # the baseline
    assert overlapping_texts(ax.figure) == []


def test_paper_sized_alpha_beta_grid_stays_a_heatmap_without_overlaps():
    from workbench.plotting import alpha_beta_heatmaps

    betas = [0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
    axes = alpha_beta_heatmaps(_wma_grid([0.1, 0.2, 1.0, 5.0], betas, seeds=(0,)))
    assert axes[0].images
    bad = [
        p
        for p in overlapping_texts(axes[0].figure)
        if not all(t.replace(".", "").isdigit() for t in p)
    ]
    assert bad == []
