"""OTM evidence: the synthetic mechanism profile (shared latent structure of unaligned views),
its advantage table and figure, and ``otm.diagnose`` on a committed-run-shaped fixture."""

from __future__ import annotations

import inspect
import json
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from figure_checks import overlapping_texts, texts_outside  # noqa: E402

from workbench import plotting  # noqa: E402
from workbench.data.synthetic import make_synthetic  # noqa: E402
from workbench.experiments import load_profile, otm  # noqa: E402
from workbench.experiments.evidence import DIAGNOSIS_KINDS, committed  # noqa: E402

# ----------------------------------------------------------------------------- the knob


def test_shared_structure_options_set_the_routes_of_the_generator():
    full = make_synthetic(**otm.shared_structure_options(1.0, seed=3))
    none = make_synthetic(**otm.shared_structure_options(0.0, seed=3))
    half = make_synthetic(**otm.shared_structure_options(0.5, seed=3))
    route = {k: torch.cat([s.meta["route"] for s in d.values()]) for k, d in
             (("full", full), ("none", none), ("half", half))}  # fmt: skip
    assert (route["full"] == 0).all()  # every sample redundant: both views see y
    assert (route["none"] == 1).all()  # every sample unique to the first view
    share = float((route["half"] == 0).float().mean())
    assert 0.4 < share < 0.6


def test_shared_structure_options_reject_a_share_outside_0_1_and_a_single_view():
    with pytest.raises(ValueError, match=r"shared=1.5; expected a share in \[0, 1\]"):
        otm.shared_structure_options(1.5)
    with pytest.raises(ValueError, match="needs >= 2 views"):
        otm.shared_structure_options(0.5, n_modalities=1)


def test_the_second_view_clusters_with_y_only_when_structure_is_shared():
    """The knob does what it says on the raw data: k-means on the second view alone recovers
    y when it is shared and is near chance when it is not."""
    from workbench.methods.clustering import kmeans_concat

    scores = {}
    for shared in (0.0, 1.0):
        views, y, k = otm.full_views(
            "synthetic", n_samples=300, **otm.shared_structure_options(shared, seed=0)
        )
        labels = kmeans_concat({"m1": views["m1"]}, k, seed=0)
        scores[shared] = otm.clustering_scores(y, labels)["nmi"]
    assert scores[1.0] > 0.3 > 0.1 > scores[0.0]


# ----------------------------------------------------------------------------- the point


TINY = dict(latent_dim=4, hidden_dim=8, max_epochs=1, batch_size=40, barycenter_iters=1,
            fgw_iters=2, cluster_iters=2, device="cpu", threads=1)  # fmt: skip


def test_mechanism_point_runs_the_three_methods_with_the_knob_as_a_column():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = otm.run_point("mechanism", shared=0.75, seed=1, n_samples=80, **TINY)
    assert set(frame["part"]) == {"mechanism"}
    assert set(frame["shared"]) == {0.75}
    assert set(frame["method"]) == set(otm.MECHANISM_METHODS)
    main = frame[(frame["method"] == "MWAE+OTM") & (frame["role"] == "main")]
    assert set(main["cluster_on"]) == {"fused"}  # the paper's unaligned protocol
    assert set(frame[frame["role"] == "side"]["cluster_on"]) == {"concat"}
    assert frame["value"].between(-1, 1).all()


def test_synthetic_profile_crosses_the_knob_with_three_seeds_and_its_own_table():
    prof = load_profile("otm", "synthetic")
    points = list(prof.grid)
    assert sorted({p["shared"] for p in points}) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert len({p["seed"] for p in points}) >= 3
    assert {p["part"] for p in points} == {"mechanism"}
    assert prof.paper_table == "workbench.experiments.otm:mechanism_table"
    assert prof.committed
    for point in points:  # every point binds to mechanism_point and its setup to clustering_setup
        p = dict(point)
        assert p.pop("part") == "mechanism"
        bound = inspect.signature(otm.mechanism_point).bind(**p)
        inspect.signature(otm.clustering_setup).bind(**bound.arguments.get("setup", {}))


# ----------------------------------------------------------------------------- advantage + claims


def _mechanism_rows(gain: dict[float, list[float]]) -> pd.DataFrame:
    """Mechanism rows: MWAE scores 0.5 + 0.01·seed, MWAE+OTM that plus ``gain[shared][seed]``
    (fused codes), k-means 0.6, OTM's concatenated codes 0.55."""
    rows = []
    for shared, gains in gain.items():
        for seed, g in enumerate(gains):
            base = 0.5 + 0.01 * seed
            for method, on, role, value in (
                ("MWAE", "concat", "main", base),
                ("MWAE+OTM", "fused", "main", base + g),
                ("MWAE+OTM", "concat", "side", 0.55),
                ("k-means", "concat", "main", 0.6),
            ):
                for metric in ("hungarian_accuracy", "purity"):
                    rows.append(dict(part="mechanism", dataset="synthetic", setting="unaligned",
                                     method=method, seed=seed, cluster_on=on, role=role,
                                     metric=metric, value=value, shared=shared))  # fmt: skip
    return pd.DataFrame(rows)


GAINS = {0.0: [-0.02, -0.03, -0.025], 0.5: [0.01, -0.01, 0.0], 1.0: [0.10, 0.12, 0.11]}


def test_mechanism_advantage_is_the_paired_difference_per_seed():
    adv = otm.mechanism_advantage(_mechanism_rows(GAINS))
    row = adv[(adv["shared"] == 1.0) & (adv["comparison"] == "MWAE+OTM (fused codes) − MWAE")]
    assert len(row) == 1
    d = np.array(GAINS[1.0])
    assert row["mean"].item() == pytest.approx(d.mean())
    assert row["se"].item() == pytest.approx(d.std(ddof=1) / np.sqrt(3))
    assert row["n"].item() == 3
    side = adv[(adv["shared"] == 0.0) & (adv["comparison"] == "MWAE+OTM (concat codes) − k-means")]
    assert side["mean"].item() == pytest.approx(0.55 - 0.6)
    assert side["se"].item() == pytest.approx(0.0, abs=1e-12)
    assert list(adv["shared"]) == sorted(adv["shared"])


def test_mechanism_table_holds_where_shared_and_fails_where_not():
    table = otm.mechanism_table(_mechanism_rows(GAINS), profile="synthetic")
    v = dict(zip(table["id"], table["verdict"]))
    assert v["otm.mechanism.vs_mwae.shared1"] == "holds"
    assert v["otm.mechanism.vs_mwae.shared0"] == "fails"
    assert v["otm.mechanism.vs_mwae.shared0.5"] == "not clearly"
    assert set(table["dataset"]) == {"synthetic"} and set(table["profile"]) == {"synthetic"}
    assert len(table) == 2 * len(GAINS)


def test_mechanism_tables_say_how_to_get_rows_when_there_are_none():
    with pytest.raises(ValueError, match="--profile synthetic"):
        otm.mechanism_advantage(pd.DataFrame({"part": ["clustering"], "value": [0.1]}))


def test_mechanism_figure_has_a_zero_line_error_bars_and_no_overlapping_text():
    adv = otm.mechanism_advantage(_mechanism_rows(GAINS))
    (ax,) = plotting.advantage_plot(adv, **otm.ADVANTAGE_PLOT)
    fig = ax.figure
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    assert any(np.allclose(line.get_ydata(), 0.0) for line in ax.get_lines())
    assert len(ax.containers) == adv["comparison"].nunique()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert "MWAE+OTM (fused codes) − MWAE" in labels
    assert "2 SE over 3 seeds" in fig.get_suptitle()
    plt.close(fig)
    with pytest.raises(ValueError, match="lacks columns"):
        plotting.advantage_plot(adv.drop(columns="se"), **otm.ADVANTAGE_PLOT)


# ----------------------------------------------------------------------------- diagnose

SEEDS = (0, 1, 2)


def _clustering_rows() -> list[dict]:
    """mfeat: MWAE (aligned) trails MCCA; the unaligned OTM's fused codes are far below its
    concatenated codes. nutrimouse: OTM's fused ≈ concat codes, GWMAC clearly ahead."""
    purity = {
        ("mfeat", "aligned"): {"MCCA": 0.80, "MWAE": 0.70, "MWAE+OTM": 0.71, "GWMAC-style": 0.5,
                               "MWAE+OTM(WB)": 0.70},
        ("mfeat", "unaligned"): {"MCCA": 0.30, "MWAE": 0.70, "MWAE+OTM": 0.40,
                                 "GWMAC-style": 0.5, "MWAE+OTM(WB)": 0.41},
        ("nutrimouse", "aligned"): {"MCCA": 0.60, "MWAE": 0.65, "MWAE+OTM": 0.66,
                                    "GWMAC-style": 0.7, "MWAE+OTM(WB)": 0.65},
        ("nutrimouse", "unaligned"): {"MCCA": 0.40, "MWAE": 0.62, "MWAE+OTM": 0.62,
                                      "GWMAC-style": 0.75, "MWAE+OTM(WB)": 0.62},
    }  # fmt: skip
    concat_side = {"mfeat": 0.72, "nutrimouse": 0.625}
    rows = []
    for (ds, setting), methods in purity.items():
        for method, value in methods.items():
            for seed in SEEDS:
                jitter = 0.004 * (seed - 1) * (1 if method == "MWAE+OTM" else -1)
                on = otm.paper_cluster_on(method, setting)
                common = dict(part="clustering", dataset=ds, setting=setting, method=method,
                              seed=seed, metric="purity", latent_dim=16, max_epochs=40,
                              barycenter_iters=3, fgw_iters=10,
                              fused_points=500 if ds == "mfeat" and setting == "unaligned"
                              else np.nan)  # fmt: skip
                rows.append({**common, "cluster_on": on, "role": "main", "value": value + jitter})
                if method.startswith("MWAE"):
                    side = concat_side[ds] if setting == "unaligned" else value
                    rows.append({**common, "cluster_on": "concat", "role": "side",
                                 "value": side + jitter})  # fmt: skip
    return rows


def _supervised_rows() -> list[dict]:
    """av_digits: late fusion + OTM ≈ late fusion (its runs still improving); tensor fusion +
    OTM clearly worse (converged), with single-modality probes 0.91 (audio) and 0.97 (image)."""
    rows = []
    for fusion, delta in (("late", 0.001), ("tensor", -0.03)):
        label = otm.FUSION_LABELS[fusion]
        for with_otm in (False, True):
            method = label + (" + OTM" if with_otm else "")
            for seed in SEEDS:
                d = (delta + 0.004 * (seed - 1)) if with_otm else 0.0
                common = dict(part="supervised", dataset="av_digits", fusion=fusion,
                              method=method, otm=with_otm, seed=seed, metric="accuracy",
                              best_epoch=29 if fusion == "late" else 8, max_epochs=30,
                              stopped_early=fusion != "late",
                              run_id=f"{fusion}{int(with_otm)}{seed}")  # fmt: skip
                rows.append({**common, "split": "test", "condition": "normal", "modality": "",
                             "energy_ratio": 0.0, "value": 0.95 + d})  # fmt: skip
                for split in ("test", "validation"):
                    for modality, v in (("audio", 0.91), ("image", 0.97)):
                        rows.append({**common, "split": split, "condition": "single_modality",
                                     "modality": modality, "energy_ratio": 0.0,
                                     "value": v + d})  # fmt: skip
                rows.append({**common, "split": "test", "condition": "noise", "modality": "multi",
                             "energy_ratio": 0.2, "value": 0.9 + d})  # fmt: skip
    return rows


def _alignment_rows() -> list[dict]:
    rows = []
    for alpha in (0.0, 1.0):
        for seed in SEEDS:
            for metric, value in (("same_class_mass", 0.12 + 0.002 * seed), ("chance", 0.10)):
                rows.append(dict(part="alignment", dataset="mfeat", method="MWAE+OTM", seed=seed,
                                 alpha=alpha, modality_a="fou", modality_b="kar",
                                 metric=metric, value=value))  # fmt: skip
    return rows


@pytest.fixture
def committed_run(tmp_path):
    """``<tmp>/otm/cpu/{results.csv, paper_table.csv, provenance.json}`` like a committed run,
    the table from the real claims engine, the provenance's convergence from the results."""
    from workbench.experiments import convergence

    results = pd.DataFrame(_clustering_rows() + _supervised_rows() + _alignment_rows())
    folder = tmp_path / "otm" / "cpu"
    folder.mkdir(parents=True)
    results.to_csv(folder / "results.csv", index=False)
    otm.paper_table(results, profile="cpu").to_csv(folder / "paper_table.csv", index=False)
    conv = convergence(results)
    provenance = {"paper": "otm", "profile": "cpu", "points": {"total": 30, "finished": 30},
                  "wall_time_s": 1.0, "convergence": conv.to_dict(orient="records")}  # fmt: skip
    (folder / "provenance.json").write_text(json.dumps(provenance, default=str))
    return committed("otm", "cpu", root=tmp_path)


def test_diagnose_covers_every_claim_that_does_not_hold_with_a_known_kind(committed_run):
    ev = committed_run
    out = otm.diagnose(ev)
    judged = ev.table[(ev.table["verdict"] != "holds") & ev.table["diff_mean"].notna()]
    assert set(out) == set(judged["id"])
    assert {kind for kind, _ in out.values()} <= set(DIAGNOSIS_KINDS)
    table = ev.diagnoses()  # the Evidence uses them over the generic ones
    by_id = dict(zip(table["id"], table["kind"]))
    assert all(by_id[cid] == kind for cid, (kind, _) in out.items())


def _mean(results, **where) -> float:
    df = results
    for k, v in where.items():
        df = df[df[k] == v]
    return float(df.groupby("seed")["value"].mean().mean())


def test_diagnose_names_the_fused_code_protocol_with_numbers_from_the_results(committed_run):
    ev = committed_run
    out = otm.diagnose(ev)
    kind, text = out["otm.mixer_vs_mwae.mfeat"]
    r = ev.results
    kw = dict(dataset="mfeat", method="MWAE+OTM", setting="unaligned", metric="purity")
    fused, side = _mean(r, role="main", **kw), _mean(r, role="side", **kw)
    assert f"{side:.3f}" in text and f"{fused:.3f}" in text
    assert "500 fused codes" in text and "3 outer x 10 FGW" in text
    # The fixture's plans put 0.12-0.124 on same-class pairs against 0.10 by chance: the
    # barycenter matches no class across views, the data's limit, said with the probe's numbers.
    align = r[(r["part"] == "alignment") & (r["dataset"] == "mfeat")]
    mass = align.loc[align["metric"] == "same_class_mass", "value"].mean()
    assert kind == "data" and f"put {mass:.3f} of their mass" in text and "(chance 0.100)" in text
    # Plans that do match classes leave the protocol to blame.
    from types import SimpleNamespace

    matched = r.copy()
    matched.loc[
        (matched["part"] == "alignment") & (matched["metric"] == "same_class_mass"), "value"
    ] = 0.6
    kind, text = otm.diagnose(SimpleNamespace(table=ev.table, results=matched, provenance={}))[
        "otm.mixer_vs_mwae.mfeat"
    ]
    assert kind == "implementation" and "the loss is in clustering the fused codes" in text


def test_diagnose_blames_the_backbone_when_mwae_alone_trails_mcca(committed_run):
    kind, text = otm.diagnose(committed_run)["otm.t2.aligned_vs_mcca.mfeat"]
    r = committed_run.results
    kw = dict(dataset="mfeat", setting="aligned", metric="purity", role="main")
    assert kind == "implementation"
    assert f"{_mean(r, method='MWAE', **kw):.3f}" in text
    assert f"{_mean(r, method='MCCA', **kw):.3f}" in text
    assert "latent_dim=16, 40 label-free epochs" in text


def test_diagnose_budget_spread_and_data_from_provenance_and_probes(committed_run):
    ev = committed_run
    out = otm.diagnose(ev)
    kind, text = out["otm.t3.late.av_digits"]
    conv = pd.DataFrame(ev.provenance["convergence"])
    late = conv[conv["method"].isin(["Late fusion", "Late fusion + OTM"])]
    assert kind == "budget"
    assert f"{int(late['still_improving'].sum())} of the {len(late)} runs" in text
    kind, text = out["otm.t3.tensor.av_digits"]
    assert kind == "data"
    row = ev.table.set_index("id").loc["otm.t3.tensor.av_digits"]
    assert f"{-row['diff_mean']:.3f} ± {row['diff_se']:.3f}" in text
    assert "0.910 (audio)" in text and "0.970 (image)" in text
    kind, text = out["otm.plans_above_chance.mfeat.alpha1"]
    assert kind == "data"
    mass = ev.results.query("part == 'alignment' and alpha == 1.0 and metric == 'same_class_mass'")
    assert f"{mass['value'].mean():.3f}" in text and "0.100 by chance" in text
    kind, text = out["otm.t2.unaligned_vs_gwmac.nutrimouse"]
    assert kind == "data" and "no alignment probe on nutrimouse" in text


def test_diagnose_says_what_it_needs():
    with pytest.raises(ValueError, match=r"\.table .*\.results"):
        otm.diagnose(object())


def test_diagnose_of_the_committed_runs_when_present():
    """The real committed folders, when the lead has written them."""
    for profile in ("cpu", "synthetic"):
        ev = committed("otm", profile)
        if ev is None:
            continue
        out = otm.diagnose(ev)
        assert {k for k, _ in out.values()} <= set(DIAGNOSIS_KINDS)
        judged = ev.table[(ev.table["verdict"] != "holds") & ev.table["diff_mean"].notna()]
        assert set(out) == set(judged["id"])


def test_paper_table_names_the_dataset_and_diagnose_reads_tables_without_it(committed_run):
    from types import SimpleNamespace

    ev = committed_run
    assert list(ev.table.columns)[0] == "dataset"
    assert set(ev.table["dataset"]) == {"mfeat", "nutrimouse", "av_digits"}
    older = SimpleNamespace(
        table=ev.table.drop(columns="dataset"), results=ev.results, provenance=ev.provenance
    )
    assert otm.diagnose(older) == otm.diagnose(ev)


def test_diagnose_of_mechanism_claims_reads_the_gap_along_the_knob():
    from types import SimpleNamespace

    rows = _mechanism_rows(GAINS)
    table = otm.mechanism_table(rows, profile="synthetic")
    out = otm.diagnose(SimpleNamespace(table=table, results=rows, provenance={}))
    verdicts = dict(zip(table["id"], table["verdict"]))
    assert set(out) == {cid for cid, v in verdicts.items() if v != "holds"}
    assert out["otm.mechanism.vs_mwae.shared0"][0] == "data"
    assert out["otm.mechanism.vs_mwae.shared0.5"][0] == "spread"
    kind, text = out["otm.mechanism.vs_kmeans.shared0.5"]
    assert kind == "implementation"
    adv = otm.mechanism_advantage(rows)
    fused = adv[(adv["baseline"] == "k-means") & (adv["cluster_on"] == "fused")]
    lo, hi = fused.iloc[0]["mean"], fused.iloc[-1]["mean"]
    assert f"goes from {lo:+.3f} (shared=0) to {hi:+.3f} (shared=1)" in text
    assert "None" not in text and "the mixer does not turn it into a gain" in text
