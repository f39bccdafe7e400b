"""Tests of the multi-view clustering baselines (synthetic data only)."""

import numpy as np
import pytest
import torch

from workbench.methods.clustering import (
    MCCA,
    clustering_table,
    gw_barycenter_clustering,
    kmeans_concat,
    run_clustering,
    spectral_concat,
    unalign_views,
)
from workbench.methods.otm import clustering_scores


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


def test_unalign_views_keeps_multisets_and_breaks_pairs(generator):
    views = {"a": torch.arange(50.0)[:, None], "b": torch.arange(50.0)[:, None]}
    out = unalign_views(views, seed=1)
    assert torch.equal(out["a"], views["a"])
    assert torch.equal(out["b"].sort(0).values, views["b"])
    assert float((out["a"] == out["b"]).float().mean()) < 0.2


def test_gw_barycenter_clustering_unaligned_views(generator):
    views, y = _blobs(generator, n_per=15)
    perm = torch.randperm(len(y), generator=generator)
    shuffled = {"v0": views["v0"], "v1": views["v1"][perm]}
    labels = gw_barycenter_clustering(shuffled, 3, seed=0)
    assert clustering_scores(y, labels["v0"])["hungarian_accuracy"] > 0.9
    assert clustering_scores(y[perm.numpy()], labels["v1"])["hungarian_accuracy"] > 0.9


def test_run_clustering_and_table(generator):
    views, y = _blobs(generator, n_per=10)
    rows = []
    for seed in (0, 1):
        res = run_clustering("MCCA", views, views, y, 3, aligned=True, seed=seed)
        rows += [
            dict(
                dataset="blobs", setting="aligned", method=res.method, seed=seed, metric=k, value=v
            )
            for k, v in res.scores.items()
        ]
    table = clustering_table(rows)
    assert list(table.columns) == ["purity", "hungarian_accuracy", "nmi", "ari"]
    assert " ± " in table.iloc[0, 0]
    with pytest.raises(ValueError, match="Unknown clustering method"):
        run_clustering("DEC", views, views, y, 3, aligned=True)


def test_experiment_runs_alignment_free_methods_once(monkeypatch):
    import workbench.methods.clustering as cl
    from workbench.methods.otm import OTMConfig

    calls = []
    real = cl.run_clustering

    def counting(method, *args, **kwargs):
        calls.append((method, kwargs["aligned"], kwargs["setup"].num_epochs))
        return real(method, *args, **kwargs)

    monkeypatch.setattr(cl, "run_clustering", counting)
    small = OTMConfig(latent_dim=2, hidden_dim=8, barycenter_iters=1, fgw_iters=2)
    setups = {s: cl.ClusteringSetup(small, num_epochs=e, batch_size=30) for s, e in (("aligned", 1), ("unaligned", 2))}
    df = cl.clustering_experiment(
        "synthetic", methods=("k-means", "MWAE"), seeds=(0,), setup=setups, n_samples=60
    )
    # k-means never sees the training alignment: one run, rows repeated for both settings
    assert sorted(calls) == sorted([("k-means", True, 1), ("MWAE", True, 1), ("MWAE", False, 2)])
    km = df[df.method == "k-means"].pivot_table(index="metric", columns="setting", values="value")
    assert np.allclose(km["aligned"], km["unaligned"])
    assert set(df.setting) == {"aligned", "unaligned"}
