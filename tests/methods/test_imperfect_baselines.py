"""Baselines of the RAML paper: shapes, losses, Dempster's rule, patterns and the protocol helpers."""

import pytest
import torch
from raml_data import assert_missing_image_is_ignored, mixed_dataset

from workbench.data import load_splits
from workbench.data.base import Task
from workbench.methods.imperfect_baselines import (
    BASELINES,
    ImperfectConfig,
    dempster_combine,
    dirichlet_loss,
)
from workbench.methods.raml_protocol import (
    METHODS,
    evaluate_patterns,
    make_method,
    pattern_conditions,
    pattern_label,
    train_models,
)
from workbench.training import TrainerConfig


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
    model = make_method(name, ds, embed_dim=8, hidden=16, sequence_encoder="cnn")
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
    assert make_method("Concat Fusion", ds).augment is False
    assert make_method("Augmentation", ds).augment is True
    assert make_method("MMIN", ds).augment is True
    assert make_method("Concat Fusion", ds, pattern_augmentation=True).augment is True
    with pytest.raises(ValueError, match="Unknown RAML-paper method"):
        make_method("TATE", ds)
    with pytest.raises(ValueError, match="multiclass"):
        BASELINES["TMC"](ImperfectConfig.for_dataset(ds, task=Task("binary", 1, "accuracy")))


def test_pattern_labels_and_conditions():
    mods = ("image", "audio")
    assert pattern_label([True, False], mods) == "{I}"
    assert list(pattern_conditions(mods)) == ["{I}", "{A}", "{I,A}"]
    assert len(pattern_conditions(("a", "b", "c"))) == 7
    # initials clash -> full names
    assert pattern_label([True, True], ("m0", "m1")) == "{m0,m1}"
    batch = mixed_dataset(vector=False).full_batch()
    kept = pattern_conditions(mods)["{A}"](batch, torch.Generator())
    assert not kept.present[:, 0].any() and kept.present[:, 1].all()
    assert (kept.inputs["image"] == 0).all()


def test_evaluate_patterns_average_is_the_mean_over_patterns():
    s = load_splits("synthetic", n_samples=120, dims=(6, 5))
    specs = {m: (m, {"embed_dim": 8, "hidden": 16}) for m in ("RAML", "Concat Fusion")}
    models, log = train_models(
        specs, s, [0, 1], TrainerConfig(max_epochs=1, progress=False), cache=False
    )
    assert set(log["method"]) == set(specs) and len(log) == 4
    df = evaluate_patterns(models, s["test"])
    assert set(df["modality"]) == {"{m0}", "{m1}", "{m0,m1}", "average"}
    for _, g in df.groupby(["method", "seed"]):
        avg = g.loc[g["modality"] == "average", "value"].item()
        assert avg == pytest.approx(g.loc[g["modality"] != "average", "value"].mean())
    assert "RAML" in METHODS and len(METHODS) == len(BASELINES) + 1
