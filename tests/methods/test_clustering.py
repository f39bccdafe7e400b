"""Tests of the multi-view clustering baselines (synthetic data only); the Table 2 protocol is
tested in ``tests/experiments/test_otm_experiment.py``."""

import numpy as np
import pytest
import torch

from workbench.experiments.otm import clustering_scores, unalign_views
from workbench.methods.clustering import (
    CLUSTER_ON,
    MCCA,
    cluster_codes,
    cluster_fused,
    cluster_per_view,
    gw_barycenter_clustering,
    kmeans_concat,
    spectral_concat,
)


def _blobs(generator, n_per=30, n_classes=3, dims=(6, 4, 5), sep=6.0):
    y = torch.arange(n_classes).repeat_interleave(n_per)
    views = {}
    for i, d in enumerate(dims):
        centers = torch.randn(n_classes, d, generator=generator) * sep
        views[f"v{i}"] = centers[y] + torch.randn(len(y), d, generator=generator)
    return views, y.numpy()


def _shared_latent(generator, n=300, dims=(8, 6, 5), k=2):
    s = torch.randn(n, k, generator=generator)
    return {
        f"v{i}": s @ torch.randn(k, d, generator=generator)
        + 0.1 * torch.randn(n, d, generator=generator)
        for i, d in enumerate(dims)
    }


def test_kmeans_and_spectral_recover_blobs(generator):
    views, y = _blobs(generator)
    for labels in (kmeans_concat(views, 3), spectral_concat(views, 3)):
        assert clustering_scores(y, labels)["hungarian_accuracy"] == pytest.approx(1.0)


@pytest.mark.parametrize("n_views", [2, 3])
def test_mcca_finds_the_shared_component(generator, n_views):
    views = dict(list(_shared_latent(generator).items())[:n_views])
    mcca = MCCA(n_components=2).fit(views)
    z = mcca.transform(views)
    names = list(z)
    for a, b in zip(names, names[1:]):
        corr = np.corrcoef(z[a][:, 0], z[b][:, 0])[0, 1]
        assert abs(corr) > 0.95


def test_mcca_breaks_on_unaligned_training(generator):
    views = _shared_latent(generator, dims=(8, 6))
    z = MCCA(n_components=1).fit(unalign_views(views, seed=0)).transform(views)
    assert abs(np.corrcoef(z["v0"][:, 0], z["v1"][:, 0])[0, 1]) < 0.9


def test_gw_barycenter_clustering_unaligned_views(generator):
    views, y = _blobs(generator, n_per=15)
    perm = torch.randperm(len(y), generator=generator)
    shuffled = {"v0": views["v0"], "v1": views["v1"][perm]}
    labels = gw_barycenter_clustering(shuffled, 3, seed=0)
    assert clustering_scores(y, labels["v0"])["hungarian_accuracy"] > 0.9
    assert clustering_scores(y[perm.numpy()], labels["v1"])["hungarian_accuracy"] > 0.9


def test_cluster_codes_standardises_each_view(generator):
    views, y = _blobs(generator)
    scaled = {m: x * (1000.0 if m == "v0" else 1.0) for m, x in views.items()}
    assert (cluster_codes(views, 3, seed=0) == cluster_codes(scaled, 3, seed=0)).all()
    assert cluster_codes(torch.cat(list(views.values()), 1), 3).shape == (len(y),)


def test_cluster_fused_carries_barycenter_clusters_by_the_plans():
    """Item 3 (fused): k-means on the fused codes; sample j of a view takes the cluster of the
    fused code it sends most mass to (argmax_i T[i, j]), checked on a hand-made plan."""
    fused = torch.tensor([[0.0, 0.0], [0.1, 0.0], [10.0, 10.0], [10.1, 10.0]])
    # view "a": samples 0..3 go to fused codes 2, 0, 3, 1; view "b": to 0, 0, 2, 2 (plus noise)
    Ta = torch.zeros(4, 4)
    Ta[[2, 0, 3, 1], [0, 1, 2, 3]] = 0.25
    Tb = torch.full((4, 4), 0.01)
    Tb[[0, 1, 2, 3], [0, 1, 2, 3]] = 0.0
    Tb[[0, 0, 2, 2], [0, 1, 2, 3]] = 0.2
    out = cluster_fused(fused, {"a": Ta, "b": Tb}, 2, seed=0)
    a, b = out["a"], out["b"]
    assert a[0] == a[2] != a[1] == a[3]  # codes 2, 3 together; 0, 1 together
    assert b[0] == b[1] != b[2] == b[3]
    assert a[1] == b[0]  # fused code 0 carries one cluster id to both views
    with pytest.raises(ValueError, match="N_B"):
        cluster_fused(fused, {"a": Ta[:3]}, 2)


def test_cluster_per_view_is_k_means_on_each_view(generator):
    """Item 3 (per_view, the authors' code): each view clustered on its own."""
    views, y = _blobs(generator)
    out = cluster_per_view(views, 3, seed=0)
    assert set(out) == set(views) and set(CLUSTER_ON) == {"concat", "fused", "per_view"}
    for m, labels in out.items():
        assert (labels == cluster_codes(views[m], 3, seed=0)).all()
        assert clustering_scores(y, labels)["hungarian_accuracy"] == pytest.approx(1.0)
