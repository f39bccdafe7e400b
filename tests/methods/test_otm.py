"""Tests of the OTM method: mixer, losses, fusions, shared encoders (synthetic data only).

The label-free training loop, the clustering protocol, the scores and the paper table are
tested in ``tests/experiments/test_otm_experiment.py``."""

import dataclasses
import warnings

import numpy as np
import pytest
import torch

from workbench import methods
from workbench import ot as wot
from workbench.data.synthetic import make_synthetic
from workbench.methods.otm import (
    MWAE,
    Mixer,
    OTMConfig,
    encode_views,
    fused_codes,
    mmd_penalty,
    paper_alpha,
    to_config_alpha,
)
from workbench.methods.otm_fusions import FUSIONS, FusionOTMConfig, OTMFusion
from workbench.models.encoders import (
    MLPEncoder,
    ModalitySpec,
    SequenceEncoder,
    encoders_for,
    masked_moments,
)


def _codes(generator, sizes=(12, 10, 14), d=4):
    return {f"m{i}": torch.randn(n, d, generator=generator) for i, n in enumerate(sizes)}


def test_masks_binary_and_sum_to_one(generator):
    mix = Mixer(OTMConfig(latent_dim=4, barycenter_iters=3))(_codes(generator), generator)
    assert mix.masks.shape == (3, mix.fused.shape[0], 4)
    assert set(mix.masks.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(mix.masks.sum(0), torch.ones_like(mix.masks[0]))


def test_weighted_and_reference_masks_are_soft_but_sum_to_one(generator):
    codes = _codes(generator)
    wb = Mixer(OTMConfig(latent_dim=4, mixer="weighted", barycenter_iters=2))(codes, generator)
    torch.testing.assert_close(wb.masks, torch.full_like(wb.masks, 1 / 3))
    ref = Mixer(OTMConfig(latent_dim=4, variant="reference_code", barycenter_iters=2))(
        codes, generator
    )
    torch.testing.assert_close(ref.masks.sum(0), torch.ones_like(ref.masks[0]))
    assert ((ref.masks > 0) & (ref.masks < 1)).any()


def test_pushforward_shapes_and_marginals(generator):
    codes = _codes(generator)
    n_b = 9
    mix = Mixer(OTMConfig(latent_dim=4, n_barycenter=n_b, barycenter_iters=3))(codes, generator)
    assert mix.fused.shape == (n_b, 4)
    for m, z in codes.items():
        T = mix.plans[m]
        assert T.shape == (n_b, z.shape[0])
        assert (T >= 0).all()
        torch.testing.assert_close(
            T.sum(1), torch.full((n_b,), 1 / n_b, dtype=T.dtype), atol=1e-6, rtol=0
        )
        torch.testing.assert_close(
            T.sum(0), torch.full((z.shape[0],), 1 / z.shape[0], dtype=T.dtype), atol=1e-6, rtol=0
        )
        assert mix.augmented[m].shape == z.shape


def test_pushforward_is_differentiable_in_codes_only(generator):
    codes = {m: z.requires_grad_() for m, z in _codes(generator).items()}
    mix = Mixer(OTMConfig(latent_dim=4, barycenter_iters=2))(codes, generator)
    sum(a.sum() for a in mix.augmented.values()).backward()
    assert all(z.grad is not None and torch.isfinite(z.grad).all() for z in codes.values())
    assert all(not T.requires_grad for T in mix.plans.values())


def test_barycenter_objective_decreases(generator):
    mix = Mixer(OTMConfig(latent_dim=4, barycenter_iters=8, fgw_iters=50))(
        _codes(generator, (20, 20, 20)), generator
    )
    h = np.asarray(mix.history)
    assert len(h) >= 2
    assert np.all(np.diff(h) <= 1e-9 * np.abs(h[:-1]).max())
    assert h[-1] < h[0]


def test_mixer_receives_latent_codes_only(generator):
    views = {
        "a": torch.randn(16, 7, generator=generator),
        "b": torch.randn(16, 5, generator=generator),
    }
    model = MWAE({"a": 7, "b": 5}, OTMConfig(latent_dim=3, barycenter_iters=2))
    seen = []
    original = model.mixer.forward

    def spy(latents, gen):
        seen.append(dict(latents))
        return original(latents, gen)

    model.mixer.forward = spy
    model.loss_terms(views)
    assert len(seen) == 1
    latents = seen[0]
    assert set(latents) == set(views)
    for m, z in latents.items():
        assert z.shape == (16, 3)  # codes, never the raw [16, D_m] data
        torch.testing.assert_close(z, model.agents[m].encode(views[m]))


def test_loss_terms_backpropagates_and_logs(generator):
    views = {
        "a": torch.randn(12, 7, generator=generator),
        "b": torch.randn(10, 5, generator=generator),
    }
    cfg = OTMConfig(
        latent_dim=3, barycenter_iters=2, cluster_weight=0.1, n_clusters=2, cluster_iters=5
    )
    model = MWAE({"a": 7, "b": 5}, cfg)
    loss, logs, mix = model.loss_terms(views)
    loss.backward()
    assert torch.isfinite(loss)
    assert {"rec_a", "rec_b", "mix_a", "mix_b", "gw_cluster", "barycenter", "loss"} <= set(logs)
    assert model.agents["a"].encoder[0].weight.grad is not None
    assert mix.plans["b"].shape == (mix.fused.shape[0], 10)


def test_without_mixer_no_server_call(generator):
    model = MWAE({"a": 4}, OTMConfig(latent_dim=2, mixer="none"))
    model.mixer.forward = lambda *a: pytest.fail("the mixer must not be called without OTM")
    loss, logs, mix = model.loss_terms({"a": torch.randn(8, 4, generator=generator)})
    assert mix is None and "mix_a" not in logs


def test_mmd_penalty_small_for_prior_large_for_shift(generator):
    z = torch.randn(200, 4, generator=generator)
    assert mmd_penalty(z, generator) < 0.05
    assert mmd_penalty(z + 3.0, generator) > 0.2


def test_config_validation_and_reference_alpha():
    with pytest.raises(ValueError, match="alpha"):
        OTMConfig(alpha=1.5)
    with pytest.raises(ValueError, match="n_clusters"):
        OTMConfig(n_clusters=0)
    with pytest.raises(ValueError, match="mixer"):
        OTMConfig(mixer="mean")
    assert OTMConfig(alpha=0.2).fgw_alpha == 0.2
    assert OTMConfig(alpha=0.2, variant="reference_code").fgw_alpha == pytest.approx(0.8)


# ----------------------------------------------------------------------------- fusions


@pytest.fixture(scope="module")
def small_splits():
    return make_synthetic(120, dims=(6, 5), n_classes=3, noise=0.3, seed=2)


@pytest.mark.parametrize("fusion", FUSIONS)
def test_fusions_forward_and_otm_loss(fusion, small_splits):
    train = small_splits["train"]
    batch = train.full_batch()
    for otm_weight in (0.0, 1.0):
        torch.manual_seed(0)
        model = OTMFusion.for_dataset(
            train,
            FusionOTMConfig(
                fusion=fusion,
                latent_dim=4,
                hidden_dim=16,
                tensor_dim=3,
                otm_weight=otm_weight,
                barycenter_iters=2,
            ),
        ).train()
        out = model(batch)
        assert out.y_hat.shape == (len(batch), 3)
        loss, logs = model.loss(out, batch)
        loss.backward()
        assert torch.isfinite(loss)
        assert ("otm" in logs) == (otm_weight > 0)
        # the local predictors h_m (Eq. 7) learn only through the OTM regulariser
        has_grad = model.local_heads["m0"].weight.grad is not None
        assert has_grad == (otm_weight > 0)


def test_fusion_missing_modality_is_zeroed(small_splits):
    batch = small_splits["test"].full_batch()
    model = OTMFusion.for_dataset(
        small_splits["train"], FusionOTMConfig(latent_dim=4, hidden_dim=8)
    ).eval()
    present = batch.present.clone()
    present[:, 1] = False
    a = model(dataclasses.replace(batch, present=present))
    b = model(
        dataclasses.replace(
            batch, present=present, inputs={**batch.inputs, "m1": batch.inputs["m1"] * 5}
        )
    )
    torch.testing.assert_close(a.y_hat, b.y_hat)


def test_sequence_modality_pooling_respects_padding():
    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, False, False, False], [True] * 5])
    pooled = masked_moments(x, mask)
    torch.testing.assert_close(pooled[0, :3], x[0, :2].mean(0))
    x2 = x.clone()
    x2[0, 2:] = 100.0
    torch.testing.assert_close(masked_moments(x2, mask), pooled)
    encoder = SequenceEncoder(3, 4, hidden=8, kind="moments")
    torch.testing.assert_close(encoder(x2, mask), encoder(x, mask))


def test_fusion_encoders_are_the_otm_family():
    """The fusions build their encoders with encoders_for(family="otm"): an MLP per vector or
    image (flattened), masked moments + MLP per sequence; the same seed gives the same weights."""
    specs = {"img": ModalitySpec((1, 4, 4)), "seq": ModalitySpec((-1, 3), sequence=True)}
    enc = encoders_for(specs, 5, family="otm", hidden=(7,))
    assert isinstance(enc["img"], MLPEncoder) and enc["img"].net[0].in_features == 16
    assert isinstance(enc["seq"], SequenceEncoder) and enc["seq"].kind == "moments"
    assert enc["seq"].mlp[0].in_features == 6 and enc["seq"].mlp[0].out_features == 7
    with pytest.raises(ValueError, match="kind"):
        SequenceEncoder(3, 4, kind="lstm")


def test_shared_encoders_replace_the_fusions_own(small_splits):
    train = small_splits["train"]
    batch = train.full_batch()
    shared = encoders_for(
        {m: ModalitySpec(tuple(train.modality_shape(m))) for m in train.modalities},
        4,
        family="mlp",
        hidden=(6,),
    )
    model = OTMFusion.for_dataset(
        train, FusionOTMConfig(latent_dim=4, hidden_dim=8, otm_weight=1.0), encoders=shared
    )
    assert model.encoders is shared
    out = model.train()(batch)
    loss, logs = model.loss(out, batch)
    loss.backward()
    assert "otm" in logs and shared["m0"].net[0].weight.grad is not None
    built = methods.build("OTM", train, encoders=shared, seed=0, latent_dim=4, hidden_dim=8)
    assert built.encoders is shared and built.config.otm_weight == 1.0
    with pytest.raises(ValueError, match="one per modality"):
        OTMFusion.for_dataset(train, encoders=torch.nn.ModuleDict({"m0": shared["m0"]}))


def test_encode_views_and_fused_codes(generator):
    views = {
        "a": torch.randn(20, 5, generator=generator),
        "b": torch.randn(20, 3, generator=generator),
    }
    model = MWAE({"a": 5, "b": 3}, OTMConfig(latent_dim=2, barycenter_iters=2))
    codes = encode_views(model, views)
    assert {m: z.shape for m, z in codes.items()} == {"a": (20, 2), "b": (20, 2)}
    one, two = fused_codes(model, views, seed=3), fused_codes(model, views, seed=3)
    torch.testing.assert_close(one.fused, two.fused)


# ----------------------------------------------------------------------------- plots, panel, report


def test_plots_return_what_they_drew(generator):
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from workbench import plotting

    codes, labels = torch.randn(30, 4, generator=generator), torch.arange(30) % 3
    ax = plotting.tsne(codes, labels)
    assert len(ax.collections) == 1 and len(ax.collections[0].get_offsets()) == 30
    axes = plotting.tsne_pair(codes, labels, codes[:20], labels[:20])
    assert len(axes[1].collections[0].get_offsets()) == 20
    frame = pd.DataFrame(
        {
            "method": ["a", "a", "b", "b"],
            "energy_ratio": [0.0, 0.5, 0.0, 0.5],
            "value": [0.9, 0.7, 0.9, 0.8],
        }
    )
    ax = plotting.noise_curves(frame)
    assert len(ax.lines) == 2
    with pytest.raises(ValueError, match="lacks columns"):
        plotting.noise_curves(frame.drop(columns="value"))


def test_otm_panel_headless(generator):
    import matplotlib

    matplotlib.use("Agg")
    from workbench import widgets

    views = {
        "a": torch.randn(24, 5, generator=generator),
        "b": torch.randn(24, 3, generator=generator),
    }
    model = MWAE({"a": 5, "b": 3}, OTMConfig(latent_dim=2, barycenter_iters=2))
    panel = widgets.otm_panel(model, views, torch.arange(24) % 2, n_points=20)
    scores = panel.result
    assert set(scores) == {"purity", "hungarian_accuracy", "nmi", "ari"}


# ----------------------------------------------------------------------------- fidelity (issue 16)


def test_default_objective_is_eq_4_to_6_without_mmd(generator):
    """Item 1: by default the loss is Eq. 5 plus lambda * Eq. 6 (lambda = 1, as in the authors'
    code), recomputed here by hand from the mixer's output; the MMD prior is off."""
    views = {
        "a": torch.randn(12, 7, generator=generator),
        "b": torch.randn(12, 5, generator=generator),
    }
    cfg = OTMConfig(
        latent_dim=3,
        barycenter_iters=2,
        n_clusters=2,
        cluster_iters=5,
        reconstruction_weight=0.7,
        otm_weight=0.3,
    )
    assert cfg.mmd_weight == 0.0 and cfg.cluster_weight == 1.0
    model = MWAE({"a": 7, "b": 5}, cfg)
    model.generator.manual_seed(5)
    loss, logs, mix = model.loss_terms(views)
    assert not any(k.startswith("mmd") for k in logs)
    with torch.no_grad():
        z = model.encode(views)
        rec = sum(
            ((x - model.agents[m].decode(z[m])) ** 2).sum(-1).mean() for m, x in views.items()
        )
        penalty = sum(((z[m] - mix.augmented[m]) ** 2).sum(-1).mean() for m in views)
        gw = wot.gw_cluster_loss(mix.fused, 2, max_iter=5).value
    assert float(gw) > 0
    expected = 0.7 * rec + 0.3 * penalty + 1.0 * gw
    assert float(loss.detach()) == pytest.approx(float(expected), rel=1e-5)
    assert logs["gw_cluster"] == pytest.approx(float(gw), rel=1e-5)
    # the MMD prior (WAE-MMD, outside the paper) is a named option
    with_mmd = MWAE({"a": 7, "b": 5}, dataclasses.replace(cfg, mmd_weight=0.5))
    assert {"mmd_a", "mmd_b"} <= set(with_mmd.loss_terms(views)[1])


def test_table6_alpha_converted_and_checked_against_pot():
    """Item 2: Table 6's alpha (authors' code: weight of the GW term, as in POT) becomes
    1 - alpha in the paper's convention; both variants solve POT's FGW problem at that alpha."""
    import ot as pot

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(7, 2)), rng.normal(size=(6, 2)) + 0.5
    M, C1, C2 = pot.dist(X, Y), pot.dist(X, X), pot.dist(Y, Y)
    p, q = pot.unif(7), pot.unif(6)
    table6 = 0.0953  # Caltech7, aligned
    expected = pot.gromov.fused_gromov_wasserstein2(
        M, C1, C2, p, q, loss_fun="square_loss", alpha=table6
    )
    assert paper_alpha(table6) == pytest.approx(0.9047)
    for variant in ("paper", "reference_code"):
        cfg = OTMConfig(alpha=to_config_alpha(table6, "reference_code", variant), variant=variant)
        assert cfg.fgw_alpha == pytest.approx(1 - table6)  # mostly the feature term
        assert wot.pot_alpha(cfg.fgw_alpha) == pytest.approx(table6)
        ours = wot.fgw(
            torch.as_tensor(M), torch.as_tensor(C1), torch.as_tensor(C2), alpha=cfg.fgw_alpha
        )
        assert float(ours.value) == pytest.approx(float(expected), rel=1e-6, abs=1e-9)
    # a value already in the paper's convention is left alone
    assert to_config_alpha(0.3, "paper", "paper") == 0.3
    assert to_config_alpha(0.3, "paper", "reference_code") == pytest.approx(0.7)
    with pytest.raises(ValueError, match="convention"):
        to_config_alpha(0.3, "pot", "paper")


def test_reference_code_masks_are_dirichlet_half(generator):
    """Item 4: the authors draw Dirichlet(0.5) masks; with two modalities a mask entry is
    Beta(0.5, 0.5), variance 1/8 (Dirichlet(1): Beta(1, 1), variance 1/12)."""
    codes = _codes(generator, sizes=(100, 100), d=20)
    cfg = OTMConfig(latent_dim=20, variant="reference_code", barycenter_iters=1, fgw_iters=2)
    assert cfg.mask_concentration == 0.5
    masks = Mixer(cfg)(codes, generator).masks
    torch.testing.assert_close(masks.sum(0), torch.ones_like(masks[0]))
    assert float(masks[0].var()) == pytest.approx(1 / 8, abs=0.012)


def test_mixer_reports_convergence(generator):
    """Item 5: the barycenter's ``converged`` reaches the mixer's output and the loss logs."""
    codes = _codes(generator, sizes=(10, 10), d=3)
    capped = Mixer(OTMConfig(latent_dim=3, barycenter_iters=1, fgw_iters=2))(codes, generator)
    assert capped.converged is False and capped.n_iters == 1
    free = Mixer(OTMConfig(latent_dim=3, barycenter_iters=50, fgw_iters=100))(codes, generator)
    assert free.converged is True and free.n_iters < 50
    model = MWAE({"a": 4, "b": 4}, OTMConfig(latent_dim=3, barycenter_iters=1, n_clusters=2))
    views = {m: torch.randn(8, 4, generator=generator) for m in "ab"}
    _, logs, _ = model.loss_terms(views)
    assert logs["barycenter_converged"] == 0.0 and "gw_cluster_converged" in logs


def test_supervised_fusion_logs_barycenter_convergence(small_splits):
    train = small_splits["train"]
    batch = train.full_batch()
    model = OTMFusion.for_dataset(
        train, FusionOTMConfig(latent_dim=4, hidden_dim=8, otm_weight=1.0, barycenter_iters=1)
    ).train()
    assert model.mixer.config.cluster_weight == 0.0  # supervised: Eq. 7, not Eq. 6
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, logs = model.loss(model(batch), batch)
    assert logs["barycenter_converged"] == 0.0
