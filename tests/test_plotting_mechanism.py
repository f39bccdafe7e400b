"""The shared mechanism figure (:func:`workbench.plotting.advantage_plot`) and the tidy
advantage frame it reads (:func:`workbench.experiments.evidence.seed_summary`)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from figure_checks import overlapping_texts, texts_outside  # noqa: E402

from workbench.experiments.evidence import seed_stats, seed_summary  # noqa: E402
from workbench.plotting import advantage_plot  # noqa: E402

KNOB = (0.0, 0.5, 1.0)


def _per_seed() -> pd.DataFrame:
    """Per-seed differences: against "A" the gain is the knob plus seed noise, against "B"
    half of it; two series (modalities), three seeds."""
    rows = []
    for panel, factor in (("A", 1.0), ("B", 0.5)):
        for series, shift in (("m0", 0.0), ("m1", 0.1)):
            for k in KNOB:
                for seed, noise in enumerate((-0.02, 0.0, 0.05)):
                    d = factor * k + shift + noise
                    rows.append(dict(against=panel, noisy=series, knob=k, seed=seed, d=d))
    return pd.DataFrame(rows)


def test_seed_summary_is_mean_std_se_and_n_over_the_seeds():
    df = _per_seed()
    out = seed_summary(df, ["against", "noisy", "knob"], "d")
    assert list(out.columns) == ["against", "noisy", "knob", "mean", "std", "se", "n"]
    row = out[(out["against"] == "A") & (out["noisy"] == "m1") & (out["knob"] == 1.0)].iloc[0]
    d = np.array([1.08, 1.1, 1.15])
    assert row["mean"] == pytest.approx(d.mean())
    assert row["std"] == pytest.approx(d.std(ddof=1))
    assert row["se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert row["n"] == 3
    one = seed_stats([0.3, float("nan")])  # a missing seed is not counted
    assert one["mean"] == 0.3 and one["n"] == 1 and np.isnan(one["std"]) and np.isnan(one["se"])
    assert seed_stats([])["n"] == 0 and np.isnan(seed_stats([])["mean"])
    with pytest.raises(ValueError, match=r"lacks columns \['seed_x'\]"):
        seed_summary(df, ["seed_x"], "d")


def test_per_seed_and_summary_input_draw_the_same_bars():
    df = _per_seed()
    kw = dict(knob="knob", panel="against", series="noisy", scale=100.0, z=2.0)
    by_seed = advantage_plot(df, values="d", **kw)
    summary = seed_summary(df, ["against", "noisy", "knob"], "d")
    by_summary = advantage_plot(summary, **kw)
    for a, b in zip(by_seed, by_summary):
        assert len(a.containers) == len(b.containers) == 2
        for ca, cb in zip(a.containers, b.containers):
            np.testing.assert_array_equal(ca.lines[0].get_ydata(), cb.lines[0].get_ydata())
    row = summary[(summary["against"] == "B") & (summary["noisy"] == "m0")].sort_values("knob")
    bars = by_seed[1].containers[0]
    np.testing.assert_allclose(bars.lines[0].get_ydata(), 100 * row["mean"])
    segments = bars.lines[2][0].get_segments()  # the error bars: mean ± 2 SE, in points
    half = [(s[1][1] - s[0][1]) / 2 for s in segments]
    np.testing.assert_allclose(half, 2 * 100 * row["se"])
    plt.close("all")


def test_one_panel_per_value_a_zero_line_a_shared_legend_and_readable_text():
    df = _per_seed()
    axes = advantage_plot(
        df, knob="knob", values="d", panel="against", series="noisy",
        panel_title="WMA − {}", series_label="noise on {}", invert_x=True,
    )  # fmt: skip
    assert [ax.get_title() for ax in axes] == ["WMA − A", "WMA − B"]
    fig = axes[0].figure
    assert len(fig.legends) == 1 and not any(ax.get_legend() for ax in axes)
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["noise on m0", "noise on m1"]
    for ax in axes:
        assert any(np.allclose(line.get_ydata(), 0.0) for line in ax.get_lines())
        assert ax.xaxis_inverted()
    assert "2 SE over 3 seeds" in fig.get_suptitle()
    assert overlapping_texts(fig) == [] and texts_outside(fig) == []
    plt.close(fig)


def test_a_symlog_knob_keeps_zero_and_the_series_apart():
    df = _per_seed().assign(knob=lambda d: d["knob"].map({0.0: 0.0, 0.5: 0.5, 1.0: 12.0}))
    (ax, _) = advantage_plot(df, knob="knob", values="d", panel="against", series="noisy",
                             symlog=True)  # fmt: skip
    assert ax.get_xscale() == "symlog"
    x0 = ax.containers[0].lines[0].get_xdata()
    x1 = ax.containers[1].lines[0].get_xdata()
    assert x0[0] < 0 < x1[0] and np.all(x0[1:] < x1[1:])  # 0 kept, series offset, not stacked
    assert overlapping_texts(ax.figure) == []
    plt.close("all")


def test_bad_input_says_what_is_missing():
    df = _per_seed()
    with pytest.raises(ValueError, match=r"lacks columns \['mean', 'se'\]"):
        advantage_plot(df, knob="knob")
    with pytest.raises(ValueError, match="empty"):
        advantage_plot(df.iloc[:0], knob="knob", values="d")
    with pytest.raises(ValueError, match="2 panels"):
        advantage_plot(df, knob="knob", values="d", panel="against", axes=[plt.subplots()[1]])
    plt.close("all")
