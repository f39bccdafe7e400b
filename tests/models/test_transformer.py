"""One-tower transformer (Eq. 1-4 of the WMA paper) and the deterministic ViLT adapter."""

import pytest
import torch

from workbench.corruptions import MissingModality, UniformNoise
from workbench.data.base import MultimodalBatch, MultimodalDataset, Task, collate
from workbench.models.transformer import (
    OneTowerTransformer,
    TransformerConfig,
    ViltAdapterConfig,
    ViltTransformer,
    split_tokens,
)


def token_dataset(generator, n=12, dims=(6, 5), n_classes=3):
    y = torch.randint(0, n_classes, (n,), generator=generator)
    text = [
        torch.randn(
            int(torch.randint(2, 7, (1,), generator=generator)), dims[0], generator=generator
        )
        for _ in range(n)
    ]
    image = torch.randn(n, 4, dims[1], generator=generator)
    return MultimodalDataset(
        "tokens", {"text": text, "image": image}, y, Task("multiclass", n_classes, "accuracy")
    )


def small_model(ds, **kw):
    torch.manual_seed(0)
    return OneTowerTransformer(
        TransformerConfig.for_dataset(ds, d_model=16, n_heads=4, dropout=0.0, **kw)
    ).eval()


def test_output_shapes_and_token_extras(generator):
    ds = token_dataset(generator)
    model = small_model(ds)
    batch = ds.full_batch()
    out = model(batch)
    assert out.y_hat.shape == (len(ds), 3)
    L = batch.inputs["text"].shape[1]
    assert out.extras["tokens.text"].shape == (len(ds), L, 16)
    assert out.extras["tokens.image"].shape == (len(ds), 4, 16)
    assert torch.equal(out.extras["mask.text"], batch.mask("text"))
    assert out.extras["cls"].shape == (len(ds), 16)


def test_padding_does_not_change_a_sample(generator):
    ds = token_dataset(generator)
    model = small_model(ds)
    full = model(ds.full_batch())
    lengths = [int(x.shape[0]) for x in ds.inputs["text"]]
    i = min(range(len(ds)), key=lambda k: lengths[k])  # the most padded sample
    alone = model(collate([ds[i]]))
    torch.testing.assert_close(full.y_hat[i], alone.y_hat[0], atol=1e-5, rtol=1e-5)
    L = lengths[i]
    torch.testing.assert_close(
        full.extras["tokens.text"][i, :L], alone.extras["tokens.text"][0], atol=1e-5, rtol=1e-5
    )


def test_split_tokens_layout():
    H = torch.arange(2 * 6 * 1, dtype=torch.float).view(2, 6, 1)
    parts = split_tokens(H, {"a": 2, "b": 3})
    assert torch.equal(parts["cls"], H[:, 0])
    assert torch.equal(parts["a"], H[:, 1:3]) and torch.equal(parts["b"], H[:, 3:6])
    with pytest.raises(ValueError, match="tokens"):
        split_tokens(H, {"a": 2})


class _Capture:
    """Wrap ``predict`` to record the embeddings it receives."""

    def __init__(self, model):
        self.seen = None
        self.inner = model.predict
        model.predict = self

    def __call__(self, embeddings, present):
        self.seen = (embeddings, present)
        return self.inner(embeddings, present)


@pytest.mark.parametrize("kind", ["noise", "missing"])
def test_corruptions_reach_the_embeddings(generator, kind):
    ds = token_dataset(generator)
    model = small_model(ds)
    batch = ds.full_batch()
    clean = model.embed(batch)
    cap = _Capture(model)
    if kind == "noise":
        cond = [UniformNoise("image", amplitude=3.0, level="embedding")]
    else:
        cond = [MissingModality("image", rate=1.0, level="embedding")]
    model(batch, cond, torch.Generator().manual_seed(0))
    emb, present = cap.seen
    diff = emb["image"] - clean["image"]
    torch.testing.assert_close(emb["text"], clean["text"])  # other modality untouched
    if kind == "noise":
        assert diff.abs().max() <= 3.0 + 1e-5 and diff.abs().max() > 1.0
        assert present.all()
    else:
        assert torch.equal(emb["image"], torch.zeros_like(emb["image"]))
        assert not present[:, 1].any() and present[:, 0].all()


def test_mask_missing_option_changes_prediction(generator):
    ds = token_dataset(generator)
    batch = ds.full_batch()
    cond = [MissingModality("image", rate=1.0, level="embedding")]
    a = small_model(ds)(batch, cond, torch.Generator().manual_seed(0)).y_hat
    b = small_model(ds, mask_missing=True)(batch, cond, torch.Generator().manual_seed(0)).y_hat
    assert not torch.allclose(a, b)


def test_config_errors(generator):
    ds = token_dataset(generator)
    with pytest.raises(ValueError, match="divisible"):
        TransformerConfig.for_dataset(ds, d_model=10, n_heads=4)
    model = small_model(ds, max_tokens=3)
    with pytest.raises(ValueError, match="max_tokens"):
        model(ds.full_batch())


# ----------------------------------------------------------------------------- ViLT adapter


def vilt_batch(generator, B=3, L=7, vocab=100, image_size=32):
    ids = torch.randint(1, vocab, (B, L), generator=generator)
    pixels = torch.randn(B, 3, image_size, image_size, generator=generator)
    return MultimodalBatch(
        {"text": ids, "image": pixels}, torch.ones(B, 2, dtype=torch.bool), torch.zeros(B)
    )


def small_vilt(**kw):
    torch.manual_seed(0)
    cfg = ViltAdapterConfig(
        in_dims={"text": 0, "image": 0},
        task=Task("binary", 1, "auroc"),
        vocab_size=100,
        hidden_size=32,
        n_heads=4,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
        **kw,
    )
    return ViltTransformer(cfg)


def test_vilt_forward_is_deterministic_and_leaves_global_rng(generator):
    model = small_vilt().eval()
    batch = vilt_batch(generator)
    state = torch.get_rng_state()
    a, b = model(batch), model(batch)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a.y_hat, b.y_hat)
    assert torch.equal(a.extras["tokens.image"], b.extras["tokens.image"])
    assert a.extras["tokens.image"].shape == (3, 16, 32)  # 4x4 patches, image CLS dropped
    assert a.extras["tokens.text"].shape == (3, 6, 32)  # text CLS is H^cls


def test_vilt_adapter_matches_hugging_face_pooled_output(generator):
    """Up to the (random) image-token order, which the CLS output does not depend on."""
    model = small_vilt(dropout=0.0).eval()
    batch = vilt_batch(generator)
    ours = model.vilt.pooler(model(batch).extras["cls"][:, None])
    with torch.random.fork_rng():
        ref = model.vilt(
            input_ids=batch.inputs["text"], pixel_values=batch.inputs["image"]
        ).pooler_output
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def test_vilt_runs_on_token_features(generator):
    cfg = ViltAdapterConfig(
        in_dims={"text": 6, "image": 5},
        task=Task("multiclass", 3),
        vocab_size=50,
        hidden_size=32,
        n_heads=4,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )
    model = ViltTransformer(cfg).eval()
    ds = token_dataset(generator)
    out = model(ds.full_batch())
    assert out.y_hat.shape == (len(ds), 3)
    assert out.extras["tokens.image"].shape[1] == 4
    assert torch.equal(out.extras["mask.text"], ds.full_batch().mask("text"))


def test_missing_pretrained_checkpoint_fails_fast(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    cfg = ViltAdapterConfig(
        in_dims={"text": 0, "image": 0},
        task=Task("binary", 1),
        pretrained="no-such-org/no-such-vilt",
    )
    with pytest.raises(FileNotFoundError, match="ViLT weights"):
        ViltTransformer(cfg)


def test_vilt_config_needs_text_and_image():
    with pytest.raises(ValueError, match="one text and one image"):
        ViltAdapterConfig(in_dims={"text": 0, "audio": 3}, task=Task("binary", 1))
