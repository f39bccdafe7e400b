"""WMA loss (Eq. 8-10 of the WMA paper), its basis, and the WMA panel. The experiments (test
cases, grid, selection, paper table) are tested in tests/experiments/test_wma_experiment.py."""

import copy

import pytest
import torch
from wma_data import backbone, token_dataset

from workbench.data.base import collate
from workbench.methods import wma as W
from workbench.methods.wma import WMA, WMAConfig, ot_distances, wma_penalty
from workbench.ot import ipot, pairwise_cost


def test_penalty_is_zero_when_every_distance_is_beta_times_basis(generator):
    basis, beta = torch.tensor(0.7), 1.8
    D = torch.full((5,), beta * 0.7)
    assert float(wma_penalty(D, basis, beta)) == pytest.approx(0.0, abs=1e-12)
    D2 = D + torch.randn(5, generator=generator)
    assert float(wma_penalty(D2, basis, beta)) == pytest.approx(
        float(((D2 - beta * basis) ** 2).mean())
    )
    w = torch.tensor([1, 0, 1, 0, 0], dtype=torch.bool)
    assert float(wma_penalty(D2, basis, beta, w)) == pytest.approx(
        float(((D2 - beta * basis)[w] ** 2).mean())
    )


def test_loss_equals_task_loss_when_every_distance_equals_beta_times_mean(generator):
    ds = token_dataset(generator)
    batch = collate([ds[0]] * 6)  # identical samples: every D^i is the same
    model = WMA(backbone(ds), WMAConfig(alpha=5.0, beta=1.0))
    out = model(batch)
    loss, logs = model.loss(out, batch)  # the first batch sets the basis = mean D = D^i
    task, _ = model.backbone.loss(out, batch)
    assert bool(model.basis_ready)
    assert logs["wma"] == pytest.approx(0.0, abs=1e-10)
    torch.testing.assert_close(loss, task)
    model2 = WMA(backbone(ds), WMAConfig(alpha=5.0, beta=2.0))
    loss2, _ = model2.loss(model2(batch), batch)
    assert float(loss2.detach()) > float(task.detach()) + 1e-6  # beta=2: D^i = mean != 2 * mean


def test_gradient_flows_to_the_transformer_through_the_cost(generator):
    ds = token_dataset(generator)
    batch = ds.full_batch()
    model = WMA(backbone(ds), WMAConfig(alpha=1.0, beta=0.0))
    D = model.distances(model(batch))[("text", "image")]
    D.mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert grads["backbone.encoder.layers.0.self_attn.in_proj_weight"].abs().sum() > 0
    assert grads["backbone.proj.image.weight"].abs().sum() > 0
    assert grads["backbone.head.weight"] is None  # the head is not on the path to D
    assert all(torch.isfinite(g).all() for g in grads.values() if g is not None)


def test_minimize_ot_steps_reduce_the_distance(generator):
    ds = token_dataset(generator)
    batch = ds.full_batch()
    model = WMA(backbone(ds), WMAConfig(alpha=1.0, beta=0.0))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    before = float(model.distances(model(batch))[("text", "image")].mean().detach())
    for _ in range(10):
        opt.zero_grad()
        model.distances(model(batch))[("text", "image")].pow(2).mean().backward()
        opt.step()
    after = float(model.distances(model(batch))[("text", "image")].mean().detach())
    assert after < before


def test_basis_is_computed_once_from_the_first_batch(generator):
    ds = token_dataset(generator, n=24)
    model = WMA(backbone(ds), WMAConfig(alpha=1.0, beta=2.0))
    initial = copy.deepcopy(model)
    batches = list(ds.loader(8))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    model.training_step(batches[0], opt)
    expected = initial.distances(initial(batches[0]))[("text", "image")].mean()
    torch.testing.assert_close(model.basis[0], expected.detach())
    first = model.basis.clone()
    for b in batches[1:] + batches:
        model.training_step(b, opt)
    assert torch.equal(model.basis, first)
    assert initial.init_basis(batches[1]) is not None and not torch.equal(initial.basis, first)
    assert torch.equal(initial.init_basis(batches[0]), initial.basis)  # idempotent: only once
    restored = WMA(backbone(ds), WMAConfig(alpha=1.0, beta=2.0))
    restored.load_state_dict(model.state_dict())
    assert bool(restored.basis_ready) and torch.equal(restored.basis, first)


def test_three_modality_loss_sums_the_three_pairs(generator):
    ds = token_dataset(generator, modalities=("text", "video", "audio"))
    batch = ds.full_batch()
    cfg = WMAConfig(alpha=2.0, beta=0.5)
    model = WMA(backbone(ds), cfg)
    assert model.pairs == (("text", "video"), ("text", "audio"), ("video", "audio"))
    model.basis.copy_(torch.tensor([0.3, 0.5, 0.7]))
    model.basis_ready.fill_(True)
    out = model(batch)
    loss, logs = model.loss(out, batch)
    task, _ = model.backbone.loss(out, batch)
    expected = 0.0
    for j, (a, b) in enumerate(model.pairs):  # each pair solved on its own, unpadded
        C = pairwise_cost(out.extras[f"tokens.{a}"], out.extras[f"tokens.{b}"], "cosine")
        D = ipot(
            C,
            mask_a=out.extras[f"mask.{a}"],
            mask_b=out.extras[f"mask.{b}"],
            beta=0.5,
            n_outer=50,
            cost_scale=1.0,
        ).value
        expected = expected + ((D - 0.5 * model.basis[j]) ** 2).mean()
    torch.testing.assert_close(loss, task + 2.0 * expected, atol=1e-5, rtol=1e-5)


def test_distance_ignores_token_order_and_padding(generator):
    X = torch.randn(2, 4, 8, generator=generator)
    Y = torch.randn(2, 5, 8, generator=generator)
    D = ot_distances({"a": X, "b": Y}, {}, [("a", "b")])[("a", "b")]
    perm = torch.randperm(5, generator=generator)
    Dp = ot_distances({"a": X, "b": Y[:, perm]}, {}, [("a", "b")])[("a", "b")]
    torch.testing.assert_close(D, Dp, atol=1e-5, rtol=1e-5)
    Ypad = torch.cat([Y, torch.randn(2, 3, 8, generator=generator)], 1)
    mask = torch.arange(8)[None].expand(2, -1) < 5
    Dpad = ot_distances({"a": X, "b": Ypad}, {"b": mask}, [("a", "b")])[("a", "b")]
    torch.testing.assert_close(D, Dpad, atol=1e-5, rtol=1e-5)


def test_baseline_solves_no_ot(generator, monkeypatch):
    ds = token_dataset(generator)
    batch = ds.full_batch()
    model = WMA(backbone(ds), WMAConfig(alpha=0.0))

    def boom(*a, **k):
        raise AssertionError("the baseline must not solve OT")

    monkeypatch.setattr(W, "ot_distances", boom)
    out = model(batch)
    loss, logs = model.loss(out, batch)
    torch.testing.assert_close(loss, model.backbone.loss(out, batch)[0])
    assert not bool(model.basis_ready)


def test_missing_samples_are_left_out_of_the_pair_term(generator):
    ds = token_dataset(generator)
    batch = ds.full_batch()
    model = WMA(backbone(ds), WMAConfig(alpha=1.0, beta=1.0))
    model.basis_ready.fill_(True)
    model.basis.fill_(0.2)
    present = batch.present.clone()
    present[::2, 1] = False
    out = model(batch.replace(present=present))
    _, logs = model.loss(out, batch)
    D = model.distances(out)[("text", "image")]
    assert logs["wma"] == pytest.approx(float(((D[1::2] - 0.2) ** 2).mean().detach()), rel=1e-5)


def test_config_validation():
    with pytest.raises(ValueError, match="alpha"):
        WMAConfig(alpha=-1)
    with pytest.raises(ValueError, match="cost"):
        WMAConfig(cost="l3")
    with pytest.raises(ValueError, match="basis"):
        WMAConfig(basis="last")


def test_wma_panel_runs_headless(generator):
    train = token_dataset(generator, n=12)
    models = {
        (0.0, 0.0): WMA(backbone(train), WMAConfig(alpha=0.0)),
        (1.0, 2.0): WMA(backbone(train), WMAConfig()),
    }
    for m in models.values():
        m.eval()
    from workbench.widgets import wma_panel

    panel = wma_panel(models, train)
    assert set(panel.result) == {"baseline", "WMA α=1 β=2"}
    controls = panel.controls
    controls["rate"].value = 1.0  # every text sample missing: the scores are re-evaluated
    assert panel.result != {} and set(panel.result) == {"baseline", "WMA α=1 β=2"}

    trained = []

    def train_point(a, b):
        trained.append((a, b))
        return WMA(backbone(train), WMAConfig(alpha=a, beta=b)).eval()

    panel = wma_panel(models, train, train_point=train_point)
    new_alpha, new_beta, button = panel.children[1].children
    new_alpha.value, new_beta.value = 5.0, 0.5
    button.click()
    assert trained == [(5.0, 0.5)]
    assert (controls := panel.controls)["alpha"].value == 5.0 and controls["beta"].value == 0.5
    assert set(panel.result) == {"baseline", "WMA α=5 β=0.5"}
