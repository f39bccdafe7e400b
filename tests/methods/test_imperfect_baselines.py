"""Baselines of the RAML paper: shapes, losses, Dempster's rule, augmentation, shared encoders."""

import pytest
import torch
from raml_data import assert_missing_image_is_ignored, mixed_dataset

from workbench import methods
from workbench.corruptions import expand_missing_patterns
from workbench.data.base import Task
from workbench.methods.imperfect_baselines import (
    BASELINES,
    ImperfectConfig,
    ResidualAE,
    _recon_target,
    cpm_structured_loss,
    dempster_combine,
    dirichlet_loss,
    moe_iwae_bound,
)
from workbench.models.base import task_loss
from workbench.models.encoders import encoders_for, modality_specs


def _opinion(generator, B=6, K=4):
    e = torch.rand(B, K, generator=generator) * 5
    S = e.sum(-1, keepdim=True) + K
    return e / S, K / S


def test_dempster_combination_sums_to_one_and_vacuous_is_neutral(generator):
    b1, u1 = _opinion(generator)
    b2, u2 = _opinion(generator)
    b, u = dempster_combine(b1, u1, b2, u2)
    torch.testing.assert_close(b.sum(-1, keepdim=True) + u, torch.ones_like(u))
    assert (b >= 0).all() and (u > 0).all()
    bv, uv = dempster_combine(b1, u1, torch.zeros_like(b1), torch.ones_like(u1))
    torch.testing.assert_close(bv, b1)
    torch.testing.assert_close(uv, u1)
    # combining two opinions lowers the uncertainty
    assert (u <= torch.minimum(u1, u2) + 1e-6).all()


def test_dirichlet_loss_prefers_evidence_on_the_true_class():
    y = torch.tensor([0, 1])
    right = torch.tensor([[20.0, 1.0, 1.0], [1.0, 20.0, 1.0]])
    wrong = torch.tensor([[1.0, 20.0, 1.0], [20.0, 1.0, 1.0]])
    for kl in (0.0, 1.0):
        assert dirichlet_loss(right, y, kl) < dirichlet_loss(wrong, y, kl)
    assert dirichlet_loss(torch.ones(2, 3), y, 1.0) > 0


@pytest.mark.parametrize("name", list(BASELINES))
def test_baseline_forward_loss_and_missing_modality_invariance(name, generator):
    ds = mixed_dataset(vector=False)
    torch.manual_seed(0)
    model = methods.build(name, ds, embed_dim=8, hidden_dim=16, sequence_encoder="cnn")
    batch = ds.full_batch()
    model.train()
    out = model(batch)
    assert out.y_hat.shape == (len(ds), 3)
    loss, logs = model.loss(out, batch)
    assert torch.isfinite(loss) and "loss" in logs
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoders.parameters())
    model.eval()
    assert_missing_image_is_ignored(model, batch, generator)


def test_augmentation_defaults():
    ds = mixed_dataset(vector=False)
    assert methods.build("Concat Fusion", ds).augment is False
    assert methods.build("Augmentation", ds).augment is True
    assert methods.build("MMIN", ds).augment is True
    assert methods.build("Concat Fusion", ds, pattern_augmentation=True).augment is True
    with pytest.raises(ValueError, match="Unknown method 'FooNet'"):
        methods.build("FooNet", ds)
    with pytest.raises(ValueError, match="unknown options"):
        methods.build("MD", ds, lambda_u=1.0)
    with pytest.raises(ValueError, match="multiclass"):
        BASELINES["TMC"](ImperfectConfig.for_dataset(ds, task=Task("binary", 1, "accuracy")))


def test_registry_lists_raml_and_every_baseline():
    assert methods.available(paper="raml") == ["RAML", *BASELINES]
    assert methods.available(paper="raml", role="method") == ["RAML"]


@pytest.mark.parametrize("name", ["RAML", *BASELINES])
def test_given_encoders_are_the_very_modules_used(name):
    """Shared encoders (e.g. the arena's) replace the method's own: the same module objects,
    not copies, and they receive the gradients."""
    ds = mixed_dataset(vector=False)
    out = 16 if name == "RAML" else 8  # RAML's encoders output hidden_dim, the baselines' embed_dim
    shared = encoders_for(
        modality_specs(ds), out, family="raml", hidden=(16,), sequence_encoder="cnn"
    )
    model = methods.build(
        name, ds, encoders=shared, seed=0, embed_dim=8, hidden_dim=16, sequence_encoder="cnn"
    )
    assert model.encoders is shared
    assert all(model.encoders[m] is shared[m] for m in ds.modalities)
    assert {id(p) for p in shared.parameters()} <= {id(p) for p in model.parameters()}
    model.train()
    batch = ds.full_batch()
    loss, _ = model.loss(model(batch), batch)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in shared.parameters())
    other = methods.build(name, ds, encoders=shared, embed_dim=8, hidden_dim=16)
    assert other.encoders is shared  # two methods can share one set of encoders


def test_encoders_for_other_modalities_are_refused():
    ds = mixed_dataset(vector=False)
    wrong = encoders_for(modality_specs(mixed_dataset()), 8, family="raml", hidden=(16,))
    with pytest.raises(ValueError, match="encoders for"):
        methods.build("Concat Fusion", ds, encoders=wrong, embed_dim=8, hidden_dim=16)


# ----------------------------------------------------------------------------- issue 17, item 9
_SMALL = dict(embed_dim=8, hidden_dim=16, sequence_encoder="cnn")


def test_missing_input_is_zeroed_not_the_embedding():
    """A missing modality's embedding is f_m(0) (its zeroed input through the encoder), and the
    augmented loss equals the loss of the zero-filled pattern batch fed explicitly."""
    ds = mixed_dataset(vector=False)
    model = methods.build("Augmentation", ds, seed=0, **_SMALL).train()
    batch = ds.full_batch()
    present = batch.present.clone()
    present[:, 0] = False
    z = model.embed(batch.replace(present=present))
    zero_image = dict(batch.inputs, image=torch.zeros_like(batch.inputs["image"]))
    torch.testing.assert_close(z["image"], model.embed(batch.replace(inputs=zero_image))["image"])
    assert z["image"].abs().sum() > 0  # f(0) is not zero
    loss, _ = model.loss(model(batch), batch)
    expanded = expand_missing_patterns(batch)
    explicit = task_loss(model(expanded).y_hat, expanded.y, model.task)
    torch.testing.assert_close(loss, explicit)


def test_md_gates_the_input_features():
    """MD's informativeness gates act on the raw input (MD's FeatureInforEncoder): closing the
    image gate makes the prediction independent of the image."""
    ds = mixed_dataset(vector=False)
    model = methods.build("MD", ds, seed=0, **_SMALL).eval()
    assert model.gates["image"].linear.in_features == 64  # 1 x 8 x 8 pixels
    assert model.gates["audio"].linear.in_features == 5  # per frame
    with torch.no_grad():
        model.gates["image"].linear.weight.zero_()
        model.gates["image"].linear.bias.fill_(-1e4)
    batch = ds.full_batch()
    noisy = dict(batch.inputs, image=torch.randn_like(batch.inputs["image"]))
    torch.testing.assert_close(model(batch).y_hat, model(batch.replace(inputs=noisy)).y_hat)
    model.train()
    out = model(batch)
    assert out.extras["gate_l1"].shape == (len(ds), 2)
    _, logs = model.loss(out, batch)
    assert "gate_mean" in logs


def test_tmc_kl_weight_reaches_one_over_fifty_epochs():
    """TMC's code anneals the KL weight as min(1, epoch / 50), epochs counted from 1."""
    ds = mixed_dataset(vector=False)
    model = methods.build("TMC", ds, seed=0, **_SMALL)
    assert model.config.anneal_epochs == 50
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    batch = ds.full_batch()
    coefs = []
    for _ in range(60):
        model.train()
        logs = model.training_step(batch, opt)
        logs = model.training_step(batch, opt)  # a second step of the same epoch
        coefs.append(logs["kl_coefficient"])
        model.eval()
    assert coefs[0] == pytest.approx(1 / 50) and coefs[1] == pytest.approx(2 / 50)
    assert coefs[48] == pytest.approx(49 / 50) and coefs[49] == coefs[59] == 1.0
    assert int(model.epoch) == 60


def test_mvae_subset_elbo_reconstructs_only_the_subsets_modalities():
    """An ELBO term of the subset {image} decodes the image only (MVAE's sub-sampled terms)."""
    ds = mixed_dataset(vector=False)
    model = methods.build("MVAE", ds, seed=0, **_SMALL).train()
    batch = ds.full_batch()
    out = model(batch)
    only_image = torch.zeros_like(batch.present)
    only_image[:, 0] = True
    emb = {m: out.extras["features"][:, j] for j, m in enumerate(model.modalities)}
    sub = model.predict(emb, only_image)
    targets = {m: _recon_target(batch, m) for m in model.modalities}
    rows = torch.arange(len(batch))
    loss, _ = model.objective(sub, batch.y, only_image, targets, batch.present, rows, batch)
    loss.backward()
    assert all(
        p.grad is None or p.grad.abs().sum() == 0 for p in model.decoders["audio"].parameters()
    )
    assert any(p.grad.abs().sum() > 0 for p in model.decoders["image"].parameters())


def test_moe_iwae_bound_matches_hand_computation():
    """MMVAE's bound (Shi et al., Eq. 4): one modality is the IWAE bound; with two, q is the
    mixture of both experts and the bound averages the experts' estimates."""
    from torch.distributions import Normal

    z = torch.tensor([[[[0.3]]], [[[-0.5]]]])  # K=2, R=1, M=1, E=1
    mu, logvar = torch.tensor([[[0.1]]]), torch.tensor([[[-0.2]]])
    ll = torch.tensor([[[-1.0]], [[-2.0]]])
    q = Normal(0.1, (-0.1 * torch.ones(())).exp())
    p = Normal(0.0, 1.0)
    w = [
        (-1.0 + p.log_prob(torch.tensor(0.3)) - q.log_prob(torch.tensor(0.3))).exp(),
        (-2.0 + p.log_prob(torch.tensor(-0.5)) - q.log_prob(torch.tensor(-0.5))).exp(),
    ]
    expected = torch.log((w[0] + w[1]) / 2)
    got = moe_iwae_bound(z, mu, logvar, ll, torch.tensor([[True]]))
    torch.testing.assert_close(got, expected.reshape(1))
    # two experts, K = 1: q(z) = (q_1(z) + q_2(z)) / 2
    z2 = torch.tensor([[[[0.3], [-0.4]]]])  # [1, 1, 2, 1]
    mu2, lv2 = torch.tensor([[[0.1], [-0.3]]]), torch.tensor([[[-0.2], [0.4]]])
    ll2 = torch.tensor([[[-1.0, -1.5]]])
    qs = [Normal(0.1, (-0.1 * torch.ones(())).exp()), Normal(-0.3, (0.2 * torch.ones(())).exp())]
    terms = []
    for m, zz in enumerate((0.3, -0.4)):
        zt = torch.tensor(zz)
        log_mix = torch.log((qs[0].log_prob(zt).exp() + qs[1].log_prob(zt).exp()) / 2)
        terms.append(ll2[0, 0, m] + p.log_prob(zt) - log_mix)
    got2 = moe_iwae_bound(z2, mu2, lv2, ll2, torch.tensor([[True, True]]))
    torch.testing.assert_close(got2, ((terms[0] + terms[1]) / 2).reshape(1))
    # a missing modality is neither a component of q nor a term of the average
    one = moe_iwae_bound(
        z2[:, :, :1], mu2[:, :1], lv2[:, :1], ll2[:, :, :1], torch.tensor([[True]])
    )
    got3 = moe_iwae_bound(z2, mu2, lv2, ll2, torch.tensor([[True, False]]))
    torch.testing.assert_close(got3, one)


def test_mmin_has_five_residual_blocks_and_a_pretrained_frozen_teacher():
    """MMIN's cascaded residual AE (5 blocks of 256-128-64 by default, classifier on the codes)
    and its target: the frozen encoders of a full-modality pre-training."""
    ds = mixed_dataset(vector=False)
    default = methods.build("MMIN", ds, seed=0, embed_dim=8, hidden_dim=16)
    assert len(default.forward_ae.encoders) == 5 and default.forward_ae.code_dim == 5 * 64
    assert default.head[0].in_features == 5 * 64
    ae = ResidualAE(4, (3, 2), 2)
    x = torch.randn(5, 4)
    with torch.no_grad():
        out0 = ae.decoders[0](ae.encoders[0](x))
        x1 = x + out0
        out1 = ae.decoders[1](ae.encoders[1](x1))
        expected = ae.transition(x1 + out1)
    torch.testing.assert_close(ae(x)[0], expected)
    model = methods.build(
        "MMIN", ds, seed=0, ae_layers=(16, 8), ae_blocks=2, pretrain_epochs=1, **_SMALL
    )
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = ds.full_batch()
    teacher0 = [p.clone() for p in model.teacher.parameters()]
    model.train()
    model.training_step(batch, opt)  # epoch 1: pre-training
    assert model.pretraining and all(
        torch.equal(a, b) for a, b in zip(teacher0, model.teacher.parameters())
    )
    model.eval()
    model.train()
    enc = {k: v.clone() for k, v in model.encoders.state_dict().items()}
    model.training_step(batch, opt)  # epoch 2: teacher = the pre-trained encoders, frozen
    assert not model.pretraining
    for k, v in model.teacher.state_dict().items():
        torch.testing.assert_close(v, enc[k])
    assert not any(p.requires_grad for p in model.teacher.parameters())
    # the imagination target: the teacher's embedding of the dropped modality, zero input elsewhere
    kept = torch.zeros_like(batch.present)
    kept[:, 0] = True
    target = model._teacher_targets(batch, torch.arange(len(batch)), kept).view(len(batch), 2, -1)
    with torch.no_grad():
        audio = torch.relu(model.teacher["audio"](batch.inputs["audio"], batch.mask("audio")))
        image0 = torch.relu(model.teacher["image"](torch.zeros_like(batch.inputs["image"]), None))
    torch.testing.assert_close(target[:, 1], audio)
    torch.testing.assert_close(target[:, 0], image0)


@pytest.mark.parametrize("sizes", [{}, {"embed_dim": 16, "hidden": 24}])
def test_ae_reads_the_embeddings_of_the_encoders_it_builds(sizes):
    """MLA's AE baseline (CRA with one block) built without shared encoders: its autoencoder
    is as wide as the stacked embeddings of the encoders it builds, and its forward runs (the
    MLA family's default ``embed_dim`` 64 once met ImperfectConfig's 128: 4x128 @ 256x256)."""
    from workbench.data import collate, load_splits

    train = load_splits("av_digits")["train"].subset(range(8))
    model = methods.build("AE", train, seed=0, **sizes).eval()
    batch = collate([train[i] for i in range(4)])
    with torch.no_grad():
        widths = [
            model.encoders[m](batch.inputs[m], batch.mask(m)).shape[-1] for m in model.modalities
        ]
        out = model(batch)
    assert model.forward_ae.transition[0].in_features == sum(widths)
    assert len(model.forward_ae.encoders) == 1
    assert out.y_hat.shape == (4, train.task.n_outputs) and torch.isfinite(out.y_hat).all()
    if sizes:
        assert set(widths) == {sizes["embed_dim"]} and model.config.hidden_dim == sizes["hidden"]


def test_cpm_structured_loss_matches_hand_computation():
    h = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    means = torch.tensor([[1.0, 1.0], [0.5, -1.0], [0.0, 0.0]])
    y = torch.tensor([0, 1])
    # row 0: scores (1, 0.5, 0), true 1 -> max(0, 1 + 0.5 - 1, 1 + 0 - 1) = 0.5
    # row 1: scores (2, -2, 0), true -2 -> max(1 + 2 + 2, 0, 1 + 0 + 2) = 5
    torch.testing.assert_close(cpm_structured_loss(h, y, means), torch.tensor(2.75))


def test_tate_and_cpm_net_are_registered_and_use_the_tag():
    ds = mixed_dataset(vector=False)
    for name in ("TATE", "CPM-Net"):
        assert name in methods.available(paper="raml", role="baseline")
        model = methods.build(name, ds, seed=0, **_SMALL).train()
        batch = ds.full_batch()
        loss, _ = model.loss(model(batch), batch)
        loss.backward()
    tate = methods.build("TATE", ds, seed=0, **_SMALL).eval()
    z = tate._stack(tate.embed(ds.full_batch()))
    emb = {m: z[:, j] for j, m in enumerate(tate.modalities)}
    full = torch.ones(len(ds), 2, dtype=torch.bool)
    tagged = full.clone()
    tagged[:, 1] = False
    assert not torch.allclose(tate.predict(emb, full).y_hat, tate.predict(emb, tagged).y_hat)


def test_tate_projects_two_by_two_and_appends_the_missing_tag():
    """TATE's code: one matrix per pair of modalities (modality m gives W_mn z_m for each pair),
    and the tag [none missing, missing_1, ..., missing_M] on every token."""
    ds = mixed_dataset()  # image, audio, vec
    model = methods.build("TATE", ds, seed=0, **_SMALL).eval()
    assert model.pairs == [(0, 1), (0, 2), (1, 2)]
    z = torch.randn(4, 3, 8)
    present = torch.tensor([[True, True, True], [True, False, True]] * 2)
    tok = model.tokens(z, present)
    assert tok.shape == (4, 6, 8 + 4)
    W = [p.weight for p in model.project]
    torch.testing.assert_close(tok[:, 0, :8], z[:, 0] @ W[0].T)  # image via W_{image,audio}
    torch.testing.assert_close(tok[:, 1, :8], z[:, 1] @ W[0].T)  # audio via the same W
    torch.testing.assert_close(tok[:, 5, :8], z[:, 2] @ W[2].T)  # vec via W_{audio,vec}
    assert tok[0, 0, 8:].tolist() == [1.0, 0.0, 0.0, 0.0]
    assert tok[1, 3, 8:].tolist() == [0.0, 0.0, 1.0, 0.0]
