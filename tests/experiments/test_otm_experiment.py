"""Tests of the OTM experiment (workbench.experiments.otm, configs/otm.yaml): label-free
training, the clustering and supervised protocols, the alignment diagnostic, the run points and
profiles, the claims table (synthetic data only, except the profile checks)."""

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from workbench.data.synthetic import make_synthetic
from workbench.experiments import load_profile
from workbench.experiments import otm as X
from workbench.experiments.otm import (
    ClusteringSetup,
    alignment_accuracy,
    clustering_scores,
    clustering_table,
    fit_clustering,
    run_clustering,
    single_modality_scores,
    unalign_views,
    views_of,
)
from workbench.methods.clustering import cluster_fused
from workbench.methods.otm import MWAE, OTMConfig, fused_codes
from workbench.methods.otm_fusions import FusionOTMConfig, OTMFusion
from workbench.util import ConvergenceWarning


def _blobs(generator, n_per=30, n_classes=3, dims=(6, 4, 5), sep=6.0):
    y = torch.arange(n_classes).repeat_interleave(n_per)
    views = {}
    for i, d in enumerate(dims):
        centers = torch.randn(n_classes, d, generator=generator) * sep
        views[f"v{i}"] = centers[y] + torch.randn(len(y), d, generator=generator)
    return views, y.numpy()


def _shared_latent(generator, n=300, dims=(8, 6, 5), k=2):
    s = torch.randn(n, k, generator=generator)
    return {
        f"v{i}": s @ torch.randn(k, d, generator=generator)
        + 0.1 * torch.randn(n, d, generator=generator)
        for i, d in enumerate(dims)
    }


def test_unaligned_training_never_pairs_rows(generator):
    n = 64
    ids = torch.arange(n, dtype=torch.float32)[:, None]
    views = {"a": torch.cat([ids, torch.randn(n, 3, generator=generator)], 1), "b": ids.clone()}
    batches = []
    for aligned in (True, False):
        model = MWAE({"a": 4, "b": 1}, OTMConfig(latent_dim=2, mixer="none"))
        original = model.loss_terms

        def spy(v, original=original, aligned=aligned):
            batches.append((aligned, v["a"][:, 0].clone(), v["b"][:, 0].clone()))
            return original(v)

        model.loss_terms = spy
        fit_clustering(model, views, max_epochs=2, batch_size=16, aligned=aligned, seed=3)
    paired = [float((a == b).float().mean()) for al, a, b in batches if al]
    unpaired = [float((a == b).float().mean()) for al, a, b in batches if not al]
    assert min(paired) == 1.0
    assert max(unpaired) < 0.3  # independent per-agent sampling: pairing only by chance


def test_unaligned_training_accepts_unequal_sizes(generator):
    views = {
        "a": torch.randn(30, 5, generator=generator),
        "b": torch.randn(21, 3, generator=generator),
    }
    model = MWAE({"a": 5, "b": 3}, OTMConfig(latent_dim=2, barycenter_iters=2))
    model, history = fit_clustering(model, views, max_epochs=2, batch_size=8, aligned=False)
    assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)
    with pytest.raises(ValueError, match="equal numbers of rows"):
        fit_clustering(model, views, max_epochs=1, aligned=True)


@pytest.mark.slow
@pytest.mark.parametrize("aligned", [True, False])
def test_clustering_pipeline_recovers_separated_clusters(aligned):
    splits = make_synthetic(400, dims=(20, 12), n_classes=3, noise=0.3, seed=1)
    train, test = views_of(splits["train"]), views_of(splits["test"])
    setup = ClusteringSetup(
        OTMConfig(latent_dim=8, hidden_dim=64, barycenter_iters=2), max_epochs=4, batch_size=64
    )
    res = run_clustering(
        "MWAE+OTM", train, test, splits["test"].y, 3, aligned=aligned, seed=0, setup=setup
    )
    assert res.scores["hungarian_accuracy"] > 0.9
    assert res.scores["nmi"] > 0.7


def test_clustering_scores_closed_forms():
    y = np.array([0, 0, 1, 1, 2, 2])
    perfect = clustering_scores(y, np.array([2, 2, 0, 0, 1, 1]))
    assert perfect == pytest.approx(
        {"purity": 1.0, "hungarian_accuracy": 1.0, "nmi": 1.0, "ari": 1.0}
    )
    one = clustering_scores(y, np.zeros(6, dtype=int))
    assert one["purity"] == pytest.approx(1 / 3) and one["hungarian_accuracy"] == pytest.approx(
        1 / 3
    )


@pytest.fixture(scope="module")
def small_splits():
    return make_synthetic(120, dims=(6, 5), n_classes=3, noise=0.3, seed=2)


def test_single_modality_scores(small_splits):
    model = OTMFusion.for_dataset(
        small_splits["train"], FusionOTMConfig(latent_dim=4, hidden_dim=8)
    )
    scores = single_modality_scores(model, small_splits["train"], small_splits["test"])
    assert set(scores) == {"m0", "m1"} and all(0.0 <= v <= 1.0 for v in scores.values())


def test_unalign_views_keeps_multisets_and_breaks_pairs(generator):
    views = {"a": torch.arange(50.0)[:, None], "b": torch.arange(50.0)[:, None]}
    out = unalign_views(views, seed=1)
    assert torch.equal(out["a"], views["a"])
    assert torch.equal(out["b"].sort(0).values, views["b"])
    assert float((out["a"] == out["b"]).float().mean()) < 0.2


def test_run_clustering_and_table(generator):
    views, y = _blobs(generator, n_per=10)
    rows = []
    for seed in (0, 1):
        res = run_clustering("MCCA", views, views, y, 3, aligned=True, seed=seed)
        rows += [
            dict(
                dataset="blobs", setting="aligned", method=res.method, seed=seed, metric=k, value=v
            )
            for k, v in res.scores.items()
        ]
    table = clustering_table(rows)
    assert list(table.columns) == ["purity", "hungarian_accuracy", "nmi", "ari"]
    assert " ± " in table.iloc[0, 0]
    with pytest.raises(ValueError, match="Unknown clustering method"):
        run_clustering("DEC", views, views, y, 3, aligned=True)


def test_experiment_runs_alignment_free_methods_once(monkeypatch):
    calls = []
    real = X.run_clustering

    def counting(method, *args, **kwargs):
        calls.append((method, kwargs["aligned"], kwargs["setup"].max_epochs))
        return real(method, *args, **kwargs)

    monkeypatch.setattr(X, "run_clustering", counting)
    small = OTMConfig(latent_dim=2, hidden_dim=8, barycenter_iters=1, fgw_iters=2)
    setups = {
        s: X.ClusteringSetup(small, max_epochs=e, batch_size=30)
        for s, e in (("aligned", 1), ("unaligned", 2))
    }
    df = X.clustering_experiment(
        "synthetic", methods=("k-means", "MWAE"), seeds=(0,), setup=setups, n_samples=60
    )
    # k-means never sees the training alignment: one run, rows repeated for both settings
    assert sorted(calls) == sorted([("k-means", True, 1), ("MWAE", True, 1), ("MWAE", False, 2)])
    km = df[df.method == "k-means"].pivot_table(index="metric", columns="setting", values="value")
    assert np.allclose(km["aligned"], km["unaligned"])
    assert set(df.setting) == {"aligned", "unaligned"}


def _isometric_copies(generator):
    """Three clusters of unequal sizes and spreads (no class-swapping isometry) and a copy of
    them rotated, shifted and with permuted rows: the second modality is an exact isometric copy
    of the first, in an unrelated coordinate system."""
    sizes = (8, 16, 24)
    centres = torch.tensor([[0.0, 0.0], [6.0, 0.0], [0.0, 14.0]], dtype=torch.float64)
    Z1 = torch.cat(
        [
            c + 0.5 * torch.randn(n, 2, generator=generator, dtype=torch.float64)
            for c, n in zip(centres, sizes)
        ]
    )
    y = np.repeat(np.arange(3), sizes)
    Q, _ = torch.linalg.qr(torch.randn(2, 2, generator=generator, dtype=torch.float64))
    perm = torch.randperm(len(y), generator=generator)
    return Z1, y, (Z1 @ Q)[perm] + 3.0, y[perm.numpy()]


def test_alignment_accuracy_pure_gw_recovers_isometric_copy(generator):
    from workbench.ot import fgw_barycenter

    Z1, y1, Z2, y2 = _isometric_copies(generator)
    labels = {"a": y1, "b": y2}
    acc = {}
    for alpha in (0.0, 1.0):
        res = fgw_barycenter(
            [Z1, Z2],
            len(y1),
            alpha=alpha,
            init="modality",
            generator=torch.Generator().manual_seed(1),
            n_outer=5,
            fgw_max_iter=50,
        )
        acc[alpha] = alignment_accuracy(dict(zip("ab", res.plans)), labels)
    chance = float(np.sum((np.bincount(y1) / len(y1)) ** 2))
    assert acc[0.0]["chance"].item() == pytest.approx(chance)
    # pure GW (alpha = 0) sees only the within-modality distances, which the copy preserves
    assert acc[0.0]["accuracy"].item() > 0.99
    # the feature term compares coordinates of unrelated spaces: it can only do worse
    assert acc[1.0]["accuracy"].item() < acc[0.0]["accuracy"].item()


def test_alignment_accuracy_closed_forms(generator):
    y = np.array([0, 0, 1, 1, 2, 2])
    identity = torch.eye(6, dtype=torch.float64) / 6
    independent = torch.full((6, 6), 1 / 36, dtype=torch.float64)
    out = alignment_accuracy({"a": identity, "b": identity, "c": independent}, y)
    assert list(zip(out.modality_a, out.modality_b)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert out["accuracy"].tolist() == pytest.approx([1.0, 1 / 3, 1 / 3])
    assert out["chance"].tolist() == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="labels for modality"):
        alignment_accuracy({"a": identity, "b": identity}, y[:5])
    with pytest.raises(ValueError, match="at least two"):
        alignment_accuracy({"a": identity}, y)


# ----------------------------------------------------------------------------- profiles and run points

TINY_MWAE = dict(
    latent_dim=2, hidden_dim=8, barycenter_iters=1, fgw_iters=2, max_epochs=1, batch_size=30
)


@pytest.mark.parametrize("profile", ["smoke", "cpu", "full"])
def test_profile_points_bind_to_their_part(profile):
    """Every point is a valid call of its part's run point, keyword by keyword (the clustering
    and alignment points' model and budget bind to clustering_setup)."""
    prof = load_profile("otm", profile)
    assert prof.description and "panel_points" in prof.settings
    parts = set()
    for point in prof.grid:
        p = dict(point)
        part = p.pop("part")
        parts.add(part)
        if part == "alignment":
            p.pop("alphas", None)
        fn = X.unaligned_model if part == "alignment" else X.part_function(part)
        bound = inspect.signature(fn).bind(**p)
        if part != "supervised":
            inspect.signature(X.clustering_setup).bind(**bound.arguments.get("setup", {}))
    assert parts == set(X.PARTS)


def test_smoke_profile_is_the_notebooks_former_smoke_run():
    """Same data, seeds and budgets as notebook 05's smoke profile before it became data."""
    points = list(load_profile("otm", "smoke").grid)
    clustering = [p for p in points if p["part"] == "clustering"]
    assert sorted({(p["dataset"], p["setting"], p["seed"]) for p in clustering}) == sorted(
        (d, s, k) for d in ("mfeat", "nutrimouse") for s in ("aligned", "unaligned") for k in (0, 1)
    )
    first = clustering[0]
    assert first["dataset_options"] == {"mfeat": {"views": ["fou", "kar", "zer"]}}
    assert first["n_samples"] == {"mfeat": 150} and first["threads"] == 1  # 200 until issue 20
    assert (first["latent_dim"], first["hidden_dim"], first["max_epochs"]) == (16, 64, 3)
    assert (first["barycenter_iters"], first["fgw_iters"], first["batch_size"]) == (2, 10, 80)
    (sup,) = [p for p in points if p["part"] == "supervised"]
    assert (sup["dataset"], sup["fusion"], sup["seed"], sup["otm_weight"]) == (
        "av_digits",
        "late",
        0,
        0.1,
    )
    assert (sup["max_epochs"], sup["batch_size"], sup["lr"], sup["tensor_dim"]) == (3, 64, 0.003, 4)
    assert sup["noise_levels"] == [0.0, 0.2, 0.5]


def test_run_points_are_tidy_and_deterministic():
    common = dict(dataset="synthetic", seed=0, device="cpu", threads=1, n_samples={"synthetic": 60})
    a = X.run_point(
        "clustering", setting="unaligned", methods=["k-means", "MWAE+OTM"], **common, **TINY_MWAE
    )
    b = X.run_point(
        "clustering", setting="unaligned", methods=["k-means", "MWAE+OTM"], **common, **TINY_MWAE
    )
    assert list(a.columns) == [
        "part", "dataset", "setting", "method", "seed", "cluster_on", "role", "metric", "value"
    ]  # fmt: skip
    pd.testing.assert_frame_equal(a, b)
    assert set(a["metric"]) == {"purity", "hungarian_accuracy", "nmi", "ari"}
    al = X.run_point("alignment", alphas=[0.0, 1.0], **common, **TINY_MWAE)
    assert set(al["metric"]) == {"same_class_mass", "chance"} and set(al["alpha"]) == {0.0, 1.0}
    assert (al["part"] == "alignment").all() and (al["method"] == "MWAE+OTM").all()
    with pytest.raises(ValueError, match="part"):
        X.run_point("nope", dataset="synthetic")


def test_supervised_point_has_validation_probe_rows():
    with pytest.warns(ConvergenceWarning, match="iteration cap"):  # 1 outer iteration: capped
        rows = X.run_point(
            "supervised", dataset="synthetic", fusion="late", seed=0, device="cpu", latent_dim=4,
            hidden_dim=8, barycenter_iters=1, fgw_iters=2, max_epochs=1, batch_size=64,
            noise_levels=[0.0, 0.2], cache=False,
        )  # fmt: skip
    assert set(rows["method"]) == {"Late fusion", "Late fusion + OTM"}
    single = rows[rows["condition"] == "single_modality"]
    assert set(single["split"]) == {"validation", "test"}
    assert set(rows.loc[rows["condition"] != "single_modality", "split"]) == {"test"}
    assert sorted(rows.loc[rows["condition"] == "noise", "energy_ratio"].unique()) == [0.0, 0.2]
    with pytest.raises(ValueError, match="n_samples"):
        X.supervised_point("synthetic", "late", n_samples={"synthetic": 10})


# ----------------------------------------------------------------------------- paper table


def _results(seeds=(0, 1, 2)):
    rng = np.random.default_rng(0)
    rows = []
    for seed in seeds:
        for setting in ("aligned", "unaligned"):
            for method, v in (("MCCA", 0.5), ("GWMAC-style", 0.3), ("MWAE", 0.55),
                              ("MWAE+OTM", 0.6), ("MWAE+OTM(WB)", 0.58)):  # fmt: skip
                rows.append(dict(part="clustering", dataset="mfeat", setting=setting, method=method,
                                 seed=seed, metric="purity", value=v + 0.001 * rng.standard_normal()))  # fmt: skip
        for otm in (False, True):
            method = "Late fusion + OTM" if otm else "Late fusion"
            common = dict(part="supervised", dataset="av_digits", fusion="late", method=method,
                          otm=otm, seed=seed, metric="accuracy")  # fmt: skip
            rows.append({**common, "split": "test", "condition": "normal", "modality": "",
                         "energy_ratio": 0.0, "value": 0.9 + 0.02 * otm})  # fmt: skip
            # validation: audio is the weak modality; test: image looks weaker (must not be used)
            for split, scores in (("validation", {"image": 0.9, "audio": 0.5}),
                                  ("test", {"image": 0.4, "audio": 0.6})):  # fmt: skip
                for m, v in scores.items():
                    rows.append({**common, "split": split, "condition": "single_modality",
                                 "modality": m, "energy_ratio": 0.0, "value": v + 0.05 * otm})  # fmt: skip
            rows.append({**common, "split": "test", "condition": "noise", "modality": "multi",
                         "energy_ratio": 0.2, "value": 0.8 - 0.01 * otm + 0.001 * seed})  # fmt: skip
        for alpha in (0.0, 1.0):
            for metric, v in (("same_class_mass", 0.1), ("chance", 0.1)):
                rows.append(dict(part="alignment", dataset="mfeat", method="MWAE+OTM", seed=seed,
                                 alpha=alpha, modality_a="a", modality_b="b", metric=metric, value=v))  # fmt: skip
    return pd.DataFrame(rows)


def test_paper_table_reads_reference_and_gives_three_valued_verdicts():
    table = X.paper_table(_results(), profile="test").set_index("id")
    assert table.loc["otm.t2.aligned_vs_mcca.mfeat", "verdict"] == "holds"
    # the paper side is computed from reference/otm.csv: 4 datasets of Table 2, all ahead
    assert "ahead in 4/4" in table.loc["otm.t2.aligned_vs_mcca.mfeat", "paper_evidence"]
    assert table.loc["otm.t2.aligned_vs_mcca.mfeat", "paper_verdict"] == "holds"
    # GWMAC beats MWAE+OTM on Prokaryotic in the paper (0.5479 vs 0.5438)
    assert table.loc["otm.t2.unaligned_vs_gwmac.mfeat", "paper_verdict"] == "not clearly"
    # unaligned vs aligned OTM: the paper loses 0.0284 on Caltech7, within the 0.05 margin
    gap = table.loc["otm.t2.unaligned_close_to_aligned.mfeat"]
    assert gap["verdict"] == "holds" and "over 4 cells" in gap["paper_evidence"]
    assert table.loc["otm.t10.masks_vs_wb.mfeat", "verdict"] == "holds"
    assert table.loc["otm.mixer_vs_mwae.mfeat", "paper_verdict"] == "not tabulated"
    assert table.loc["otm.t3.late.av_digits", "verdict"] == "holds"
    assert table.loc["otm.t5.late.av_digits", "verdict"] == "fails"
    assert table.loc["otm.plans_above_chance.mfeat.alpha0", "verdict"] == "fails"
    assert not any(i.startswith("otm.t3.tensor") for i in table.index)  # fusions not run: left out
    assert set(table["profile"]) == {"test"}


def test_weak_modality_is_chosen_on_validation_rows():
    claims = {c.id: c for c in X.claims_for(_results())}
    weak = claims["otm.t4.late.av_digits"]
    assert weak.where["modality"] == "audio" and weak.where["split"] == "test"
    # the paper's weakest modality comes from its own baseline row (Table 4, Late fusion)
    assert weak.reference["modality"] == "m3"


def test_single_seed_is_at_most_not_clearly():
    table = X.paper_table(_results(seeds=(0,)))
    assert set(table["verdict"]) == {"not clearly"}


def test_notebook_overrides_replace_the_main_dataset_and_shift_seeds():
    prof = load_profile("otm", "smoke")
    points = X._points(prof, dataset="synthetic", data_root="/data", device="cpu", seed=1)
    assert len(points) == len(prof.grid)
    assert {p["dataset"] for p in points} == {"synthetic", "nutrimouse", "av_digits"}
    assert {p["data_root"] for p in points if p["dataset"] == "synthetic"} == {"/data"}
    assert {p["data_root"] for p in points if p["dataset"] != "synthetic"} == {None}
    assert {p["device"] for p in points} == {"cpu"}
    assert sorted({p["seed"] for p in points if p["part"] == "clustering"}) == [1, 2]
    # the main dataset replaced by another of the profile's: equal points run once
    merged = X._points(prof, dataset="nutrimouse", data_root=None, device=None, seed=0)
    assert len(merged) == len(prof.grid) - 4


# ----------------------------------------------------------------------------- fidelity (issue 16)


@pytest.mark.parametrize("profile", ["cpu", "full"])
def test_profiles_run_eq_4_to_6_with_table6_alpha_in_paper_convention(profile):
    """Items 1-2: the paper profiles' clustering points use Eq. 4-6 (GW cluster regulariser on,
    weight 1; no MMD) and appendix Table 6's alpha converted to the paper's convention."""
    table6 = {"aligned": 0.0953, "unaligned": 0.8579}  # Caltech7 (authors' convention)
    for point in load_profile("otm", profile).grid:
        if point["part"] != "clustering":
            continue
        keys = inspect.signature(X.clustering_setup).parameters
        config = X.clustering_setup(**{k: v for k, v in point.items() if k in keys}).config
        assert config.variant == "paper" and config.mmd_weight == 0.0
        assert config.cluster_weight == 1.0
        assert config.fgw_alpha == pytest.approx(1 - table6[point["setting"]])
    ref = X.clustering_setup(
        alpha=0.0953, alpha_convention="reference_code", variant="reference_code"
    )
    assert ref.config.alpha == pytest.approx(0.0953) and ref.config.fgw_alpha == pytest.approx(
        0.9047
    )


def test_train_mwae_sets_the_c_of_eq_6(generator):
    views, _ = _blobs(generator, n_per=8)
    setup = ClusteringSetup(OTMConfig(latent_dim=2, hidden_dim=8, barycenter_iters=1), max_epochs=1)
    with pytest.warns(ConvergenceWarning):
        model, history = X.train_mwae("MWAE+OTM", views, aligned=True, setup=setup, n_clusters=3)
    assert model.config.n_clusters == 3 and model.config.clusters_fused
    assert "gw_cluster" in history[-1] and "barycenter_converged" in history[-1]


def test_fit_clustering_warns_when_the_barycenter_is_capped(generator):
    """Item 5: ``converged`` is in the history and a capped run warns."""
    views = {
        "a": torch.randn(20, 4, generator=generator),
        "b": torch.randn(20, 3, generator=generator),
    }
    model = MWAE({"a": 4, "b": 3}, OTMConfig(latent_dim=2, barycenter_iters=1))
    with pytest.warns(ConvergenceWarning, match="barycenter_iters=1"):
        _, history = fit_clustering(model, views, max_epochs=2, batch_size=10)
    assert [h["barycenter_converged"] for h in history] == [0.0, 0.0]
    model = MWAE({"a": 4, "b": 3}, OTMConfig(latent_dim=2, mixer="none"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        fit_clustering(model, views, max_epochs=1, batch_size=10)  # no server, nothing to warn


def test_cluster_on_rows_follow_the_paper_and_keep_concat_side_by_side(generator):
    """Item 3: OT-mixed models trained unaligned are clustered on the fused codes (Results),
    everything else on the concatenated codes; concat stays as a side row; per_view on demand."""
    assert X.paper_cluster_on("MWAE+OTM", "unaligned") == "fused"
    assert X.paper_cluster_on("MWAE+OTM(WB)", "unaligned") == "fused"
    assert X.paper_cluster_on("MWAE+OTM", "aligned") == "concat"
    assert X.paper_cluster_on("MWAE", "unaligned") == "concat"
    assert X.paper_cluster_on("MCCA", "unaligned") == "concat"
    views, y = _blobs(generator, n_per=10)
    setup = ClusteringSetup(
        OTMConfig(latent_dim=2, hidden_dim=8, barycenter_iters=1, fgw_iters=2), max_epochs=1
    )
    with pytest.warns(ConvergenceWarning):
        res = run_clustering("MWAE+OTM", views, views, y, 3, aligned=False, seed=0, setup=setup)
        model, _ = X.train_mwae(
            "MWAE+OTM", unalign_views(views, seed=7919), aligned=False, setup=setup, n_clusters=3
        )
    assert res.cluster_on == "fused" and set(res.side) == {"concat"}
    # the fused scores are those of k-means on tilde Z_B carried to each view, averaged
    mix = fused_codes(model, views, seed=0)
    per_view = cluster_fused(mix.fused, mix.plans, 3, seed=0)
    hand = np.mean([clustering_scores(y, lab)["purity"] for lab in per_view.values()])
    assert res.scores["purity"] == pytest.approx(hand)
    # a smaller evaluation barycenter (fused_points): every sample still gets a cluster
    labels, _ = X._learned_clustering(model, "fused", views, y, 3, 0, fused_points=6)
    assert len(labels) == len(y) and len(set(labels)) <= 3
    assert model.mixer.config.n_barycenter is None  # restored
    pv = run_clustering(
        "MWAE", views, views, y, 3, aligned=False, setup=setup,
        cluster_on="per_view", side_by_side=("fused", "concat"),
    )  # fmt: skip
    assert pv.cluster_on == "per_view" and set(pv.side) == {"concat"}  # MWAE: no fused codes
    with pytest.raises(ValueError, match="cluster_on"):
        run_clustering("MWAE", views, views, y, 3, aligned=True, cluster_on="mean")


def test_clustering_experiment_reports_cluster_on_and_role():
    small = OTMConfig(latent_dim=2, hidden_dim=8, barycenter_iters=1, fgw_iters=2)
    with pytest.warns(ConvergenceWarning):
        df = X.clustering_experiment(
            "synthetic", methods=("MCCA", "MWAE", "MWAE+OTM"), seeds=(0,),
            setup=X.ClusteringSetup(small, max_epochs=1, batch_size=30), n_samples=60,
        )  # fmt: skip
    main = df[df.role == "main"].groupby(["setting", "method"])["cluster_on"].first().to_dict()
    assert main[("unaligned", "MWAE+OTM")] == "fused"
    assert main[("aligned", "MWAE+OTM")] == "concat"
    assert main[("unaligned", "MWAE")] == main[("unaligned", "MCCA")] == "concat"
    side = df[df.role == "side"]
    assert set(zip(side.setting, side.method, side.cluster_on)) == {
        ("unaligned", "MWAE+OTM", "concat")
    }
    table = clustering_table(df)
    assert ("synthetic", "unaligned", "MWAE+OTM", "concat", "side") in table.index
    claims = {c.id: c for c in X.claims_for(df.assign(part="clustering"))}
    assert claims["otm.t2.unaligned_vs_gwmac.synthetic"].where["role"] == "main"
