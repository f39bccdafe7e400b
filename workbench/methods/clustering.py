"""Multi-view clustering baselines and the Table 2 / Table 10 protocol of the OTM paper.

Every method maps the *evaluation* views to a representation and clusters it with k-means
(the paper: "we concatenate the latent codes of all the modalities and apply K-means"), except
spectral clustering and the GWMAC-style method, which cluster directly. Methods with a training
stage (CCA/MCCA, MWAE, OTM, OTM(WB)) are fitted on the training views, aligned or unaligned;
the evaluation views are aligned, as in the paper. Labels are only used to score.

- :func:`kmeans_concat`: k-means on the standardised concatenated views.
- :func:`spectral_concat`: spectral clustering (k-NN affinity) on the concatenated views.
- :class:`MCCA`: CCA (two views, scikit-learn) or SUMCOR multi-set CCA (generalised eigenproblem).
- :func:`gw_barycenter_clustering`: in the spirit of GWMAC (Gong, Nie and Xu 2022): a
  Gromov-Wasserstein barycenter of the views' distance matrices (POT), spectral clustering of the
  barycenter, labels carried to each view's samples by the GW plans. It never uses alignment.
- :func:`run_clustering`: one (method, dataset, alignment, seed) run -> :class:`ClusteringResult`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .otm import (
    MWAE,
    ClusteringResult,
    OTMConfig,
    cluster_codes,
    clustering_scores,
    encode_views,
    fit_clustering,
)

__all__ = [
    "ALIGNMENT_FREE_METHODS",
    "CLUSTERING_METHODS",
    "MCCA",
    "ClusteringSetup",
    "clustering_experiment",
    "clustering_table",
    "full_views",
    "gw_barycenter_clustering",
    "kmeans_concat",
    "run_clustering",
    "spectral_concat",
    "train_mwae",
    "unalign_views",
]

# methods that never see the training views' alignment (they cluster the aligned evaluation
# views, or use no alignment at all): identical in the aligned and unaligned settings
ALIGNMENT_FREE_METHODS = ("k-means", "spectral", "GWMAC-style")

CLUSTERING_METHODS = (
    "k-means",
    "spectral",
    "MCCA",
    "GWMAC-style",
    "MWAE",
    "MWAE+OTM",
    "MWAE+OTM(WB)",
)


def _np_views(views: Mapping[str, Tensor | np.ndarray]) -> dict[str, np.ndarray]:
    return {
        m: np.asarray(torch.as_tensor(x).reshape(len(x), -1).float().numpy(), dtype=np.float64)
        for m, x in views.items()
    }


def _standardise(x: np.ndarray, ref: np.ndarray | None = None) -> np.ndarray:
    ref = x if ref is None else ref
    return (x - ref.mean(0)) / (ref.std(0) + 1e-8)


def unalign_views(views: Mapping[str, Tensor], *, seed: int) -> dict[str, Tensor]:
    """Permute each view's rows independently (the paper's unaligned training data).

    The first view keeps its order; view ``m`` gets its own seeded permutation.
    """
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for i, (m, x) in enumerate(views.items()):
        out[m] = x if i == 0 else x[torch.randperm(x.shape[0], generator=g)]
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


@dataclass(frozen=True)
class ClusteringSetup:
    """Settings of the learned clustering methods (MWAE, OTM, OTM(WB)).

    Attributes:
        config: the :class:`OTMConfig` of MWAE+OTM (MWAE and OTM(WB) change ``mixer`` only).
        num_epochs, batch_size, lr: the fixed, label-free training budget.
        mcca_components: canonical components of MCCA.
        device: where to train.
    """

    config: OTMConfig = OTMConfig()
    num_epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    mcca_components: int = 10
    device: str = "cpu"


def train_mwae(
    method: str,
    train_views: Mapping[str, Tensor],
    *,
    aligned: bool,
    seed: int = 0,
    setup: ClusteringSetup | None = None,
) -> tuple[MWAE, list[dict[str, float]]]:
    """Train ``"MWAE"``, ``"MWAE+OTM"`` or ``"MWAE+OTM(WB)"`` on training views, label-free.

    The three differ only in ``config.mixer`` (``"none"``, ``"stochastic"``, ``"weighted"``).
    The views are used as given (unalign them first for the unaligned setting).

    Returns:
        ``(model, history)`` from :func:`~workbench.methods.otm.fit_clustering`.
    """
    mixers = {"MWAE": "none", "MWAE+OTM": "stochastic", "MWAE+OTM(WB)": "weighted"}
    if method not in mixers:
        raise ValueError(f"train_mwae: method {method!r}; expected one of {tuple(mixers)}.")
    setup = setup or ClusteringSetup()
    config = replace(setup.config, mixer=mixers[method], seed=seed)
    torch.manual_seed(seed)
    model = MWAE({m: int(x[0].numel()) for m, x in train_views.items()}, config)
    return fit_clustering(
        model,
        train_views,
        num_epochs=setup.num_epochs,
        batch_size=setup.batch_size,
        lr=setup.lr,
        aligned=aligned,
        seed=seed,
        device=setup.device,
    )


def run_clustering(
    method: str,
    train_views: Mapping[str, Tensor],
    eval_views: Mapping[str, Tensor],
    y_eval,
    n_clusters: int,
    *,
    aligned: bool,
    seed: int = 0,
    setup: ClusteringSetup | None = None,
) -> ClusteringResult:
    """One clustering run of ``method`` (a name in :data:`CLUSTERING_METHODS`).

    Args:
        method: which method.
        train_views: ``{m: [N, D_m]}`` training views; with ``aligned=False`` they are unaligned
            with :func:`unalign_views` here (seeded by ``seed``) before any method sees them.
        eval_views: aligned evaluation views ``{m: [N_e, D_m]}``.
        y_eval: ``[N_e]`` labels, used only to score.
        n_clusters: ``C``.
        aligned: whether the training views keep their alignment.
        seed: seed of unalignment, initialisation, training and k-means.
        setup: training settings of the learned methods.

    Returns:
        :class:`ClusteringResult` with purity, Hungarian accuracy, NMI and ARI.
    """
    setup = setup or ClusteringSetup()
    train = dict(train_views) if aligned else unalign_views(train_views, seed=seed + 7919)
    history: tuple = ()
    if method == "k-means":
        labels = kmeans_concat(eval_views, n_clusters, seed=seed)
    elif method == "spectral":
        labels = spectral_concat(eval_views, n_clusters, seed=seed)
    elif method == "MCCA":
        mcca = MCCA(setup.mcca_components).fit(train)
        labels = cluster_codes(
            {m: torch.as_tensor(z) for m, z in mcca.transform(eval_views).items()},
            n_clusters,
            seed=seed,
        )
    elif method == "GWMAC-style":
        per_view = gw_barycenter_clustering(eval_views, n_clusters, seed=seed)
        scores = [clustering_scores(y_eval, lab) for lab in per_view.values()]
        mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
        return ClusteringResult(method, mean, next(iter(per_view.values())))
    elif method in ("MWAE", "MWAE+OTM", "MWAE+OTM(WB)"):
        model, hist = train_mwae(method, train, aligned=aligned, seed=seed, setup=setup)
        history = tuple(hist)
        labels = cluster_codes(encode_views(model, eval_views), n_clusters, seed=seed)
    else:
        raise ValueError(
            f"Unknown clustering method {method!r}; expected one of {CLUSTERING_METHODS}."
        )
    return ClusteringResult(method, clustering_scores(y_eval, labels), labels, history)


def clustering_table(results: list[dict]) -> pd.DataFrame:
    """Mean ± std table from tidy rows ``{dataset, setting, method, seed, metric, value}``.

    Returns:
        a frame indexed by (dataset, setting, method) with one ``"mean ± std"`` column per metric.
    """
    df = pd.DataFrame(results)
    agg = (
        df.groupby(["dataset", "setting", "method", "metric"], sort=False)["value"]
        .agg(["mean", "std"])
        .reset_index()
    )
    agg["cell"] = [
        f"{m:.3f} ± {0.0 if np.isnan(s) else s:.3f}" for m, s in zip(agg["mean"], agg["std"])
    ]
    return agg.pivot_table(
        index=["dataset", "setting", "method"],
        columns="metric",
        values="cell",
        aggfunc="first",
        sort=False,
    )


def full_views(
    dataset: str, *, n_samples: int | None = None, seed: int = 0, root=None, **options
) -> tuple[dict[str, Tensor], np.ndarray, int]:
    """All samples of a registered dataset as aligned views, for clustering.

    The OTM paper trains and evaluates clustering on the full dataset ("as the baselines did"),
    so the train/validation/test splits are concatenated.

    Args:
        dataset: registry name (``"mfeat"``, ``"nutrimouse"``, ``"synthetic"``, ...).
        n_samples: keep a seeded random subset of this many samples (smoke runs); ``None``: all.
        seed: seed of the subset.
        root: ``data_root`` for datasets loaded from disk.
        **options: loader options (e.g. ``views=`` for mfeat, ``target=`` for nutrimouse).

    Returns:
        ``(views {m: [N, D_m]}, y [N], n_clusters)``.
    """
    from ..data import load_splits
    from .otm import views_of

    splits = load_splits(dataset, root, **options)
    parts = [splits[s] for s in ("train", "validation", "test") if s in splits]
    views = {m: torch.cat([views_of(p)[m] for p in parts]) for m in parts[0].modalities}
    y = torch.cat([p.y for p in parts]).numpy().astype(int)
    if n_samples is not None and n_samples < len(y):
        idx = (
            torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))[:n_samples]
            .sort()
            .values
        )
        views = {m: x[idx] for m, x in views.items()}
        y = y[idx.numpy()]
    return views, y, int(parts[0].task.n_outputs)


def clustering_experiment(
    dataset: str,
    *,
    methods: tuple[str, ...] = CLUSTERING_METHODS,
    settings: tuple[str, ...] = ("aligned", "unaligned"),
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    setup: ClusteringSetup | Mapping[str, ClusteringSetup] | None = None,
    n_samples: int | None = None,
    root=None,
    **options,
) -> pd.DataFrame:
    """Table 2 / Table 10 protocol: every method, aligned and unaligned training, several seeds.

    Training and evaluation use the whole dataset (:func:`full_views`); in the unaligned setting
    the training views are permuted per modality (:func:`unalign_views`) and the evaluation views
    stay aligned. Methods without a training stage (k-means, spectral, GWMAC-style) give the
    same numbers in both settings: they never see the training alignment, so they are run once
    per seed and their rows are repeated for the other setting
    (:data:`ALIGNMENT_FREE_METHODS`).

    Args:
        setup: one :class:`ClusteringSetup` for every setting, or setting -> setup (the paper
            tunes its hyper-parameters per setting, appendix Table 6).

    Returns:
        tidy frame ``dataset, setting, method, seed, metric, value``.
    """
    views, y, n_clusters = full_views(dataset, n_samples=n_samples, root=root, **options)
    rows = []
    done: dict[tuple[str, int], ClusteringResult] = {}
    for setting in settings:
        if setting not in ("aligned", "unaligned"):
            raise ValueError(
                f"clustering_experiment: setting {setting!r}; expected 'aligned' or 'unaligned'."
            )
        setting_setup = setup.get(setting) if isinstance(setup, Mapping) else setup
        for method in methods:
            for seed in seeds:
                res = done.get((method, seed))
                if res is None:
                    res = run_clustering(
                        method,
                        views,
                        views,
                        y,
                        n_clusters,
                        aligned=setting == "aligned",
                        seed=seed,
                        setup=setting_setup,
                    )
                    if method in ALIGNMENT_FREE_METHODS:
                        done[(method, seed)] = res
                rows += [
                    {
                        "dataset": dataset,
                        "setting": setting,
                        "method": method,
                        "seed": seed,
                        "metric": k,
                        "value": v,
                    }
                    for k, v in res.scores.items()
                ]
    return pd.DataFrame(rows)
