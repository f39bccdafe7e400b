"""Tests of MLA (workbench.methods.mla): alternation, isolation, Eq. 3-4 projector, Eq. 5-7 fusion.

The experiment (Table 1-3 protocol, modality gap, claims) is tested in
tests/experiments/test_mla_experiment.py."""

import warnings

import pytest
import torch

from workbench import methods
from workbench.data.synthetic import make_synthetic
from workbench.evaluation import evaluate
from workbench.methods.mla import (
    MLA,
    HGMOptimizerWarning,
    MLAConfig,
    dynamic_fusion,
    entropy_weights,
    project_gradient,
    reference_rls_update,
    rescale_projector,
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


def _drifting_run(scale, steps=2000, s=32, K=5, B=16, seed=0):
    """Relative head-update norms ``|grad P| / |grad|`` of Eq. 3-4 over ``steps`` steps whose
    mean feature drifts (a random walk on a sphere of radius 3; ReLU batch features), with the
    linear head's gradient ``E^T H / B`` of a batch (rows in the span of the batch's features)."""
    g = torch.Generator().manual_seed(seed)
    P = torch.eye(s + 1, dtype=torch.float64)
    mu = torch.randn(s, generator=g, dtype=torch.float64)
    norms = []
    for _ in range(steps):
        mu = mu + 0.3 * torch.randn(s, generator=g, dtype=torch.float64)
        mu = 3 * mu / mu.norm()
        H = torch.relu(mu + torch.randn(B, s, generator=g, dtype=torch.float64))
        E = torch.randn(B, K, generator=g, dtype=torch.float64)
        gW, gb = E.T @ H / B, E.mean(0)
        h_bar = torch.cat([H.mean(0), torch.ones(1, dtype=torch.float64)])
        P = rescale_projector(rls_update(P, h_bar, 1.0), scale)
        nW, nb = project_gradient(gW, gb, P)
        full = torch.cat([gW, gb[:, None]], 1).norm()
        norms.append(float(torch.cat([nW, nb[:, None]], 1).norm() / full))
    return norms, P


def test_hgm_keeps_the_head_learning_over_2000_drifting_steps():
    """Floor: over the last 500 of 2,000 steps the head's update keeps >= 3% of the plain
    gradient's norm with MLA's default projector (Eq. 3 rescaled to unit largest eigenvalue).
    Eq. 3 as printed (scale="none", the former behaviour) falls below 1%: P collapses."""
    assert MLAConfig.scale == "max"
    norms, P = _drifting_run(MLAConfig.scale)
    assert min(norms[-500:]) > 0.03
    assert float(torch.linalg.eigvalsh(P).max()) == pytest.approx(1.0)
    collapsed, _ = _drifting_run("none")
    assert max(collapsed[-500:]) < 0.01


def test_rescaling_keeps_the_projectors_null_space(generator):
    P = torch.eye(6, dtype=torch.float64)
    for _ in range(3):
        P = rls_update(P, torch.randn(6, generator=generator, dtype=torch.float64), 1e-6)
    for scale in ("max", "frobenius"):
        Q = rescale_projector(P, scale)
        assert torch.allclose(Q * (P.norm() / Q.norm()), P)  # same direction, new length
    assert torch.equal(rescale_projector(P, "none"), P)


def test_mla_records_the_projector_spectrum_and_update_norm(splits):
    model = _model(splits, record_every=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for _ in range(6):
        model.training_step(_batch(splits), opt)
    hist = model.hgm_history
    assert [r["step"] for r in hist] == [0, 2, 4]
    assert hist[0]["eigenvalues"] is None  # t = 0: the plain gradient (Eq. 4)
    s = model.config.fusion.embed_dim + 1
    assert all(r["eigenvalues"].shape == (s,) for r in hist[1:])
    assert all(r["update_norm"] > 0 for r in hist)


def test_hgm_warns_under_adaptive_optimisers(splits):
    model = _model(splits)
    with pytest.warns(HGMOptimizerWarning, match="SGD"):
        model.training_step(_batch(splits), torch.optim.Adam(model.parameters(), lr=0.01))
    sgd_model = _model(splits)
    with warnings.catch_warnings():
        warnings.simplefilter("error", HGMOptimizerWarning)
        sgd_model.training_step(_batch(splits), torch.optim.SGD(sgd_model.parameters(), lr=0.01))
        _model(splits, hgm=False).training_step(
            _batch(splits), torch.optim.Adam(sgd_model.parameters(), lr=0.01)
        )
