"""WMA's α×β grid as a resumable sweep, and end-to-end run points on the paper's datasets
through their loaders (tiny fixtures in the published formats)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from real_formats import write_affect_npz, write_hateful_memes, write_mmimdb
from wma_data import backbone, token_dataset

from workbench.experiments import load_profile
from workbench.experiments import wma as W
from workbench.methods.wma import WMA, backbone_factory
from workbench.sweep import ResultStore
from workbench.training import TrainerConfig

CFG = TrainerConfig(max_epochs=1, batch_size=8, progress=False)


@pytest.fixture
def splits(generator):
    train = token_dataset(generator, n=24)
    val = token_dataset(generator, n=12, split="validation")
    test = token_dataset(generator, n=12, split="test")
    return train, val, test


def counting(monkeypatch):
    """Count the points that are evaluated (a finished point is read from the store)."""
    calls = []
    real = W.evaluate_point

    def spy(*args, **kwargs):
        calls.append((kwargs["alpha"], kwargs["beta"], kwargs["seed"]))
        return real(*args, **kwargs)

    monkeypatch.setattr(W, "evaluate_point", spy)
    return calls


def grid(splits, store, **kw):
    train, val, test = splits
    options = dict(alphas=[1.0], betas=[2.0], seeds=[0], trainer_config=CFG, store=store)
    options.update(kw)
    return W.alpha_beta_grid(lambda: backbone(train), train, val, test, **options)


def test_grid_resumes_from_the_result_store(splits, tmp_path, monkeypatch):
    calls = counting(monkeypatch)
    first = grid(splits, tmp_path / "store")
    assert calls == [(0.0, 0.0, 0), (1.0, 0.0, 0), (1.0, 2.0, 0)]
    assert len(ResultStore(tmp_path / "store").done()) == 3
    assert set(first["case"]) == {
        "normal",
        "noise/text",
        "noise/image",
        "missing/text",
        "missing/image",
    }

    calls.clear()
    again = grid(splits, tmp_path / "store")  # finished: nothing trained or evaluated
    assert calls == []
    pd.testing.assert_frame_equal(first, again)

    calls.clear()
    grown = grid(splits, tmp_path / "store", alphas=[1.0, 5.0], seeds=[0, 1])
    assert sorted(calls) == sorted(
        [(0.0, 0.0, 1), (1.0, 0.0, 1), (1.0, 2.0, 1), (5.0, 2.0, 0), (5.0, 2.0, 1)]
    )
    assert len(grown) == 2 * len(first) + 2 * len(first) // 3

    calls.clear()  # another trainer setting is another context: new points, old ones kept
    other = grid(splits, tmp_path / "store", trainer_config=dataclasses.replace(CFG, lr=3e-3))
    assert len(calls) == 3 and other["context"].nunique() == 1
    assert other["context"].iloc[0] != first["context"].iloc[0]
    assert len(ResultStore(tmp_path / "store").done()) == 8 + 3


def test_grid_models_of_finished_points_come_from_the_checkpoint_cache(splits, tmp_path):
    grid(splits, tmp_path / "store")
    models = {}
    grid(splits, tmp_path / "store", models=models)
    assert set(models) == {(0.0, 0.0, 0), (1.0, 0.0, 0), (1.0, 2.0, 0)}
    assert all(isinstance(m, WMA) for m in models.values())
    assert models[(1.0, 2.0, 0)].config.beta == 2.0 and bool(models[(1.0, 2.0, 0)].basis_ready)


def test_a_failed_point_is_reported_and_retried(splits, tmp_path, monkeypatch):
    real = W.evaluate_point

    def flaky(*args, **kwargs):
        if kwargs["alpha"] == 1.0 and kwargs["beta"] == 2.0:
            raise RuntimeError("disk full")
        return real(*args, **kwargs)

    monkeypatch.setattr(W, "evaluate_point", flaky)
    with pytest.raises(RuntimeError, match=r"1 of 3 points failed.*disk full.*error\.json"):
        grid(splits, tmp_path / "store")
    assert len(ResultStore(tmp_path / "store").done()) == 2
    monkeypatch.setattr(W, "evaluate_point", real)
    calls = counting(monkeypatch)  # the real function again: only the failed point runs
    frame = grid(splits, tmp_path / "store")
    assert calls == [(1.0, 2.0, 0)] and set(frame["regime"]) == {"baseline", "minimize OT", "WMA"}


def test_grid_rejects_unlabelled_conditions(splits, tmp_path):
    with pytest.raises(ValueError, match="label"):
        grid(splits, tmp_path / "s", conditions=[[]])


TINY = {"max_epochs": 1, "batch_size": 4}


def _hateful_memes(root, rng):
    write_hateful_memes(root, rng, sizes=(8, 4, 6))


def _mmimdb(root, rng):
    ids = [str(i) for i in range(14)]
    genres = {i: [["Drama"], ["Comedy", "Romance"], ["Drama", "Action"]][int(i) % 3] for i in ids}
    write_mmimdb(root, rng, {"train": ids[:6], "dev": ids[6:10], "test": ids[10:]}, genres)


def _ur_funny(root, rng):
    write_affect_npz(root, "humor", rng, sizes=(10, 8, 8))


def _mosei(root, rng):
    write_affect_npz(root, "mosei_senti_data", rng, sizes=(10, 6, 6))


@pytest.mark.parametrize(
    "dataset, write, backbone, n_modalities",
    [
        ("hateful_memes", _hateful_memes, "vilt", 2),
        ("mmimdb", _mmimdb, "vilt", 2),
        ("ur_funny", _ur_funny, "transformer", 3),
        ("mosei", _mosei, "transformer", 3),
    ],
)
def test_paper_datasets_end_to_end_through_their_loaders(
    dataset, write, backbone, n_modalities, tmp_path, rng
):
    write(tmp_path, rng)
    vilt = {"image_size": 32} if backbone == "vilt" else {}
    grid = W.profile_grid("smoke", dataset=dataset, data_root=str(tmp_path))
    point = next(iter(grid))
    settings = W._settings(point)
    settings.update(TINY)
    if vilt:
        settings["dataset_options"] = {**settings["dataset_options"], **vilt}
        settings["backbone_options"] = {**settings["backbone_options"], **vilt}
    setup = W.prepare(**{k: v for k, v in settings.items() if k != "wma_options"})
    train, val, test = setup.train, setup.validation, setup.test
    assert setup.backbone == backbone and len(train.modalities) == n_modalities
    if backbone == "vilt":  # raw text became ViLT ids: [CLS] ... [SEP]
        assert all(int(r[0]) == 1 and int(r[-1]) == 2 for r in train.inputs["text"])
    frames = []
    for alpha, beta in ((0.0, 0.0), (1.0, 0.0), (1.0, 2.0)):
        frames.append(W.run_point(alpha=alpha, beta=beta, seed=0, **settings))
    grid = pd.concat(frames, ignore_index=True)
    assert set(grid["metric"]) == {test.task.metric}
    assert len(grid) == 3 * (1 + 2 * n_modalities) and np.isfinite(grid["value"]).all()
    assert (grid["backbone"] == backbone).all()
    # the WMA term was active on every pair (Eq. 10 for three modalities)
    model, trainer = W.fit_wma(
        backbone_factory(train, backbone, **settings["backbone_options"]),
        train,
        val,
        alpha=1.0,
        beta=2.0,
        trainer_config=setup.trainer,
    )
    pairs = [c for c in trainer.history_.columns if c.startswith("train_D_")]
    assert len(pairs) == n_modalities * (n_modalities - 1) // 2
    assert (trainer.history_["train_ot_marginal_error"] < 1e-2).all()  # IPOT converged
    assert set(grid["variant"]) == {"paper"}
    table = W.paper_table(grid)  # the paper side: this dataset's cells
    assert len(table) == len(W.CLAIMS) and (table["dataset"] == dataset).all()
    assert (table["paper_verdict"] != "not tabulated").all()
    assert (table["verdict"] == "not clearly").all()  # one seed


def test_run_point_is_a_sweep_function(tmp_path, splits):
    from workbench.sweep import run_sweep

    train, val, test = splits
    points = [{"dataset": "easy_vqa", "alpha": a, "beta": 2.0, "seed": 0} for a in (0.0, 1.0)]
    fn = lambda **p: W.run_point(  # noqa: E731
        **p,
        splits={"train": train, "validation": val, "test": test},
        backbone="transformer",
        backbone_options={"d_model": 16, "n_heads": 4},
        max_epochs=1,
        batch_size=8,
    )
    summary = run_sweep(fn, points, tmp_path / "store")
    assert summary.ok and len(summary.finished) == 2
    again = run_sweep(fn, points, tmp_path / "store")
    assert again.finished == () and len(again.skipped) == 2
    df = again.load()
    assert set(df["regime"]) == {"baseline", "WMA"} and (df["backbone"] == "transformer").all()
    with pytest.raises(ValueError, match="conditions"):
        W.run_point(
            "easy_vqa",
            1.0,
            2.0,
            splits={"train": train, "validation": val, "test": test},
            conditions="x",
        )


def test_the_profiles_name_an_importable_run_point():
    from workbench.sweep import resolve_function

    for name in ("smoke", "cpu", "full"):
        cfg = load_profile("wma", name)
        assert cfg.function == "workbench.experiments.wma:run_point"
        assert resolve_function(cfg.function) is W.run_point
        points = list(cfg.grid)
        assert {(p["alpha"], p["beta"]) for p in points} >= {(0.0, 0.0), (1.0, 0.0)}
        assert len({tuple(sorted(map(str, p.items()))) for p in points}) == len(points)


def test_raw_image_text_needs_the_vilt_backbone(tmp_path, rng):
    write_hateful_memes(tmp_path, rng)
    with pytest.raises(ValueError, match="backbone='vilt'"):
        W.prepare(
            "hateful_memes",
            backbone="transformer",
            data_root=str(tmp_path),
            dataset_options={"image_size": 16},
        )


def _write_vilt_checkpoint(folder, max_text_len=40):
    """A tiny ViLT checkpoint laid out like a copy of ``dandelin/vilt-b32-mlm``: ``config.json``
    and weights from ``save_pretrained``, and the tokenizer's ``vocab.txt``."""
    from transformers import ViltConfig, ViltModel

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "meme", "plot", "more"]
    config = ViltConfig(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=32,
        patch_size=16,
        max_position_embeddings=max_text_len,
        vocab_size=len(words),
        max_image_length=4,
    )
    torch.manual_seed(123)
    model = ViltModel(config)
    model.save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    return model


@pytest.mark.parametrize("profile", ["smoke", "full"])
def test_a_pretrained_vilt_checkpoint_runs_end_to_end(profile, tmp_path, rng):
    """The paper's setting: ViLT weights and tokenizer from a local folder (no hub). The text is
    cut to the checkpoint's position table, whatever the profile, and its weights are used."""
    from workbench.models.transformer import ViltTransformer

    ckpt = tmp_path / "vilt"
    saved = _write_vilt_checkpoint(ckpt, max_text_len=5)
    _hateful_memes(tmp_path / "hm", rng)
    grid = W.profile_grid(
        profile, dataset="hateful_memes", data_root=str(tmp_path / "hm"), vilt_weights=str(ckpt)
    )
    point = next(iter(grid))
    settings = W._settings(point)
    settings.update(TINY, lr=1e-3, dataset_options={"image_size": 32}, cache=False)
    setup = W.prepare(**{k: v for k, v in settings.items() if k not in ("cache", "wma_options")})
    train = setup.train
    assert max(len(r) for r in train.inputs["text"]) <= 5  # the checkpoint's position table
    assert all(int(r[0]) == 2 and int(r[-1]) == 3 for r in train.inputs["text"])  # WordPiece
    model = setup.build()
    assert isinstance(model, ViltTransformer)
    for k, v in saved.state_dict().items():
        torch.testing.assert_close(model.vilt.state_dict()[k], v)
    df = W.run_point(alpha=1.0, beta=2.0, seed=0, **settings)
    assert len(df) == 1 + 2 * 2 and np.isfinite(df["value"]).all()
