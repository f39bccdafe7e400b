"""WMA loss (Eq. 8-10 of the WMA paper), its basis, and the WMA panel. The experiments (test
cases, grid, selection, paper table) are tested in tests/experiments/test_wma_experiment.py."""

import copy
import warnings

import pytest
import torch
from wma_data import backbone, token_dataset

from workbench.corruptions import MissingModality, UniformNoise, apply_embedding_level
from workbench.data.base import MultimodalBatch, Task, collate
from workbench.methods import wma as W
from workbench.methods.wma import WMA, WMAConfig, ot_distances, solve_pairs, wma_penalty
from workbench.models.base import Output
from workbench.models.transformer import ViltAdapterConfig, ViltTransformer
from workbench.ot import ipot, pairwise_cost
from workbench.training import Trainer, TrainerConfig
from workbench.util import ConvergenceWarning


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
            cost_scale="max",  # WMAConfig's default variant="paper"
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

    monkeypatch.setattr(W, "solve_pairs", boom)
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
    with pytest.raises(ValueError, match="variant"):
        WMAConfig(variant="code")
    with pytest.raises(ValueError, match="cost_scale"):
        WMAConfig(cost_scale=0.0)
    assert WMAConfig().ipot_cost_scale == "max"
    assert WMAConfig(variant="reference_code").ipot_cost_scale == 1.0
    assert WMAConfig(variant="reference_code", cost_scale="max").ipot_cost_scale == "max"


# ============================================================ special tokens (issue 16, item 6)


def tiny_vilt(seed=0):
    torch.manual_seed(seed)
    cfg = ViltAdapterConfig(
        in_dims={"text": 0, "image": 0},
        task=Task("binary", 1, "auroc"),
        vocab_size=100,
        hidden_size=32,
        n_heads=4,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
        dropout=0.0,
    )
    return ViltTransformer(cfg).eval()


def id_batch(generator):
    """Rows ``[CLS] w w ... [SEP]`` (ids 2 and 3) of lengths 5, 3 and 2, padded with 0."""
    rows = [[2, 11, 12, 13, 3], [2, 21, 3, 0, 0], [2, 3, 0, 0, 0]]
    ids = torch.tensor(rows)
    pixels = torch.rand(3, 3, 32, 32, generator=generator)
    return MultimodalBatch(
        {"text": ids, "image": pixels}, torch.ones(3, 2, dtype=torch.bool), torch.zeros(3)
    )


def test_vilt_ot_sets_drop_both_cls_tokens_and_the_text_sep(generator):
    """ViLT's word-patch alignment (compute_itm_wpa, dandelin/ViLT) masks position 0 of both
    modalities and the last real text token ([SEP]); D is the IPOT cost on what remains."""
    model = WMA(tiny_vilt(), WMAConfig(alpha=1.0, beta=1.0))
    batch = id_batch(generator)
    out = model(batch)
    H_t, H_i = out.extras["tokens.text"], out.extras["tokens.image"]
    assert H_t.shape[1] == 4 and H_i.shape[1] == 16  # text after [CLS]; image after its [CLS]
    assert out.extras["ot_mask.text"].tolist() == [
        [True, True, True, False],
        [True, False, False, False],
        [False, False, False, False],
    ]
    assert out.extras["mask.text"].sum(1).tolist() == [4, 2, 1]  # padding mask keeps [SEP]
    sol = model.solve(out)
    D = sol.distances[("text", "image")]
    assert sol.solved[("text", "image")].tolist() == [True, True, False]  # empty text: no OT
    for i, n in ((0, 3), (1, 1)):  # by hand: content words against the 16 patches
        C = pairwise_cost(H_t[i : i + 1, :n], H_i[i : i + 1], "cosine")
        ref = ipot(C, beta=0.5, n_outer=50, cost_scale="max").value
        torch.testing.assert_close(D[i : i + 1], ref, atol=1e-5, rtol=1e-5)
    assert float(D[2].detach()) == 0.0
    model.basis_ready.fill_(True)
    model.basis.fill_(0.1)
    _, logs = model.loss(out, batch)  # the empty-text sample is left out of the term
    assert logs["wma"] == pytest.approx(float(((D[:2] - 0.1) ** 2).mean().detach()), rel=1e-5)


def test_solve_pairs_leaves_out_samples_with_an_empty_set(generator):
    X = torch.randn(3, 4, 8, generator=generator)
    Y = torch.randn(3, 5, 8, generator=generator)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    sol = solve_pairs({"a": X, "b": Y}, {"a": mask}, [("a", "b")])
    assert sol.solved[("a", "b")].tolist() == [True, False, True]
    full = ot_distances({"a": X[[0, 2]], "b": Y[[0, 2]]}, {}, [("a", "b")])[("a", "b")]
    torch.testing.assert_close(sol.distances[("a", "b")][[0, 2]], full)
    assert float(sol.distances[("a", "b")][1]) == 0.0


@pytest.mark.parametrize("modality", ["text", "image"])
def test_noise_and_missing_reach_each_modalitys_cls_token(generator, modality):
    """One rule: a modality's [CLS] is part of its embedding (Eq. 1-2), so embedding-level
    noise and zeroing of the text reach the text [CLS] (the input of H^cls) as those of the
    image reach the image [CLS]."""
    model = tiny_vilt()
    batch = id_batch(generator)
    emb = model.embed(batch)
    assert set(emb) == {"text", "image", "mask.text", "mask.image"}  # no CLS outside a modality
    assert emb["text"].shape[1] == batch.inputs["text"].shape[1]  # [CLS] w ... [SEP] (padded)
    ids = batch.inputs["text"][:, :1]
    text_cls = model.vilt.embeddings.text_embeddings(input_ids=ids) + model._type(0, ids)
    torch.testing.assert_close(emb["text"][:, :1], text_cls)
    mods = ("text", "image")
    gen = torch.Generator().manual_seed(0)
    noisy, _ = apply_embedding_level([UniformNoise(modality, 3.0)], emb, batch.present, mods, gen)
    assert bool((noisy[modality][:, 0] != emb[modality][:, 0]).all())
    other = "image" if modality == "text" else "text"
    assert torch.equal(noisy[other], emb[other])
    gone, present = apply_embedding_level(
        [MissingModality(modality, 1.0, allow_all_missing=True)],
        emb,
        batch.present,
        mods,
        torch.Generator().manual_seed(0),
    )
    assert not bool(present[:, mods.index(modality)].any())
    assert bool((gone[modality][:, 0] == 0).all())  # the [CLS] is zeroed with the modality
    clean, zeroed = model.predict(emb, batch.present), model.predict(gone, present)
    assert not torch.allclose(clean.extras["cls"], zeroed.extras["cls"])


# ============================================================ IPOT convergence (issue 16, item 8)


@pytest.mark.parametrize("cost", ["cosine", "euclidean", "sqeuclidean"])
@pytest.mark.parametrize("scale", [1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3])
def test_every_offered_cost_converges_at_every_scale_with_the_defaults(generator, cost, scale):
    """At WMA's defaults (50 IPOT steps, beta 0.5, variant 'paper') the plans' L1 marginal
    error stays below 1e-2 for every offered cost and feature scale (with cost_scale=1.0 a
    squared-Euclidean cost of unit-scale features ends at 0.26)."""
    X = torch.randn(6, 7, 16, generator=generator) * scale
    Y = torch.randn(6, 12, 16, generator=generator) * scale
    mask = torch.arange(12)[None] < torch.tensor([12, 9, 5, 12, 3, 7])[:, None]
    sol = solve_pairs({"a": X, "b": Y}, {"b": mask}, [("a", "b")], WMAConfig(cost=cost))
    err = sol.marginal_error[("a", "b")]
    assert float(err.max()) < 1e-2
    assert sol.mean_marginal_error() == pytest.approx(float(err.mean()), rel=1e-6)


def test_reference_code_variant_solves_on_the_raw_cost(generator):
    """variant="reference_code" is the ViLT code's IPOT on the raw cost (cost_scale=1.0)."""
    X = torch.randn(3, 4, 8, generator=generator)
    Y = torch.randn(3, 6, 8, generator=generator)
    C = pairwise_cost(X, Y, "cosine")
    config = WMAConfig(variant="reference_code")
    D = ot_distances({"a": X, "b": Y}, {}, [("a", "b")], config)[("a", "b")]
    torch.testing.assert_close(D, ipot(C, beta=0.5, n_outer=50, cost_scale=1.0).value)
    paper = ot_distances({"a": X, "b": Y}, {}, [("a", "b")])[("a", "b")]
    torch.testing.assert_close(paper, ipot(C, beta=0.5, n_outer=50, cost_scale="max").value)


def scaled(output: Output, factor: float) -> Output:
    extras = dict(output.extras)
    for key in [k for k in extras if k.startswith("tokens.")]:
        extras[key] = extras[key] * factor
    return Output(output.y_hat, extras)


def test_unconverged_ipot_warns_once_and_the_default_does_not(generator):
    ds = token_dataset(generator)
    batch = ds.full_batch()
    raw = WMA(backbone(ds), WMAConfig(cost="sqeuclidean", variant="reference_code"))
    out = scaled(raw(batch), 10.0)
    with pytest.warns(ConvergenceWarning, match="marginal error"):
        _, logs = raw.loss(out, batch)
    assert logs["ot_marginal_error"] > 1e-2
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        raw.loss(out, batch)  # once per model
        model = WMA(backbone(ds), WMAConfig(cost="sqeuclidean"))
        _, logs = model.loss(scaled(model(batch), 10.0), batch)
    assert 0.0 <= logs["ot_marginal_error"] < 1e-2


def test_marginal_error_is_in_the_training_history(generator, tmp_path):
    train = token_dataset(generator, n=16)
    val = token_dataset(generator, n=8, split="validation")
    cfg = TrainerConfig(max_epochs=2, batch_size=8, lr=1e-3, progress=False, device="cpu")
    trainer = Trainer(cfg, cache=False)
    trainer.fit(WMA(backbone(train), WMAConfig(alpha=1.0, beta=1.0)), train, val)
    errors = trainer.history_["train_ot_marginal_error"]
    assert len(errors) == 2 and bool(((errors >= 0) & (errors < 1e-2)).all())


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
