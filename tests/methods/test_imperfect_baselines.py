"""Baselines of the RAML paper: shapes, losses, Dempster's rule, augmentation, shared encoders."""

import pytest
import torch
from raml_data import assert_missing_image_is_ignored, mixed_dataset

from workbench import methods
from workbench.data.base import Task
from workbench.methods.imperfect_baselines import (
    BASELINES,
    ImperfectConfig,
    dempster_combine,
    dirichlet_loss,
)
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
    with pytest.raises(ValueError, match="Unknown method 'TATE'"):
        methods.build("TATE", ds)
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
