"""The one encoder module: families, RAML's encoders (Sec. IV-A of the RAML paper), padding."""

import pytest
import torch

from workbench.data.base import MultimodalDataset, Task
from workbench.methods.imperfect_baselines import BASELINES, ImperfectConfig
from workbench.methods.raml import RAML, RAMLConfig
from workbench.models.encoders import (
    ConvEncoder,
    MaxPoolSequenceEncoder,
    MLPEncoder,
    ModalitySpec,
    SequenceEncoder,
    encoder_for,
    encoders_for,
    make_encoders,
    modality_specs,
)
from workbench.models.fusion import FusionConfig

SPECS = {
    "image": ModalitySpec((1, 8, 8)),
    "audio": ModalitySpec((-1, 5), sequence=True),
    "vec": ModalitySpec((7,)),
}


def _mixed_dataset(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    seqs = [
        torch.randn(int(torch.randint(1, 6, (1,), generator=g)), 5, generator=g) for _ in range(n)
    ]
    return MultimodalDataset(
        "toy",
        {"image": torch.randn(n, 1, 8, 8, generator=g), "audio": seqs, "vec": torch.randn(n, 7)},
        torch.randint(0, 3, (n,), generator=g),
        Task("multiclass", 3, "accuracy"),
    )


def test_modality_specs_read_the_dataset():
    assert modality_specs(_mixed_dataset()) == SPECS
    assert [s.kind for s in SPECS.values()] == ["image", "sequence", "vector"]
    assert [s.in_dim for s in SPECS.values()] == [64, 5, 7]


@pytest.mark.parametrize(
    ("family", "kinds"),
    [
        ("mlp", (MLPEncoder, MLPEncoder, MLPEncoder)),
        ("auto", (ConvEncoder, SequenceEncoder, MLPEncoder)),
        ("raml", (ConvEncoder, MaxPoolSequenceEncoder, MLPEncoder)),
    ],
)
def test_families_pick_by_modality_kind(family, kinds):
    encoders = encoders_for(SPECS, 6, family=family, hidden=(16,))
    assert tuple(type(e) for e in encoders.values()) == kinds
    ds = _mixed_dataset()
    batch = ds.full_batch()
    for m, enc in encoders.items():
        assert enc(batch.inputs[m], batch.mask(m)).shape == (len(ds), 6)


def test_raml_family_sizes_are_those_of_the_paper_encoders():
    # hidden = 36: the image CNN has 9 // 2 = 4 then 9 channels (stride 2), a linear 4 * 9 -> out
    enc = encoders_for(SPECS, 6, family="raml", hidden=(36,), sequence_encoder="cnn")
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items()}
    assert shapes["image.net.0.weight"] == (4, 1, 3, 3)
    assert shapes["image.net.2.weight"] == (9, 4, 3, 3)
    assert enc["image"].net[2].stride == (2, 2)
    assert shapes["image.net.7.weight"] == (6, 36)
    assert shapes["audio.conv.0.weight"] == (6, 5, 3) and shapes["audio.conv.2.weight"] == (6, 6, 3)
    assert shapes["vec.net.0.weight"] == (36, 7) and shapes["vec.net.3.weight"] == (6, 36)
    lstm = encoder_for(SPECS["audio"], 6, family="raml")
    assert isinstance(lstm.rnn, torch.nn.LSTM) and lstm.rnn.hidden_size == 6


def test_max_pool_sequence_encoder_ignores_padding_and_zeroes_empty_rows(generator):
    for kind in ("lstm", "cnn"):
        enc = MaxPoolSequenceEncoder(5, 4, kind).eval()
        x = torch.randn(3, 4, 5, generator=generator)
        mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
        padded = torch.cat([x, torch.randn(3, 2, 5, generator=generator)], dim=1)
        longer = torch.cat([mask, torch.zeros(3, 2, dtype=torch.bool)], dim=1)
        out = enc(x, mask)
        if kind == "lstm":  # a left-to-right LSTM never sees the padding at the end
            torch.testing.assert_close(enc(padded, longer), out)
        assert (out[2] == 0).all()


def test_unknown_family_and_sequence_kind_raise():
    with pytest.raises(ValueError, match="Encoder family"):
        encoder_for(SPECS["vec"], 4, family="lstm")
    with pytest.raises(ValueError, match="expected 'lstm' or 'cnn'"):
        encoder_for(SPECS["audio"], 4, family="raml", sequence_encoder="gru")


def test_make_encoders_is_the_family_of_the_fusion_config():
    ds = _mixed_dataset()
    config = FusionConfig.for_dataset(ds, embed_dim=6, hidden=(16,), encoder="auto", dropout=0.1)
    torch.manual_seed(0)
    a = make_encoders(config).state_dict()
    torch.manual_seed(0)
    b = encoders_for(modality_specs(ds), 6, family="auto", hidden=(16,), dropout=0.1).state_dict()
    assert list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="FusionConfig.encoder"):
        make_encoders(FusionConfig.for_dataset(ds, encoder="raml"))


@pytest.mark.parametrize("name", ["RAML", *BASELINES])
def test_raml_and_baselines_build_the_raml_family_first(name):
    """Encoders f_m are the first modules built, so their initial weights are those of
    ``encoders_for(..., family="raml")`` under the same seed (RAML: output ``hidden_dim``)."""
    ds = _mixed_dataset()
    options = dict(embed_dim=8, hidden_dim=16, sequence_encoder="cnn", dropout=0.1)
    torch.manual_seed(0)
    if name == "RAML":
        model, out = RAML(RAMLConfig.for_dataset(ds, **options)), 16
    else:
        model, out = BASELINES[name](ImperfectConfig.for_dataset(ds, **options)), 8
    torch.manual_seed(0)
    expected = encoders_for(
        modality_specs(ds), out, family="raml", hidden=(16,), sequence_encoder="cnn", dropout=0.1
    )
    got = model.encoders.state_dict()
    assert list(got) == list(expected.state_dict())
    assert all(torch.equal(got[k], v) for k, v in expected.state_dict().items())
    assert model.modalities == ds.modalities and model.task == ds.task
