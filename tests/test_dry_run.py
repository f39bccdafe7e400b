"""The full profiles, proven on a CPU: every distinct configuration of every paper's ``full``
profile runs through its run point on tiny slices (workbench.experiments.dryrun), and the cost
estimate times real optimiser steps."""

from __future__ import annotations

import pytest

from workbench import cli
from workbench.data import fixtures, load_splits
from workbench.data import registry as data_registry
from workbench.experiments import PAPERS, load_profile, reproduce
from workbench.experiments import dryrun as D
from workbench.sweep import Grid

SIZE_KEYS = ("embed_dim", "hidden_dim", "latent_dim", "tensor_dim", "rank")
"""Model sizes a dry run must keep (ViLT's layers and widths are checked in their own test)."""


def check(report: D.DryRun, paper: str) -> None:
    prof = load_profile(paper, "full")
    represented = [rid for ids in report.points["represented"] for rid in ids]
    assert sorted(represented) == sorted(prof.grid.run_ids())  # every point, once
    assert report.n_points == len(prof.grid) > len(report.points)  # and some collapsed
    assert (report.points["steps"] >= 1).all(), report.points[["label", "steps"]]
    assert (report.points["rows"] > 0).all()
    assert set(report.results["run_id"]) == set(report.points["dry_run_id"])  # via the store
    assert len(report.paper_table) > 0 and "verdict" in report.paper_table
    cut = {c.key for cuts in report.cuts.values() for c in cuts} | {
        c.key for c in report.common_cuts
    }
    assert not cut & set(SIZE_KEYS), cut
    assert {c.key for c in report.common_cuts} >= {"max_epochs"}
    text = report.text()
    assert f"representing all {len(prof.grid)} points" in text
    assert "max_epochs" in text and "data: each split cut to" in text


@pytest.mark.parametrize("paper", [p for p in PAPERS if p != "otm"])
def test_full_profile_dry_run(paper, tmp_path):
    report = reproduce(paper, "full", dry_run=True, store=tmp_path)
    check(report, paper)


def test_full_profile_dry_run_from_the_command_line(tmp_path, capsys):
    argv = ["reproduce", "otm", "--profile", "full", "--dry-run", "--store", str(tmp_path)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    prof = load_profile("otm", "full")
    n, distinct = len(prof.grid), len(D.distinct_points(prof))
    assert (
        f"otm (full) dry run: {distinct} distinct configurations ran, representing all {n}" in out
    )
    assert (tmp_path / "store").is_dir()


def test_wma_keeps_vilt_b_and_cuts_only_batch_and_sequence():
    prof = load_profile("wma", "full")
    groups = D.distinct_points(prof)
    # the lr grid, the seeds and the non-zero alphas/betas collapse: baseline, minimize OT, WMA
    assert [(p["alpha"] == 0, p["beta"] == 0) for _, p, _ in groups] == [
        (True, True),
        (False, True),
        (False, False),
    ]
    _, params, _ = groups[2]
    function = D.resolve_function(prof.function)
    dry, cuts = D._cuts(
        params,
        function,
        device="cpu",
        batch_size=D.LARGE_BATCH,
        max_epochs=1,
        data_root=D.Path("/tmp/x"),
        sequence=True,
    )
    sizes = dry["backbone_options"]
    for key in ("hidden_size", "n_layers", "n_heads", "intermediate_size", "patch_size"):
        assert sizes[key] == params["backbone_options"][key]
    assert (sizes["hidden_size"], sizes["n_layers"]) == (768, 12)
    keys = {c.key for c in cuts}
    assert {"backbone_options.image_size", "backbone_options.max_text_len", "batch_size"} <= keys
    assert not any(
        k.startswith("backbone_options.") and "size" in k and "image" not in k for k in keys
    )
    assert dry["data_root"] == "/tmp/x/hateful_memes"
    if not D._local(params["vilt_weights"]):
        assert dry["vilt_weights"] is None
        assert any("random init" in c.why for c in cuts)


def test_distinct_points_tell_zero_from_non_zero_and_drop_seeds():
    grid = Grid(
        {"seed": (0, 1, 2), "lr": (0.1, 0.01)},
        [
            {"alpha": 0.0, "beta": 0.0},
            {"alpha": 1.0, "beta": 0.0},
            {"alpha": 1.0, "beta": 2.0},
            {"alpha": 5.0, "beta": 0.5},
            {"method": "a"},
            {"method": "b"},
        ],
    )
    prof = D.Profile("wma", "full", "m:f", grid)
    groups = D.distinct_points(prof)
    assert [len(r) for _, _, r in groups] == [6, 6, 12, 6, 6]
    # RAML's ablation rows: the label is not a code path, the options are
    raml = Grid(
        {"seed": (0,)},
        [
            {"method": f"lambda_u={v}", "model": "RAML", "options": {"lambda_u": v}, "role": "a"}
            for v in (0.0, 0.2, 0.4)
        ],
    )
    assert [len(r) for _, _, r in D.distinct_points(D.Profile("raml", "full", "m:f", raml))] == [
        1,
        2,
    ]


def test_sliced_cuts_every_split_and_leaves_no_trace():
    whole = {k: len(v) for k, v in load_splits("av_digits").items()}
    with fixtures.sliced({"train": 16, "validation": 12, "test": 12}):
        cut = load_splits("av_digits")
        assert {k: len(v) for k, v in cut.items()} == {"train": 16, "validation": 12, "test": 12}
        assert len(set(cut["validation"].y.tolist())) == 10  # one of each class first
    assert {k: len(v) for k, v in load_splits("av_digits").items()} == whole
    assert not any(k.startswith('["av_digits"') and "cut" in k for k in data_registry._CACHE)
    with pytest.raises(ValueError, match="split names"):
        with fixtures.sliced({"training": 4}):
            pass
    with pytest.raises(ValueError, match="No fixture writer for dataset 'nope'"):
        fixtures.write_fixture("nope", "/tmp/never")


def test_estimate_times_real_steps_at_the_full_batch():
    est = D.estimate("mla", steps=2, device="cpu", only=1)
    row = est.table.iloc[0]
    assert row["profile"] == "full (partial)"
    config = est.configurations.iloc[0]
    assert config["batch_timed"] == config["batch_full"] == 64
    assert row["runs"] == 3 and row["s_per_step"] > 0 and row["cpu_s_per_step"] > 0
    # av_digits' 1078 training samples at batch 64 are 17 steps an epoch, 100 epochs at most
    assert row["steps_per_run"] == pytest.approx(17 * 100, rel=0.1)
    assert row["wall_hours"] > 0 and "cpu" in row["device"]
    assert "steps_per_run" in est.text()


OTM_EVALUATION = (
    "_learned_clustering",
    "kmeans_concat",
    "spectral_concat",
    "gw_barycenter_clustering",
    "MCCA",
    "alignment_by_alpha",
    "score",
    "_probe_scores",
)
"""What an OTM point runs after its training: clustering (with the barycenter of the evaluation
views), MCCA, the alignment plans re-solved at each alpha, the test/probe/noise scores."""


def _no_otm_evaluation(monkeypatch) -> None:
    from workbench.experiments import otm

    def evaluated(*args, **kwargs):
        raise AssertionError("estimate() ran an OTM point's evaluation after its timed steps")

    for name in OTM_EVALUATION:
        monkeypatch.setattr(otm, name, evaluated)


def test_otm_estimate_stops_after_training_and_times_a_dataset_smaller_than_a_batch(monkeypatch):
    """Nutrimouse (40 samples, 24 training) at batch 256 is one step an epoch: the estimate
    times enough epochs for two steps of each autoencoder (it printed nan s/step when it timed
    one) and counts one step an epoch; no point clusters or evaluates after its steps."""
    from dataclasses import replace

    from workbench.experiments import otm

    _no_otm_evaluation(monkeypatch)
    full = load_profile("otm", "full")
    kept = [
        p
        for _, p in full.grid.items()
        if p["dataset"] == "nutrimouse"
        or p["part"] == "alignment"
        or (p["part"] == "supervised" and p["dataset"] == "av_digits" and p["fusion"] == "late")
    ]
    monkeypatch.setattr(D, "load_profile", lambda *_: replace(full, grid=Grid(points=kept)))
    est = D.estimate("otm", "full", steps=1, device="cpu")
    configs = est.configurations.set_index("label")
    assert len(configs) == 4  # nutrimouse aligned and unaligned, alignment, supervised late
    assert (configs["s_per_step"] > 0).all() and configs["s_per_step"].notna().all(), configs
    assert (configs["cpu_s_per_step"] > 0).all() and est.table["s_per_step"].notna().all()
    nutri = [p for p in kept if p["dataset"] == "nutrimouse"]
    n = sum(len(s) for s in load_splits("nutrimouse").values())
    learned = [m for m in otm.CLUSTERING_METHODS if m in otm._MIXERS]
    per_run = len(learned) * -(-n // nutri[0]["batch_size"]) * nutri[0]["max_epochs"]
    rows = configs[configs.index.str.contains("nutrimouse")]
    assert len(rows) == 2 and rows["steps_per_run"].tolist() == [per_run, per_run], rows


@pytest.mark.slow
def test_otm_full_estimate_times_every_configuration_without_evaluating(monkeypatch):
    _no_otm_evaluation(monkeypatch)
    prof = load_profile("otm", "full")
    est = D.estimate("otm", "full", steps=1, device="cpu")
    assert len(est.configurations) == len(D.distinct_points(prof))
    assert est.configurations["s_per_step"].gt(0).all(), est.configurations
    assert est.table["s_per_step"].notna().all() and est.table["runs"].item() == len(prof.grid)


def test_estimate_of_other_papers_runs_their_run_point():
    assert D._training_function("workbench.experiments.otm:run_point") == (
        "workbench.experiments.otm:training_point"
    )
    for paper in ("mla", "raml", "wma", "arena"):
        spec = load_profile(paper, "full").function
        assert D._training_function(spec) == spec
