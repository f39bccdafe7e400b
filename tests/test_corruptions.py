"""Corruptions: determinism, requested statistics, purity, patterns, unalignment, end to end."""

from __future__ import annotations

import math

import pytest
import torch

from workbench import corruptions as C
from workbench.data.base import MultimodalBatch
from workbench.data.synthetic import make_synthetic
from workbench.evaluation import evaluate
from workbench.models.fusion import ConcatFusion, FusionConfig


def _batch(n: int = 2000, *, seed: int = 0) -> MultimodalBatch:
    g = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 11, (n,), generator=g)
    ids = torch.randint(1000, 2000, (n, 10), generator=g)
    pad = torch.arange(10)[None, :] >= lengths[:, None]
    return MultimodalBatch(
        inputs={
            "image": torch.rand(n, 3, 4, 4, generator=g),
            "text": ids.masked_fill(pad, 0),
            "tok": torch.randn(n, 10, 6, generator=g).masked_fill(pad[..., None], 0),
            "feat": torch.randn(n, 5, generator=g),
        },
        present=torch.ones(n, 4, dtype=torch.bool),
        y=torch.randint(0, 3, (n,), generator=g),
        modalities=("image", "text", "tok", "feat"),
        lengths={"text": lengths, "tok": lengths.clone()},
        index=torch.arange(n),
    )


ALL = [
    C.Clean(),
    C.UniformNoise("feat", 0.5, level="input"),
    C.GaussianNoise("image", 0.18),
    C.WordMask("text", 0.2),
    C.WordMask("tok", 0.2),
    C.MissingModality("feat", 0.5, level="input"),
    C.MissingPattern(("image", "text")),
    C.RandomMissingPattern(),
    C.Unalign(),
    C.EnergyNoise("feat", 0.3),
    C.compose(C.GaussianNoise("image", 0.1), C.WordMask("text", 0.1)),
]


def _equal(a: MultimodalBatch, b: MultimodalBatch) -> bool:
    return (
        all(torch.equal(a.inputs[m], b.inputs[m]) for m in a.inputs)
        and torch.equal(a.present, b.present)
        and all(torch.equal(a.lengths[m], b.lengths[m]) for m in a.lengths)
    )


@pytest.mark.parametrize("c", ALL, ids=lambda c: c.name)
def test_deterministic_and_pure(c):
    batch = _batch(300)
    snapshot = batch.replace(
        inputs={m: x.clone() for m, x in batch.inputs.items()},
        present=batch.present.clone(),
        lengths={m: v.clone() for m, v in batch.lengths.items()},
    )
    out1 = c(batch, torch.Generator().manual_seed(7))
    out2 = c(batch, torch.Generator().manual_seed(7))
    assert _equal(out1, out2)
    assert _equal(batch, snapshot), "the corruption mutated its input batch"
    if c.name not in ("normal", "missing_pattern"):  # the deterministic ones
        out3 = c(batch, torch.Generator().manual_seed(8))
        assert not _equal(out1, out3)


@pytest.mark.parametrize("c", ALL, ids=lambda c: c.name)
def test_never_all_missing(c):
    batch = _batch(500)
    # pre-existing missingness: the first 100 samples only have "feat"
    present = batch.present.clone()
    present[:100, :3] = False
    out = c(batch.replace(present=present), torch.Generator().manual_seed(0))
    assert out.present.any(dim=1).all()


def test_gaussian_noise_statistics():
    batch = _batch(2000)
    for sigma, param, std in [(0.18, "std", 0.18), (0.09, "variance", 0.3)]:
        out = C.GaussianNoise("image", sigma, parameterization=param)(
            batch, torch.Generator().manual_seed(1)
        )
        diff = out.inputs["image"] - batch.inputs["image"]
        n = diff.numel()
        assert abs(float(diff.mean())) < 5 * std / math.sqrt(n)
        # std of the sample std is about std / sqrt(2n)
        assert abs(float(diff.std()) - std) < 5 * std / math.sqrt(2 * n)
        assert torch.equal(out.inputs["text"], batch.inputs["text"])


def test_gaussian_noise_skips_missing_and_clips():
    batch = _batch(200)
    present = batch.present.clone()
    present[:50, 0] = False
    out = C.GaussianNoise("image", 0.3, clip=(0.0, 1.0))(
        batch.replace(present=present), torch.Generator().manual_seed(0)
    )
    assert torch.equal(out.inputs["image"][:50], batch.inputs["image"][:50])
    assert float(out.inputs["image"].min()) >= 0 and float(out.inputs["image"].max()) <= 1


def test_word_mask_rate_and_padding():
    batch = _batch(3000)
    p = 0.2
    out = C.WordMask("text", p, mask_id=7)(batch, torch.Generator().manual_seed(2))
    mask = batch.mask("text")
    hit = out.inputs["text"] == 7
    assert not (hit & ~mask).any(), "padding was masked"
    n_real = int(mask.sum())
    rate = float(hit.sum()) / n_real
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n_real)
    assert torch.equal(out.inputs["text"][~hit], batch.inputs["text"][~hit])
    # token features: masked tokens become zero vectors, padding untouched
    out = C.WordMask("tok", p)(batch, torch.Generator().manual_seed(2))
    zeroed = (out.inputs["tok"] == 0).all(-1) & mask
    rate = float(zeroed.sum()) / n_real
    assert abs(rate - p) < 5 * math.sqrt(p * (1 - p) / n_real)


def test_word_mask_protects_special_ids():
    ids = torch.tensor([[101, 5, 6, 102, 0]])
    batch = MultimodalBatch({"text": ids}, torch.ones(1, 1, dtype=torch.bool), torch.zeros(1))
    out = C.WordMask("text", 1.0)(batch, torch.Generator().manual_seed(0))
    assert out.inputs["text"].tolist() == [[101, 103, 103, 102, 0]]


def test_missing_modality_rate():
    batch = _batch(4000)
    rate = 0.3
    out = C.MissingModality("image", rate, level="input")(batch, torch.Generator().manual_seed(3))
    dropped = ~out.present[:, 0]
    n = len(batch)
    assert abs(float(dropped.float().mean()) - rate) < 5 * math.sqrt(rate * (1 - rate) / n)
    assert (out.inputs["image"][dropped] == 0).all()
    assert torch.equal(out.inputs["image"][~dropped], batch.inputs["image"][~dropped])


def test_all_missing_patterns_count():
    for M in range(1, 6):
        mods = tuple(f"m{i}" for i in range(M))
        patterns = C.all_missing_patterns(mods)
        assert len(patterns) == 2**M - 1
        assert len(set(patterns)) == len(patterns)
        assert all(patterns) and patterns[-1] == mods


def test_missing_pattern_keeps_exactly_the_pattern():
    batch = _batch(100)
    for pattern in C.all_missing_patterns(batch.modalities):
        out = C.MissingPattern(pattern)(batch, torch.Generator())
        expect = torch.tensor([m in pattern for m in batch.modalities])
        assert (out.present == expect).all()
        for m in batch.modalities:
            if m not in pattern:
                assert (out.inputs[m] == 0).all()
    with pytest.raises(ValueError):
        C.MissingPattern(())
    with pytest.raises(ValueError):
        C.MissingPattern(("nope",))(batch, torch.Generator())


def test_pattern_augmentation():
    batch = _batch(3000)
    expanded = C.expand_missing_patterns(batch)
    P = 2 ** len(batch.modalities) - 1
    assert len(expanded) == P * len(batch)
    assert expanded.present.any(1).all()
    out = C.RandomMissingPattern()(batch, torch.Generator().manual_seed(0))
    codes = (out.present.long() * (2 ** torch.arange(4))).sum(1)
    counts = torch.bincount(codes, minlength=16)[1:].float()
    assert counts.min() > 0 and float(counts.max() / counts.min()) < 1.6  # uniform over 15 patterns


def test_unalign_keeps_multisets_and_breaks_pairs():
    batch = _batch(500)
    out = C.Unalign(("image", "tok"))(batch, torch.Generator().manual_seed(0))
    for m in ("image", "tok"):
        a = batch.inputs[m].flatten(1)
        b = out.inputs[m].flatten(1)
        assert torch.equal(torch.sort(a.sum(1)).values, torch.sort(b.sum(1)).values)
        assert float((a == b).all(1).float().mean()) < 0.05
    assert torch.equal(out.inputs["feat"], batch.inputs["feat"])
    # lengths follow their rows
    assert torch.equal((out.inputs["tok"].abs().sum(-1) > 0).sum(1), out.lengths["tok"])


def test_unalign_dataset():
    train = make_synthetic(200, seed=0)["train"]
    out = C.unalign(train, generator=torch.Generator().manual_seed(0))
    perm = out.meta["unaligned_permutations"]["m1"]
    assert torch.equal(out.inputs["m1"], train.inputs["m1"][perm])
    assert torch.equal(out.inputs["m0"], train.inputs["m0"]) and torch.equal(out.y, train.y)
    assert float((perm == torch.arange(len(train))).float().mean()) < 0.05


def test_energy_noise_ratio_exact():
    batch = _batch(100)
    for r in (0.0, 0.1, 0.5):
        out = C.EnergyNoise("feat", r)(batch, torch.Generator().manual_seed(0))
        noise = out.inputs["feat"] - batch.inputs["feat"]
        ratio = noise.pow(2).sum(1) / batch.inputs["feat"].pow(2).sum(1)
        assert torch.allclose(ratio, torch.full_like(ratio, r), atol=1e-4)
    out = C.EnergyNoise("tok", 0.2)(batch, torch.Generator().manual_seed(0))
    noise = out.inputs["tok"] - batch.inputs["tok"]
    assert (noise[~batch.mask("tok")] == 0).all()


def test_compose_order_and_levels():
    c = C.compose(C.GaussianNoise("image", 0.1), C.MissingModality("feat", 1.0))
    assert c.level == "mixed" and c.severity == 0.1
    batch = _batch(50)
    out = c(batch, torch.Generator().manual_seed(0))
    assert out.present[:, 3].all(), "an embedding-level part must not act at the input level"
    emb = {"image": torch.ones(50, 2), "feat": torch.ones(50, 2)}
    emb2, present = c.on_embeddings(
        emb, batch.present, batch.modalities, torch.Generator().manual_seed(0)
    )
    assert not present[:, 3].any() and (emb2["feat"] == 0).all()


def test_registry_names():
    for name in ("gaussian_noise", "word_mask", "missing_pattern", "unalign", "energy_noise"):
        assert name in C.available()
    assert C.get("gaussian_noise", modality="x", sigma=0.2) == C.GaussianNoise("x", 0.2)


@pytest.mark.parametrize(
    "corruption",
    [
        C.GaussianNoise("m0", 0.3),
        C.GaussianNoise("m0", 0.3, level="embedding"),
        C.EnergyNoise("m1", 0.5),
        C.MissingPattern(("m0",), level="embedding"),
        C.UniformNoise("m1", 3.0),
    ],
    ids=lambda c: f"{c.name}-{c.level}",
)
def test_end_to_end_through_evaluate(corruption):
    splits = make_synthetic(300, seed=0)
    torch.manual_seed(0)
    model = ConcatFusion(FusionConfig.for_dataset(splits["train"], embed_dim=8, hidden=(16,)))
    clean = evaluate(model, splits["test"])
    a = evaluate(
        model, splits["test"], corruptions=[corruption], generator=torch.Generator().manual_seed(0)
    )
    b = evaluate(
        model, splits["test"], corruptions=[corruption], generator=torch.Generator().manual_seed(0)
    )
    assert a == b and 0.0 <= a <= 1.0 and 0.0 <= clean <= 1.0


def test_severity_conditions_clean_then_noise_then_missing_modality_major():
    conds = C.severity_conditions(("a", "b"), amplitudes=(0.5, 3), rates=(0.25,))
    assert isinstance(conds[0], C.Clean)
    assert [(c.name, c.modality, c.severity) for c in conds[1:]] == [
        ("noise", "a", 0.5), ("noise", "a", 3.0), ("noise", "b", 0.5), ("noise", "b", 3.0),
        ("missing", "a", 0.25), ("missing", "b", 0.25),
    ]
    assert all(c.level == "embedding" for c in conds[1:])
    only = C.severity_conditions(["a"], rates=[1.0], clean=False, level="input")
    assert len(only) == 1 and isinstance(only[0], C.MissingModality) and only[0].level == "input"
    assert C.severity_conditions(("a",)) == [C.Clean()]
