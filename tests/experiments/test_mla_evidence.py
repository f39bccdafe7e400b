"""MLA's evidence: the synthetic mechanism profile (modality-imbalance knob ``signal_ratio``),
its advantage frame, claims and figure, and the diagnoses of the committed cpu claims that do
not hold."""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from figure_checks import overlapping_texts  # noqa: E402

from workbench import plotting  # noqa: E402
from workbench.claims import paired_differences  # noqa: E402
from workbench.experiments import COMMITTED_PROFILES, load_profile  # noqa: E402
from workbench.experiments import mla as X  # noqa: E402
from workbench.experiments.evidence import DIAGNOSIS_KINDS, Evidence, committed  # noqa: E402

METHODS = ("Concat", "Late Fusion", "MLA")
RATIOS = (1.0, 0.5, 0.25)


def _mechanism_frame(rng: np.random.Generator, *, lift: float = 0.2) -> pd.DataFrame:
    """Tidy rows shaped like the synthetic profile's: Concat neglects m1 more as the ratio
    falls, MLA does not (its lift over Concat on m1 is ``lift * (1 - ratio)``); the fused rows
    of MLA and Concat are pure noise around the same mean."""
    rows = []
    for ratio in RATIOS:
        for seed in range(4):
            for method in METHODS:
                for split in ("validation", "test"):
                    m1 = 0.6 * ratio + 0.25
                    if method == "Concat":
                        m1 -= lift * (1 - ratio)
                    values = {
                        "multi": 0.8 + 0.01 * rng.standard_normal(),
                        "m0": 0.7 + 0.01 * rng.standard_normal(),
                        "m1": m1 + 0.005 * rng.standard_normal(),
                    }
                    for modality, value in values.items():
                        rows.append(
                            {
                                "experiment": "table1",
                                "method": method,
                                "dataset": "synthetic",
                                "split": split,
                                "condition": "normal" if modality == "multi" else "single_modality",
                                "modality": modality,
                                "metric": "accuracy",
                                "seed": seed,
                                "value": value,
                                "signal_ratio": ratio,
                                "run_id": f"{method}-{ratio}-{seed}",
                            }
                        )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- the knob


def test_signal_ratio_sets_the_second_modalitys_signal():
    opts = X._with_signal_ratio("synthetic", {"signal": [2.0, 2.0], "noise": 2.0}, 0.25)
    assert opts == {"signal": [2.0, 0.5], "noise": 2.0}
    assert X._with_signal_ratio("synthetic", None, 0.5)["signal"] == [1.0, 0.5]
    assert X._with_signal_ratio("mfeat", {"views": ["fac"]}, None) == {"views": ["fac"]}
    splits = X.load_data(
        "synthetic", options=X._with_signal_ratio("synthetic", {"n_samples": 60}, 0.35)
    )
    assert splits["train"].meta["signal"] == (1.0, 0.35)
    with pytest.raises(ValueError, match="synthetic dataset's imbalance knob"):
        X._with_signal_ratio("mfeat", None, 0.5)
    with pytest.raises(ValueError, match="signal_ratio must be >= 0"):
        X._with_signal_ratio("synthetic", None, -1.0)
    with pytest.raises(ValueError, match="two entries"):
        X._with_signal_ratio("synthetic", {"signal": [1.0, 1.0, 1.0]}, 0.5)


def test_synthetic_profile_spans_balanced_to_imbalanced_with_three_seeds():
    prof = load_profile("mla", "synthetic")
    axes = prof.grid.axes
    ratios = sorted(axes["signal_ratio"])
    assert ratios[-1] == 1.0 and ratios[0] <= 0.25  # balanced at one end, strongly imbalanced
    assert {"MLA", "Concat", "Late Fusion"} <= set(axes["method"])
    assert len(axes["seed"]) >= 3
    assert axes["optimizer"] == ("sgd",)  # HGM's Eq. 4 is an SGD step
    assert prof.paper_table.endswith("mla:mechanism_table") and prof.committed
    assert len(prof.grid) == len(ratios) * len(axes["method"]) * len(axes["seed"])


def test_fit_point_rejects_the_knob_on_another_dataset():
    with pytest.raises(ValueError, match="imbalance knob"):
        X.fit_point(experiment="table1", method="Concat", seed=0, dataset="mfeat", signal_ratio=0.5)


# ----------------------------------------------------------------------------- advantage


def test_knob_advantage_is_the_per_seed_paired_difference(rng):
    frame = _mechanism_frame(rng)
    adv = X.knob_advantage(frame)
    assert X.knob_weak_modality(frame) == "m1"
    assert set(adv["modality"]) == {"multi", "m1"}
    assert list(adv[adv["comparison"] == "MLA − Concat"]["signal_ratio"].unique()) == [
        1.0,
        0.5,
        0.25,
    ]
    test = frame[(frame["split"] == "test") & (frame["signal_ratio"] == 0.25)]
    d = paired_differences(test[test["modality"] == "m1"], "MLA", "Concat")
    row = adv[
        (adv["comparison"] == "MLA − Concat")
        & (adv["modality"] == "m1")
        & (adv["signal_ratio"] == 0.25)
    ].iloc[0]
    assert row["n"] == 4
    assert row["mean"] == pytest.approx(d.mean())
    assert row["se"] == pytest.approx(d.std(ddof=1) / 2)
    assert row["mean"] == pytest.approx(0.2 * 0.75, abs=0.02)  # the lift built in
    balanced = adv[(adv["modality"] == "m1") & (adv["signal_ratio"] == 1.0)]
    assert balanced["mean"].abs().max() < 0.02


def test_knob_advantage_needs_the_knob_column(rng):
    frame = _mechanism_frame(rng).drop(columns="signal_ratio")
    with pytest.raises(ValueError, match="signal_ratio"):
        X.knob_advantage(frame)


def test_weak_modality_is_chosen_on_validation(rng):
    frame = _mechanism_frame(rng)
    # on test, make m0 Concat's worst modality: the choice must not move
    worse = (frame["split"] == "test") & (frame["modality"] == "m0")
    frame.loc[worse, "value"] = 0.05
    assert X.knob_weak_modality(frame) == "m1"


def test_mechanism_table_judges_the_lift_and_its_growth(rng):
    table = X.mechanism_table(_mechanism_frame(rng), profile="synthetic")
    verdict = dict(zip(table["id"], table["verdict"], strict=True))
    assert verdict["mla.synthetic.weak_lift"] == "holds"
    assert verdict["mla.synthetic.lift_grows"] == "holds"
    assert verdict["mla.synthetic.fused_vs_concat"] != "holds"  # pure noise, same mean
    assert (table["paper_verdict"] == "not tabulated").all()
    assert (table["weak_modality"] == "m1").all()
    assert (table["signal_ratio_imbalanced"] == 0.25).all()
    no_lift = X.mechanism_table(_mechanism_frame(rng, lift=0.0), profile="synthetic")
    assert "holds" not in set(no_lift.loc[no_lift["id"] == "mla.synthetic.weak_lift", "verdict"])


def test_knob_table_rows_run_from_balanced_to_imbalanced(rng):
    table = X.knob_table(_mechanism_frame(rng), modalities=("multi", "m1"))
    assert list(table.columns) == list(METHODS)
    assert [k[0] for k in table.index] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert all(re.fullmatch(r"\d+\.\d ± \d+\.\d", c) for c in table.to_numpy().ravel())


def test_advantage_plot_draws_the_differences_with_a_zero_line(rng):
    adv = X.knob_advantage(_mechanism_frame(rng))
    axes = plotting.advantage_plot(adv, **X.advantage_plot_args())
    fig = axes[0].figure
    try:
        assert len(axes) == 2
        assert [ax.get_title() for ax in axes] == ["fused (multi)", "modality m1 alone"]
        assert not overlapping_texts(fig)
        ax = axes[1]
        assert any(
            np.allclose(line.get_ydata(), 0.0) for line in ax.get_lines() if len(line.get_ydata())
        )
        want = adv[(adv["modality"] == "m1") & (adv["comparison"] == "MLA − Concat")]
        drawn = ax.containers[0].lines[0]
        y = np.asarray(drawn.get_ydata(), dtype=float)
        order = np.argsort(np.asarray(drawn.get_xdata(), dtype=float))
        np.testing.assert_allclose(
            y[order], 100 * want.sort_values("signal_ratio")["mean"].to_numpy()
        )
        assert ax.xaxis_inverted()
    finally:
        plt.close(fig)
    with pytest.raises(ValueError, match=r"lacks columns \['se'\]"):
        plotting.advantage_plot(adv.drop(columns="se"), **X.advantage_plot_args())


# ----------------------------------------------------------------------------- diagnoses


def _cpu_frame(rng: np.random.Generator) -> pd.DataFrame:
    """Table 1 and an Adam ablation on one dataset: QMF is ahead of MLA by 0.02 in every seed
    (fails), the weak modality is lifted, and the gaps are noise."""
    rows = []
    fused = {"Concat": 0.90, "Late Fusion": 0.91, "QMF": 0.93, "MLA": 0.91}
    for seed in range(3):
        for method, acc in fused.items():
            for split in ("validation", "test"):
                values = {
                    ("normal", "multi"): acc + 0.001 * rng.standard_normal(),
                    ("single_modality", "a"): 0.88,
                    ("single_modality", "b"): 0.3 if method == "Concat" else 0.6,
                }
                for (condition, modality), value in values.items():
                    rows.append(
                        {
                            "experiment": "table1", "method": method, "dataset": "toy",
                            "split": split, "condition": condition, "modality": modality,
                            "metric": "accuracy", "seed": seed, "value": value,
                            "optimizer": "adam", "run_id": f"{method}-{seed}",
                        }
                    )  # fmt: skip
            rows.append(
                {
                    "experiment": "table1", "method": method, "dataset": "toy", "split": "test",
                    "condition": "modality_gap", "modality": "", "metric": "modality_gap",
                    "seed": seed, "value": 0.5 + 0.05 * rng.standard_normal(),
                    "optimizer": "adam", "run_id": f"{method}-{seed}",
                }
            )  # fmt: skip
        for label in X.ABLATION.values():
            for split in ("validation", "test"):
                rows.append(
                    {
                        "experiment": "ablation", "method": label, "dataset": "toy",
                        "split": split, "condition": "ablation", "modality": "multi",
                        "metric": "accuracy", "seed": seed, "value": 0.9, "optimizer": "adam",
                        "run_id": f"{label}-{seed}",
                    }
                )  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["level"] = ""
    frame["missing_rate"] = 0.0
    return frame


def _evidence(results: pd.DataFrame, improving: set[str] = frozenset()) -> Evidence:
    table = X.paper_table(results, profile="cpu")
    runs = results.drop_duplicates("run_id")
    conv = [
        {
            "run_id": r.run_id, "method": r.method, "dataset": r.dataset, "seed": r.seed,
            "best_epoch": 5, "max_epochs": 30, "still_improving": r.method in improving,
        }
        for r in runs.itertuples()
    ]  # fmt: skip
    return Evidence("mla", "cpu", None, results, table, {"convergence": conv})


def test_diagnose_names_a_kind_and_computes_its_numbers(rng):
    results = _cpu_frame(rng)
    ev = _evidence(results)
    out = X.diagnose(ev)
    table = ev.table
    not_holding = table[table["verdict"] != "holds"]
    assert set(out) == {("toy", i) for i in not_holding["id"]}
    assert all(kind in DIAGNOSIS_KINDS for kind, _ in out.values())
    assert out[("toy", "mla.ablation_best")][0] == "implementation"
    assert "adam in 12 of 12 runs" in out[("toy", "mla.ablation_best")][1]
    kind, text = out[("toy", "mla.best_multimodal")]
    assert kind == "data"  # converged runs, QMF ahead in every seed
    test = results[(results["split"] == "test") & (results["modality"] == "multi")]
    d = paired_differences(test[test["condition"] == "normal"], "MLA", "QMF")
    assert f"QMF is ahead by {100 * -d.mean():.1f}" in text
    fused = test[test["condition"] == "normal"].groupby("method")["value"].mean()
    assert f"within {100 * (fused.max() - fused.min()):.1f} points" in text
    assert "b) over Concat by 30.0" in text  # the weak modality's lift, 0.6 - 0.3
    assert "0 of 12 runs" in text
    # the same claim with most of its runs still improving is a budget question
    budget = X.diagnose(_evidence(results, improving={"MLA", "QMF", "Concat", "Late Fusion"}))
    assert budget[("toy", "mla.best_multimodal")][0] == "budget"
    # and the evidence helper uses it
    diag = ev.diagnoses()
    assert set(diag["kind"]) <= set(DIAGNOSIS_KINDS)
    assert diag.set_index("id").loc["mla.best_multimodal", "text"] == text


def test_diagnose_covers_every_committed_cpu_claim_that_does_not_hold():
    ev = committed("mla", "cpu")
    if ev is None:
        pytest.skip("results/mla/cpu is not committed")
    out = X.diagnose(ev)
    ids = {c.id for c in X.CLAIMS}
    rows = ev.table[(ev.table["verdict"] != "holds") & ev.table["id"].isin(ids)]
    assert {(str(r.dataset), str(r.id)) for r in rows.itertuples()} == set(out)
    for kind, text in out.values():
        assert kind in DIAGNOSIS_KINDS and text.endswith(".")
    for r in rows.itertuples():
        kind, text = out[(str(r.dataset), str(r.id))]
        if str(r.workbench).startswith("skipped"):
            assert kind == "implementation"
        elif r.verdict == "not clearly":
            assert kind in ("spread", "budget")


def test_mechanism_diagnoses_recompute_at_the_claims_knob_value(rng):
    results = _mechanism_frame(rng)
    table = X.mechanism_table(results, profile="synthetic")
    conv = [
        {"run_id": rid, "still_improving": False} for rid in results["run_id"].drop_duplicates()
    ]
    ev = Evidence("mla", "synthetic", None, results, table, {"convergence": conv})
    out = X.diagnose(ev)
    not_holding = set(table.loc[table["verdict"] != "holds", "id"])
    assert "mla.synthetic.fused_vs_concat" in not_holding
    assert {i for _, i in out} == not_holding
    kind, text = out[("synthetic", "mla.synthetic.fused_vs_concat")]
    assert kind in ("spread", "data")
    at = results[(results["signal_ratio"] == 0.25) & (results["split"] == "test")]
    alone = at[at["method"] == "Late Fusion"].groupby("modality")["value"].mean()
    assert f"m1 alone reaches {100 * alone['m1']:.1f}%" in text
    assert f"m0 alone {100 * alone['m0']:.1f}%" in text
    assert "0 of 8 runs" in text  # MLA and Concat at the strongest imbalance, 4 seeds


# ----------------------------------------------------------------------------- second design

SHARES = (0.0, 0.3, 0.6)


def _complementary_frame(rng: np.random.Generator, *, gain: float = 0.06) -> pd.DataFrame:
    """Tidy rows shaped like the synthetic_complementary profile's (signal_ratio fixed at 0.25):
    Concat neglects m1 at every share; its fused accuracy falls behind MLA's and Late Fusion's
    by ``gain * share / 0.6`` (none with every label redundant); MLA and Late Fusion tie."""
    rows = []
    for share in SHARES:
        for seed in range(4):
            for method in METHODS:
                for split in ("validation", "test"):
                    fused = 0.73 - (gain * share / 0.6 if method == "Concat" else 0.0)
                    values = {
                        "multi": fused + 0.004 * rng.standard_normal(),
                        "m0": 0.7 - 0.4 * share + 0.005 * rng.standard_normal(),
                        "m1": (0.30 if method == "Concat" else 0.36)
                        + 0.005 * rng.standard_normal(),
                    }
                    for modality, value in values.items():
                        rows.append(
                            {
                                "experiment": "table1", "method": method,
                                "dataset": "synthetic", "split": split,
                                "condition": "normal" if modality == "multi" else "single_modality",
                                "modality": modality, "metric": "accuracy", "seed": seed,
                                "value": value, "signal_ratio": 0.25, "unique_share": share,
                                "run_id": f"{method}-{share}-{seed}",
                            }
                        )  # fmt: skip
    return pd.DataFrame(rows)


def test_unique_share_sets_the_routes_of_the_weak_modality():
    opts = X._with_unique_share("synthetic", {"noise": 2.0}, 0.6)
    assert opts == {"noise": 2.0, "redundancy": pytest.approx(0.4), "uniqueness": [0.0, 0.6]}
    assert X._with_unique_share("mfeat", {"views": ["fac"]}, None) == {"views": ["fac"]}
    both = X._synthetic_options("synthetic", {"n_samples": 90}, 0.25, 0.6)
    assert both["signal"] == [1.0, 0.25] and both["uniqueness"] == [0.0, 0.6]
    with pytest.raises(ValueError, match="uniqueness knob"):
        X._with_unique_share("mfeat", None, 0.5)
    with pytest.raises(ValueError, match=r"must lie in \[0, 1\]"):
        X._with_unique_share("synthetic", None, 1.5)
    with pytest.raises(ValueError, match="sets the synthetic routes itself"):
        X._with_unique_share("synthetic", {"redundancy": 0.5}, 0.3)
    with pytest.raises(ValueError, match="uniqueness knob"):
        X.fit_point(experiment="table1", method="Concat", seed=0, dataset="mfeat", unique_share=0.5)


def test_unique_share_zero_draws_the_first_designs_data_and_a_large_share_routes_to_m1():
    base = {"n_samples": 300, "dims": [8, 8], "noise": 2.0}
    plain = X.load_data("synthetic", options=X._synthetic_options("synthetic", base, 0.25, None))
    zero = X.load_data("synthetic", options=X._synthetic_options("synthetic", base, 0.25, 0.0))
    for split in ("train", "test"):
        for m in ("m0", "m1"):
            assert torch.equal(plain[split].inputs[m], zero[split].inputs[m])
        assert torch.equal(plain[split].y, zero[split].y)
    large = X.load_data("synthetic", options=X._synthetic_options("synthetic", base, 0.25, 0.6))
    route = torch.cat([large[s].meta["route"] for s in ("train", "validation", "test")])
    assert set(route.tolist()) == {0, 2}  # redundant or unique to m1, never unique to m0
    assert (route == 2).float().mean().item() == pytest.approx(0.6, abs=0.08)


def test_complementary_profile_fixes_the_imbalance_and_moves_the_unique_share():
    first = load_profile("mla", "synthetic")
    prof = load_profile("mla", "synthetic_complementary")
    axes, first_axes = prof.grid.axes, first.grid.axes
    assert len(axes["signal_ratio"]) == 1
    ratio = axes["signal_ratio"][0]
    # strongly imbalanced, a ratio of the first design's grid
    assert ratio in first_axes["signal_ratio"] and ratio <= 0.35
    shares = sorted(axes["unique_share"])
    assert shares[0] == 0.0 and shares[-1] >= 0.5 and len(shares) >= 3
    assert len(axes["seed"]) >= 3
    same = set(first_axes) - {"signal_ratio"}
    assert {k: axes[k] for k in same} == {k: first_axes[k] for k in same}  # methods, data, budget
    assert prof.paper_table.endswith("mla:mechanism_table") and prof.committed
    assert "synthetic_complementary" in COMMITTED_PROFILES
    assert str(prof.default_results).endswith("results/mla/synthetic_complementary")
    assert len(prof.grid) == len(shares) * len(axes["method"]) * len(axes["seed"])


def test_knob_of_picks_the_design_and_orders_from_redundant_to_unique(rng):
    frame = _complementary_frame(rng)
    assert X.knob_of(frame) == X.UNIQUE_KNOB
    assert X.knob_of(_mechanism_frame(rng)) == X.KNOB
    assert X.knob_weak_modality(frame) == "m1"
    adv = X.knob_advantage(frame)
    assert X.UNIQUE_KNOB in adv.columns
    assert list(adv[adv["comparison"] == "MLA − Concat"]["unique_share"].unique()) == list(SHARES)
    test = frame[(frame["split"] == "test") & (frame["unique_share"] == 0.6)]
    d = paired_differences(test[test["modality"] == "multi"], "MLA", "Concat")
    row = adv[
        (adv["comparison"] == "MLA − Concat")
        & (adv["modality"] == "multi")
        & (adv["unique_share"] == 0.6)
    ].iloc[0]
    assert row["mean"] == pytest.approx(d.mean()) and row["se"] == pytest.approx(d.std(ddof=1) / 2)
    table = X.knob_table(frame, modalities=("multi", "m1"))
    assert [k[0] for k in table.index] == [0.0, 0.0, 0.3, 0.3, 0.6, 0.6]
    with pytest.raises(ValueError, match="No mechanism design moves 'seed'"):
        X.knob_advantage(frame, along="seed")
    with pytest.raises(ValueError, match="synthetic_complementary"):
        X.knob_advantage(frame.drop(columns="unique_share"), along=X.UNIQUE_KNOB)


def test_complementary_table_judges_the_fused_advantage_at_the_unique_end(rng):
    table = X.mechanism_table(_complementary_frame(rng), profile="synthetic_complementary")
    verdict = dict(zip(table["id"], table["verdict"], strict=True))
    pre = "mla.synthetic_complementary."
    assert set(verdict) == {
        pre + c
        for c in (
            "fused_vs_concat",
            "fused_gain_grows",
            "late_fusion_vs_concat",
            "fused_vs_late_fusion",
            "weak_lift",
        )
    }
    assert verdict[pre + "fused_vs_concat"] == "holds"
    assert verdict[pre + "fused_gain_grows"] == "holds"
    assert verdict[pre + "late_fusion_vs_concat"] == "holds"
    assert verdict[pre + "fused_vs_late_fusion"] != "holds"  # built as a tie
    assert verdict[pre + "weak_lift"] == "holds"
    assert (table["unique_share_unique"] == 0.6).all()
    assert (table["unique_share_redundant"] == 0.0).all()
    assert (table["weak_modality"] == "m1").all()
    flat = X.mechanism_table(_complementary_frame(rng, gain=0.0), profile="synthetic_complementary")
    flat_verdict = dict(zip(flat["id"], flat["verdict"], strict=True))
    assert flat_verdict[pre + "fused_vs_concat"] != "holds"
    assert flat_verdict[pre + "fused_gain_grows"] != "holds"
    # the first design's table is unchanged by the parameterisation
    first = X.mechanism_table(_mechanism_frame(rng), profile="synthetic")
    assert set(first["id"]) == {
        "mla.synthetic.weak_lift",
        "mla.synthetic.lift_grows",
        "mla.synthetic.fused_vs_concat",
        "mla.synthetic.fused_vs_late_fusion",
    }
    assert {"signal_ratio_imbalanced", "signal_ratio_balanced"} <= set(first.columns)


def test_knob_summary_computes_its_numbers_at_the_mechanism_end(rng):
    frame = _complementary_frame(rng)
    text = X.knob_summary(frame)
    adv = X.knob_advantage(frame)
    at = adv[adv["unique_share"] == 0.6].set_index(["comparison", "modality"])
    assert text.startswith("At unique_share = 0.6 (unique end; weak modality m1")
    for (comp, mod), r in at.iterrows():
        name = "fused" if mod == "multi" else f"{mod} alone"
        assert f"{name} {100 * r['mean']:+.1f} ± {100 * r['se']:.1f}" in text, (comp, mod)
    assert "n=4 seeds" in text
    first = X.knob_summary(_mechanism_frame(rng))
    assert first.startswith("At signal_ratio = 0.25 (imbalanced end; weak modality m1")


def test_advantage_plot_runs_the_unique_share_left_to_right(rng):
    adv = X.knob_advantage(_complementary_frame(rng))
    axes = plotting.advantage_plot(adv, **X.advantage_plot_args(X.UNIQUE_KNOB))
    fig = axes[0].figure
    try:
        assert not overlapping_texts(fig)
        ax = axes[0]
        assert not ax.xaxis_inverted()
        want = adv[(adv["modality"] == "multi") & (adv["comparison"] == "MLA − Concat")]
        drawn = ax.containers[0].lines[0]
        order = np.argsort(np.asarray(drawn.get_xdata(), dtype=float))
        np.testing.assert_allclose(
            np.asarray(drawn.get_ydata(), dtype=float)[order],
            100 * want.sort_values("unique_share")["mean"].to_numpy(),
        )
    finally:
        plt.close(fig)


def test_complementary_diagnoses_recompute_at_the_unique_end(rng):
    results = _complementary_frame(rng)
    table = X.mechanism_table(results, profile="synthetic_complementary")
    conv = [
        {"run_id": rid, "still_improving": False} for rid in results["run_id"].drop_duplicates()
    ]
    ev = Evidence("mla", "synthetic_complementary", None, results, table, {"convergence": conv})
    out = X.diagnose(ev)
    not_holding = set(table.loc[table["verdict"] != "holds", "id"])
    assert "mla.synthetic_complementary.fused_vs_late_fusion" in not_holding
    assert {i for _, i in out} == not_holding
    kind, text = out[("synthetic", "mla.synthetic_complementary.fused_vs_late_fusion")]
    assert kind in ("spread", "data")
    at = results[(results["unique_share"] == 0.6) & (results["split"] == "test")]
    alone = at[at["method"] == "Late Fusion"].groupby("modality")["value"].mean()
    assert "at unique_share = 0.6" in text
    assert f"m1 alone reaches {100 * alone['m1']:.1f}%" in text
    assert "0 of 8 runs" in text  # MLA and Late Fusion at the largest share, 4 seeds


def test_committed_complementary_results_match_their_design():
    ev = committed("mla", "synthetic_complementary")
    if ev is None:
        pytest.skip("results/mla/synthetic_complementary is not committed")
    prof = load_profile("mla", "synthetic_complementary")
    assert ev.provenance["points"]["finished"] == len(prof.grid)
    shares = sorted(set(ev.results["unique_share"].dropna()))
    assert shares == sorted(prof.grid.axes["unique_share"])
    weak = X.knob_weak_modality(ev.results)
    ids = {c.id for c in X.mechanism_claims(weak, shares[-1], shares[0], along=X.UNIQUE_KNOB)}
    assert set(ev.table["id"]) == ids
    # the table is what the claims engine says of the committed rows
    again = X.mechanism_table(ev.results, profile="synthetic_complementary")
    assert list(again["verdict"]) == list(ev.table["verdict"])
    out = X.diagnose(ev)
    assert {i for _, i in out} == set(ev.table.loc[ev.table["verdict"] != "holds", "id"])
    assert all(kind in DIAGNOSIS_KINDS for kind, _ in out.values())


def test_complementary_zero_share_reproduces_the_first_designs_point():
    """With no unique share the data, seeds and training are the first design's at the same
    ratio, so every accuracy must come out the same (MLA retrains: it is never cached)."""
    first, second = committed("mla", "synthetic"), committed("mla", "synthetic_complementary")
    if first is None or second is None:
        pytest.skip("results/mla/synthetic or results/mla/synthetic_complementary not committed")
    ratio = load_profile("mla", "synthetic_complementary").grid.axes["signal_ratio"][0]
    keys = ["method", "split", "condition", "modality", "metric", "seed"]
    a = first.results[first.results["signal_ratio"] == ratio].set_index(keys)["value"]
    b = second.results[second.results["unique_share"] == 0.0].set_index(keys)["value"]
    assert len(a) == len(b) > 0
    pd.testing.assert_series_equal(a.sort_index(), b.sort_index(), check_exact=False, rtol=1e-9)
