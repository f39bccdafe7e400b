"""Tests of the multi-view clustering baselines (synthetic data only); the Table 2 protocol is
tested in ``tests/experiments/test_otm_experiment.py``."""

import numpy as np
import pytest
import torch

from workbench.experiments.otm import clustering_scores, unalign_views
from workbench.methods.clustering import (
    MCCA,
    cluster_codes,
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
