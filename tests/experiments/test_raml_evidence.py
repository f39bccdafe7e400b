"""RAML's evidence: the synthetic mechanism profile (redundancy knob), its advantage frame and
figure, and the diagnoses of the committed cpu claims that do not hold."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from figure_checks import overlapping_texts  # noqa: E402

from workbench import plotting  # noqa: E402
from workbench.data import load_splits  # noqa: E402
from workbench.experiments import load_profile  # noqa: E402
from workbench.experiments import raml as X  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
KINDS = {"budget", "spread", "data", "implementation"}


# ----------------------------------------------------------------------------- synthetic data
@pytest.mark.parametrize("rho", [0.0, 1.0])
def test_synthetic_options_set_the_routes_of_the_generator(rho):
    opts = X.synthetic_options(rho, n_samples=600, seed=3)
    assert opts["redundancy"] == rho and opts["uniqueness"] == pytest.approx((1 - rho) / 2)
    route = load_splits("synthetic", **opts)["train"].meta["route"]
    redundant = float((route == 0).float().mean())
    assert redundant == pytest.approx(rho, abs=0.06)


def test_synthetic_options_reject_a_share_outside_0_1():
    with pytest.raises(ValueError, match=r"redundancy=1.5.*\[0, 1\]"):
        X.synthetic_options(1.5)


def test_run_synthetic_point_rows():
    df = X.run_synthetic_point(
        method="RAML", seed=0, redundancy=0.5, sigmas=(0.5, 2.0), n_samples=200,
        embed_dim=8, hidden_dim=16, max_epochs=2, patience=None, device="cpu", cache=False,
    )  # fmt: skip
    assert set(df["grid"]) == {"pattern", "noise"}
    noise = df[df["grid"] == "noise"]
    assert sorted(noise["level"]) == [0.5, 2.0] and set(noise["modality"]) == {"m0"}
    patterns = df[df["grid"] == "pattern"]
    assert set(patterns["modality"]) == {"{m0}", "{m1}", "{m0,m1}", "average"}
    assert (df["redundancy"] == 0.5).all() and (df["max_epochs"] == 2).all()
    assert df["value"].between(0, 1).all()
    with pytest.raises(ValueError, match="noisy='m9'"):
        X.run_synthetic_point(
            method="RAML", seed=0, redundancy=0.5, noisy="m9", n_samples=200, embed_dim=8,
            hidden_dim=16, max_epochs=1, device="cpu", cache=False,
        )  # fmt: skip


def test_the_synthetic_profile_is_data():
    prof = load_profile("raml", "synthetic")
    assert prof.committed and prof.function.endswith(":run_synthetic_point")
    assert prof.paper_table.endswith(":synthetic_table")
    assert prof.grid.axes["redundancy"][0] == 0.0 and prof.grid.axes["redundancy"][-1] == 1.0
    points = list(prof.grid)
    assert {p["method"] for p in points} >= {"RAML", "Concat Fusion"}
    assert len({p["seed"] for p in points}) >= 3


# ----------------------------------------------------------------------------- advantage
def _fake(rng, gains):
    """Rows of two methods whose per-seed difference under noise is ``gains[rho]`` + noise."""
    rows = []
    for rho, gain in gains.items():
        for seed in range(3):
            base = float(rng.uniform(0.5, 0.8))
            jitter = float(rng.normal(0, 0.01))
            for method, value in (("RAML", base + gain + jitter), ("Concat Fusion", base)):
                common = dict(dataset="synthetic", method=method, seed=seed, redundancy=rho,
                          metric="accuracy")  # fmt: skip
                rows.append({**common, "grid": "noise", "modality": "m0", "level": 1.0,
                             "available": np.nan, "value": value})  # fmt: skip
                for label, n, v in (("{m0}", 1, value), ("{m1}", 1, value - 0.1),
                                    ("{m0,m1}", 2, base), ("average", np.nan, value)):  # fmt: skip
                    rows.append({**common, "grid": "pattern", "modality": label, "level": 1.0,
                                 "available": n, "value": v})  # fmt: skip
    return pd.DataFrame(rows)


def test_advantage_is_the_paired_difference_per_knob_value(rng):
    gains = {0.0: 0.0, 0.5: 0.02, 1.0: 0.05}
    df = _fake(rng, gains)
    adv = X.advantage(df)
    assert set(adv["test"]) == {"complete", "one modality missing", "m0 noisy (σ=1)"}
    noisy = adv[adv["test"] == "m0 noisy (σ=1)"].set_index("value")
    for rho, gain in gains.items():
        assert noisy.loc[rho, "mean"] == pytest.approx(gain, abs=0.03)
        assert noisy.loc[rho, "n"] == 3
    per_seed = df[(df.grid == "noise") & (df.redundancy == 1.0)].pivot(
        index="seed", columns="method", values="value"
    )
    d = per_seed["RAML"] - per_seed["Concat Fusion"]
    assert noisy.loc[1.0, "mean"] == pytest.approx(d.mean())
    assert noisy.loc[1.0, "se"] == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    complete = adv[adv["test"] == "complete"]
    assert np.allclose(complete["mean"], 0.0)
    with pytest.raises(ValueError, match="'MMVAE'"):
        X.advantage(df, baseline="MMVAE")
    with pytest.raises(ValueError, match="redundancy"):
        X.advantage(df.drop(columns="redundancy"))


def test_advantage_plot_draws_a_panel_per_baseline_and_a_readable_figure(rng):
    df = _fake(rng, {0.0: 0.0, 0.25: 0.01, 0.5: 0.02, 0.75: 0.03, 1.0: 0.05})
    df = pd.concat([df, df[df["method"] == "Concat Fusion"].assign(method="Identical")])
    adv = X.advantage(df, baseline=["Concat Fusion", "Identical"])
    assert list(dict.fromkeys(adv["baseline"])) == ["Concat Fusion", "Identical"]
    axes = plotting.advantage_plot(adv, **X.ADVANTAGE_PLOT, xlabel="redundancy ρ")
    assert [ax.get_title() for ax in axes] == ["vs Concat Fusion", "vs Identical"]
    fig = axes[0].figure
    assert len(fig.legends[0].get_texts()) == adv["test"].nunique()
    assert any(np.allclose(line.get_ydata(), 0.0) for line in axes[0].get_lines())
    noisy = adv[(adv["baseline"] == "Concat Fusion") & (adv["test"] == "m0 noisy (σ=1)")]
    bars = axes[0].containers[list(dict.fromkeys(adv["test"])).index("m0 noisy (σ=1)")]
    np.testing.assert_allclose(bars.lines[0].get_ydata(), 100 * noisy["mean"])  # points
    assert not overlapping_texts(fig)
    plt.close(fig)
    with pytest.raises(ValueError, match="advantage_plot"):
        plotting.advantage_plot(adv.drop(columns="se"), **X.ADVANTAGE_PLOT)
    with pytest.raises(ValueError, match="need as many axes"):
        plotting.advantage_plot(adv, **X.ADVANTAGE_PLOT, axes=[plt.subplots()[1]])
    plt.close("all")


def test_synthetic_table_checks_the_mechanism_at_full_redundancy(rng):
    df = _fake(rng, {0.0: 0.0, 1.0: 0.05})
    table = X.synthetic_table(df, profile="synthetic")
    row = table.set_index("id").loc["raml.synthetic.noise_vs_concat"]
    assert row["verdict"] == "holds" and row["paper_verdict"] == "not tabulated"
    assert row["diff_mean"] == pytest.approx(0.05, abs=0.02)


# ----------------------------------------------------------------------------- diagnoses
def _evidence(still_improving: bool, gap: float, headroom: float = 0.2, spread: float = 0.004):
    """A tiny Evidence-like object: two claims that do not hold (Table V adaptive vs identical;
    Table IV full-modality), RAML ``gap`` behind Identical, values ``1 - headroom``."""
    rows, conv = [], []
    for i, method in enumerate(["RAML", "Identical", "RAML (full-modality)", "Concat Fusion"]):
        for seed in range(3):
            v = 1 - headroom - (gap if method == "RAML" else 0.0) + spread * (seed - 1) * (i % 2)
            common = dict(dataset="toy", method=method, seed=seed, metric="wa", table="I",
                          condition="missing_pattern", role="main")  # fmt: skip
            rows.append({**common, "modality": "average", "complete": False, "value": v})
            rows.append({**common, "modality": "{I,A}", "complete": True, "value": v})
            conv.append(dict(run_id=f"{method}{seed}", method=method, dataset="toy", seed=seed,
                             best_epoch=38 if still_improving else 12, max_epochs=40,
                             still_improving=still_improving))  # fmt: skip
    table = pd.DataFrame(
        [
            dict(dataset="toy", id="raml.adaptive_vs_identical", verdict="fails",
                 paper_evidence="Adaptive (RAML) − Identical: mean +0.0194 over 1 cells"),
            dict(dataset="toy", id="raml.full_modality", verdict="not clearly",
                 paper_evidence="RAML − Concat Fusion: mean +0.0753 over 1 cells"),
            dict(dataset="toy", id="raml.single_modality", verdict="holds", paper_evidence=""),
        ]
    )  # fmt: skip
    return types.SimpleNamespace(
        results=pd.DataFrame(rows), table=table, provenance={"convergence": conv}
    )


def _numbers(text: str) -> list[float]:
    return [float(x) for x in re.findall(r"[+-]?\d+\.\d+", text)]


def test_diagnose_budget_when_the_runs_still_improve():
    out = X.diagnose(_evidence(still_improving=True, gap=0.03))
    assert set(out) == {"raml.adaptive_vs_identical", "raml.full_modality"}
    kind, text = out["raml.adaptive_vs_identical"]
    assert kind == "budget"
    assert "6 of 6 runs" in text and "RAML 3/3, Identical 3/3" in text and "40-epoch" in text
    assert -3.0 in _numbers(text)  # the gap in points, from the data


def test_diagnose_data_when_converged_and_reversed_or_at_the_ceiling():
    out = X.diagnose(_evidence(still_improving=False, gap=0.03))
    kind, text = out["raml.adaptive_vs_identical"]
    assert (
        kind == "data" and "-3.00" in text and "6 of 6 runs of RAML and Identical converged" in text
    )
    # a ceiling: headroom 0.5 points is below the paper's 7.53-point gap
    out = X.diagnose(_evidence(still_improving=False, gap=0.03, headroom=0.005))
    kind, text = out["raml.full_modality"]
    assert kind == "data" and "0.50 points of headroom" in text and "7.53" in text
    assert "99.50%" in text


def test_diagnose_spread_gives_the_seeds_needed():
    ev = _evidence(still_improving=False, gap=0.0015, spread=0.004)
    ev.table.loc[0, "verdict"] = "not clearly"
    kind, text = X.diagnose(ev)["raml.adaptive_vs_identical"]
    assert kind == "spread" and "within 2 SE" in text
    d = np.array([-0.0015 - 0.004 * (s - 1) for s in range(3)])  # RAML - Identical per seed
    se = d.std(ddof=1) / np.sqrt(3)
    needed = int(np.ceil(3 * (2 * se / abs(d.mean())) ** 2))
    assert f"about {needed} seeds" in text


def test_diagnose_covers_every_committed_cpu_claim_that_does_not_hold():
    base = ROOT / "results" / "raml" / "cpu"
    if not (base / "paper_table.csv").is_file():
        pytest.skip("results/raml/cpu is not committed in this checkout")
    ev = types.SimpleNamespace(
        results=pd.read_csv(base / "results.csv"),
        table=pd.read_csv(base / "paper_table.csv"),
        provenance=json.loads((base / "provenance.json").read_text()),
    )
    out = X.diagnose(ev)
    assert set(out) == set(ev.table.loc[ev.table["verdict"] != "holds", "id"])
    assert {kind for kind, _ in out.values()} <= KINDS
    # under noise, the blocking competitor and its gap come from the committed table
    row = ev.table.set_index("id").loc["raml.best_under_noise"]
    kind, text = out["raml.best_under_noise"]
    assert "MMVAE" in text and f"{100 * row['diff_mean']:+.2f}" in text


def test_synthetic_weights_probe_gives_a_weight_per_modality_and_level():
    from workbench.experiments import Profile
    from workbench.sweep import Grid

    grid = Grid.coerce(
        {"redundancy": [0.0, 1.0], "seed": [0], "n_samples": 200, "dims": [[8, 6]],
         "sigmas": [[1.0]], "embed_dim": 8, "hidden_dim": 8, "max_epochs": 1,
         "patience": None, "device": "cpu"}
    )  # fmt: skip
    prof = Profile("raml", "tiny", "workbench.experiments.raml:run_synthetic_point",
                   Grid(grid.axes, [{"method": "RAML"}]))  # fmt: skip
    w = X.synthetic_weights(prof, (1.0,))
    assert list(w.columns) == ["redundancy", "sigma", "m0", "m1"]
    assert sorted(w["sigma"]) == [0.0, 1.0] and (w["redundancy"] == 1.0).all()
    assert np.allclose(w[["m0", "m1"]].sum(axis=1), 1.0, atol=1e-5)  # ω sums to 1 over modalities
    with pytest.raises(ValueError, match="redundancy=0.5"):
        X.synthetic_weights(prof, (0.5,))
