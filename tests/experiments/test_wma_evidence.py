"""WMA evidence (issue 18): the synthetic noise knob (test cases, advantage, claims, figure) and
``diagnose()`` of the committed cpu results, on fixture folders shaped like a committed run."""

import json
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from workbench.experiments import convergence, load_profile
from workbench.experiments import wma as W
from workbench.experiments.evidence import DIAGNOSIS_KINDS, committed
from workbench.methods.wma import WMAConfig
from workbench.plotting import advantage_plot

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from figure_checks import overlapping_texts  # noqa: E402

POINTS = [(0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (1.0, 2.0)]


def _rows(score, cases, *, seeds=(0, 1, 2), best_epoch=2, max_epochs=12, ot_error=1e-3):
    """Rows shaped like ``run_point``'s: ``score(regime, beta, case, seed) -> (test, val)``."""
    rows = []
    for alpha, beta in POINTS:
        regime = W.regime_of(alpha, beta)
        for seed in seeds:
            run_id = f"r{alpha:g}_{beta:g}_{seed}"
            for case in cases:
                parts = case.split("/")
                test, val = score(regime, beta, case, seed)
                rows.append(
                    {
                        "method": regime, "dataset": "easy_vqa", "case": case,
                        "condition": parts[0], "modality": parts[1] if len(parts) > 1 else "",
                        "level": float(parts[2]) if len(parts) > 2 else (
                            0.0 if parts[0] == "normal" else 3.0
                        ),
                        "metric": "accuracy", "seed": seed, "value": test, "alpha": alpha,
                        "beta": beta, "regime": regime, "val_score": val,
                        "val_metric": "accuracy", "lr": 0.001, "best_epoch": best_epoch,
                        "max_epochs": max_epochs, "variant": "paper",
                        "ot_marginal_error": np.nan if alpha == 0 else ot_error,
                        "backbone": "transformer", "run_id": run_id,
                    }
                )  # fmt: skip
    return pd.DataFrame(rows)


TABLE1 = ["normal", "noise/text", "noise/image", "missing/text", "missing/image"]


def _committed(tmp_path, results, profile="cpu"):
    """A folder shaped like ``results/wma/<profile>`` (results.csv, paper_table.csv,
    provenance.json written as ``reproduce`` writes them) and its :class:`Evidence`."""
    folder = tmp_path / "results" / "wma" / profile
    folder.mkdir(parents=True)
    table = (W.mechanism_table if profile == "synthetic" else W.paper_table)(
        results, profile=profile
    )
    results.to_csv(folder / "results.csv", index=False)
    table.to_csv(folder / "paper_table.csv", index=False)
    conv = convergence(results)
    prov = {
        "paper": "wma", "profile": profile, "git_commit": "abc1234", "date": "2026-12-02T00:00:00Z",
        "points": {"total": 12, "finished": 12}, "wall_time_s": 60.0,
        "runs_still_improving": int(conv["still_improving"].sum()),
        "runs_with_epochs": len(conv), "convergence": conv.to_dict(orient="records"),
    }  # fmt: skip
    (folder / "provenance.json").write_text(json.dumps(prov, default=str))
    return committed("wma", profile, root=tmp_path / "results")


def _converged_scores(regime, beta, case, seed):
    """WMA ties the baseline on clean data (seed noise), noise does not hurt anybody, and
    missing text costs WMA clearly more than the baseline and minimize OT."""
    jitter = 0.004 * ((seed * 7 + len(case)) % 3 - 1)
    test = 0.80 + jitter
    if case.startswith("missing"):
        test -= 0.20 if regime == "WMA" else 0.05
    if regime == "WMA":
        test += 0.001 * (seed - 1)
    val = 0.7 + (0.05 if beta == 2.0 else 0.0)
    return test, val


def test_diagnose_converged_run_gives_data_and_spread_with_computed_numbers(tmp_path):
    ev = _committed(tmp_path, _rows(_converged_scores, TABLE1, best_epoch=3, max_epochs=12))
    table = ev.table.set_index("id")
    got = W.diagnose(ev)
    assert set(k[1] for k in got) == set(table.index[table["verdict"] != "holds"])
    kinds = {cid: kind for (_, cid), (kind, _) in got.items()}
    assert kinds["wma.beats_baseline.noise"] == "data"  # noise does not hurt the baseline
    assert kinds["wma.beats_minimize_ot.noise"] == "data"
    assert kinds["wma.beats_baseline.missing"] == "data"  # converged, reversed
    assert table.loc["wma.beats_baseline.missing", "verdict"] == "fails"
    assert kinds["wma.beats_baseline.normal"] == "spread"
    for (_, cid), (kind, text) in got.items():
        assert kind in DIAGNOSIS_KINDS
        # the paired difference in the text is the claims engine's, computed from the results
        assert f"{table.loc[cid, 'diff_mean']:+.3g}" in text, (cid, text)
        assert "alpha=1, beta=2" in text  # the cell selected on validation
    missing = got[("easy_vqa", "wma.beats_baseline.missing")][1]
    assert "6 of 6 runs had converged" in missing and "baseline is ahead" in missing
    noise = got[("easy_vqa", "wma.beats_baseline.noise")][1]
    rows = ev.results[(ev.results["regime"] == "baseline")]
    clean = rows[rows["condition"] == "normal"]["value"].mean()
    assert f"clean {clean:.3g}" in noise
    # the Evidence uses the paper's diagnosis over the generic one
    diag = ev.diagnoses().set_index("id")
    assert diag.loc["wma.beats_baseline.noise", "text"] == noise


def test_diagnose_budget_and_implementation(tmp_path):
    late = _rows(_converged_scores, TABLE1, best_epoch=4, max_epochs=4)
    ev = _committed(tmp_path, late)
    got = W.diagnose(ev)
    assert got and {kind for kind, _ in got.values()} == {"budget"}
    text = got[("easy_vqa", "wma.beats_baseline.missing")][1]
    assert "6 of 6 runs" in text and "4-epoch budget" in text
    bad = _rows(_converged_scores, TABLE1, best_epoch=4, max_epochs=4, ot_error=0.05)
    ev = _committed(tmp_path / "bad", bad)
    got = W.diagnose(ev)
    assert {kind for kind, _ in got.values()} == {"implementation"}
    text = got[("easy_vqa", "wma.beats_minimize_ot.normal")][1]
    assert "0.05 > ot_tol" in text and f"{WMAConfig().ot_tol:g}" in text


def test_diagnose_leaves_other_ids_and_empty_tables_alone(tmp_path):
    class Empty:
        results = pd.DataFrame()
        table = pd.DataFrame()
        provenance: dict = {}

    assert W.diagnose(Empty()) == {}
    table = pd.DataFrame({"id": ["other.claim"], "verdict": ["fails"], "dataset": ["x"]})
    ev = Empty()
    ev.results, ev.table = _rows(_converged_scores, TABLE1), table
    assert W.diagnose(ev) == {}  # an id it does not know: the generic diagnosis


def test_diagnose_knob_claims_say_what_each_regime_loses(tmp_path):
    ev = _committed(tmp_path, _sweep_rows(), profile="synthetic")
    table = ev.table.set_index("id")
    got = W.diagnose(ev)
    assert {cid for _, cid in got} == set(table.index[table["verdict"] != "holds"])
    clean = got[("synthetic", "wma.synthetic.beats_baseline.clean")]
    assert clean[0] == "spread" and "on the clean test set" in clean[1]
    for (_, cid), (kind, text) in got.items():
        assert kind in DIAGNOSIS_KINDS and f"{table.loc[cid, 'diff_mean']:+.3g}" in text
    noisy = [(cid, text) for (_, cid), (_, text) in got.items() if ".a" in cid]
    assert noisy and (table[table["amplitude"] == 12.0]["verdict"] == "holds").all()
    for cid, text in noisy:  # the loss from clean to noisy, per regime, from the fixture
        a = float(table.loc[cid, "amplitude"])
        other = "baseline" if "baseline" in cid else "minimize OT"
        slope = {"baseline": 0.03, "minimize OT": 0.02}[other]
        assert f"WMA loses {0.01 * a:.3g}" in text and f"{other} {slope * a:.3g}" in text
    assert set(ev.diagnoses()["kind"]) <= set(DIAGNOSIS_KINDS)


def test_diagnose_leaves_a_partial_run_without_wma_to_the_generic_text(tmp_path):
    partial = _rows(_converged_scores, TABLE1)
    partial = partial[partial["regime"] != "WMA"]  # the WMA points have not finished yet
    ev = _committed(tmp_path, partial)
    assert W.diagnose(ev) == {}
    diag = ev.diagnoses()
    assert len(diag) == 6 and set(diag["kind"]) == {"implementation"}
    assert diag["text"].str.contains("WMA not run").all()


def test_diagnose_on_the_committed_cpu_run_when_present():
    ev = committed("wma", "cpu")
    if ev is None:
        pytest.skip("results/wma/cpu is not committed yet")
    got = W.diagnose(ev)
    failing = ev.table[(ev.table["verdict"] != "holds") & (ev.table["n_seeds"] > 0)]
    assert len(got) == len(failing)
    for _, r in failing.iterrows():
        kind, text = got[(str(r["dataset"]), str(r["id"]))]
        assert kind in DIAGNOSIS_KINDS and f"{r['diff_mean']:+.3g}" in text


# ------------------------------------------------------------------ the synthetic noise knob

AMPLITUDES = (0.5, 3.0, 12.0)
JITTER = 0.02  # WMA's seed spread: small amplitudes stay within 2 SE, large ones do not
SWEEP = ["normal"] + [f"noise/{m}/{a:g}" for m in ("m0", "m1") for a in AMPLITUDES]


def _sweep_scores(regime, beta, case, seed):
    """WMA loses less accuracy per unit of noise than the baseline; minimize OT in between."""
    amplitude = float(case.split("/")[2]) if case != "normal" else 0.0
    slope = {"baseline": 0.03, "minimize OT": 0.02, "WMA": 0.01}[regime]
    test = 0.9 - slope * amplitude + JITTER * (seed - 1) * (regime == "WMA")
    return test, 0.8 + 0.01 * beta


def _sweep_rows():
    return _rows(_sweep_scores, SWEEP).assign(dataset="synthetic")


def test_noise_sweep_conditions_and_errors():
    conds = W.noise_sweep_conditions(("m0", "m1"), (0.5, 3), noisy=["m1"])
    assert list(conds) == ["normal", "noise/m1/0.5", "noise/m1/3"]
    assert conds["noise/m1/3"][0].amplitude == 3.0 and conds["noise/m1/3"][0].level == "embedding"
    with pytest.raises(ValueError, match="amplitude must be > 0"):
        W.noise_sweep_conditions(("m0",), (0.0, 1.0))
    with pytest.raises(ValueError, match="not among"):
        W.noise_sweep_conditions(("m0",), (1.0,), noisy=["text"])


def test_noise_advantage_pairs_seeds_on_the_selected_points():
    adv = W.noise_advantage(_sweep_rows())
    assert set(adv["against"]) == {"baseline", "minimize OT"}
    assert sorted(adv["amplitude"].unique()) == [0.0, *AMPLITUDES]
    one = adv[(adv["against"] == "baseline") & (adv["noisy"] == "m1") & (adv["amplitude"] == 12)]
    assert len(one) == 3
    np.testing.assert_allclose(one["difference"], (0.03 - 0.01) * 12 + JITTER * (one["seed"] - 1))
    assert set(adv[adv["amplitude"] == 0]["difference"].round(9)) == {-JITTER, 0.0, JITTER}
    summary = W.advantage_summary(adv)
    row = summary[(summary["against"] == "baseline") & (summary["noisy"] == "m0")]
    assert row["mean"].is_monotonic_increasing and (row["n"] == 3).all()
    np.testing.assert_allclose(row["se"], row["std"] / np.sqrt(3))
    with pytest.raises(ValueError, match="no 'noise' rows"):
        W.noise_advantage(_rows(_converged_scores, ["normal"]))


def test_mechanism_table_judges_every_amplitude():
    table = W.mechanism_table(_sweep_rows(), profile="synthetic")
    # 2 comparisons x (the clean test set + 2 noisy modalities x the amplitudes)
    assert len(table) == 2 * (1 + 2 * len(AMPLITUDES))
    assert (table[table["amplitude"] == 12.0]["verdict"] == "holds").all()
    clean = table[table["amplitude"] == 0.0]
    assert (clean["verdict"] == "not clearly").all() and (clean["noisy"] == "").all()
    assert not table.duplicated(["table", "noisy", "amplitude"]).any()
    assert set(table["profile"]) == {"synthetic"} and (table["beta"] == 2.0).all()
    assert table["id"].is_unique


def test_advantage_plot_draws_a_line_per_modality_without_overlaps():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    adv = W.noise_advantage(_sweep_rows())
    axes = advantage_plot(adv, **W.ADVANTAGE_PLOT)
    assert [ax.get_title() for ax in axes] == ["WMA − baseline", "WMA − minimize OT"]
    fig = axes[0].figure
    assert overlapping_texts(fig) == []
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["noise on m0", "noise on m1"]
    zero = [line for line in axes[0].get_lines() if set(line.get_ydata()) == {0.0}]
    assert zero  # the zero line
    drawn = axes[0].containers[0].lines[0].get_ydata()  # m0 vs the baseline: the seeds' mean
    np.testing.assert_allclose(drawn, [(0.03 - 0.01) * a for a in (0.0, *AMPLITUDES)], atol=1e-9)
    summary = W.advantage_summary(adv)  # the same numbers as the summary the notebook prints
    row = summary[(summary["against"] == "baseline") & (summary["noisy"] == "m0")]
    np.testing.assert_array_equal(drawn, row["mean"])
    plt.close(fig)
    with pytest.raises(ValueError, match="lacks columns"):
        advantage_plot(pd.DataFrame({"x": [1]}), **W.ADVANTAGE_PLOT)


def test_synthetic_profile_is_data_with_the_noise_knob():
    prof = load_profile("wma", "synthetic")
    assert prof.committed and prof.paper_table.endswith(":mechanism_table")
    consts = prof.constants()
    assert consts["dataset"] == "synthetic" and consts["conditions"] == "noise_sweep"
    assert consts["dataset_options"]["output"] == "tokens"
    amplitudes = consts["conditions_options"]["amplitudes"]
    assert amplitudes == sorted(amplitudes) and 3.0 in amplitudes  # through the paper's 3
    regimes = {W.regime_of(p["alpha"], p["beta"]) for p in prof.grid}
    assert regimes == {"baseline", "minimize OT", "WMA"}
    assert len(prof.grid.axes["seed"]) >= 3


def test_prepare_passes_conditions_options_and_names_bad_ones():
    from workbench.data.synthetic import make_synthetic

    splits = make_synthetic(60, output="tokens", seq_len=4, dims=(6, 5))
    setup = W.prepare(
        "synthetic", splits=splits, conditions="noise_sweep",
        conditions_options={"amplitudes": [1.0, 2.0], "noisy": ["m0"]},
        backbone_options={"d_model": 8, "n_heads": 2},
    )  # fmt: skip
    assert list(setup.conditions) == ["normal", "noise/m0/1", "noise/m0/2"]
    with pytest.raises(ValueError, match="do not fit"):
        W.prepare("synthetic", splits=splits, conditions="table1", conditions_options={"x": 1})
    with pytest.raises(ValueError, match="expected a mapping"):
        W.prepare("synthetic", splits=splits, conditions="noise_sweep", conditions_options=[1])


def test_texts_hold_no_typed_in_numbers():
    """Every number of a diagnosis is one of the fixture's computed values or a count."""
    ev_rows = _rows(_converged_scores, TABLE1, best_epoch=3, max_epochs=12)
    shifted = ev_rows.assign(value=ev_rows["value"] - 0.1)  # every score moves
    a = _texts(ev_rows)
    b = _texts(shifted)
    key = ("easy_vqa", "wma.beats_baseline.noise")
    assert re.findall(r"clean ([\d.]+)", a[key]) != re.findall(r"clean ([\d.]+)", b[key])


def _texts(results):
    class Ev:
        pass

    ev = Ev()
    ev.results, ev.table = results, W.paper_table(results, profile="cpu")
    ev.provenance, ev.convergence = {}, pd.DataFrame()
    return {k: v[1] for k, v in W.diagnose(ev).items()}
