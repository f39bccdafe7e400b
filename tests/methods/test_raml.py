"""RAML (Eq. 1-6 of the RAML paper): fusion weights, sparsity loss, shared predictor, patterns."""

import itertools

import pytest
import torch
from raml_data import assert_missing_image_is_ignored, mixed_dataset

from workbench.data import load_splits
from workbench.methods.raml import (
    RAML,
    RAMLConfig,
    element_weights,
    fusion_weights,
    missing_patterns,
    sparsity_loss,
)
from workbench.models.base import task_loss
from workbench.training import Trainer, TrainerConfig


def _present(generator, B, M):
    p = torch.rand(B, M, generator=generator) < 0.5
    p[torch.arange(B), torch.randint(0, M, (B,), generator=generator)] = True  # at least one
    return p


def test_fusion_weights_nonnegative_sum_to_one_and_zero_when_missing(generator):
    B, M, D = 16, 3, 8
    sigma = torch.rand(B, M, D, generator=generator) * 3 + 0.01
    present = _present(generator, B, M)
    w = fusion_weights(sigma, present)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(1), torch.ones(B, D))
    assert (w[~present] == 0).all()


def test_fusion_weights_are_normalised_precisions(generator):
    sigma = torch.rand(5, 2, 4, generator=generator) + 0.1
    present = torch.ones(5, 2, dtype=torch.bool)
    w = fusion_weights(sigma, present)
    s1, s2 = sigma[:, 0] ** 2, sigma[:, 1] ** 2
    torch.testing.assert_close(w[:, 0], s2 / (s1 + s2))  # (σ/σ_1)^2 with 1/σ^2 = 1/σ_1^2 + 1/σ_2^2


def test_equal_sigma_gives_the_mean_of_present_modalities(generator):
    torch.manual_seed(0)
    ds = load_splits("synthetic", n_samples=60, dims=(6, 5, 4))["train"]
    model = RAML(RAMLConfig.for_dataset(ds, embed_dim=8, hidden_dim=16)).eval()
    B, M, D = 10, 3, 8
    mu = torch.randn(B, M, D, generator=generator)
    sigma = torch.full((B, M, D), 0.7)
    present = _present(generator, B, M)
    h, _ = model.fuse(mu, sigma, present)
    expected = (mu * present[..., None]).sum(1) / present.sum(1, keepdim=True)
    torch.testing.assert_close(h, expected)


def test_sparsity_loss_matches_hand_computation():
    mu = torch.tensor([[[1.0, -2.0], [3.0, 0.5]]])  # [B=1, M=2, D=2]
    sigma = torch.tensor([[[1.0, 2.0], [2.0, 1.0]]])
    # element 0: precisions 1, 1/4 -> weights 0.8, 0.2 ; element 1: 1/4, 1 -> 0.2, 0.8
    expected = 0.8 * 1.0 + 0.2 * 2.0 + 0.2 * 3.0 + 0.8 * 0.5
    torch.testing.assert_close(sparsity_loss(mu, sigma, reduction="sum"), torch.tensor([expected]))
    torch.testing.assert_close(sparsity_loss(mu, sigma), torch.tensor([expected / 2]))
    # a missing modality leaves the sum and the normaliser: only |mu_1| = 1 + 2 remains, / D
    only_first = torch.tensor([[True, False]])
    torch.testing.assert_close(sparsity_loss(mu, sigma, only_first), torch.tensor([1.5]))


def test_sparsity_loss_is_normalised_by_D_so_the_papers_lambda2_is_on_scale(generator):
    """Item 7 of issue 17: L^D of Eq. 3 divided by D by default, so one λ2 weighs the same
    per-element penalty at any D and the default λ2 lies in the paper's sweep (0.2-1.6)."""
    ds = mixed_dataset(vector=False)
    c = RAMLConfig.for_dataset(ds)
    assert c.sparsity_reduction == "mean" and 0.2 <= c.lambda_d <= 1.6
    for D in (8, 128):
        mu = torch.randn(4, 2, D, generator=generator)
        sigma = torch.rand(4, 2, D, generator=generator) + 0.1
        l1 = (fusion_weights(sigma, torch.ones(4, 2, dtype=torch.bool)) * mu).abs().sum((1, 2))
        torch.testing.assert_close(sparsity_loss(mu, sigma), l1 / D)
    # the same per-element penalty gives the same L^D at D = 8 and D = 128
    small = sparsity_loss(torch.ones(1, 2, 8), torch.ones(1, 2, 8))
    large = sparsity_loss(torch.ones(1, 2, 128), torch.ones(1, 2, 128))
    torch.testing.assert_close(small, large)


def test_missing_patterns_cover_all_nonempty_subsets():
    for M in (1, 2, 3, 4):
        p = missing_patterns(M)
        assert p.shape == (2**M - 1, M)
        rows = {tuple(r) for r in p.tolist()}
        assert rows == {r for r in itertools.product((False, True), repeat=M) if any(r)}


def _model(ds, **kw):
    torch.manual_seed(0)
    return RAML(RAMLConfig.for_dataset(ds, embed_dim=8, hidden_dim=16, **kw))


def test_shared_predictor_is_one_module():
    ds = load_splits("synthetic", n_samples=60)["train"]
    model = _model(ds)
    heads = [
        m
        for m in model.modules()
        if isinstance(m, torch.nn.Linear) and m.out_features == ds.task.n_outputs
    ]
    assert heads == [model.predictor]
    batch = ds.full_batch()
    model.eval()
    out = model(batch)
    torch.testing.assert_close(
        model.unimodal_logits(out.extras["mu"], out.extras["sigma"]),
        model.predictor(out.extras["mu"]),
    )
    # L^U alone trains the shared predictor
    model.train()
    model.config = RAMLConfig.for_dataset(ds, embed_dim=8, hidden_dim=16, lambda_d=0.0)
    out = model(batch)
    uni = model.unimodal_logits(out.extras["mu"], out.extras["sigma"])
    task_loss(uni[:, 0], batch.y, ds.task).backward()
    assert model.predictor.weight.grad is not None and model.predictor.weight.grad.abs().sum() > 0


def test_separate_predictors_option():
    ds = load_splits("synthetic", n_samples=60)["train"]
    model = _model(ds, shared_predictor=False)
    assert set(model.unimodal_predictors) == set(ds.modalities)
    out = model.eval()(ds.full_batch())
    uni = model.unimodal_logits(out.extras["mu"], out.extras["sigma"])
    torch.testing.assert_close(
        uni[:, 1], model.unimodal_predictors[ds.modalities[1]](out.extras["mu"][:, 1])
    )


def test_pattern_augmented_loss_is_the_mean_over_patterns():
    ds = load_splits("synthetic", n_samples=60, dims=(6, 5, 4))["train"]
    model = _model(ds, lambda_u=0.0, lambda_d=0.0)
    batch = ds.full_batch()
    model.train()
    out = model(batch)
    loss, _ = model.loss(out, batch)
    model.eval()
    per_pattern = []
    for row in missing_patterns(3):
        present = row.expand(len(batch), 3).clone()
        per_pattern.append(
            task_loss(model.predict(model.embed(batch), present).y_hat, batch.y, ds.task)
        )
    torch.testing.assert_close(loss, torch.stack(per_pattern).mean())


def test_missing_modality_input_does_not_change_the_prediction(generator):
    ds = mixed_dataset()
    model = _model(ds).eval()
    batch = ds.full_batch()
    assert_missing_image_is_ignored(model, batch, generator)


@pytest.mark.parametrize("weighting", ["identical", "fixed"])
def test_ablation_weightings_do_not_depend_on_the_sample(weighting):
    ds = load_splits("synthetic", n_samples=60)["train"]
    model = _model(ds, weighting=weighting).eval()
    w = model(ds.full_batch()).extras["weights"]
    torch.testing.assert_close(w, w[:1].expand_as(w))
    if weighting == "identical":
        torch.testing.assert_close(w, torch.full_like(w, 0.5))


def test_element_weights_shape_and_config_errors():
    ds = mixed_dataset()
    model = _model(ds)
    w = element_weights(model, ds, max_samples=10)
    assert w.shape == (10, 3, 8)
    with pytest.raises(ValueError, match="weighting"):
        RAMLConfig.for_dataset(ds, weighting="coarse")
    with pytest.raises(ValueError, match="lambda"):
        RAMLConfig.for_dataset(ds, lambda_u=-1)


def test_raml_learns_synthetic_data_and_survives_a_missing_modality():
    s = load_splits("synthetic", n_samples=600, dims=(16, 12), signal=(1.0, 1.0))
    model = _model(s["train"])
    model = Trainer(
        TrainerConfig(max_epochs=8, batch_size=64, lr=1e-2, progress=False, patience=None)
    ).fit(model, s["train"], s["validation"])
    batch = s["test"].full_batch()
    chance = 1 / s["test"].task.n_outputs
    for row in missing_patterns(2):
        pred = model.predict(model.embed(batch), row.expand(len(batch), 2).clone()).y_hat.argmax(-1)
        assert (pred == batch.y).float().mean() > chance + 0.2
