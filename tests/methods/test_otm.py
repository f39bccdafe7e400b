"""Tests of the OTM method: mixer, losses, label-free training, fusions (synthetic data only)."""

import dataclasses

import numpy as np
import pytest
import torch

from workbench.data.synthetic import make_synthetic
from workbench.methods.clustering import ClusteringSetup, run_clustering
from workbench.methods.otm import (
    MWAE,
    Mixer,
    OTMConfig,
    alignment_accuracy,
    clustering_scores,
    fit_clustering,
    fused_labels,
    mmd_penalty,
    views_of,
)
from workbench.methods.otm_fusions import (
    FUSIONS,
    FusionOTMConfig,
    OTMFusion,
    single_modality_scores,
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
    assert fused_labels(mix, torch.arange(10), "b").shape == (mix.fused.shape[0],)


def test_without_mixer_no_server_call(generator):
    model = MWAE({"a": 4}, OTMConfig(latent_dim=2, mixer="none"))
    model.mixer.forward = lambda *a: pytest.fail("the mixer must not be called without OTM")
    loss, logs, mix = model.loss_terms({"a": torch.randn(8, 4, generator=generator)})
    assert mix is None and "mix_a" not in logs


def test_unaligned_training_never_pairs_rows(generator):
    n = 64
    ids = torch.arange(n, dtype=torch.float32)[:, None]
    views = {"a": torch.cat([ids, torch.randn(n, 3, generator=generator)], 1), "b": ids.clone()}
    batches = []
    for aligned in (True, False):
        model = MWAE({"a": 4, "b": 1}, OTMConfig(latent_dim=2, mixer="none"))
        original = model.loss_terms

        def spy(v, original=original, aligned=aligned):
            batches.append((aligned, v["a"][:, 0].clone(), v["b"][:, 0].clone()))
            return original(v)

        model.loss_terms = spy
        fit_clustering(model, views, num_epochs=2, batch_size=16, aligned=aligned, seed=3)
    paired = [float((a == b).float().mean()) for al, a, b in batches if al]
    unpaired = [float((a == b).float().mean()) for al, a, b in batches if not al]
    assert min(paired) == 1.0
    assert max(unpaired) < 0.3  # independent per-agent sampling: pairing only by chance


def test_unaligned_training_accepts_unequal_sizes(generator):
    views = {
        "a": torch.randn(30, 5, generator=generator),
        "b": torch.randn(21, 3, generator=generator),
    }
    model = MWAE({"a": 5, "b": 3}, OTMConfig(latent_dim=2, barycenter_iters=2))
    model, history = fit_clustering(model, views, num_epochs=2, batch_size=8, aligned=False)
    assert len(history) == 2 and all(np.isfinite(h["loss"]) for h in history)
    with pytest.raises(ValueError, match="equal numbers of rows"):
        fit_clustering(model, views, num_epochs=1, aligned=True)


@pytest.mark.slow
@pytest.mark.parametrize("aligned", [True, False])
def test_clustering_pipeline_recovers_separated_clusters(aligned):
    splits = make_synthetic(400, dims=(20, 12), n_classes=3, noise=0.3, seed=1)
    train, test = views_of(splits["train"]), views_of(splits["test"])
    setup = ClusteringSetup(
        OTMConfig(latent_dim=8, hidden_dim=64, barycenter_iters=2), num_epochs=4, batch_size=64
    )
    res = run_clustering(
        "MWAE+OTM", train, test, splits["test"].y, 3, aligned=aligned, seed=0, setup=setup
    )
    assert res.scores["hungarian_accuracy"] > 0.9
    assert res.scores["nmi"] > 0.7


def test_clustering_scores_closed_forms():
    y = np.array([0, 0, 1, 1, 2, 2])
    perfect = clustering_scores(y, np.array([2, 2, 0, 0, 1, 1]))
    assert perfect == pytest.approx(
        {"purity": 1.0, "hungarian_accuracy": 1.0, "nmi": 1.0, "ari": 1.0}
    )
    one = clustering_scores(y, np.zeros(6, dtype=int))
    assert one["purity"] == pytest.approx(1 / 3) and one["hungarian_accuracy"] == pytest.approx(
        1 / 3
    )


def test_mmd_penalty_small_for_prior_large_for_shift(generator):
    z = torch.randn(200, 4, generator=generator)
    assert mmd_penalty(z, generator) < 0.05
    assert mmd_penalty(z + 3.0, generator) > 0.2


def test_config_validation_and_reference_alpha():
    with pytest.raises(ValueError, match="alpha"):
        OTMConfig(alpha=1.5)
    with pytest.raises(ValueError, match="n_clusters"):
        OTMConfig(cluster_weight=1.0)
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


def test_single_modality_scores(small_splits):
    model = OTMFusion.for_dataset(
        small_splits["train"], FusionOTMConfig(latent_dim=4, hidden_dim=8)
    )
    scores = single_modality_scores(model, small_splits["train"], small_splits["test"])
    assert set(scores) == {"m0", "m1"} and all(0.0 <= v <= 1.0 for v in scores.values())


def test_sequence_modality_pooling_respects_padding():
    from workbench.methods.otm_fusions import SequenceEncoder

    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, False, False, False], [True] * 5])
    pooled = SequenceEncoder.pool(x, mask)
    torch.testing.assert_close(pooled[0, :3], x[0, :2].mean(0))
    x2 = x.clone()
    x2[0, 2:] = 100.0
    torch.testing.assert_close(SequenceEncoder.pool(x2, mask), pooled)


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


def test_paper_comparison_reads_reference():
    import pandas as pd

    from workbench.methods.otm import paper_comparison

    rows = [
        {"dataset": "mfeat", "setting": s, "method": m, "seed": 0, "metric": "purity", "value": v}
        for s in ("aligned", "unaligned")
        for m, v in (
            ("MCCA", 0.5),
            ("GWMAC-style", 0.3),
            ("MWAE", 0.55),
            ("MWAE+OTM", 0.6),
            ("MWAE+OTM(WB)", 0.58),
        )
    ]
    table = paper_comparison(pd.DataFrame(rows))
    assert table["holds"].tolist() == [True, True, True, True, True]
    assert table["paper (a vs b)"].iloc[0] == "0.6072 vs 0.5313"


def _isometric_copies(generator):
    """Three clusters of unequal sizes and spreads (no class-swapping isometry) and a copy of
    them rotated, shifted and with permuted rows: the second modality is an exact isometric copy
    of the first, in an unrelated coordinate system."""
    sizes = (8, 16, 24)
    centres = torch.tensor([[0.0, 0.0], [6.0, 0.0], [0.0, 14.0]], dtype=torch.float64)
    Z1 = torch.cat(
        [c + 0.5 * torch.randn(n, 2, generator=generator, dtype=torch.float64) for c, n in zip(centres, sizes)]
    )
    y = np.repeat(np.arange(3), sizes)
    Q, _ = torch.linalg.qr(torch.randn(2, 2, generator=generator, dtype=torch.float64))
    perm = torch.randperm(len(y), generator=generator)
    return Z1, y, (Z1 @ Q)[perm] + 3.0, y[perm.numpy()]


def test_alignment_accuracy_pure_gw_recovers_isometric_copy(generator):
    from workbench.ot import fgw_barycenter

    Z1, y1, Z2, y2 = _isometric_copies(generator)
    labels = {"a": y1, "b": y2}
    acc = {}
    for alpha in (0.0, 1.0):
        res = fgw_barycenter(
            [Z1, Z2], len(y1), alpha=alpha, init="modality", generator=torch.Generator().manual_seed(1),
            n_outer=5, fgw_max_iter=50,
        )
        acc[alpha] = alignment_accuracy(dict(zip("ab", res.plans)), labels)
    chance = float(np.sum((np.bincount(y1) / len(y1)) ** 2))
    assert acc[0.0]["chance"].item() == pytest.approx(chance)
    # pure GW (alpha = 0) sees only the within-modality distances, which the copy preserves
    assert acc[0.0]["accuracy"].item() > 0.99
    # the feature term compares coordinates of unrelated spaces: it can only do worse
    assert acc[1.0]["accuracy"].item() < acc[0.0]["accuracy"].item()


def test_alignment_accuracy_closed_forms(generator):
    y = np.array([0, 0, 1, 1, 2, 2])
    identity = torch.eye(6, dtype=torch.float64) / 6
    independent = torch.full((6, 6), 1 / 36, dtype=torch.float64)
    out = alignment_accuracy({"a": identity, "b": identity, "c": independent}, y)
    assert list(zip(out.modality_a, out.modality_b)) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert out["accuracy"].tolist() == pytest.approx([1.0, 1 / 3, 1 / 3])
    assert out["chance"].tolist() == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="labels for modality"):
        alignment_accuracy({"a": identity, "b": identity}, y[:5])
    with pytest.raises(ValueError, match="at least two"):
        alignment_accuracy({"a": identity}, y)
