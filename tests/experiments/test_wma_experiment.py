"""Tests of the WMA experiment (workbench.experiments.wma, configs/wma.yaml): test cases, the
checkpoint cache, model selection on validation, the profiles as data, the paper table and a
resumable reproduction."""

import dataclasses
import inspect

import numpy as np
import pandas as pd
import pytest
import torch
from wma_data import backbone, token_dataset

from workbench.experiments import load_profile, reproduce
from workbench.experiments import wma as W
from workbench.training import TrainerConfig


def test_table1_conditions_cover_every_modality():
    conds = W.table1_conditions(("text", "image"))
    assert list(conds) == ["normal", "noise/text", "noise/image", "missing/text", "missing/image"]
    assert conds["noise/image"][0].amplitude == 3.0 and conds["missing/text"][0].rate == 0.5
    assert all(c.level == "embedding" for v in conds.values() for c in v)


def test_select_uses_validation_not_test():
    grid = pd.DataFrame(
        {
            "regime": ["WMA", "WMA", "WMA", "baseline", "baseline"],
            "alpha": [1.0, 5.0, 5.0, 0.0, 0.0],
            "beta": [2.0, 0.1, 0.1, 0.0, 0.0],
            "lr": [1e-3, 1e-3, 1e-4, 1e-3, 1e-4],
            "val_score": [0.9, 0.5, 0.95, 0.2, 0.3],
            "val_metric": "accuracy",
            "value": [0.1, 0.99, 0.0, 0.5, 0.1],
        }
    )
    choice = W.select(grid).set_index("regime")
    assert list(choice.index) == ["baseline", "WMA"]
    assert tuple(choice.loc["WMA", ["alpha", "beta", "lr"]]) == (5.0, 0.1, 1e-4)
    assert choice.loc["baseline", "lr"] == 1e-4
    lower = W.select(grid.assign(val_metric="mae")).set_index("regime")
    assert tuple(lower.loc["WMA", ["alpha", "beta", "lr"]]) == (5.0, 0.1, 1e-3)
    assert set(W.selected_frame(grid)["value"]) == {0.0, 0.1}  # the chosen rows, test unseen
    assert len(W.cell_frame(grid)) == 3  # each cell at its validation-best lr


def test_grid_reuses_the_checkpoint_cache(generator):
    train = token_dataset(generator, n=24)
    val = token_dataset(generator, n=12, split="validation")
    cfg = TrainerConfig(max_epochs=1, batch_size=8, progress=False)
    _, first = W.fit_wma(
        lambda: backbone(train), train, val, alpha=1.0, beta=2.0, trainer_config=cfg
    )
    _, again = W.fit_wma(
        lambda: backbone(train), train, val, alpha=1.0, beta=2.0, trainer_config=cfg
    )
    _, other = W.fit_wma(
        lambda: backbone(train), train, val, alpha=1.0, beta=0.5, trainer_config=cfg
    )
    assert not first.from_cache_ and again.from_cache_ and not other.from_cache_
    frame = W.alpha_beta_grid(
        lambda: backbone(train),
        train,
        val,
        val,
        alphas=[1.0],
        betas=[2.0],
        seeds=[0],
        trainer_config=cfg,
        conditions={"normal": []},
    )
    assert set(frame["regime"]) == {"baseline", "minimize OT", "WMA"}
    assert {"alpha", "beta", "val_score", "value", "lr"} <= set(frame.columns)
    # which IPOT variant each row used and how far its plans were from their marginals
    assert set(frame["variant"]) == {"paper"}
    solved = frame[frame["regime"] != "baseline"]["ot_marginal_error"]
    assert bool(((solved >= 0) & (solved < 1e-2)).all())
    assert frame[frame["regime"] == "baseline"]["ot_marginal_error"].isna().all()


def fake_grid(generator, gain=0.0, seeds=(0, 1), dataset="toy", metric="accuracy"):
    """A grid frame; WMA's values are ``gain`` above the baseline's on every case."""
    rows = []
    for regime, a, b in [("baseline", 0.0, 0.0), ("minimize OT", 1.0, 0.0)] + [
        ("WMA", a, b) for a in (1.0, 5.0) for b in (0.5, 2.0)
    ]:
        for case in ("normal", "noise/text", "missing/image"):
            for seed in seeds:
                noise = float(torch.rand(1, generator=generator)) * 0.01
                base = 0.5 + 0.01 * seed
                value = base + noise + (gain if regime == "WMA" else 0.0)
                if regime == "minimize OT":
                    value = base + noise + 2 * gain
                rows.append(
                    {
                        "regime": regime,
                        "method": regime,
                        "dataset": dataset,
                        "alpha": a,
                        "beta": b,
                        "lr": 1e-3,
                        "case": case,
                        "condition": case.split("/")[0],
                        "modality": case.split("/")[1] if "/" in case else "",
                        "metric": metric,
                        "val_metric": metric,
                        "seed": seed,
                        "value": value,
                        "val_score": a + b,
                    }
                )
    return pd.DataFrame(rows)


def test_plots_and_win_rate_on_a_grid(generator):
    import matplotlib

    matplotlib.use("Agg")
    from workbench import plotting

    grid = fake_grid(generator)
    axes = plotting.alpha_beta_heatmaps(grid)
    assert len([ax for ax in axes if ax.get_visible()]) == 3
    ax = plotting.beta_curve(grid, alpha=1.0)
    assert len(ax.get_lines()) >= 3
    rate = W.win_rate(grid)
    base = grid[grid.regime == "baseline"].groupby("case")["value"].mean()
    cells = grid[grid.regime == "WMA"].groupby(["case", "alpha", "beta"])["value"].mean()
    for _, r in rate.iterrows():
        assert r["share_at_least_baseline"] == pytest.approx(
            float((cells[r["case"]] >= base[r["case"]]).mean())
        )


def test_paper_grid_is_read_from_the_reference():
    hm = W.paper_grid("hateful_memes")
    assert set(hm.regime) == {"baseline", "minimize OT", "WMA"}
    assert len(hm[(hm.regime == "WMA") & (hm.case == "normal")]) == 56  # 4 alphas x 14 betas
    with pytest.raises(ValueError, match="no published rows"):
        W.paper_grid("easy_vqa")


def test_paper_table_verdicts_follow_the_seeds(generator):
    clear = W.paper_table(fake_grid(generator, gain=0.05, seeds=(0, 1, 2)), profile="test")
    assert list(clear["id"]) == [c.id for c in W.CLAIMS]
    verdict = clear.set_index("id")["verdict"]
    assert (verdict.filter(like="beats_baseline") == "holds").all()
    assert (verdict.filter(like="beats_minimize_ot") == "fails").all()  # minimize OT is 2x ahead
    assert (clear["alpha"] == 5.0).all() and (clear["beta"] == 2.0).all()  # best val_score
    assert (clear["profile"] == "test").all() and (clear["dataset"] == "toy").all()
    tie = W.paper_table(fake_grid(generator, gain=0.0, seeds=(0, 1, 2)))
    assert set(tie["verdict"]) <= {"not clearly", "fails", "holds"}
    one_seed = W.paper_table(fake_grid(generator, gain=0.05, seeds=(0,)))
    assert (one_seed["verdict"] == "not clearly").all()
    # the paper side is computed from the reference: one dataset's cells on a paper dataset,
    # MOSEI (MAE) flipped, so WMA's lower error is ahead
    mosei = W.paper_table(fake_grid(generator, dataset="mosei", metric="mae"))
    normal = mosei.set_index("id").loc["wma.beats_baseline.normal"]
    assert "over 1 cells, ahead in 1/1" in normal["paper_evidence"]
    assert normal["paper_verdict"] == "holds"  # 0.801 < 0.807 (Table 1)
    easy = W.paper_table(fake_grid(generator)).set_index("id")
    assert "over 3 cells" in easy.loc["wma.beats_baseline.normal", "paper_evidence"]  # not MOSEI


def test_profiles_are_data_and_full_is_the_papers_protocol():
    full = load_profile("wma", "full")
    assert full.function == W.FUNCTION
    points = list(full.grid)
    c = full.constants()
    assert c["backbone"] == "vilt" and c["batch_size"] == 128 and c["patience"] == 5
    assert c["max_epochs"] == 50 and c["schedule"] == "linear"
    assert full.grid.axes["lr"] == (1e-2, 1e-3, 1e-4, 5e-5, 1e-5)
    assert full.grid.axes["seed"] == (0, 1, 2)
    cells = {(p["alpha"], p["beta"]) for p in points if p["alpha"] > 0 and p["beta"] > 0}
    paper = W.paper_grid("Hateful Memes")
    paper_cells = set(map(tuple, paper[paper.regime == "WMA"][["alpha", "beta"]].to_numpy()))
    assert cells == paper_cells and {(0.0, 0.0), (1.0, 0.0)} <= {
        (p["alpha"], p["beta"]) for p in points
    }
    sizes = {d: full.settings["datasets"][d]["batch_size"] for d in ("mmimdb", "ur_funny", "mosei")}
    assert sizes == {"mmimdb": 64, "ur_funny": 256, "mosei": 256}
    assert {p["wma_options"]["variant"] for p in points} == {"paper"}
    for name in ("smoke", "cpu", "full"):
        assert load_profile("wma", name).description


def test_smoke_profile_is_the_smoke_run_of_before(generator):
    """Same points and settings as the smoke sweep config and the package's smoke profile
    before the profiles became data, except the budget (issue 20: the smoke notebook in under
    a minute): one layer with 2 heads instead of 2 x 8, 8 epochs instead of 12 and seeds 0-1
    instead of 0-2; the WMA settings are named in the grid (``wma_options``), so a change of
    WMAConfig's defaults cannot re-use stale results."""
    smoke = load_profile("wma", "smoke")
    points = list(smoke.grid)
    assert {(p["alpha"], p["beta"], p["seed"]) for p in points} == {
        (a, b, s) for a, b in ((0.0, 0.0), (1.0, 0.0), (1.0, 0.5), (1.0, 2.0)) for s in (0, 1)
    }
    assert len(points) == 8
    c = smoke.constants()
    assert c["dataset"] == "easy_vqa" and c["backbone"] == "transformer"
    assert c["dataset_options"] == {"form": "tokens", "subset": "smoke", "progress": False}
    assert c["backbone_options"] == {"d_model": 32, "n_heads": 2, "n_layers": 1}
    assert c["wma_options"] == {"variant": "paper"}
    train = token_dataset(generator, n=8)
    splits = {"train": train, "validation": train, "test": train}
    setup = W.prepare(**W.prepare_settings(points[0]), splits=splits)
    assert setup.trainer == TrainerConfig(
        max_epochs=8,
        batch_size=32,
        lr=5e-3,
        schedule="linear",
        warmup_ratio=0.1,
        patience=None,
        device="auto",
        progress=False,
    )
    assert list(setup.conditions) == list(W.table1_conditions(train.modalities))


@pytest.mark.parametrize("dataset", ["hateful_memes", "mmimdb", "ur_funny", "mosei"])
def test_full_profile_searches_the_papers_alpha_beta_cells_of_each_dataset(dataset):
    """Tables 3-6: the full profile's WMA cells on a dataset are the paper's, including the
    expanded α = 6, 8 of MM-IMDb (β 0.1-0.4; its selected point is α=6, β=0.2) and UR-FUNNY."""
    points = list(W.profile_grid("full", dataset=dataset))
    cells = {(p["alpha"], p["beta"]) for p in points if p["alpha"] > 0 and p["beta"] > 0}
    paper = W.paper_grid(dataset)
    paper_cells = set(map(tuple, paper[paper.regime == "WMA"][["alpha", "beta"]].to_numpy()))
    assert cells == paper_cells
    expanded = {a for a, _ in cells if a > 5}
    assert expanded == ({6.0, 8.0} if dataset in ("mmimdb", "ur_funny") else set())
    if dataset == "mmimdb":
        assert {b for a, b in cells if a == 6.0} == {0.1, 0.2, 0.4}


@pytest.mark.parametrize("profile", ["smoke", "cpu", "full"])
def test_every_profile_point_binds_to_run_point_and_prepare(profile):
    from workbench.methods.wma import WMAConfig

    prof = load_profile("wma", profile)
    run, prep = inspect.signature(W.run_point), inspect.signature(W.prepare)
    fit = inspect.signature(W.fit_point)
    for p in prof.grid:
        run.bind(**p)
        fit.bind(p["alpha"], p["beta"], p["seed"], **W._settings(p))
        prep.bind(**W.prepare_settings(p))  # raises TypeError on an unknown setting
        WMAConfig(**p.get("wma_options", {}))


def test_profile_grid_applies_the_notebook_parameters():
    smoke = load_profile("wma", "smoke")
    assert W.profile_grid(smoke, dataset="easy_vqa", seed=0).run_ids() == smoke.grid.run_ids()
    hm = list(W.profile_grid(smoke, dataset="hateful_memes", seed=3, data_root="/d"))
    seeds = {int(p["seed"]) for p in smoke.grid}
    assert {p["seed"] for p in hm} == {s + 3 for s in seeds} and len(hm) == len(smoke.grid)
    first = hm[0]
    assert first["backbone"] == "vilt" and first["lr"] == 1e-3 and first["data_root"] == "/d"
    assert first["dataset_options"] == {"image_size": 64, "limit": 512}
    mosei = next(iter(W.profile_grid(smoke, dataset="mosei", device="cuda")))
    assert "dataset_options" not in mosei and mosei["backbone"] == "transformer"
    assert mosei["device"] == "cuda" and mosei["max_epochs"] == smoke.grid.items()[0][1]["max_epochs"]
    full = next(iter(W.profile_grid("full", dataset="ur_funny", data_root="/u")))
    assert full["batch_size"] == 256 and full["backbone_options"]["d_model"] == 128
    assert full["data_root"] == "/u" and "dataset_options" not in full


def test_reproduce_is_resumable_and_writes_the_paper_table(tmp_path, monkeypatch, generator):
    """A tiny wma.yaml (easy_vqa smoke subset, 1 epoch, d=8): the run points train, a second
    reproduce recomputes nothing, and the paper table is written."""
    smoke = load_profile("wma", "smoke")
    grid = {k: (list(v) if len(v) > 1 else v[0]) for k, v in smoke.grid.axes.items()}
    grid.update(max_epochs=1, backbone_options={"d_model": 8, "n_heads": 2}, seed=[0, 1])
    config = {
        "paper": "wma",
        "function": W.FUNCTION,
        "profiles": {"smoke": {"grid": grid, "points": [dict(p) for p in smoke.grid.points[:2]]}},
    }
    import yaml

    (tmp_path / "wma.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("WORKBENCH_CONFIGS", str(tmp_path))
    first = reproduce("wma", "smoke", store=tmp_path / "store", n_jobs=1)
    assert len(first.summary.finished) == 4 and first.paper_table_path.is_file()
    assert set(first.results["regime"]) == {"baseline", "minimize OT"}
    again = reproduce("wma", "smoke", store=tmp_path / "store", n_jobs=1)
    assert again.summary.finished == () and len(again.summary.skipped) == 4
    table = pd.read_csv(again.paper_table_path)
    assert len(table) == len(W.CLAIMS)
    assert (table["verdict"] == "not clearly").all()  # no WMA point in this tiny grid
    assert np.isfinite(first.results["value"]).all()


def test_trained_models_come_from_the_checkpoint_cache(generator, tmp_path):
    train = token_dataset(generator, n=24)
    val = token_dataset(generator, n=12, split="validation")
    splits = {"train": train, "validation": val, "test": val}
    base = dict(
        dataset="easy_vqa",
        backbone="transformer",
        backbone_options={"d_model": 16, "n_heads": 4},
        max_epochs=1,
        batch_size=8,
    )
    points = [dict(base, alpha=a, beta=b, seed=0) for a, b in ((0.0, 0.0), (1.0, 2.0))]
    rows = pd.concat([W.run_point(**p, splits=splits) for p in points], ignore_index=True)

    grid = [dict(p, splits=splits) for p in points]  # the points with the test's splits
    models = W.trained_models(grid, rows)
    assert set(models) == {(0.0, 0.0, 0), (1.0, 2.0, 0)}
    assert all(not m.training for m in models.values())
    chosen = W.chosen_models(models, rows)
    assert set(chosen) == {"baseline", "WMA"} and set(chosen["WMA"]) == {0}
    assert list(W.at_seed(models, 0)) == [(0.0, 0.0), (1.0, 2.0)]
    basis = W.basis_table(models)
    assert list(basis.index) == [(1.0, 2.0)]
    assert basis["target beta*basis"].iloc[0] == pytest.approx(2 * basis["basis"].iloc[0])
    card = W.card_robustness(chosen, val)
    assert set(card["case"]) == {
        "normal",
        "noise/text",
        "noise/image",
        "missing/text",
        "missing/image",
    }
    new = W.point_trainer(grid)(5.0, 0.5)
    assert dataclasses.asdict(new.config)["alpha"] == 5.0 and not new.training
