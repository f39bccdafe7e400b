"""The RAML paper's experiment: patterns, run points, the profiles as data and the paper table."""

import numpy as np
import pandas as pd
import pytest
import torch

from workbench import corruptions as C
from workbench.claims import VERDICTS
from workbench.data import load_splits
from workbench.data.base import MultimodalDataset, Task
from workbench.experiments import load_profile
from workbench.experiments import raml as X
from workbench.training import TrainerConfig


def _tiny(n=24, seed=0):
    """3-class set with an ``image [1, 8, 8]`` and a variable-length ``audio`` sequence."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    seqs = [
        torch.randn(int(torch.randint(2, 9, (1,), generator=g)), 5, generator=g) for _ in range(n)
    ]
    inputs = {"image": torch.randn(n, 1, 8, 8, generator=g), "audio": seqs}
    return MultimodalDataset("toy", inputs, y, Task("multiclass", 3, "accuracy"))


def test_pattern_labels_and_conditions():
    mods = ("image", "audio")
    assert X.pattern_label([True, False], mods) == "{I}"
    assert list(X.pattern_conditions(mods)) == ["{I}", "{A}", "{I,A}"]
    assert len(X.pattern_conditions(("a", "b", "c"))) == 7
    # initials clash -> full names
    assert X.pattern_label([True, True], ("m0", "m1")) == "{m0,m1}"
    batch = _tiny().full_batch()
    kept = X.pattern_conditions(mods)["{A}"](batch, torch.Generator())
    assert not kept.present[:, 0].any() and kept.present[:, 1].all()
    assert (kept.inputs["image"] == 0).all()


def test_evaluate_patterns_average_is_the_mean_over_patterns():
    s = load_splits("synthetic", n_samples=120, dims=(6, 5))
    specs = {m: (m, {"embed_dim": 8, "hidden_dim": 16}) for m in ("RAML", "Concat Fusion")}
    models, log = X.train_models(
        specs, s, [0, 1], TrainerConfig(max_epochs=1, progress=False), cache=False
    )
    assert set(log["method"]) == set(specs) and len(log) == 4
    df = X.evaluate_patterns(models, s["test"])
    assert set(df["modality"]) == {"{m0}", "{m1}", "{m0,m1}", "average"}
    for _, g in df.groupby(["method", "seed"]):
        avg = g.loc[g["modality"] == "average", "value"].item()
        assert avg == pytest.approx(g.loc[g["modality"] != "average", "value"].mean())


def test_corruption_grids_and_modalities():
    ds = _tiny()
    assert X.corruption_modalities(ds) == ("image", "audio")
    grids = X.corruption_conditions("image", "audio", sigmas=(0.1, 0.2), ps=(0.05,))
    assert list(grids) == ["noise", "mask", "noise+mask", "mask+noise"]
    assert grids["noise+mask"]["sigma=0.2;p=0.1"][1] == C.WordMask(modality="audio", p=0.1)
    assert list(X.corruption_conditions(None, "audio", sigmas=(0.1,), ps=(0.05,))) == ["mask"]


def test_ablation_variants_reuse_main_models():
    specs, aliases = X.ablation_variants({"embed_dim": 8}, full=False, lambdas=(0.2, 1.0))
    assert aliases == {
        "Concat Fusion (full-modality)": "Concat Fusion",
        "lambda_u=1.0": "RAML",
        "lambda_d=1.0": "RAML",
    }
    assert specs["lambda_d=0.2"] == (
        "RAML",
        {"embed_dim": 8, "lambda_d": 0.2},
    )  # the paper's λ2 itself
    full, _ = X.ablation_variants({}, full=True, lambdas=(0.2,))
    assert {"TMC (full-modality)", "L_M=1;L_U=0;L_D=0", "L_M=1;L_U=1;L_D=0"} <= set(full)


def test_smoke_profile_is_the_old_notebook_smoke_run():
    """The smoke profile's points are exactly what 04_raml's smoke cells trained (same data cut,
    seeds, budgets, variants), so its numbers did not change when the profile became data."""
    prof = load_profile("raml", "smoke")
    points = list(prof.grid)
    main = [(p["method"], p["seed"]) for p in points if p["role"] == "main"]
    assert main == [(m, s) for m in ("RAML", "Concat Fusion", "Augmentation", "MD") for s in (0, 1)]
    opts = {"embed_dim": 32, "hidden_dim": 64, "sequence_encoder": "cnn"}
    specs, _ = X.ablation_variants(opts, full=False, lambdas=(0.2, 1.0))
    ablation = {
        p["method"]: (p["model"], {**opts, **p["options"]})
        for p in points
        if p["role"] == "ablation"
    }
    assert ablation == specs
    assert {p["seed"] for p in points if p["role"] == "ablation"} == {0}
    for p in points:
        assert p["max_samples"] == {"train": 400, "validation": 150, "test": 200}
        assert (p["max_epochs"], p["lr"], p["batch_size"], p["weight_decay"], p["patience"]) == (
            4, 0.003, 128, 0.0005, None,
        )  # fmt: skip
        assert {k: p[k] for k in opts} == opts
        assert p["sigmas"] == [0.08, 0.18, 0.38] and p["ps"] == [0.05, 0.15, 0.25]
        assert p["threads"] == 1  # issue 20: tiny models, one intra-op thread


def test_grid_for_applies_the_notebook_parameters():
    prof = load_profile("raml", "full")
    grid = X.grid_for(prof, dataset="synthetic", device="cpu", seed=10)
    assert grid.axes["dataset"] == ("synthetic", "mfeat") and grid.axes["seed"] == (10, 11, 12)
    assert grid.axes["device"] == ("cpu",)
    smoke = X.grid_for(load_profile("raml", "smoke"), seed=5)
    assert sorted({p["seed"] for p in smoke}) == [5, 6]
    assert list(X.grid_for(load_profile("raml", "smoke"))) == list(
        load_profile("raml", "smoke").grid
    )


def test_run_point_rows(tmp_path, monkeypatch):
    common = dict(
        dataset="synthetic", seed=0, embed_dim=8, hidden_dim=8, max_epochs=1,
        max_samples={"train": 60, "validation": 30, "test": 30}, cache=False,
    )  # fmt: skip
    main = X.run_point(method="RAML", role="main", sigmas=[0.1], ps=[0.1], **common)
    # synthetic has two vector modalities: no image, no sequence, so Table I only
    assert set(main["table"]) == {"I"} and set(main["metric"]) == {"wa", "ua"}
    assert set(main["modality"]) == {"{m0}", "{m1}", "{m0,m1}", "average"}
    rows = main.set_index(["modality", "metric"])
    assert rows.loc[("{m0,m1}", "wa"), "complete"] and rows.loc[("{m0}", "wa"), "available"] == 1
    assert set(main["split"]) == {"test"} and set(main["role"]) == {"main"}
    before = torch.get_num_threads()
    observed = []
    monkeypatch.setattr(
        X, "_run_point", lambda **kw: observed.append(torch.get_num_threads()) or main
    )
    X.run_point(method="RAML", role="main", threads=1, **common)
    assert observed == [1] and torch.get_num_threads() == before  # set for the point, restored
    monkeypatch.undo()
    ab = X.run_point(
        method="Identical", model="RAML", options={"weighting": "identical"}, role="ablation",
        **common,
    )  # fmt: skip
    assert set(ab["method"]) == {"Identical"} and set(ab["metric"]) == {"wa"}
    with pytest.raises(ValueError, match="role"):
        X.run_point(method="RAML", role="other", **common)


def test_run_point_corruption_tables_on_image_and_sequence(monkeypatch):
    tiny = _tiny(60)
    splits = {
        "train": tiny,
        "validation": tiny.subset(range(20)),
        "test": tiny.subset(range(20, 40)),
    }
    monkeypatch.setattr(X, "load_splits", lambda *a, **k: splits)
    df = X.run_point(
        dataset="toy", method="Concat Fusion", seed=0, embed_dim=8, hidden_dim=8, max_epochs=1,
        sigmas=[0.1, 0.3], ps=[0.2], cache=False, sequence_encoder="cnn",
    )  # fmt: skip
    assert set(df["table"]) == {"I", "II", "III-top", "III-bottom"}
    noise = df[df["grid"] == "noise"]
    assert list(noise["level"]) == [0.1, 0.3] and set(noise["metric"]) == {"wa"}
    assert list(df.loc[df["grid"] == "mask+noise", "level"]) == [0.2]


def _results(gap: float, seeds=(0, 1, 2)) -> pd.DataFrame:
    """run_point-like rows where RAML leads every other method by ``gap`` plus a per-seed
    wobble of mean zero (+0.05, -0.05, 0): with ``gap=0`` no advantage is clear."""
    wobble = dict(zip((0, 1, 2), (0.05, -0.05, 0.0)))
    rows = []
    main = ("RAML", "Concat Fusion", "Augmentation")
    ablation = (
        "RAML (full-modality)",
        "Identical",
        "Fixed",
        "L_M=1;L_U=0;L_D=1",
        "RAML (separate predictors)",
    )
    for seed in seeds:
        for method in main + ablation:
            role = "main" if method in main else "ablation"
            lead = gap + wobble[seed]
            base = 0.5 + (lead if method == "RAML" else 0.0)
            for modality, available in (("{I}", 1), ("{A}", 1), ("{I,A}", 2), ("average", np.nan)):
                value = base + (
                    lead if method == "RAML (full-modality)" and available == 2 else 0.0
                )
                rows.append(dict(
                    method=method, dataset="av_digits", condition="missing_pattern",
                    modality=modality, level=0.0, metric="wa", seed=seed, value=value,
                    table="I", grid="pattern", available=available, complete=available == 2,
                    role=role, split="test",
                ))  # fmt: skip
            if role == "main":
                for grid in ("noise", "mask"):
                    for level in (0.1, 0.2):
                        rows.append(dict(
                            method=method, dataset="av_digits", condition=f"{grid}={level}",
                            modality="image", level=level, metric="wa", seed=seed,
                            value=base - level, table="II", grid=grid, available=np.nan,
                            complete=False, role=role, split="test",
                        ))  # fmt: skip
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("gap", "expected"), [(0.1, "holds"), (-0.1, "fails"), (0.0, "not clearly")]
)
def test_paper_table_verdicts_follow_the_results(gap, expected):
    table = X.paper_table(_results(gap), profile="test")
    assert list(table["id"]) == [c.id for c in X.CLAIMS]
    assert set(table["verdict"]) <= set(VERDICTS)
    ran = table[~table["id"].isin(["raml.best_under_both"])]  # no Table III rows here
    assert (ran["verdict"] == expected).all(), ran[["id", "workbench", "verdict"]]
    both = table.set_index("id").loc["raml.best_under_both"]
    assert both["verdict"] == "not clearly" and "not run" in both["workbench"]
    assert (table["dataset"] == "av_digits").all() and (table["profile"] == "test").all()


def test_paper_side_comes_from_the_reference_csv():
    table = X.paper_table(_results(0.1)).set_index("id")
    for claim in X.CLAIMS:
        row = table.loc[claim.id]
        if claim.reference:
            assert row["paper_verdict"] in VERDICTS, (claim.id, row["paper_evidence"])
        else:
            assert row["paper_verdict"] == "not tabulated" and claim.source in row["paper_evidence"]
    # Table VI compares two loss combinations of RAML, named by their level in the reference
    assert (
        "L_M=1;L_U=1;L_D=1 − L_M=1;L_U=0;L_D=1" in table.loc["raml.unimodal_loss", "paper_evidence"]
    )
    ref = X.reference()
    assert set(ref.loc[ref["table"] == "VI", "method"]) == {
        "L_M=1;L_U=0;L_D=0", "L_M=1;L_U=0;L_D=1", "L_M=1;L_U=1;L_D=0", "L_M=1;L_U=1;L_D=1",
    }  # fmt: skip


def test_one_seed_is_never_clear():
    table = X.paper_table(_results(0.2, seeds=(0,)))
    assert (table["verdict"] == "not clearly").all()


def test_ablation_and_lambda_frames_reuse_the_main_models():
    rows = []
    for method, role, seed, value in (
        ("RAML", "main", 0, 0.8), ("RAML", "main", 1, 0.9), ("Concat Fusion", "main", 0, 0.5),
        ("MD", "main", 0, 0.4), ("RAML (full-modality)", "ablation", 0, 0.7),
        ("lambda_u=0.2", "ablation", 0, 0.6), ("lambda_d=0.2", "ablation", 0, 0.7),
    ):  # fmt: skip
        rows.append(dict(method=method, role=role, seed=seed, value=value, table="I",
                         condition="missing_pattern", modality="average", metric="wa"))  # fmt: skip
    results = pd.DataFrame(rows)
    ab = X.ablation_frame(results)
    assert set(ab["seed"]) == {0} and "MD" not in set(ab["method"])
    by = ab.set_index("method")["value"]
    assert by["Concat Fusion (full-modality)"] == by["Concat Fusion"] == 0.5
    assert by["lambda_u=1.0"] == by["lambda_d=1.0"] == by["RAML"] == 0.8
    lam = X.lambda_frame(results)
    assert set(zip(lam["parameter"], lam["lambda"], lam["value"])) == {
        ("lambda_u", 0.2, 0.6), ("lambda_d", 0.2, 0.7), ("lambda_u", 1.0, 0.8), ("lambda_d", 1.0, 0.8),
    }  # fmt: skip


def test_table_one_matches_patterns_by_position():
    rows = [
        dict(method=m, role="main", seed=0, value=0.5, table="I", condition="missing_pattern",
             modality=p, metric="wa", dataset="av_digits")
        for m in ("RAML", "Concat Fusion") for p in ("{I}", "{A}", "{I,A}", "average")
    ]  # fmt: skip
    t = X.table_one(pd.DataFrame(rows))
    assert set(t["modality"]) == {"{I}", "{A}", "{I,A}", "average"} and len(t) == 8
    assert t["paper"].notna().all() and (t["workbench"] == 0.5).all()


def test_weights_by_level_and_means():
    s = load_splits("synthetic", n_samples=60, dims=(6, 5))
    fitted = X.fit_point(
        dataset="synthetic", method="RAML", seed=0, embed_dim=8, hidden_dim=8, max_epochs=1,
        cache=False, dataset_options={"synthetic": {"n_samples": 60, "dims": [6, 5]}},
    )  # fmt: skip
    assert fitted.model.modalities == s["train"].modalities
    w = X.weights_by_level(
        fitted.model, s["test"], lambda a: C.GaussianNoise(modality="m0", sigma=a), (0.0, 0.5),
        max_samples=4,
    )  # fmt: skip
    assert list(w) == [0.0, 0.5] and w[0.0].shape == (4, 2, 8)
    np.testing.assert_allclose(w[0.0].sum(1), 1.0, rtol=1e-5)
    means = X.mean_weights(
        {"noise": {f"σ={k:g}": v for k, v in w.items()}}, fitted.model.modalities
    )
    assert list(means["corruption"]) == ["σ=0", "σ=0.5"]
    np.testing.assert_allclose(means[["m0", "m1"]].sum(axis=1), 1.0, rtol=1e-5)


def test_every_profile_point_is_a_valid_training_run():
    """fit_point is strict: a misspelt key in configs/raml.yaml fails instead of being ignored."""
    import inspect

    signature = inspect.signature(X.fit_point)
    for name in ("smoke", "cpu", "full"):
        for point in load_profile("raml", name).grid:
            signature.bind(**{k: v for k, v in point.items() if k not in X._EVALUATION})
    with pytest.raises(TypeError):
        X.fit_point(dataset="synthetic", method="RAML", seed=0, max_epoch=3)


def test_run_is_resumable_and_trained_reloads_the_model(tmp_path):
    from workbench.experiments import Profile
    from workbench.sweep import Grid

    grid = Grid(
        {"dataset": "synthetic", "embed_dim": 8, "hidden_dim": 8, "max_epochs": 1,
         "max_samples": {"train": 60, "validation": 30, "test": 30}, "seed": [0, 1]},
        [{"method": "RAML", "role": "main"}, {"method": "Fixed", "model": "RAML",
          "options": {"weighting": "fixed"}, "role": "ablation"}],
    )  # fmt: skip
    prof = Profile("raml", "tiny", "workbench.experiments.raml:run_point", grid)
    lines = []
    results = X.run(prof, store=tmp_path / "store", log=lines.append)
    assert len(lines) == 4 and set(results["method"]) == {"RAML", "Fixed"}
    again = []
    assert X.run(prof, store=tmp_path / "store", log=again.append).equals(results)
    assert again == []  # nothing recomputed
    fitted = X.trained(prof, "RAML")
    assert fitted.from_cache and fitted.model.config.embed_dim == 8
    shifted = X.run(prof, store=tmp_path / "store", seed=5)
    assert set(shifted["seed"]) == {5, 6}
    assert X.paper_table(results, profile="tiny")["verdict"].isin(["not clearly"]).any()


def test_pattern_validation_repeats_the_split_under_every_pattern():
    """Item 8 of issue 17: the selection set is the validation split under all 2^M - 1
    patterns, dropped inputs zeroed (image rows and whole audio sequences), as at test time."""
    val = _tiny(n=5)
    pv = X.pattern_validation(val)
    assert len(pv) == 3 * len(val) and pv.modalities == val.modalities
    expected = torch.tensor([[True, False], [False, True], [True, True]]).repeat_interleave(5, 0)
    assert torch.equal(pv.present, expected)
    assert torch.equal(pv.y, val.y.repeat(3))
    assert (pv.inputs["image"][5:10] == 0).all() and torch.equal(
        pv.inputs["image"][:5], val.inputs["image"]
    )
    assert all((s == 0).all() for s in pv.inputs["audio"][:5])
    assert [s.shape for s in pv.inputs["audio"][5:10]] == [s.shape for s in val.inputs["audio"]]
    assert torch.equal(pv.inputs["audio"][12], val.inputs["audio"][2])
    # every pattern equals MissingPattern applied to the batch, as the test uses
    batch = C.MissingPattern(pattern=("audio",))(val.full_batch(), torch.Generator())
    part = pv.subset(range(5, 10)).full_batch()
    assert torch.equal(part.present, batch.present)
    torch.testing.assert_close(part.inputs["image"], batch.inputs["image"])


def test_fit_point_selects_on_the_validation_split_under_all_patterns():
    """The score the epoch is selected on is the validation metric under every missing pattern
    (it was the clean validation score before issue 17)."""
    from workbench import metrics as M
    from workbench.evaluation import predict

    common = dict(
        dataset="synthetic", method="RAML", seed=0, embed_dim=8, hidden_dim=8, max_epochs=2,
        max_samples={"train": 60, "validation": 30, "test": 30}, cache=False,
    )  # fmt: skip
    fitted = X.fit_point(**common)
    val = fitted.splits["validation"]
    pv = X.pattern_validation(val)
    out = predict(fitted.model, pv, (), generator=torch.Generator().manual_seed(2))
    score = M.compute(val.task.metric, out.y, out.scores, val.task)
    assert fitted.val_score == pytest.approx(score)
    clean = X.fit_point(**common, selection="clean")
    out = predict(clean.model, val, (), generator=torch.Generator().manual_seed(2))
    assert clean.val_score == pytest.approx(M.compute(val.task.metric, out.y, out.scores, val.task))
    # a model trained on complete samples only is selected on complete samples ("auto")
    concat = X.fit_point(**dict(common, method="Concat Fusion"))
    out = predict(concat.model, val, (), generator=torch.Generator().manual_seed(2))
    assert concat.val_score == pytest.approx(
        M.compute(val.task.metric, out.y, out.scores, val.task)
    )
    assert X.trains_on_patterns(fitted.model) and not X.trains_on_patterns(concat.model)
    with pytest.raises(ValueError, match="selection"):
        X.fit_point(**common, selection="test")


def test_full_and_cpu_profiles_sweep_the_papers_lambda_values():
    """Item 7 of issue 17: Fig. 4's λ1 and λ2 over the paper's 0.2-1.6, λ2 given as is."""
    for name in ("cpu", "full"):
        points = list(load_profile("raml", name).grid)
        lam_d = {p["options"]["lambda_d"] for p in points if p["method"].startswith("lambda_d=")}
        lam_u = {p["options"]["lambda_u"] for p in points if p["method"].startswith("lambda_u=")}
        assert lam_d == lam_u == {0.2, 0.4, 0.8, 1.2, 1.6}
        for p in points:
            if p["method"].startswith("lambda_d="):
                assert float(p["method"].split("=")[1]) == p["options"]["lambda_d"]
