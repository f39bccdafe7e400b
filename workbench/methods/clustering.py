"""Multi-view clustering baselines of the OTM paper (Tables 2 and 10), as estimators.

Every method maps the *evaluation* views to a representation and clusters it with k-means
(the paper: "we concatenate the latent codes of all the modalities and apply K-means",
:func:`cluster_codes`), except spectral clustering and the GWMAC-style method, which cluster
directly. Labels are never seen here.

- :func:`cluster_codes`: k-means on the standardised concatenated codes of any method (the
  paper's Experiments section, ``cluster_on="concat"``).
- :func:`cluster_per_view`: k-means on each view's codes separately (the authors' code,
  ``kmeans_for_multiview``: scores averaged over views, ``cluster_on="per_view"``).
- :func:`cluster_fused`: k-means on the server's fused codes ``tilde Z_B`` (the paper's Method
  and Results sections, ``cluster_on="fused"``), carried to each view's samples by the plans.
- :func:`kmeans_concat`: k-means on the standardised concatenated views.
- :func:`spectral_concat`: spectral clustering (k-NN affinity) on the concatenated views.
- :class:`MCCA`: CCA (two views, scikit-learn) or SUMCOR multi-set CCA (generalised eigenproblem).
- :func:`gw_barycenter_clustering`: in the spirit of GWMAC (Gong, Nie and Xu 2022): a
  Gromov-Wasserstein barycenter of the views' distance matrices (POT), spectral clustering of the
  barycenter, labels carried to each view's samples by the GW plans. It never uses alignment.

The Table 2 / Table 10 protocol (aligned and unaligned training, seeds, scores) is
:func:`workbench.experiments.otm.clustering_experiment`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "MCCA",
    "CLUSTER_ON",
    "cluster_codes",
    "cluster_fused",
    "cluster_per_view",
    "gw_barycenter_clustering",
    "kmeans_concat",
    "spectral_concat",
]


CLUSTER_ON = ("concat", "fused", "per_view")
"""Which codes a learned multi-view method's k-means clusters: the concatenated codes of all
modalities (``"concat"``), the fused codes ``tilde Z_B`` (``"fused"``) or each modality's codes
on its own, scores averaged over modalities (``"per_view"``)."""


def _np_views(views: Mapping[str, Tensor | np.ndarray]) -> dict[str, np.ndarray]:
    return {
        m: np.asarray(torch.as_tensor(x).reshape(len(x), -1).float().numpy(), dtype=np.float64)
        for m, x in views.items()
    }


def _standardise(x: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    ref = x if ref is None else ref
    return (x - ref.mean(0)) / (ref.std(0) + 1e-8)


def cluster_codes(
    codes: Mapping[str, Tensor] | Tensor, n_clusters: int, *, seed: int = 0
) -> np.ndarray:
    """k-means on the concatenated, standardised codes (the paper's protocol for every method).

    Args:
        codes: modality -> ``[N, d_m]`` aligned codes, or one ``[N, D]`` matrix.
        n_clusters: number of clusters ``C``.
        seed: k-means seed.

    Returns:
        ``int [N]`` cluster ids.
    """
    from sklearn.cluster import KMeans

    if isinstance(codes, Mapping):
        X = np.concatenate(
            [_standardise(np.asarray(z, dtype=np.float64)) for z in codes.values()], axis=1
        )
    else:
        X = _standardise(np.asarray(codes, dtype=np.float64))
    return KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(X)


def cluster_per_view(
    codes: Mapping[str, Tensor], n_clusters: int, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """k-means on each view's (standardised) codes on its own (the authors' code).

    Args:
        codes: modality -> ``[N_m, d]`` codes.
        n_clusters: ``C``.
        seed: k-means seed.

    Returns:
        modality -> ``int [N_m]`` cluster ids (score each and average, as the code does).
    """
    return {m: cluster_codes(torch.as_tensor(z), n_clusters, seed=seed) for m, z in codes.items()}


def cluster_fused(
    fused: Tensor, plans: Mapping[str, Tensor], n_clusters: int, *, seed: int = 0
) -> dict[str, np.ndarray]:
    """k-means on the fused codes ``tilde Z_B`` ``[N_B, d]``, carried to the samples.

    The fused codes are not samples: sample ``j`` of modality ``m`` takes the cluster of the
    fused code it is transported to most, ``argmax_i T_m[i, j]`` (as GWMAC carries its
    barycenter's clusters; Fig. 2 of the OTM paper links fused codes and samples the same way).

    Args:
        fused: ``[N_B, d]`` fused codes.
        plans: modality -> ``T_m`` ``[N_B, N_m]``.
        n_clusters: ``C``.
        seed: k-means seed.

    Returns:
        modality -> ``int [N_m]`` cluster ids.
    """
    fused_labels = cluster_codes(torch.as_tensor(fused).detach().cpu(), n_clusters, seed=seed)
    out = {}
    for m, T in plans.items():
        if T.shape[0] != len(fused_labels):
            raise ValueError(
                f"cluster_fused: plan of {m!r} has {T.shape[0]} rows, expected N_B = "
                f"{len(fused_labels)} (one per fused code)."
            )
        out[m] = fused_labels[T.detach().cpu().argmax(dim=0).numpy()]
    return out


def kmeans_concat(views: Mapping[str, Tensor], n_clusters: int, *, seed: int = 0) -> np.ndarray:
    """k-means on the standardised concatenation of (aligned) ``views`` ``{m: [N, D_m]}``."""
    return cluster_codes(
        {m: torch.as_tensor(x) for m, x in _np_views(views).items()}, n_clusters, seed=seed
    )


def spectral_concat(
    views: Mapping[str, Tensor], n_clusters: int, *, seed: int = 0, n_neighbors: int = 10
) -> np.ndarray:
    """Spectral clustering (symmetrised k-NN affinity) on the standardised concatenated views."""
    from sklearn.cluster import SpectralClustering

    X = np.concatenate([_standardise(x) for x in _np_views(views).values()], axis=1)
    k = int(min(n_neighbors, len(X) - 1))
    model = SpectralClustering(
        n_clusters, affinity="nearest_neighbors", n_neighbors=k, random_state=seed
    )
    return model.fit_predict(X)


class MCCA:
    """Canonical correlation analysis of two or more views.

    Two views use :class:`sklearn.cross_decomposition.CCA`. Three or more use SUMCOR multi-set
    CCA (de Cheveigné et al. 2019): the top eigenvectors of the generalised eigenproblem
    ``C w = rho D w`` with ``C`` the joint covariance of the standardised views and ``D`` its
    block diagonal (plus ``ridge * I`` for stability).

    Args:
        n_components: canonical components per view.
        ridge: diagonal regulariser added to each view's covariance (relative to its trace).

    Attributes (after :meth:`fit`):
        weights_: view -> ``[D_m, n_components]`` projections.
    """

    def __init__(self, n_components: int = 10, ridge: float = 1e-3) -> None:
        self.n_components = n_components
        self.ridge = ridge

    def fit(self, views: Mapping[str, Tensor]) -> MCCA:
        """Fit on training views ``{m: [N, D_m]}`` (their rows are assumed aligned)."""
        X = _np_views(views)
        self.means_ = {m: x.mean(0) for m, x in X.items()}
        self.stds_ = {m: x.std(0) + 1e-8 for m, x in X.items()}
        Z = {m: (x - self.means_[m]) / self.stds_[m] for m, x in X.items()}
        names = list(Z)
        dims = [Z[m].shape[1] for m in names]
        k = int(min(self.n_components, *dims, len(next(iter(Z.values()))) - 1))
        if len(names) == 2:
            from sklearn.cross_decomposition import CCA

            cca = CCA(n_components=k, max_iter=1000).fit(Z[names[0]], Z[names[1]])
            self.weights_ = {names[0]: cca.x_rotations_, names[1]: cca.y_rotations_}
            return self
        from scipy.linalg import eigh

        joint = np.concatenate([Z[m] for m in names], axis=1)
        C = joint.T @ joint / len(joint)
        D = np.zeros_like(C)
        start = 0
        for d in dims:
            block = C[start : start + d, start : start + d]
            D[start : start + d, start : start + d] = block + self.ridge * (
                np.trace(block) / d
            ) * np.eye(d)
            start += d
        vals, vecs = eigh(C + 1e-9 * np.eye(len(C)), D)
        top = vecs[:, np.argsort(vals)[::-1][:k]]
        self.weights_, start = {}, 0
        for m, d in zip(names, dims):
            self.weights_[m] = top[start : start + d]
            start += d
        return self

    def transform(self, views: Mapping[str, Tensor]) -> dict[str, np.ndarray]:
        """Canonical variates ``{m: [N, n_components]}`` of new views."""
        X = _np_views(views)
        return {
            m: ((X[m] - self.means_[m]) / self.stds_[m]) @ self.weights_[m] for m in self.weights_
        }


def gw_barycenter_clustering(
    views: Mapping[str, Tensor],
    n_clusters: int,
    *,
    n_barycenter: int | None = None,
    seed: int = 0,
    max_iter: int = 10,
) -> dict[str, np.ndarray]:
    """GWMAC-style clustering of (possibly unaligned) views via a GW barycenter.

    The views' normalised Euclidean distance matrices are averaged into a Gromov-Wasserstein
    barycenter (``ot.gromov.gromov_barycenters``); the barycenter is clustered spectrally
    (Gaussian kernel of its structure matrix) and each sample of view ``m`` takes the cluster of
    the barycenter point it is transported to most (``argmax_i T_m[i, j]``).

    Args:
        views: ``{m: [N_m, D_m]}``; rows are never paired across views.
        n_clusters: ``C``.
        n_barycenter: barycenter size (default: the smallest ``N_m``, at most 150).
        seed: seed of the barycenter init and the spectral clustering.
        max_iter: outer iterations of the barycenter.

    Returns:
        view -> ``int [N_m]`` cluster ids.
    """
    import ot
    from sklearn.cluster import SpectralClustering

    X = {m: _standardise(x) for m, x in _np_views(views).items()}
    Cs, ps = [], []
    for x in X.values():
        C = ot.dist(x, x, metric="euclidean")
        Cs.append(C / C.max())
        ps.append(ot.unif(len(x)))
    n_b = int(n_barycenter or min(150, *(len(x) for x in X.values())))
    p = ot.unif(n_b)
    lambdas = [1.0 / len(Cs)] * len(Cs)
    C_bar = ot.gromov.gromov_barycenters(
        n_b, Cs, ps, p, lambdas, "square_loss", max_iter=max_iter, tol=1e-6, random_state=seed
    )
    sigma = np.median(C_bar[C_bar > 0]) if (C_bar > 0).any() else 1.0
    affinity = np.exp(-(C_bar**2) / (2 * sigma**2))
    bary_labels = SpectralClustering(
        n_clusters, affinity="precomputed", random_state=seed
    ).fit_predict(affinity)
    out = {}
    for m, C, q in zip(X, Cs, ps):
        T = ot.gromov.gromov_wasserstein(C_bar, C, p, q, "square_loss")
        out[m] = bary_labels[T.argmax(axis=0)]
    return out
