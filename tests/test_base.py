"""The dataset / batch / collate contract and its bad-input errors."""

import math

import pytest
import torch

from workbench import data
from workbench.corruptions import MissingModality, UniformNoise
from workbench.data.base import MultimodalBatch, MultimodalDataset, Task, collate

TASK = Task("multiclass", 3, "accuracy")


def sequence_dataset(generator, n=5):
    lengths = [3, 1, 4, 2, 5][:n]
    tokens = [torch.randn(L, 2, generator=generator) for L in lengths]
    feats = torch.randn(n, 4, generator=generator)
    y = torch.arange(n) % 3
    return MultimodalDataset("toy", {"tokens": tokens, "feats": feats}, y, TASK), lengths


def test_collate_pads_sequences_with_lengths_and_masks(generator):
    ds, lengths = sequence_dataset(generator)
    batch = collate([ds[i] for i in range(len(ds))])
    assert batch.modalities == ("tokens", "feats")
    assert batch.inputs["tokens"].shape == (5, max(lengths), 2)
    assert batch.inputs["feats"].shape == (5, 4)
    assert batch.lengths["tokens"].tolist() == lengths
    assert "feats" not in batch.lengths and batch.mask("feats") is None
    mask = batch.mask("tokens")
    assert mask.sum(1).tolist() == lengths
    for i, L in enumerate(lengths):
        torch.testing.assert_close(batch.inputs["tokens"][i, :L], ds.inputs["tokens"][i])
        assert torch.all(batch.inputs["tokens"][i, L:] == 0)
    assert batch.present.dtype == torch.bool and batch.present.all()
    assert batch.index.tolist() == list(range(5))


def test_sequence_of_one_length_is_still_a_sequence(generator):
    # all items of the same length: still padded as a sequence with lengths recorded
    ds = MultimodalDataset(
        "toy",
        {"tokens": [torch.randn(3, 2, generator=generator) for _ in range(4)]},
        torch.zeros(4),
        TASK,
    )
    batch = ds.full_batch()
    assert batch.lengths["tokens"].tolist() == [3, 3, 3, 3]
    assert ds.is_sequence("tokens") and ds.modality_shape("tokens") == (-1, 2)


def test_loader_batches_and_needs_generator_to_shuffle(generator):
    ds, _ = sequence_dataset(generator)
    sizes = [len(b) for b in ds.loader(2)]
    assert sizes == [2, 2, 1]
    with pytest.raises(ValueError, match="Generator"):
        ds.loader(2, shuffle=True)
    a = [
        b.index.tolist()
        for b in ds.loader(2, shuffle=True, generator=torch.Generator().manual_seed(3))
    ]
    b = [
        b.index.tolist()
        for b in ds.loader(2, shuffle=True, generator=torch.Generator().manual_seed(3))
    ]
    assert a == b


def test_batch_select_replace_to(generator):
    ds, _ = sequence_dataset(generator)
    batch = ds.full_batch()
    sub = batch.select(torch.tensor([0, 2]))
    assert len(sub) == 2 and sub.lengths["tokens"].tolist() == [3, 4]
    new = batch.replace(y=batch.y + 1)
    assert torch.equal(batch.y, torch.arange(5) % 3)  # original untouched
    assert torch.equal(new.y, batch.y + 1)
    assert batch.to("cpu").inputs["feats"].device.type == "cpu"


def test_subset_keeps_rows_and_presence(generator):
    ds, lengths = sequence_dataset(generator)
    sub = ds.subset([4, 1], split="validation")
    assert len(sub) == 2 and sub.split == "validation"
    assert [int(x.shape[0]) for x in sub.inputs["tokens"]] == [lengths[4], lengths[1]]


def test_synthetic_is_deterministic_and_split():
    a = data.load_splits("synthetic", n_samples=200, seed=5)
    b = data.load_splits("synthetic", n_samples=200, seed=5)
    c = data.load_splits("synthetic", n_samples=200, seed=6)
    assert set(a) >= {"train", "validation", "test"}
    assert sum(len(a[s]) for s in ("train", "validation", "test")) == 200
    torch.testing.assert_close(a["train"].inputs["m0"], b["train"].inputs["m0"])
    assert not torch.equal(a["train"].inputs["m0"], c["train"].inputs["m0"])
    assert "synthetic" in data.available()


# ----------------------------------------------------------------------------- bad input


def test_unknown_dataset_names_the_known_ones():
    with pytest.raises(ValueError, match=r"Unknown dataset 'nope'.*synthetic"):
        data.load("nope", "train")


def test_unknown_split():
    with pytest.raises(ValueError, match=r"no split 'dev'.*validation"):
        data.load("synthetic", "dev")


def test_missing_data_root(tmp_path):
    missing = tmp_path / "does-not-exist"
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        data.load("synthetic", "train", root=missing)


def test_unknown_modality(generator):
    ds, _ = sequence_dataset(generator)
    with pytest.raises(ValueError, match=r"Unknown modality 'audio'.*tokens"):
        ds.modality_shape("audio")
    batch = ds.full_batch()
    with pytest.raises(ValueError, match=r"Unknown modality 'audio'"):
        batch.column("audio")
    with pytest.raises(ValueError, match="'audio'"):
        UniformNoise("audio", 1.0, level="input")(batch, generator)
    with pytest.raises(ValueError, match="'audio'"):
        MissingModality("audio", 0.5, level="input")(batch, generator)


def test_batch_size_disagreement():
    with pytest.raises(ValueError, match="batch size"):
        MultimodalBatch(
            inputs={"a": torch.zeros(3, 2), "b": torch.zeros(4, 2)},
            present=torch.ones(3, 2, dtype=torch.bool),
            y=torch.zeros(3),
        )
    with pytest.raises(ValueError, match="samples but y has"):
        MultimodalDataset("toy", {"a": torch.zeros(3, 2)}, torch.zeros(4), TASK)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_inf_inputs_are_refused(bad):
    x = torch.zeros(4, 2)
    x[2, 1] = bad
    with pytest.raises(ValueError, match=r"'a'.*NaN or inf"):
        MultimodalDataset("toy", {"a": x}, torch.zeros(4), TASK)
    seq = [torch.zeros(2, 2), torch.full((3, 2), bad)]
    with pytest.raises(ValueError, match=r"'s'.*NaN or inf"):
        MultimodalDataset("toy", {"s": seq}, torch.zeros(2), TASK)


def test_bad_task_and_present():
    with pytest.raises(ValueError, match="task kind"):
        Task("ranking", 2)
    with pytest.raises(ValueError, match="bool"):
        MultimodalBatch(inputs={"a": torch.zeros(2, 1)}, present=torch.ones(2, 1), y=torch.zeros(2))
    with pytest.raises(ValueError, match="empty"):
        collate([])


def test_dataset_replace_keeps_contract_and_never_mutates():
    seqs = [torch.ones(L, 3) for L in (2, 5, 3)]
    images = [torch.zeros(1, 2, 2) for _ in range(3)]
    ds = MultimodalDataset(
        "synthetic", {"audio": seqs, "image": images}, torch.tensor([0, 1, 0]),
        Task("multiclass", 2), sequences=("audio",),
    )
    present = ds.present.clone()
    present[0, 0] = False
    new = ds.replace(present=present, meta={"note": "x"})
    assert ds.present.all() and not new.present[0, 0]
    assert new.is_sequence("audio") and new.modality_shape("image") == (1, 2, 2)
    batch = new.full_batch()
    assert "audio" in batch.lengths and "image" not in batch.lengths
    with pytest.raises(ValueError, match="unknown fields"):
        ds.replace(task=None)
