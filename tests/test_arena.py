"""The robustness arena: summaries in closed form, one point's tidy rows, every method trains on
the shared encoders, the profiles of configs/arena.yaml sweep resumably, the paper table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from workbench import methods
from workbench.corruptions import all_missing_patterns
from workbench.data.synthetic import make_synthetic
from workbench.experiments import arena, load_profile

SEVERITIES = {"noise": [0.5, 2.0], "gaussian_noise": [0.1], "missing": [0.3, 0.6]}
TINY = dict(
    max_epochs=1,
    patience=None,
    batch_size=32,
    embed_dim=8,
    hidden_dim=16,
    severities=SEVERITIES,
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
        "Concat", "synthetic", seed=3, splits=features, device="cpu", cache=False, **TINY
    )
    for col in ("method", "dataset", "condition", "modality", "level", "metric", "seed", "value"):
        assert col in df.columns
    key = ["condition", "modality", "level", "metric", "seed"]
    assert not df.duplicated(key).any()
    mods = features["test"].modalities
    M = len(mods)
    expected = 1 + M * (len(SEVERITIES["noise"]) + len(SEVERITIES["missing"])) + (2**M - 2) + 1
    assert len(df) == expected
    assert set(df["condition"]) == {"normal", "noise", "missing", "missing_pattern", "unaligned"}
    assert (df["seed"] == 3).all() and (df["method"] == "Concat").all()
    pat = df[df["condition"] == "missing_pattern"]
    assert set(pat["modality"]) == {"+".join(p) for p in all_missing_patterns(mods)[:-1]}
    assert np.allclose(pat["severity"], (M - pat["level"]) / M)
    assert df["value"].between(0, 1).all()
    assert (df["max_epochs"] == 1).all() and df["best_epoch"].between(0, 1).all()


def test_gaussian_noise_only_on_image_modalities():
    from workbench.data.base import MultimodalDataset, Task

    g = torch.Generator().manual_seed(0)
    ds = MultimodalDataset(
        "toy",
        {"image": torch.rand(20, 1, 4, 4, generator=g), "vec": torch.randn(20, 3, generator=g)},
        torch.randint(0, 2, (20,), generator=g),
        Task("multiclass", 2, "accuracy"),
    )
    conds = arena.arena_conditions(ds, SEVERITIES)
    gauss = [c[0] for c in conds if c and c[0].name == "gaussian_noise"]
    assert [c.modality for c in gauss] == ["image"] * len(SEVERITIES["gaussian_noise"])
    assert all(c.level == "input" for c in gauss)
    with pytest.raises(ValueError, match="Unknown severity families"):
        arena.arena_conditions(ds, {"blur": [1.0]})


def test_unknown_and_inapplicable_methods_raise(features):
    with pytest.raises(ValueError, match="Unknown method"):
        arena.build("Nope", features["train"])
    with pytest.raises(ValueError, match="is not defined for dataset"):
        arena.build("WMA", features["train"])


@pytest.mark.parametrize("name", methods.available())
def test_every_method_trains_one_epoch(name, features, tokens):
    splits = tokens if name == "WMA" else features
    df = arena.run_point(
        name,
        "synthetic",
        seed=0,
        splits=splits,
        families=("noise", "missing"),
        device="cpu",
        cache=False,
        **TINY,
    )
    assert np.isfinite(df["value"]).all()
    assert set(df["condition"]) == {"normal", "noise", "missing"}


def test_shared_encoders_are_one_draw_of_the_seed_for_every_method(features):
    """Every method but WMA gets the same encoders: the same modules' types, and with the same
    seed the same initial weights (the shared encoders are the first draw of the seed)."""
    train = features["train"]
    sizes = dict(embed_dim=8, hidden_dim=16)
    reference = arena.shared_encoders(train, **sizes)  # a draw of the global RNG, for the types
    models = {n: arena.build(n, train, seed=5, **sizes) for n in ("Concat", "RAML", "MMIN", "OTM")}
    for name, model in models.items():
        assert [type(e) for e in model.encoders.values()] == [
            type(e) for e in reference.values()
        ], name
    first = models["Concat"].encoders.state_dict()
    for name, model in models.items():
        state = model.encoders.state_dict()
        assert all(torch.equal(v, state[k]) for k, v in first.items()), name
    other = arena.build("Concat", train, seed=6, **sizes).encoders.state_dict()
    assert not all(torch.equal(v, other[k]) for k, v in first.items())


def test_shared_encoders_keep_the_native_auto_build_of_the_mla_fusions(features):
    """The MLA paper's fusions on the "auto" encoders draw their encoders first: passing the
    shared ones in gives the very model the registry builds natively with the same seed."""
    train = features["train"]
    for name in ("Concat", "Late Fusion", "MLA"):
        shared = arena.build(name, train, seed=2, embed_dim=8, hidden_dim=16)
        native = methods.build(
            name, train, seed=2, embed_dim=8, hidden=(16,), dropout=0.1, encoder="auto"
        )
        a, b = shared.state_dict(), native.state_dict()
        assert a.keys() == b.keys()
        assert all(torch.equal(v, b[k]) for k, v in a.items()), name


def test_native_encoders_keep_the_raml_family():
    from workbench.data.base import MultimodalDataset, Task

    g = torch.Generator().manual_seed(0)
    seqs = [torch.randn(int(torch.randint(1, 6, (1,), generator=g)), 5) for _ in range(12)]
    train = MultimodalDataset(
        "mixed",
        {"image": torch.randn(12, 1, 8, 8), "audio": seqs},
        torch.arange(12) % 3,
        Task("multiclass", 3, "accuracy"),
    )
    native = arena.build("RAML", train, encoders="native")
    shared = arena.build("RAML", train, encoders="shared")
    concat = arena.build("Concat", train)
    models = {"native": native, "shared": shared, "concat": concat}
    kinds = {k: [type(e).__name__ for e in m.encoders.values()] for k, m in models.items()}
    assert kinds["native"] == ["ConvEncoder", "MaxPoolSequenceEncoder"], kinds
    assert kinds["shared"] == kinds["concat"] == ["ConvEncoder", "SequenceEncoder"], kinds
    with pytest.raises(ValueError, match="expected 'shared' or 'native'"):
        arena.build("RAML", train, encoders="own")


# ----------------------------------------------------------------------------- profiles, sweeps


def test_profiles_name_every_setting_and_bind_to_run_point():
    import inspect

    signature = inspect.signature(arena.run_point)
    for name in ("smoke", "cpu", "full"):
        prof = load_profile("arena", name)
        assert prof.function == "workbench.experiments.arena:run_point"
        assert prof.description
        points = list(prof.grid)
        for p in points:
            signature.bind(**p)
            assert set(p) >= {"max_epochs", "patience", "embed_dim", "hidden_dim", "severities"}
    smoke = load_profile("arena", "smoke")
    assert len(smoke.grid) == 4 * 2 * 2  # methods x seeds x datasets
    assert smoke.constants()["max_epochs"] == 4 and smoke.constants()["embed_dim"] == 32


def test_arena_grid_is_the_profile_grid_unless_overridden():
    prof = load_profile("arena", "smoke")
    assert arena.arena_grid("smoke").run_ids() == prof.grid.run_ids()
    assert arena.arena_grid("smoke", device="auto").run_ids() == prof.grid.run_ids()
    one = list(arena.arena_grid("smoke", datasets="mfeat", seed=10, device="cpu"))
    assert {p["dataset"] for p in one} == {"mfeat"}
    assert all(p["dataset_options"] == {"views": ["fou", "fac", "kar"]} for p in one)
    assert {p["seed"] for p in one} == {10, 11} and {p["device"] for p in one} == {"cpu"}


TINY_CONFIG = """
paper: arena
function: workbench.experiments.arena:run_point
profiles:
  smoke:
    description: two methods on a tiny synthetic dataset
    grid:
      method: [Concat, Late Fusion]
      seed: [0, 1]
      dataset: synthetic
      dataset_options: {n_samples: 90, dims: [6, 5], n_classes: 3}
      max_epochs: 1
      patience: null
      embed_dim: 8
      hidden_dim: 16
      severities: {noise: [1.0], missing: [0.5]}
      device: cpu
"""


def test_reproduce_runs_the_profile_resumably(tmp_path, monkeypatch):
    from workbench.experiments import reproduce

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "arena.yaml").write_text(TINY_CONFIG)
    monkeypatch.setenv("WORKBENCH_CONFIGS", str(tmp_path / "configs"))
    store = tmp_path / "store"
    first = reproduce("arena", "smoke", store=store, n_jobs=1)
    assert len(first.summary.finished) == 4 and first.summary.ok
    assert first.results_path.is_file() and first.paper_table_path.is_file()
    assert list(first.paper_table["id"]) == [c.id for c in arena.CLAIMS]
    again = arena.run_arena("smoke", store=store, n_jobs=1)  # the notebook's call: no recompute
    assert len(again) == len(first.results)
    second = reproduce("arena", "smoke", store=store, n_jobs=1)
    assert not second.summary.finished and len(second.summary.skipped) == 4


# ----------------------------------------------------------------------------- paper table


def _claim_frame(gap: float, seeds=(0, 1, 2)) -> pd.DataFrame:
    """MLA and Late Fusion under missing modalities on two datasets: MLA's curve sits ``gap``
    above late fusion's, with a little seed noise."""
    rows = []
    for seed in seeds:
        for dataset in ("a", "b"):
            for method, shift in (("MLA", gap), ("Late Fusion", 0.0)):
                clean = 0.8 + 0.01 * seed
                rows.append(dict(method=method, dataset=dataset, condition="normal", modality="",
                                 level=0.0, seed=seed, value=clean))  # fmt: skip
                for rate in (0.25, 0.5):
                    value = clean - rate * 0.4 + shift * rate + 0.002 * ((seed + rate * 4) % 3)
                    rows.append(dict(method=method, dataset=dataset, condition="missing",
                                     modality="x", level=rate, seed=seed, value=value))  # fmt: skip
    return pd.DataFrame(rows).assign(metric="accuracy", detail="")


def test_family_auc_is_the_mean_auc_over_modalities(rng):
    df = _fake_frame(rng)
    fam = arena.family_auc(df)
    assert set(fam.columns) == {"method", "dataset", "condition", "metric", "seed", "value"}
    merged = fam.merge(arena.auc(df), on=["method", "dataset", "condition", "metric", "seed"])
    assert np.allclose(merged["value"], merged["auc"])
    assert arena.family_auc(df.iloc[:0]).empty


@pytest.mark.parametrize("gap, expected", [(0.2, "holds"), (-0.2, "fails"), (0.0, "not clearly")])
def test_paper_table_verdicts_follow_the_seed_spread(gap, expected):
    table = arena.paper_table(_claim_frame(gap), profile="test")
    assert list(table["id"]) == [c.id for c in arena.CLAIMS]
    row = table.set_index("id").loc["arena.mla_vs_late_fusion.missing"]
    assert row["verdict"] == expected and row["n_seeds"] == 3 and row["profile"] == "test"
    assert row["paper_verdict"] in ("holds", "not clearly", "fails")  # from the reference CSV
    others = table[table["id"] != "arena.mla_vs_late_fusion.missing"]
    assert (others["verdict"] == "not clearly").all()  # their methods did not run
    one_seed = arena.paper_table(_claim_frame(gap, seeds=(0,)))
    assert (one_seed["verdict"] == "not clearly").all()


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
