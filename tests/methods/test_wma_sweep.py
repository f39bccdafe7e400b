"""WMA's α×β grid as a resumable sweep, its profiles, and end-to-end runs of the paper's
datasets through their loaders (tiny fixtures in the published formats)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
from real_formats import write_affect_npz, write_hateful_memes, write_mmimdb
from test_wma import backbone, token_dataset

from workbench.methods import wma as W
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
    assert all(isinstance(m, W.WMA) for m in models.values())
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


def test_profiles_follow_the_paper():
    full = W.profile_settings("mmimdb", "full", seed=3)
    assert full.backbone == "vilt" and full.trainer.batch_size == 64 and full.trainer.patience == 5
    assert full.trainer.schedule == "linear" and full.lrs == W.PAPER_LRS and full.seeds == (3, 4, 5)
    assert full.alphas == W.PAPER_ALPHAS and full.betas == W.PAPER_BETAS
    assert full.sizes == W.VILT_B  # no weights: ViLT-B's architecture, random init
    assert W.profile_settings("mmimdb", "full", vilt_weights="/w").sizes == {}
    assert W.profile_settings("mosei", "full").trainer.batch_size == 256
    smoke = W.profile_settings("easy_vqa")
    assert smoke.backbone == "transformer" and len(smoke.seeds) >= 3
    assert len(smoke.alphas) * len(smoke.betas) < len(full.alphas) * len(full.betas)
    with pytest.raises(ValueError, match="profile"):
        W.profile_settings("easy_vqa", "huge")


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
    settings = W.profile_settings(dataset)
    train, val, test = W.load_data(
        settings, tmp_path, dataset_options={"image_size": 32} if backbone == "vilt" else None
    )
    assert settings.backbone == backbone and len(train.modalities) == n_modalities
    if backbone == "vilt":  # raw text became ViLT ids: [CLS] ... [SEP]
        assert all(int(r[0]) == 1 and int(r[-1]) == 2 for r in train.inputs["text"])
    frames = []
    for alpha, beta in ((0.0, 0.0), (1.0, 0.0), (1.0, 2.0)):
        df = W.run_point(
            dataset,
            alpha,
            beta,
            data_root=str(tmp_path),
            dataset_options={"image_size": 32} if backbone == "vilt" else None,
            backbone_options={"image_size": 32} if backbone == "vilt" else None,
            trainer_options=TINY,
        )
        frames.append(df)
    grid = pd.concat(frames, ignore_index=True)
    assert set(grid["metric"]) == {test.task.metric}
    assert len(grid) == 3 * (1 + 2 * n_modalities) and np.isfinite(grid["value"]).all()
    assert (grid["backbone"] == backbone).all()
    # the WMA term was active on every pair (Eq. 10 for three modalities)
    model, trainer = W.fit_wma(
        W.backbone_factory(
            train,
            backbone,
            **({"image_size": 32} if backbone == "vilt" else {})
            | dict(settings.sizes if backbone == "transformer" else {}),
        ),
        train,
        val,
        alpha=1.0,
        beta=2.0,
        trainer_config=dataclasses.replace(settings.trainer, **TINY),
    )
    pairs = [c for c in trainer.history_.columns if c.startswith("train_D_")]
    assert len(pairs) == n_modalities * (n_modalities - 1) // 2
    table = W.paper_comparison(W.regime_frame(grid, 1.0, 2.0), dataset)
    assert table["workbench"].notna().sum() == 3 * (1 + 2 * n_modalities)
    assert set(table["method"]) == {"baseline", "minimize OT", "WMA"}


def test_run_point_is_a_sweep_function(tmp_path, splits):
    from workbench.sweep import run_sweep

    train, val, test = splits
    points = [{"dataset": "easy_vqa", "alpha": a, "beta": 2.0, "seed": 0} for a in (0.0, 1.0)]
    fn = lambda **p: W.run_point(  # noqa: E731
        **p,
        splits={"train": train, "validation": val, "test": test},
        backbone_options={"d_model": 16, "n_heads": 4},
        trainer_options={"max_epochs": 1, "batch_size": 8},
    )
    summary = run_sweep(fn, points, tmp_path / "store")
    assert summary.ok and len(summary.finished) == 2
    again = run_sweep(fn, points, tmp_path / "store")
    assert again.finished == () and len(again.skipped) == 2
    df = again.load()
    assert set(df["regime"]) == {"baseline", "WMA"} and (df["profile"] == "smoke").all()
    with pytest.raises(ValueError, match="conditions"):
        W.run_point(
            "easy_vqa",
            1.0,
            2.0,
            splits={"train": train, "validation": val, "test": test},
            conditions="x",
        )


def test_sweep_config_file_names_an_importable_function():
    from workbench.sweep import load_config

    cfg = load_config("configs/wma_smoke.yaml")
    assert cfg.function == "workbench.methods.wma:run_point"
    points = list(cfg.grid)
    assert {(p["alpha"], p["beta"]) for p in points} >= {(0.0, 0.0), (1.0, 0.0)}
    assert all(p["dataset"] == "easy_vqa" for p in points)
    torch.testing.assert_close(
        torch.tensor(len(points)), torch.tensor(len({tuple(sorted(p.items())) for p in points}))
    )


def test_raw_image_text_needs_the_vilt_backbone(tmp_path, rng):
    write_hateful_memes(tmp_path, rng)
    settings = W.profile_settings("hateful_memes", backbone="transformer")
    with pytest.raises(ValueError, match="backbone='vilt'"):
        W.load_data(settings, tmp_path, dataset_options={"image_size": 16})


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
    settings = W.profile_settings("hateful_memes", profile, vilt_weights=str(ckpt))
    assert settings.text_max_len == 5  # read from the checkpoint's config
    train, _, _ = W.load_data(
        settings, tmp_path / "hm", vilt_weights=str(ckpt), dataset_options={"image_size": 32}
    )
    assert max(len(r) for r in train.inputs["text"]) <= 5
    assert all(int(r[0]) == 2 and int(r[-1]) == 3 for r in train.inputs["text"])  # WordPiece
    model = W.backbone_factory(train, "vilt", pretrained=str(ckpt))()
    assert isinstance(model, ViltTransformer)
    for k, v in saved.state_dict().items():
        torch.testing.assert_close(model.vilt.state_dict()[k], v)
    df = W.run_point(
        "hateful_memes",
        1.0,
        2.0,
        profile=profile,
        data_root=str(tmp_path / "hm"),
        vilt_weights=str(ckpt),
        dataset_options={"image_size": 32},
        trainer_options=TINY,
        lrs=[1e-3],
        cache=False,
    )
    assert len(df) == 1 + 2 * 2 and np.isfinite(df["value"]).all()
