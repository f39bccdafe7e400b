"""Tests of the MLA experiment (workbench.experiments.mla, configs/mla.yaml): the missing-modality
protocol, unimodal rows, the modality gap, run points with validation and test rows, the weak
modality chosen on the validation split, the claims table and a resumable reproduction."""

import inspect

import pandas as pd
import pytest
import torch

from workbench import methods
from workbench.data.synthetic import make_synthetic
from workbench.experiments import load_profile, reproduce
from workbench.experiments import mla as X
from workbench.training import Trainer, TrainerConfig

TINY = dict(
    dataset="av_digits",
    n_train=64,
    n_validation=32,
    n_test=32,
    encoder="mlp",
    embed_dim=8,
    hidden_dim=8,
    max_epochs=1,
    batch_size=32,
    lr=0.01,
    device="cpu",
)


@pytest.fixture(scope="module")
def splits():
    return make_synthetic(400, dims=(8, 5), signal=(2.0, 0.8), seed=3)


def test_drop_modalities_keeps_one_modality_per_sample(splits):
    ds = X.drop_modalities(splits["train"], 0.7, seed=1)
    assert ds.present.any(1).all()
    frac = 1 - ds.present.float().mean()
    assert 0.3 < frac < 0.7  # 0.7 per modality, minus the restored ones
    gone = ~ds.present[:, 0]
    assert torch.all(ds.inputs["m0"][gone] == 0)
    assert torch.equal(X.drop_modalities(splits["train"], 0.0).present, splits["train"].present)
    with pytest.raises(ValueError, match="rate"):
        X.drop_modalities(splits["train"], 1.5)


def test_evaluate_method_reports_unimodal_rows_and_the_gap(splits):
    model = methods.build("MLA", splits["train"], seed=0, embed_dim=16, hidden=(16,))
    cfg = TrainerConfig(
        max_epochs=6, lr=3e-3, batch_size=32, progress=False, patience=None, device="cpu"
    )
    model = Trainer(cfg).fit(model, splits["train"], splits["validation"])
    frame = X.evaluate_method(model, splits["test"], method="MLA")
    assert set(frame["modality"]) == {"multi", "m0", "m1"}
    assert frame.loc[frame["modality"] == "multi", "value"].item() > 0.5  # chance 0.25
    gap = X.modality_gap(model, splits["test"])
    assert gap.points.shape == (2 * len(splits["test"]), 2) and gap.distance >= 0


def test_run_point_gives_validation_and_test_rows():
    frame = X.run_point(experiment="table1", method="Concat", seed=0, **TINY)
    assert set(frame["split"]) == {"validation", "test"}
    acc = frame[frame["metric"] != "modality_gap"]
    for split in ("validation", "test"):
        rows = acc[acc["split"] == split]
        assert set(rows["modality"]) == {"multi", "image", "audio"}
    gap = frame[frame["metric"] == "modality_gap"]
    assert len(gap) == 1 and gap["split"].item() == "test" and gap["value"].item() >= 0
    assert set(frame["experiment"]) == {"table1"} and set(frame["method"]) == {"Concat"}


def test_ablation_and_missing_points_are_labelled():
    ab = X.run_point(experiment="ablation", method="MLA", seed=0, hgm=False, **TINY)
    assert set(ab["method"]) == {"HGM✗ DF✓"} and "modality_gap" not in set(ab["metric"])
    miss = X.run_point(experiment="missing", method="MLA", seed=0, missing_rate=0.3, **TINY)
    assert set(miss["level"]) == {"missing_rate=30"} and set(miss["missing_rate"]) == {0.3}
    with pytest.raises(ValueError, match="missing_rate"):
        X.run_point(experiment="table1", method="MLA", seed=0, missing_rate=0.3, **TINY)
    with pytest.raises(ValueError, match="experiment"):
        X.run_point(experiment="nope", method="MLA", seed=0, **TINY)


def _rows(method, modality, split, values, condition="single_modality", experiment="table1"):
    return [
        {
            "experiment": experiment,
            "method": method,
            "dataset": "toy",
            "split": split,
            "condition": condition,
            "modality": modality,
            "level": "",
            "missing_rate": 0.0,
            "metric": "accuracy",
            "seed": s,
            "value": v,
        }
        for s, v in enumerate(values)
    ]


def test_weak_modality_is_chosen_on_the_validation_split():
    rows = (
        _rows("Concat", "a", "validation", [0.2, 0.2, 0.2])
        + _rows("Concat", "b", "validation", [0.9, 0.9, 0.9])
        + _rows("Concat", "a", "test", [0.9, 0.9, 0.9])  # test would pick "b"
        + _rows("Concat", "b", "test", [0.1, 0.1, 0.1])
        + _rows("MLA", "a", "test", [0.95, 0.96, 0.97])
        + _rows("MLA", "b", "test", [0.0, 0.0, 0.0])
    )
    results = pd.DataFrame(rows)
    assert X.weak_modality(results) == "a"
    table = X.paper_table(results, profile="test")
    row = table.set_index("id").loc["mla.weak_modality"]
    assert row["weak_modality"] == "a" and row["verdict"] == "holds"  # judged on test, modality a
    assert row["paper_verdict"] in ("holds", "not clearly", "fails")
    assert set(table["id"]) == {c.id for c in X.CLAIMS}
    with pytest.raises(ValueError, match="validation"):
        X.weak_modality(results[results["split"] == "test"])


def test_paper_table_verdicts_follow_the_seeds():
    fused = lambda m, vals: _rows(m, "multi", "test", vals, condition="normal")  # noqa: E731
    rows = (
        fused("MLA", [0.80, 0.81, 0.82])
        + fused("Concat", [0.70, 0.71, 0.72])
        + fused("Sum", [0.60, 0.61, 0.62])
        + _rows("Concat", "a", "validation", [0.5, 0.5, 0.5])
    )
    table = X.paper_table(pd.DataFrame(rows)).set_index("id")
    assert table.loc["mla.best_multimodal", "verdict"] == "holds"
    one_seed = X.paper_table(pd.DataFrame(fused("MLA", [0.9]) + fused("Sum", [0.1])))
    assert one_seed.set_index("id").loc["mla.best_multimodal", "verdict"] == "not clearly"
    # the paper side comes from the reference CSV (Table 3 cells relabelled as the workbench's)
    assert "5/5" in table.loc["mla.ablation_best", "paper_evidence"]


def test_reference_relabels_only_the_ablation_cells():
    ref = X.reference()
    t3 = ref[ref["table"] == "3"]
    assert set(t3["method"]) == set(X.ABLATION.values()) and set(t3["level"]) == {""}
    assert "MLA" in set(ref.loc[ref["table"] == "1", "method"])


@pytest.mark.parametrize("profile", ["smoke", "cpu", "full"])
def test_profiles_bind_to_run_point(profile):
    prof = load_profile("mla", profile)
    assert prof.function == "workbench.experiments.mla:run_point" and prof.description
    sig = inspect.signature(X.fit_point)
    items = prof.grid.items()
    for _, params in items:
        sig.bind(**params)
        assert params["experiment"] in X.EXPERIMENTS
        assert params["method"] in methods.available(paper="mla")
    experiments = {p["experiment"] for _, p in items}
    assert experiments == set(X.EXPERIMENTS)


def test_smoke_profile_is_the_notebooks_former_smoke_run():
    prof = load_profile("mla", "smoke")
    c = prof.constants()
    assert (c["n_train"], c["n_validation"], c["n_test"]) == (240, 120, 200)
    assert (c["max_epochs"], c["batch_size"], c["lr"], c["optimizer"]) == (4, 32, 0.01, "adam")
    assert (c["encoder"], c["embed_dim"], c["hidden_dim"]) == ("mlp", 32, 64)
    assert prof.grid.axes["seed"] == (0, 1) and len(prof.grid) == 36


def test_reproduce_is_resumable(tmp_path, monkeypatch):
    config = tmp_path / "configs"
    config.mkdir()
    grid = "\n".join(f"      {k}: {v}" for k, v in TINY.items())
    (config / "mla.yaml").write_text(
        "paper: mla\n"
        "function: workbench.experiments.mla:run_point\n"
        "profiles:\n"
        "  smoke:\n"
        "    description: tiny\n"
        "    grid:\n"
        f"{grid}\n"
        "      seed: [0, 1]\n"
        "    points:\n"
        "      - {experiment: table1, method: Concat}\n"
        "      - {experiment: table1, method: MLA}\n"
    )
    monkeypatch.setenv("WORKBENCH_CONFIGS", str(config))
    first = reproduce("mla", "smoke", store=tmp_path / "store", n_jobs=1)
    assert len(first.summary.finished) == 4 and first.results_path.is_file()
    assert set(first.paper_table["id"]) == {c.id for c in X.CLAIMS}
    again = reproduce("mla", "smoke", store=tmp_path / "store", n_jobs=1)
    assert len(again.summary.skipped) == 4 and not again.summary.finished
    pd.testing.assert_frame_equal(first.paper_table, again.paper_table)


def test_notebook_overrides_replace_the_main_dataset_and_shift_seeds():
    full = load_profile("mla", "full")
    points = X._points(full, dataset="mfeat", data_root=None, device="cpu", seed=10)
    assert {p["dataset"] for p in points} == {"mfeat"}  # the main dataset merged with mfeat
    assert len(points) == len(full.grid) // 2
    assert {p["seed"] for p in points} == {10, 11, 12} and {p["device"] for p in points} == {"cpu"}
    smoke = load_profile("mla", "smoke")
    same = X._points(smoke, dataset=None, data_root=None, device=None, seed=0)
    assert same == [{**p, "data_root": None} for _, p in smoke.grid.items()]
