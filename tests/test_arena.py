"""The robustness arena: summaries in closed form, one point's tidy rows, every entrant trains."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from workbench import arena
from workbench.corruptions import all_missing_patterns
from workbench.data.synthetic import make_synthetic

TINY = arena.ArenaProfile(
    max_epochs=1,
    patience=None,
    batch_size=32,
    embed_dim=8,
    hidden=(16,),
    amplitudes=(0.5, 2.0),
    sigmas=(0.1,),
    rates=(0.3, 0.6),
)


@pytest.fixture(scope="module")
def features():
    return make_synthetic(90, dims=(6, 5, 4), n_classes=3, seed=0)


@pytest.fixture(scope="module")
def tokens():
    return make_synthetic(60, dims=(6, 5), n_classes=3, seed=1, output="tokens", seq_len=3)


# ----------------------------------------------------------------------------- closed forms


def test_trapezoid_auc_of_a_known_curve(rng):
    s = np.sort(rng.uniform(0, 3, size=6))
    s[0] = 0.0
    v = rng.uniform(0, 1, size=6)
    area = sum((s[k] - s[k - 1]) * (v[k] + v[k - 1]) / 2 for k in range(1, 6))
    assert arena.trapezoid_auc(s, v, normalize=False) == pytest.approx(area)
    assert arena.trapezoid_auc(s, v) == pytest.approx(area / (s[-1] - s[0]))
    # order of the points does not matter; a flat curve's normalised AUC is its value
    perm = rng.permutation(6)
    assert arena.trapezoid_auc(s[perm], v[perm]) == pytest.approx(area / s[-1])
    assert arena.trapezoid_auc(s, np.full(6, 0.7)) == pytest.approx(0.7)
    # a linear decay from c to c - d over [0, S] has normalised AUC c - d / 2
    assert arena.trapezoid_auc([0, 1, 2, 4], [0.9, 0.8, 0.7, 0.5]) == pytest.approx(0.7)


def test_relative_and_effective_robustness_closed_forms(rng):
    auc_m, clean_m, auc_b, clean_b = rng.uniform(0.2, 1.0, size=4)
    rr = arena.relative_robustness(auc_m, clean_m)
    assert rr == pytest.approx(auc_m / clean_m)
    er = arena.effective_robustness(auc_m, clean_m, auc_b, clean_b)
    assert er == pytest.approx(clean_m * (auc_m / clean_m - auc_b / clean_b))
    assert arena.effective_robustness(auc_b, clean_b, auc_b, clean_b) == pytest.approx(0.0)


def _fake_frame(rng) -> pd.DataFrame:
    """Two methods, two seeds, a linear noise curve per method: known AUCs."""
    rows = []
    slopes = {"Late Fusion": 0.2, "Better": 0.05}
    for method, slope in slopes.items():
        for seed in (0, 1):
            clean = 0.9 + 0.01 * seed
            rows.append(
                dict(
                    method=method,
                    condition="normal",
                    modality="",
                    level=0.0,
                    seed=seed,
                    value=clean,
                )
            )
            for level in (0.5, 1.0, 2.0):
                rows.append(
                    dict(
                        method=method,
                        condition="noise",
                        modality="a",
                        level=level,
                        seed=seed,
                        value=clean - slope * level,
                    )
                )
    df = pd.DataFrame(rows).assign(dataset="toy", metric="accuracy", detail="")
    return df


def test_summary_matches_closed_forms(rng):
    df = _fake_frame(rng)
    s = arena.robustness_summary(df, baseline="Late Fusion")
    assert set(s["condition"]) == {"noise"}
    for _, r in s.iterrows():
        slope = 0.2 if r["method"] == "Late Fusion" else 0.05
        assert r["auc"] == pytest.approx(r["clean"] - slope * 1.0)  # mean of a line over [0, 2]
        assert r["relative"] == pytest.approx(r["auc"] / r["clean"])
    base = s[s["method"] == "Late Fusion"]
    assert np.allclose(base["effective"], base["auc"] - base["relative"].mean() * base["clean"])
    assert (s.loc[s["method"] == "Better", "effective"] > 0).all()
    board = arena.leaderboard(df)
    assert list(board.index.get_level_values("method")) == ["Better", "Late Fusion"]
    assert list(board["rank"]) == [1, 2]
    assert " ± " in board.loc[("toy", "Better"), "noise"]


# ----------------------------------------------------------------------------- one point


def test_run_point_returns_one_tidy_row_per_condition(features, tmp_path):
    df = arena.run_point(
        "Concat", "synthetic", seed=3, profile=TINY, splits=features, device="cpu", cache=False
    )
    for col in ("method", "dataset", "condition", "modality", "level", "metric", "seed", "value"):
        assert col in df.columns
    key = ["condition", "modality", "level", "metric", "seed"]
    assert not df.duplicated(key).any()
    mods = features["test"].modalities
    M = len(mods)
    expected = 1 + M * (len(TINY.amplitudes) + len(TINY.rates)) + (2**M - 2) + 1
    assert len(df) == expected
    assert set(df["condition"]) == {"normal", "noise", "missing", "missing_pattern", "unaligned"}
    assert (df["seed"] == 3).all() and (df["method"] == "Concat").all()
    pat = df[df["condition"] == "missing_pattern"]
    assert set(pat["modality"]) == {"+".join(p) for p in all_missing_patterns(mods)[:-1]}
    assert np.allclose(pat["severity"], (M - pat["level"]) / M)
    assert df["value"].between(0, 1).all()


def test_gaussian_noise_only_on_image_modalities():
    from workbench.data.base import MultimodalDataset, Task

    g = torch.Generator().manual_seed(0)
    ds = MultimodalDataset(
        "toy",
        {"image": torch.rand(20, 1, 4, 4, generator=g), "vec": torch.randn(20, 3, generator=g)},
        torch.randint(0, 2, (20,), generator=g),
        Task("multiclass", 2, "accuracy"),
    )
    conds = arena.arena_conditions(ds, TINY)
    gauss = [c[0] for c in conds if c and c[0].name == "gaussian_noise"]
    assert [c.modality for c in gauss] == ["image"] * len(TINY.sigmas)
    assert all(c.level == "input" for c in gauss)


def test_unknown_and_inapplicable_entrants_raise(features):
    with pytest.raises(ValueError, match="Unknown arena entrant"):
        arena.build_entrant("Nope", features["train"])
    with pytest.raises(ValueError, match="does not apply"):
        arena.build_entrant("WMA", features["train"])


@pytest.mark.parametrize("name", list(arena.ENTRANTS))
def test_every_entrant_trains_one_epoch(name, features, tokens):
    splits = tokens if name == "WMA" else features
    df = arena.run_point(
        name,
        "synthetic",
        seed=0,
        profile=TINY,
        splits=splits,
        families=("noise", "missing"),
        device="cpu",
        cache=False,
    )
    assert np.isfinite(df["value"]).all()
    assert set(df["condition"]) == {"normal", "noise", "missing"}


def test_shared_encoders_are_the_same_family(features):
    train = features["train"]
    types = {
        name: tuple(type(e).__name__ for e in arena.build_entrant(name, train).encoders.values())
        for name in ("Concat", "RAML", "MMIN", "OTM")
    }
    assert len(set(types.values())) == 1, types


def test_native_encoders_keep_the_raml_family_and_shared_swap_only_the_encoders():
    from workbench.data.base import MultimodalDataset, Task

    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(int(torch.randint(1, 6, (1,), generator=g)), 5) for _ in range(12)]
    train = MultimodalDataset(
        "mixed",
        {"image": torch.randn(12, 1, 8, 8), "audio": seqs},
        torch.arange(12) % 3,
        Task("multiclass", 3, "accuracy"),
    )
    native = arena.build_entrant("RAML", train, encoders="native")
    shared = arena.build_entrant("RAML", train, encoders="shared")
    concat = arena.build_entrant("Concat", train)
    models = {"native": native, "shared": shared, "concat": concat}
    kinds = {k: [type(e).__name__ for e in m.encoders.values()] for k, m in models.items()}
    assert kinds["native"] == ["ConvEncoder", "MaxPoolSequenceEncoder"], kinds
    assert kinds["shared"] == kinds["concat"] == ["ConvEncoder", "SequenceEncoder"], kinds
    # the swap replaces the encoders only: the heads keep the native build's initial weights
    heads = {k: v for k, v in native.state_dict().items() if not k.startswith("encoders.")}
    assert all(torch.equal(v, shared.state_dict()[k]) for k, v in heads.items())


# ----------------------------------------------------------------------------- figures, panel


def _two_dataset_frame(rng) -> pd.DataFrame:
    a = _fake_frame(rng)
    b = _fake_frame(rng).assign(dataset="other")
    b.loc[b["condition"] == "noise", "condition"] = "missing"
    return pd.concat([a, b], ignore_index=True)


def test_dashboard_has_three_menus_and_shows_one_panel(rng):
    df = _two_dataset_frame(rng)
    from workbench.plotting import arena_dashboard

    fig = arena_dashboard(df)
    assert len(fig.layout.updatemenus) == 3
    assert len(fig.data) == 4  # 2 datasets x 1 family x 2 methods
    shown = [t for t in fig.data if t.visible]
    assert len(shown) == 2 and {t.name for t in shown} == {"Late Fusion", "Better"}
    datasets = [b.label for b in fig.layout.updatemenus[0].buttons]
    assert sorted(datasets) == ["other", "toy"]
    other = fig.layout.updatemenus[0].buttons[1].args[0]["visible"]
    assert sum(other) == 2 and other != [bool(t.visible) for t in fig.data]
    fig.to_html(include_plotlyjs=False)  # serialisable for the static report


def test_curves_heatmap_and_panel_run_headless(rng):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.plotting import arena_curves, leaderboard_heatmap
    from workbench.widgets import arena_panel

    df = _fake_frame(rng)
    axes = arena_curves(df)
    assert len(axes) == 1 and len(axes[0].lines) == 2
    ax = leaderboard_heatmap(df)
    assert len(ax.get_yticklabels()) == 2
    panel = arena_panel(df)
    assert list(panel.result.index) == ["Better", "Late Fusion"]
    plt.close("all")
