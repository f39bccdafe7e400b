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


def small_vilt(vocab_size=100, **kw):
    torch.manual_seed(0)
    cfg = ViltAdapterConfig(
        in_dims={"text": 0, "image": 0},
        task=Task("binary", 1, "auroc"),
        vocab_size=vocab_size,
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


@pytest.mark.parametrize("mean_std", [(0.5, 0.5), None])
def test_vilt_adapter_matches_hugging_face_pooled_output(generator, mean_std):
    """Up to the (random) image-token order, which the CLS output does not depend on; the
    adapter takes pixels in [0, 1] and normalises them as ViltImageProcessor does."""
    model = small_vilt(dropout=0.0, pixel_mean_std=mean_std).eval()
    batch = vilt_batch(generator)
    ours = model.vilt.pooler(model(batch).extras["cls"][:, None])
    pixels = batch.inputs["image"]
    if mean_std is not None:
        pixels = (pixels - mean_std[0]) / mean_std[1]
    with torch.random.fork_rng():
        ref = model.vilt(input_ids=batch.inputs["text"], pixel_values=pixels).pooler_output
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)


def byte_text_dataset(texts):
    from workbench.data._real import encode_text

    n = len(texts)
    return MultimodalDataset(
        "memes",
        {"text": [encode_text(t) for t in texts], "image": torch.rand(n, 3, 32, 32)},
        torch.zeros(n),
        Task("binary", 1, "auroc"),
    )


def test_vilt_text_ids_byte_level_cls_sep_and_truncation():
    from workbench.models.transformer import BYTE_CLS, BYTE_SEP, vilt_text_ids

    ds = vilt_text_ids(byte_text_dataset(["hi", "a much longer meme text"]), max_len=6)
    a, b = ds.inputs["text"]
    assert a.tolist() == [BYTE_CLS, ord("h") + 3, ord("i") + 3, BYTE_SEP]
    assert len(b) == 6 and b[0] == BYTE_CLS and b[-1] == BYTE_SEP
    assert b[1:-1].tolist() == [c + 3 for c in b"a mu"]
    out = small_vilt(vocab_size=259)(
        ds.full_batch()
    )  # ids run through the adapter; padding is masked
    assert out.extras["mask.text"].sum(1).tolist() == [3, 5]


def test_vilt_text_ids_with_a_tokenizer_folder(tmp_path):
    from workbench.models.transformer import vilt_text_ids

    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "meme"]
    (tmp_path / "vocab.txt").write_text("\n".join(vocab) + "\n")  # as in a ViLT checkpoint
    ds = vilt_text_ids(byte_text_dataset(["hello world", "meme zzz"]), str(tmp_path))
    assert [r.tolist() for r in ds.inputs["text"]] == [[2, 5, 6, 3], [2, 7, 1, 3]]
    with pytest.raises(FileNotFoundError, match="tokenizer files"):
        vilt_text_ids(byte_text_dataset(["x"]), str(tmp_path / "empty"))
    with pytest.raises(ValueError, match="byte ids"):
        vilt_text_ids(ds.replace(inputs={**ds.inputs, "text": torch.rand(2, 4, 3)}))


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
