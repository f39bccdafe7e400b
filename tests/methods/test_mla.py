"""Tests of MLA (workbench.methods.mla): alternation, isolation, Eq. 3-4 projector, Eq. 5-7 fusion.

The experiment (Table 1-3 protocol, modality gap, claims) is tested in
tests/experiments/test_mla_experiment.py."""

import pytest
import torch

from workbench import methods
from workbench.data.synthetic import make_synthetic
from workbench.evaluation import evaluate
from workbench.methods.mla import (
    MLA,
    MLAConfig,
    dynamic_fusion,
    entropy_weights,
    project_gradient,
    reference_rls_update,
    rls_update,
)
from workbench.models.encoders import make_encoders
from workbench.models.fusion import FusionConfig
from workbench.training import Trainer, TrainerConfig


@pytest.fixture(scope="module")
def splits():
    return make_synthetic(400, dims=(8, 5), signal=(2.0, 0.8), seed=3)


def _model(splits, seed=0, **options):
    return methods.build("MLA", splits["train"], seed=seed, embed_dim=16, hidden=(16,), **options)


def _batch(splits, n=32):
    return splits["train"].full_batch().select(torch.arange(n))


def test_alternation_follows_t_mod_M(splits):
    model = _model(splits)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    seen = []
    for _ in range(5):
        logs = model.training_step(_batch(splits), opt)
        seen.append(next(k for k in logs if k.startswith("loss_"))[5:])
    assert seen == ["m0", "m1", "m0", "m1", "m0"]
    assert int(model.step) == 5
    assert [model.modality_at(t) for t in range(3)] == ["m0", "m1", "m0"]


def test_within_batch_alternation_trains_every_modality(splits):
    model = _model(splits, alternate="within_batch")
    logs = model.training_step(_batch(splits), torch.optim.SGD(model.parameters(), lr=0.01))
    assert {"loss_m0", "loss_m1"} <= set(logs) and int(model.step) == 2


@pytest.mark.parametrize(
    "make_opt",
    [
        lambda p: torch.optim.Adam(p, lr=0.05, weight_decay=0.1),
        lambda p: torch.optim.AdamW(p, lr=0.05, weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=0.1),
    ],
)
def test_other_encoder_is_bit_identical_during_a_step(splits, make_opt):
    model = _model(splits)
    opt = make_opt(model.parameters())
    batch = _batch(splits)
    model.training_step(batch, opt)  # t=0: m0 (builds optimiser state for m0)
    model.training_step(batch, opt)  # t=1: m1 (momentum state for m1 now exists)
    frozen = {k: v.clone() for k, v in model.encoders["m1"].state_dict().items()}
    moving = {k: v.clone() for k, v in model.encoders["m0"].state_dict().items()}
    model.training_step(batch, opt)  # t=2: m0 only
    for k, v in model.encoders["m1"].state_dict().items():
        assert torch.equal(v, frozen[k]), k
    assert any(not torch.equal(v, moving[k]) for k, v in model.encoders["m0"].state_dict().items())


def test_rls_projector_stays_symmetric_psd_and_annihilates_features(generator):
    s = 6
    P = torch.eye(s, dtype=torch.float64)
    hs = torch.randn(4, s, generator=generator, dtype=torch.float64)
    for h in hs:
        P = rls_update(P, h, alpha=1e-6)
        assert torch.allclose(P, P.T, atol=1e-12)
        assert torch.linalg.eigvalsh(P).min() > -1e-9
    for h in hs:  # every feature seen so far lies (almost) in P's null space
        assert (P @ h).norm() < 1e-4 * h.norm()
    # closed form for one step: P h = alpha / (alpha + |h|^2) h when P = I
    h = hs[0]
    P1 = rls_update(torch.eye(s, dtype=torch.float64), h, alpha=2.0)
    assert torch.allclose(P1 @ h, 2.0 / (2.0 + h @ h) * h)


def test_projected_gradient_is_orthogonal_to_the_augmented_feature(generator):
    s, K = 5, 3
    h = torch.randn(s, generator=generator, dtype=torch.float64)
    h_aug = torch.cat([h, torch.ones(1, dtype=torch.float64)])
    P = rls_update(torch.eye(s + 1, dtype=torch.float64), h_aug, alpha=1e-8)
    gW, gb = (
        torch.randn(K, s, generator=generator, dtype=torch.float64),
        torch.randn(K, generator=generator, dtype=torch.float64),
    )
    nW, nb = project_gradient(gW, gb, P)
    # the head's output on the old feature does not move: dW h + db = 0
    assert (nW @ h + nb).abs().max() < 1e-6 * (gW @ h + gb).abs().max()
    # and directions orthogonal to h_aug are untouched
    v = torch.randn(s + 1, generator=generator, dtype=torch.float64)
    v = v - (v @ h_aug) / (h_aug @ h_aug) * h_aug
    assert torch.allclose(nW @ v[:-1] + nb * v[-1], gW @ v[:-1] + gb * v[-1], atol=1e-6)


def test_reference_variant_differs_from_paper(generator):
    h = torch.randn(4, generator=generator)
    P = torch.eye(4)
    assert not torch.allclose(reference_rls_update(P, h, 0.1), rls_update(P, h, 0.1))


def test_head_update_spares_previous_modality(splits):
    """After a step on m1, the shared head's output on m0's mean feature barely moves."""
    batch = _batch(splits, 64)

    def head_change(hgm: bool) -> float:
        model = _model(splits, hgm=hgm, alpha=1e-4)
        model.eval()  # no dropout: the features of the step are reproducible
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        model.training_step(batch, opt)  # t=0: m0
        with torch.no_grad():
            h0 = model.encoders["m0"](batch.inputs["m0"]).mean(0)
            before = model.head(h0).clone()
        model.training_step(batch, opt)  # t=1: m1, projected by P_1 (contains m0's feature)
        with torch.no_grad():
            return float((model.head(h0) - before).norm())

    assert head_change(True) < 0.05 * head_change(False)


def test_fusion_weights_sum_to_one_and_ignore_missing(generator):
    logits = torch.randn(7, 3, 5, generator=generator) * 3
    present = torch.ones(7, 3, dtype=torch.bool)
    present[0, 1] = False
    present[1, :2] = False
    w = entropy_weights(logits, present)
    assert torch.allclose(w.sum(1), torch.ones(7))
    assert w[0, 1] == 0 and torch.equal(w[1], torch.tensor([0.0, 0.0, 1.0]))
    # a missing modality's logits cannot change the fused output
    changed = logits.clone()
    changed[0, 1] = 100.0
    assert torch.allclose(
        dynamic_fusion(changed, present)[0][0], dynamic_fusion(logits, present)[0][0]
    )
    # closed form (Eq. 7): lambda_m proportional to exp(-e_m)
    p = torch.softmax(logits[2], -1)
    e = -(p * p.log()).sum(-1)
    assert torch.allclose(w[2], torch.softmax(-e, 0), atol=1e-6)


def test_confident_modality_gets_more_weight():
    logits = torch.tensor([[[10.0, 0.0, 0.0], [0.1, 0.0, 0.0]]])
    w = entropy_weights(logits)
    assert w[0, 0] > w[0, 1]


def test_prediction_does_not_depend_on_the_batch(splits):
    model = _model(splits).eval()
    batch = _batch(splits, 16)
    with torch.no_grad():
        full = model(batch).y_hat
        alone = torch.cat([model(batch.select(torch.tensor([i]))).y_hat for i in range(3)])
    assert torch.allclose(full[:3], alone, atol=1e-5)


def test_mla_learns(splits):
    model = _model(splits)
    cfg = TrainerConfig(
        max_epochs=6, lr=3e-3, batch_size=32, progress=False, patience=None, device="cpu"
    )
    model = Trainer(cfg).fit(model, splits["train"], splits["validation"])
    assert evaluate(model, splits["test"]) > 0.5  # 4 classes: chance 0.25


def test_mla_rejects_bad_config(splits):
    fusion = FusionConfig.for_dataset(splits["train"])
    with pytest.raises(ValueError, match="projector"):
        MLAConfig(fusion=fusion, projector="nope")
    with pytest.raises(ValueError, match="alpha"):
        MLA(MLAConfig(fusion=fusion, alpha=0.0))


def test_mla_uses_the_shared_encoders_given(splits):
    fusion = FusionConfig.for_dataset(splits["train"], embed_dim=16, hidden=(16,))
    shared = make_encoders(fusion)
    model = MLA(MLAConfig(fusion=fusion), encoders=shared)
    assert model.encoders is shared
    assert all(model.encoders[m] is shared[m] for m in model.modalities)
    built = methods.build("MLA", splits["train"], encoders=shared, seed=0, embed_dim=16)
    assert built.encoders is shared
    with pytest.raises(ValueError, match="no encoder for"):
        MLA(MLAConfig(fusion=fusion), encoders=torch.nn.ModuleDict({"m0": shared["m0"]}))
