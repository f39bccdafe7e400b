"""The OTM paper's experiment (notebook ``05_otm``; profiles in ``configs/otm.yaml``).

The paper's three parts and the synthetic profile's mechanism part, one grid point each
(:func:`run_point`, column ``part``):

- ``"clustering"`` (Tables 2 and 10): every clustering method of :data:`CLUSTERING_METHODS` on
  the whole dataset (:func:`full_views`), trained on aligned or unaligned views (``setting``),
  one seed; purity, Hungarian accuracy, NMI and ARI (:func:`clustering_experiment`). No model is
  selected with labels: the autoencoders train for a fixed epoch budget (:func:`fit_clustering`)
  on Eq. 4-6 (GW cluster regulariser on, no MMD prior), and warn when their barycenter solves
  end at the iteration caps. Which codes k-means clusters is the column ``cluster_on``: the
  paper's protocol (:func:`paper_cluster_on`: fused codes for the OT-mixed models trained
  unaligned, concatenated codes otherwise) gives the ``role="main"`` rows, the concatenated
  codes of the same models the ``role="side"`` rows. Appendix Table 6's ``alpha`` is in the
  authors' code's convention and is converted (``alpha_convention``, :func:`clustering_setup`).
- ``"supervised"`` (Tables 3-5): one fusion with and without the OT mixer, trained with the
  :class:`~workbench.training.Trainer` (selection on the validation split), tested clean, one
  modality at a time through a probe on its frozen codes (Table 4; validation and test rows) and
  under :class:`~workbench.corruptions.EnergyNoise` (Table 5) (:func:`supervised_experiment`).
- ``"alignment"`` (Fig. 2 and a diagnostic the paper does not report): one MWAE+OTM trained on
  unaligned views (:func:`unaligned_model`); how much of the server's plans link same-class
  samples across modalities (:func:`alignment_accuracy`), re-solved at several FGW ``alpha``.
- ``"mechanism"`` (the ``synthetic`` profile, not in the paper): MWAE with and without the OT
  mixer and k-means on the concatenated views, trained on unaligned ``synthetic`` views whose
  share of common latent structure is the knob ``shared`` (:func:`mechanism_point`); the
  advantage per knob value is :func:`mechanism_advantage`, its claims :func:`mechanism_table`.

:func:`paper_table` checks :data:`CLAIMS` with :func:`workbench.claims.evaluate`; the paper side
comes from ``workbench/reference/otm.csv``. The weakest modality of the Table 4 claim is chosen
on the validation split and the claim is judged on the test split. :func:`diagnose` explains
every claim of a committed run that does not hold (budget, spread, data or implementation), with
numbers computed from the results. :func:`run` runs a profile in
this process and keeps the Fig. 2 model (the notebook); ``workbench.experiments.reproduce("otm",
profile)`` runs it as a resumable sweep.

>>> from workbench.experiments import load_profile, otm
>>> run = otm.run(load_profile("otm", "smoke"))
>>> run.paper_table()
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .. import metrics as M
from ..claims import Claim, evaluate
from ..corruptions import EnergyNoise
from ..data import load_splits
from ..data.base import MultimodalDataset
from ..evaluation import evaluate as score
from ..methods.clustering import (
    CLUSTER_ON,
    MCCA,
    cluster_codes,
    cluster_fused,
    cluster_per_view,
    gw_barycenter_clustering,
    kmeans_concat,
    spectral_concat,
)
from ..methods.otm import (
    MWAE,
    MixOutput,
    OTMConfig,
    encode_views,
    fused_codes,
    to_config_alpha,
)
from ..methods.otm_fusions import FUSION_LABELS, FUSIONS, FusionOTMConfig, OTMFusion
from ..reference import load_reference
from ..sweep import canonical_json
from ..training import Trainer, TrainerConfig, resolve_device
from ..util import ConvergenceWarning, seeded, torch_threads
from . import Profile, load_profile
from .evidence import seed_stats, seeds_needed

__all__ = [
    "ALIGNMENT_FREE_METHODS",
    "CLAIMS",
    "CLUSTERING_METHODS",
    "MECHANISM_BASELINES",
    "MECHANISM_METHODS",
    "CLUSTER_ON",
    "PARTS",
    "ClusteringResult",
    "ClusteringSetup",
    "OTMRun",
    "alignment_accuracy",
    "alignment_by_alpha",
    "alignment_point",
    "alignment_table",
    "claims_for",
    "clustering_experiment",
    "clustering_point",
    "clustering_scores",
    "clustering_setup",
    "clustering_table",
    "fit_clustering",
    "diagnose",
    "full_views",
    "fused_labels",
    "masks_table",
    "mechanism_advantage",
    "ADVANTAGE_PLOT",
    "mechanism_claims",
    "mechanism_point",
    "mechanism_table",
    "shared_structure_options",
    "paper_table",
    "paper_cluster_on",
    "part_function",
    "reference",
    "run",
    "run_clustering",
    "run_point",
    "single_modality_scores",
    "summary",
    "supervised_experiment",
    "supervised_point",
    "supervised_table",
    "train_mwae",
    "training_point",
    "unalign_views",
    "unaligned_model",
    "views_of",
]

PARTS = ("clustering", "supervised", "alignment")
"""The parts of the paper's experiment (the ``part`` of a grid point of the smoke, cpu and full
profiles); the ``synthetic`` profile's points are ``part="mechanism"`` (:func:`mechanism_point`)."""

CLUSTERING_METHODS = (
    "k-means",
    "spectral",
    "MCCA",
    "GWMAC-style",
    "MWAE",
    "MWAE+OTM",
    "MWAE+OTM(WB)",
)
"""The clustering methods of Tables 2 and 10 (the workbench's stand-ins for the paper's
baselines: k-means and spectral clustering on the concatenated views, CCA/MCCA + k-means, a
GW-barycenter method in the spirit of GWMAC, MWAE without OTM, OTM, and OTM(WB))."""

ALIGNMENT_FREE_METHODS = ("k-means", "spectral", "GWMAC-style")
"""Methods that never see the training views' alignment (they cluster the aligned evaluation
views, or use no alignment at all): identical in the aligned and unaligned settings."""

_MIXERS = {"MWAE": "none", "MWAE+OTM": "stochastic", "MWAE+OTM(WB)": "weighted"}

_FIXED_CLUSTER_ON = {
    "k-means": "concat",
    "spectral": "concat",
    "MCCA": "concat",
    "GWMAC-style": "fused",  # clusters its barycenter, carried to the samples by the plans
}


def paper_cluster_on(method: str, setting: str) -> str:
    """Which codes the paper clusters for ``method`` in ``setting`` (the ``"main"`` rows).

    The OT-mixed models trained on **unaligned** views are clustered on the fused codes
    ``tilde Z_B`` (Results: "For unaligned multi-modal data, the clustering can only be achieved
    based on the fused latent codes"; Method: "the unsupervised clustering is performed on ...
    tilde Z_B"); every other row on the concatenated codes of all modalities (Experiments,
    Baselines: "we concatenate the latent codes of all the modalities and apply K-means").
    MWAE without the mixer has no fused codes. The GWMAC-style baseline clusters its own
    barycenter (``"fused"``) whatever the setting.
    """
    if method in _FIXED_CLUSTER_ON:
        return _FIXED_CLUSTER_ON[method]
    if method in ("MWAE+OTM", "MWAE+OTM(WB)") and setting == "unaligned":
        return "fused"
    return "concat"


# ----------------------------------------------------------------------------- data


def views_of(
    dataset: MultimodalDataset, modalities: Sequence[str] | None = None
) -> dict[str, Tensor]:
    """The per-modality feature matrices ``{m: X_m [N, D_m]}`` of ``dataset`` (no labels, no index)."""
    names = tuple(modalities) if modalities is not None else dataset.modalities
    out = {}
    for m in names:
        if dataset.is_sequence(m):
            raise ValueError(
                f"views_of: modality {m!r} is a variable-length sequence; pass fixed-size modalities."
            )
        out[m] = dataset.inputs[m].reshape(len(dataset), -1).float()
    return out


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


def unalign_views(views: Mapping[str, Tensor], *, seed: int) -> dict[str, Tensor]:
    """Permute each view's rows independently (the paper's unaligned training data).

    The first view keeps its order; view ``m`` gets its own seeded permutation.
    """
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for i, (m, x) in enumerate(views.items()):
        out[m] = x if i == 0 else x[torch.randperm(x.shape[0], generator=g)]
    return out


# ----------------------------------------------------------------------------- label-free training


def fit_clustering(
    model: MWAE,
    views: Mapping[str, Tensor],
    *,
    max_epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-3,
    aligned: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> tuple[MWAE, list[dict[str, float]]]:
    """Train an :class:`~workbench.methods.otm.MWAE` without labels, for a fixed epoch budget.

    The unsupervised setting never selects a model with labels: the function receives the
    views only (no ``y``, no sample index) and returns the weights after ``max_epochs``.

    Args:
        model: the model to train (modified in place).
        views: modality -> ``[N_m, D_m]`` training views. With ``aligned=False`` every agent
            draws its own mini-batches from its own rows with its own generator (the distributed,
            unaligned setting: rows are never paired across modalities and the ``N_m`` may
            differ). With ``aligned=True`` all agents use the same row indices (requires equal
            ``N_m``), as when the training data are aligned.
        max_epochs: epoch budget (an epoch = ``ceil(max N_m / batch_size)`` steps).
        batch_size: per-agent batch size (also the barycenter size unless set in the config).
        lr: Adam learning rate.
        aligned: pair rows across modalities in mini-batches.
        seed: seed of the batch order and of the model's mixer generator.
        device: where to train.

    Returns:
        ``(model, history)`` with one dict of mean logs per epoch. With the mixer, an epoch's
        ``barycenter_converged`` is the fraction of its FGW barycenter solves that met their
        stopping rule before the iteration cap (``gw_cluster_converged`` the same for Eq. 6).

    Warns:
        :class:`~workbench.util.ConvergenceWarning` when the last epoch had barycenter (or
        Eq. 6) solves stopped by their iteration cap (``barycenter_iters``, ``fgw_iters``,
        ``cluster_iters``).
    """
    if max_epochs < 1 or batch_size < 2:
        raise ValueError("fit_clustering: max_epochs must be >= 1 and batch_size >= 2.")
    names = tuple(views)
    sizes = {m: int(views[m].shape[0]) for m in names}
    if aligned and len(set(sizes.values())) > 1:
        raise ValueError(
            f"fit_clustering(aligned=True) needs views with equal numbers of rows; got {sizes}."
        )
    device = torch.device(device)
    model.to(device).train()
    model.generator.manual_seed(seed)
    X = {m: views[m].to(device).float() for m in names}
    gens = {
        m: torch.Generator().manual_seed(seed * 1000 + (0 if aligned else i))
        for i, m in enumerate(names)
    }
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n_steps = math.ceil(max(sizes.values()) / batch_size)
    history = []
    for _ in range(max_epochs):
        orders = {m: torch.randperm(sizes[m], generator=gens[m]) for m in names}
        sums: dict[str, float] = {}
        for step in range(n_steps):
            batch = {}
            for m in names:
                idx = orders[m][(step * batch_size) % sizes[m] :][:batch_size]
                if idx.numel() < 2:
                    idx = orders[m][:batch_size]
                batch[m] = X[m][idx.to(device)]
            optimizer.zero_grad(set_to_none=True)
            loss, logs, _ = model.loss_terms(batch)
            loss.backward()
            optimizer.step()
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
        history.append({k: v / n_steps for k, v in sums.items()})
    _warn_unconverged(history[-1] if history else {}, model.config)
    return model.eval(), history


def _warn_unconverged(last: Mapping[str, float], config: OTMConfig) -> None:
    """:class:`ConvergenceWarning` when the last epoch's solves hit their iteration caps."""
    caps = {
        "barycenter_converged": (
            f"FGW barycenter (Algorithm 2, barycenter_iters={config.barycenter_iters}, "
            f"fgw_iters={config.fgw_iters})"
        ),
        "gw_cluster_converged": (
            f"GW clustering regulariser (Eq. 6, cluster_iters={config.cluster_iters})"
        ),
    }
    for key, what in caps.items():
        if key in last and last[key] < 1.0:
            warnings.warn(
                f"OTM training ended with {1.0 - last[key]:.0%} of the last epoch's {what} solves "
                "stopped at their iteration cap (not converged); raise the caps for paper runs.",
                ConvergenceWarning,
                stacklevel=3,
            )


# ----------------------------------------------------------------------------- scores


def clustering_scores(y, labels) -> dict[str, float]:
    """Purity (Eq. 8), Hungarian accuracy, NMI and ARI of a clustering.

    The paper's "purity" is ambiguous (its code reports Hungarian accuracy), so all four are
    returned side by side.
    """
    y = np.asarray(y).reshape(-1).astype(int)
    labels = np.asarray(labels).reshape(-1).astype(int)
    return {
        "purity": float(M.purity(y, labels)),
        "hungarian_accuracy": float(M.hungarian_accuracy(y, labels)),
        "nmi": float(M.normalized_mutual_info(y, labels)),
        "ari": float(M.adjusted_rand_index(y, labels)),
    }


@dataclass(frozen=True)
class ClusteringResult:
    """Scores of one clustering run (one method, dataset, alignment, seed).

    Attributes:
        method: the method.
        scores: purity, Hungarian accuracy, NMI and ARI of the ``cluster_on`` clustering.
        labels: cluster ids of the evaluation samples (of the first view for per-view and
            fused clusterings).
        history: the training history (learned methods).
        cluster_on: which codes were clustered (:data:`CLUSTER_ON`).
        side: ``cluster_on`` -> scores of the same model clustered on other codes (side by
            side with the main one; learned methods only).
    """

    method: str
    scores: dict[str, float]
    labels: np.ndarray = field(repr=False)
    history: tuple = field(default=(), repr=False)
    cluster_on: str = "concat"
    side: dict[str, dict[str, float]] = field(default_factory=dict)


def fused_labels(mix: MixOutput, y, modality: str) -> np.ndarray:
    """Labels of the fused codes ``tilde Z_B``: the label of the sample of ``modality`` that
    each barycenter point sends most mass to (``argmax_j T_m[i, j]``; Fig. 2 of the OTM paper
    colours fused codes by the labels of one modality).

    Args:
        mix: the server's output.
        y: ``[N_m]`` labels of ``modality``'s samples.
        modality: which modality's labels to carry.

    Returns:
        ``int [N_B]``.
    """
    if modality not in mix.plans:
        raise ValueError(
            f"fused_labels: unknown modality {modality!r}; the mix has {tuple(mix.plans)}."
        )
    y = np.asarray(torch.as_tensor(y).cpu()).reshape(-1)
    return y[mix.plans[modality].argmax(dim=1).cpu().numpy()]


def alignment_accuracy(
    mix: MixOutput | Mapping[str, Tensor], labels: Mapping[str, object] | object
) -> pd.DataFrame:
    """How class-consistently the server's plans match samples across modalities (a diagnostic).

    For each pair of modalities ``(a, b)`` the barycenter induces the cross-modal coupling
    ``P_ab = T_a^T diag(1/mu_B) T_b`` ``[N_a, N_b]`` (mass ``t_{a,ia} t_{b,ib} / mu_i`` goes from
    sample ``j`` of ``a`` through fused code ``i`` to sample ``k`` of ``b``; its marginals are
    ``mu_a`` and ``mu_b``). The accuracy is the mass it puts on same-class pairs,
    ``sum_jk P_jk [y_a,j = y_b,k]``; ``chance`` is the same for the independent coupling
    ``mu_a mu_b^T``, i.e. ``sum_c p_a(c) p_b(c)``. Not in the OTM paper: it checks whether the
    FGW barycenter (Eq. 1-2) recovers cross-modal correspondences at all.

    Args:
        mix: the server's output (its ``plans``, modality -> ``T_m [N_B, N_m]``), or such a map.
        labels: ``[N]`` labels shared by every modality (aligned evaluation views), or
            modality -> ``[N_m]`` labels.

    Returns:
        tidy frame ``modality_a, modality_b, accuracy, chance``, one row per pair.
    """
    plans = mix.plans if isinstance(mix, MixOutput) else dict(mix)
    names = tuple(plans)
    if len(names) < 2:
        raise ValueError(f"alignment_accuracy needs plans of at least two modalities, got {names}.")
    ys = {}
    for m in names:
        y_m = labels[m] if isinstance(labels, Mapping) else labels
        y_m = np.asarray(torch.as_tensor(y_m).cpu()).reshape(-1)
        if y_m.shape[0] != plans[m].shape[1]:
            raise ValueError(
                f"alignment_accuracy: {len(y_m)} labels for modality {m!r}, whose plan "
                f"[N_B, N_m] has N_m = {plans[m].shape[1]}; pass one label per sample."
            )
        ys[m] = y_m
    T = {m: plans[m].detach().cpu().double() for m in names}
    rows = []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            mu_b = T[a].sum(1).clamp_min(torch.finfo(torch.float64).tiny)
            P = (T[a].t() @ (T[b] / mu_b[:, None])).numpy()
            same = ys[a][:, None] == ys[b][None, :]
            pa, pb = P.sum(1), P.sum(0)
            rows.append(
                {
                    "modality_a": a,
                    "modality_b": b,
                    "accuracy": float((P * same).sum() / P.sum()),
                    "chance": float((np.outer(pa, pb) * same).sum() / P.sum() ** 2),
                }
            )
    return pd.DataFrame(rows)


def alignment_by_alpha(
    model: MWAE,
    views: Mapping[str, Tensor],
    labels,
    alphas: Sequence[float] = (0.0, 0.5, 1.0),
    *,
    seed: int = 0,
) -> pd.DataFrame:
    """:func:`alignment_accuracy` of a trained model's server, re-solved at several FGW ``alpha``.

    Args:
        model: a trained :class:`~workbench.methods.otm.MWAE` (its mixer settings are kept
            except ``alpha``).
        views: aligned evaluation views ``{m: [N, D_m]}``.
        labels: ``[N]`` labels (used only to score the plans).
        alphas: FGW trade-offs (paper convention, Eq. 2).
        seed: seed of the barycenter initialisation and masks.

    Returns:
        tidy frame ``alpha, modality_a, modality_b, accuracy, chance``.
    """
    original = model.mixer.config
    frames = []
    try:
        for alpha in alphas:
            model.mixer.config = replace(original, alpha=float(alpha))
            out = alignment_accuracy(fused_codes(model, views, seed=seed), labels)
            frames.append(out.assign(alpha=float(alpha)))
    finally:
        model.mixer.config = original
    return pd.concat(frames, ignore_index=True)[
        ["alpha", "modality_a", "modality_b", "accuracy", "chance"]
    ]


# ----------------------------------------------------------------------------- clustering protocol


@dataclass(frozen=True)
class ClusteringSetup:
    """Settings of the learned clustering methods (MWAE, OTM, OTM(WB)).

    Attributes:
        config: the :class:`~workbench.methods.otm.OTMConfig` of MWAE+OTM (MWAE and OTM(WB)
            change ``mixer`` only).
        max_epochs, batch_size, lr: the fixed, label-free training budget.
        mcca_components: canonical components of MCCA.
        device: where to train.
        fused_points: size ``N_B`` of the barycenter of the evaluation views whose fused codes
            ``cluster_on="fused"`` clusters; ``None``: one fused code per evaluation sample.
    """

    config: OTMConfig = OTMConfig()
    max_epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    mcca_components: int = 10
    device: str = "cpu"
    fused_points: int | None = None


def train_mwae(
    method: str,
    train_views: Mapping[str, Tensor],
    *,
    aligned: bool,
    seed: int = 0,
    setup: ClusteringSetup | None = None,
    n_clusters: int | None = None,
) -> tuple[MWAE, list[dict[str, float]]]:
    """Train ``"MWAE"``, ``"MWAE+OTM"`` or ``"MWAE+OTM(WB)"`` on training views, label-free.

    The three differ only in ``config.mixer`` (``"none"``, ``"stochastic"``, ``"weighted"``).
    The views are used as given (unalign them first for the unaligned setting). The initial
    weights are drawn with the global RNGs seeded by ``seed`` (:func:`workbench.util.seeded`).
    ``n_clusters`` (the dataset's number of classes, the only label information used) is the
    ``C`` of Eq. 6, the clustering regulariser of the OT-mixed models.

    Returns:
        ``(model, history)`` from :func:`fit_clustering`.
    """
    if method not in _MIXERS:
        raise ValueError(f"train_mwae: method {method!r}; expected one of {tuple(_MIXERS)}.")
    setup = setup or ClusteringSetup()
    config = replace(
        setup.config,
        mixer=_MIXERS[method],
        seed=seed,
        n_clusters=setup.config.n_clusters if n_clusters is None else int(n_clusters),
    )
    with seeded(seed):
        model = MWAE({m: int(x[0].numel()) for m, x in train_views.items()}, config)
        return fit_clustering(
            model,
            train_views,
            max_epochs=setup.max_epochs,
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
    cluster_on: str | None = None,
    side_by_side: Sequence[str] = ("concat",),
) -> ClusteringResult:
    """One clustering run of ``method`` (a name in :data:`CLUSTERING_METHODS`).

    Which codes are clustered (``cluster_on``, :data:`CLUSTER_ON`) only matters for the
    learned methods (MWAE, MWAE+OTM, MWAE+OTM(WB)): ``"concat"`` runs k-means on the
    concatenated codes of all modalities, ``"fused"`` on the server's fused codes ``tilde Z_B``
    of the evaluation views (:func:`~workbench.methods.clustering.cluster_fused`), ``"per_view"``
    on each modality's codes with the scores averaged over modalities (the authors' code).
    MWAE has no server: its ``"fused"`` falls back to ``"concat"``. The other methods cluster
    what they always do (:func:`paper_cluster_on`).

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
        cluster_on: the main clustering of a learned method; ``None``: the paper's
            (:func:`paper_cluster_on`).
        side_by_side: further clusterings of the same trained model, reported in
            :attr:`ClusteringResult.side`.

    Returns:
        :class:`ClusteringResult` with purity, Hungarian accuracy, NMI and ARI.
    """
    setup = setup or ClusteringSetup()
    for c in (cluster_on, *side_by_side):
        if c is not None and c not in CLUSTER_ON:
            raise ValueError(f"run_clustering: cluster_on={c!r}; expected one of {CLUSTER_ON}.")
    train = _training_views(train_views, aligned=aligned, seed=seed)
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
        return ClusteringResult(method, mean, next(iter(per_view.values())), cluster_on="fused")
    elif method in _MIXERS:
        model, hist = train_mwae(
            method, train, aligned=aligned, seed=seed, setup=setup, n_clusters=n_clusters
        )
        setting = "aligned" if aligned else "unaligned"
        main = cluster_on or paper_cluster_on(method, setting)
        wanted = [main, *side_by_side]
        if method == "MWAE":  # no server, no fused codes
            wanted = ["concat" if c == "fused" else c for c in wanted]
        wanted = list(dict.fromkeys(wanted))
        found = {
            c: _learned_clustering(
                model, c, eval_views, y_eval, n_clusters, seed, fused_points=setup.fused_points
            )
            for c in wanted
        }
        labels, scores = found[wanted[0]]
        side = {c: found[c][1] for c in wanted[1:]}
        return ClusteringResult(method, scores, labels, tuple(hist), wanted[0], side)
    else:
        raise ValueError(
            f"Unknown clustering method {method!r}; expected one of {CLUSTERING_METHODS}."
        )
    return ClusteringResult(
        method, clustering_scores(y_eval, labels), labels, history, _FIXED_CLUSTER_ON[method]
    )


def _training_views(views: Mapping[str, Tensor], *, aligned: bool, seed: int) -> dict[str, Tensor]:
    """What a clustering run of seed ``seed`` trains on: ``views`` as given (aligned) or
    unaligned with :func:`unalign_views` (its seed offset from the run's)."""
    return dict(views) if aligned else unalign_views(views, seed=seed + 7919)


def _learned_clustering(
    model: MWAE,
    cluster_on: str,
    views: Mapping[str, Tensor],
    y,
    n_clusters: int,
    seed: int,
    *,
    fused_points: int | None = None,
) -> tuple[np.ndarray, dict[str, float]]:
    """``(labels, scores)`` of a trained MWAE's codes of ``views`` clustered on ``cluster_on``
    (``fused_points``: the evaluation barycenter's size, ``None``: one per sample)."""
    if cluster_on == "concat":
        labels = cluster_codes(encode_views(model, views), n_clusters, seed=seed)
        return labels, clustering_scores(y, labels)
    if cluster_on == "per_view":
        per_view = cluster_per_view(encode_views(model, views), n_clusters, seed=seed)
    else:
        original = model.mixer.config
        model.mixer.config = replace(original, n_barycenter=fused_points)
        try:
            mix = fused_codes(model, views, seed=seed)
        finally:
            model.mixer.config = original
        per_view = cluster_fused(mix.fused, mix.plans, n_clusters, seed=seed)
    scores = [clustering_scores(y, lab) for lab in per_view.values()]
    mean = {k: float(np.mean([s[k] for s in scores])) for k in scores[0]}
    return next(iter(per_view.values())), mean


def clustering_experiment(
    dataset: str,
    *,
    methods: Sequence[str] = CLUSTERING_METHODS,
    settings: Sequence[str] = ("aligned", "unaligned"),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    setup: ClusteringSetup | Mapping[str, ClusteringSetup] | None = None,
    n_samples: int | None = None,
    root=None,
    cluster_on: str | None = None,
    side_by_side: Sequence[str] = ("concat",),
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
        cluster_on: the main clustering of the learned methods (``None``: the paper's,
            :func:`paper_cluster_on`: fused codes for the OT-mixed models trained unaligned,
            concatenated codes otherwise); see :func:`run_clustering`.
        side_by_side: further clusterings of the learned methods, as ``role="side"`` rows.

    Returns:
        tidy frame ``dataset, setting, method, seed, cluster_on, role, metric, value``:
        ``cluster_on`` says which codes each row clustered, ``role`` is ``"main"`` for the
        row the claims read and ``"side"`` for the side-by-side ones.
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
                        cluster_on=cluster_on,
                        side_by_side=tuple(side_by_side),
                    )
                    if method in ALIGNMENT_FREE_METHODS:
                        done[(method, seed)] = res
                for role, on, scores in [
                    ("main", res.cluster_on, res.scores),
                    *(("side", c, sc) for c, sc in res.side.items()),
                ]:
                    rows += [
                        {
                            "dataset": dataset,
                            "setting": setting,
                            "method": method,
                            "seed": seed,
                            "cluster_on": on,
                            "role": role,
                            "metric": k,
                            "value": v,
                        }
                        for k, v in scores.items()
                    ]
    return pd.DataFrame(rows)


def _mean_std_pivot(frame: pd.DataFrame, index: Sequence[str], columns) -> pd.DataFrame:
    keys = [*index, *([columns] if isinstance(columns, str) else columns)]
    agg = frame.groupby(keys, sort=False)["value"].agg(["mean", "std"]).reset_index()
    agg["cell"] = [
        f"{m:.3f} ± {0.0 if np.isnan(s) else s:.3f}" for m, s in zip(agg["mean"], agg["std"])
    ]
    return agg.pivot_table(
        index=list(index), columns=columns, values="cell", aggfunc="first", sort=False
    )


def _part(results: pd.DataFrame | Sequence[Mapping], part: str) -> pd.DataFrame:
    df = results if isinstance(results, pd.DataFrame) else pd.DataFrame(list(results))
    if "part" in df.columns:
        df = df[df["part"] == part]
    return df


def clustering_table(results: pd.DataFrame | Sequence[Mapping]) -> pd.DataFrame:
    """``mean ± std`` over seeds of the clustering rows (Table 2 shape).

    Args:
        results: tidy rows ``{dataset, setting, method, seed, metric, value}`` (a frame, e.g.
            :attr:`OTMRun.results`, or a list of dicts).

    Returns:
        a frame indexed by (dataset, setting, method, cluster_on, role) with one column per
        metric: ``cluster_on`` says which codes were clustered, ``role`` ``"main"`` marks the
        paper's protocol (the rows the claims read), ``"side"`` the side-by-side clusterings
        of the same models (e.g. the concatenated codes next to the fused ones).
    """
    df = _part(results, "clustering")
    index = ["dataset", "setting", "method"] + [c for c in ("cluster_on", "role") if c in df]
    return _mean_std_pivot(df, index, "metric")


def masks_table(results: pd.DataFrame, metric: str = "purity") -> pd.DataFrame:
    """Table 10 view: ``metric`` of OTM with random masks vs the weighted barycenter (WB), per
    clustering (``cluster_on``) when the results carry it."""
    df = _part(results, "clustering")
    df = df[df["method"].isin(["MWAE+OTM", "MWAE+OTM(WB)"]) & (df["metric"] == metric)]
    index = ["dataset", "setting"] + [c for c in ("cluster_on",) if c in df] + ["method"]
    stats = df.groupby(index, sort=False)["value"].agg(["mean", "std"])
    return stats.round(3).unstack("method")


# ----------------------------------------------------------------------------- supervised protocol


@torch.no_grad()
def _codes(
    model: OTMFusion, dataset: MultimodalDataset, modality: str, batch_size: int = 512
) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = []
    for batch in dataset.loader(batch_size):
        out.append(model.embed(batch.to(device))[modality].cpu())
    return torch.cat(out).numpy()


def _probe_scores(
    model: OTMFusion,
    train: MultimodalDataset,
    targets: Mapping[str, MultimodalDataset],
    *,
    seed: int = 0,
) -> dict[tuple[str, str], float]:
    """``(split, modality) -> score`` of a probe per modality fitted on the training codes."""
    from sklearn.linear_model import LogisticRegression, Ridge

    out = {}
    y_tr = train.y.numpy()
    for m in model.modalities:
        z_tr = _codes(model, train, m)
        mu, sd = z_tr.mean(0), z_tr.std(0) + 1e-8
        z_tr = (z_tr - mu) / sd
        if train.task.kind == "regression":
            probe = Ridge(alpha=1.0).fit(z_tr, y_tr)
        else:
            probe = LogisticRegression(max_iter=500, random_state=seed).fit(z_tr, y_tr.reshape(-1))
        for split, target in targets.items():
            z = (_codes(model, target, m) - mu) / sd
            y = target.y.numpy()
            if target.task.kind == "regression":
                out[(split, m)] = M.mae(y, probe.predict(z))
            else:
                out[(split, m)] = float((probe.predict(z) == y.reshape(-1)).mean())
    return out


def single_modality_scores(
    model: OTMFusion, train: MultimodalDataset, test: MultimodalDataset, *, seed: int = 0
) -> dict[str, float]:
    """Table 4 protocol: a probe per modality on the frozen codes of that modality only.

    For each modality ``m`` a logistic regression (ridge regression for regression tasks) is fitted
    on the training codes ``Z_m`` and scored on the test codes with the dataset's metric.

    Returns:
        modality -> test score (accuracy for classification, MAE for regression).
    """
    scores = _probe_scores(model, train, {"test": test}, seed=seed)
    return {m: v for (_, m), v in scores.items()}


def supervised_experiment(
    splits: Mapping[str, MultimodalDataset],
    *,
    fusions: Sequence[str] = ("late",),
    seeds: Sequence[int] = (0, 1, 2, 3, 4),
    otm_weight: float = 1.0,
    config: FusionOTMConfig | None = None,
    trainer_config: TrainerConfig | None = None,
    noise_levels: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    cache: bool = True,
    evaluate: bool = True,
) -> pd.DataFrame:
    """Tables 3-5 protocol: each fusion with and without OTM, clean, single-modality and noisy.

    Models are trained with the :class:`~workbench.training.Trainer` (selection on the
    validation split) and evaluated on the test split: clean (Table 3), one modality at a time
    through a probe on its frozen codes (Table 4, :func:`single_modality_scores`; also scored on
    the validation split, where choices about modalities are made), and with
    :class:`~workbench.corruptions.EnergyNoise` on every modality at each energy ratio
    (Table 5, Figs. 3-4).

    Args:
        splits: ``{"train", "validation", "test"}`` datasets.
        fusions: names in :data:`~workbench.methods.otm_fusions.FUSIONS`.
        seeds: training seeds.
        otm_weight: the ``beta`` of the "+ OTM" models.
        config: base :class:`FusionOTMConfig` (``fusion``/``otm_weight``/``seed`` are set here).
        trainer_config: :class:`~workbench.training.TrainerConfig` (``seed`` is set here).
        noise_levels: noise energy ratios.
        cache: re-use trained weights (checkpoint cache keyed by the config).
        evaluate: ``False``: train only (the cost estimate, :func:`training_point`): no test,
            probe or noise evaluation; one row per model, ``condition="trained"``,
            ``metric="epochs"``, ``value`` the epochs it trained.

    Returns:
        tidy frame ``dataset, fusion, method, otm, seed, split, metric, best_epoch, max_epochs,
        stopped_early, condition, modality, energy_ratio, value`` (``best_epoch`` and
        ``stopped_early`` from the Trainer, for :func:`workbench.experiments.convergence`).
    """
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    base = config or FusionOTMConfig()
    tc = trainer_config or TrainerConfig(progress=False)
    metric = test.task.metric
    rows = []
    for fusion in fusions:
        for with_otm in (False, True):
            method = FUSION_LABELS[fusion] + (" + OTM" if with_otm else "")
            for seed in seeds:
                cfg = replace(
                    base, fusion=fusion, otm_weight=otm_weight if with_otm else 0.0, seed=seed
                )
                common = {
                    "dataset": test.name,
                    "fusion": fusion,
                    "method": method,
                    "otm": with_otm,
                    "seed": seed,
                    "split": "test",
                    "metric": metric,
                }
                with seeded(seed):
                    model = OTMFusion.for_dataset(train, cfg)
                    trainer = Trainer(replace(tc, seed=seed), cache=cache)
                    model = trainer.fit(model, train, validation)
                    _warn_supervised_unconverged(trainer, cfg)
                    common.update(
                        best_epoch=trainer.best_epoch_,
                        max_epochs=tc.max_epochs,
                        stopped_early=trainer.stopped_early_,
                    )
                    if not evaluate:
                        rows.append(
                            {
                                **common,
                                "split": "train",
                                "metric": "epochs",
                                "condition": "trained",
                                "modality": "",
                                "energy_ratio": 0.0,
                                "value": float(len(trainer.history_)),
                            }
                        )
                        continue
                    rows.append(
                        {
                            **common,
                            "condition": "normal",
                            "modality": "",
                            "energy_ratio": 0.0,
                            "value": score(model, test),
                        }
                    )
                    probes = _probe_scores(
                        model, train, {"test": test, "validation": validation}, seed=seed
                    )
                    for split in ("test", "validation"):
                        for m in model.modalities:
                            rows.append(
                                {
                                    **common,
                                    "split": split,
                                    "condition": "single_modality",
                                    "modality": m,
                                    "energy_ratio": 0.0,
                                    "value": probes[(split, m)],
                                }
                            )
                    for level in noise_levels:
                        noise = [
                            EnergyNoise(modality=m, energy_ratio=level) for m in test.modalities
                        ]
                        value = score(
                            model,
                            test,
                            corruptions=noise,
                            generator=torch.Generator().manual_seed(seed),
                        )
                        rows.append(
                            {
                                **common,
                                "condition": "noise",
                                "modality": "multi",
                                "energy_ratio": level,
                                "value": value,
                            }
                        )
    return pd.DataFrame(rows)


def _warn_supervised_unconverged(trainer: Trainer, config: FusionOTMConfig) -> None:
    """:class:`ConvergenceWarning` when the last epoch's barycenter solves hit their caps."""
    history = getattr(trainer, "history_", None)
    key = "train_barycenter_converged"
    if history is None or key not in getattr(history, "columns", ()) or history.empty:
        return
    _warn_unconverged({"barycenter_converged": float(history[key].iloc[-1])}, config.otm_config())


def summary(
    frame: pd.DataFrame, index=("dataset", "method"), columns=("condition", "modality")
) -> pd.DataFrame:
    """``mean ± std`` over seeds, pivoted (a view of :func:`supervised_experiment`'s frame)."""
    return _mean_std_pivot(frame, list(index), list(columns))


def supervised_table(results: pd.DataFrame) -> pd.DataFrame:
    """Tables 3-4 view: clean and single-modality test scores, ``mean ± std`` over seeds."""
    df = _part(results, "supervised")
    df = df[(df["condition"] != "noise") & (df["split"] == "test")]
    return summary(df)


# ----------------------------------------------------------------------------- run points


def _data(dataset: str, dataset_options, n_samples) -> tuple[dict[str, Any], int | None]:
    options = dict((dataset_options or {}).get(dataset) or {})
    if "views" in options:
        options["views"] = tuple(options["views"])
    return options, (n_samples or {}).get(dataset)


def clustering_setup(
    *,
    device: str = "auto",
    latent_dim: int = 16,
    hidden_dim: int = 128,
    alpha: float = 0.5,
    alpha_convention: str = "paper",
    variant: str = "paper",
    reconstruction_weight: float = 1.0,
    otm_weight: float = 1.0,
    cluster_weight: float = 1.0,
    mmd_weight: float = 0.0,
    barycenter_iters: int = 5,
    fgw_iters: int = 10,
    cluster_iters: int = 20,
    max_epochs: int = 30,
    batch_size: int = 128,
    lr: float = 1e-3,
    mcca_components: int = 10,
    fused_points: int | None = None,
) -> ClusteringSetup:
    """The :class:`ClusteringSetup` of a clustering or alignment point from its grid values.

    Args:
        device: where the autoencoders train (``"auto"``: CUDA when available).
        latent_dim, hidden_dim, reconstruction_weight, otm_weight, cluster_weight, mmd_weight,
            barycenter_iters, fgw_iters, cluster_iters, variant: the
            :class:`~workbench.methods.otm.OTMConfig` (Eq. 4-6: ``cluster_weight`` is the
            ``lambda`` of Eq. 6's regulariser, default 1 as in the authors' code;
            ``mmd_weight`` an option outside the paper, default 0).
        alpha, alpha_convention: the FGW trade-off and the convention it is written in:
            ``"paper"`` (Eq. 2, weight of the Wasserstein term) or ``"reference_code"`` (the
            authors' code, POT and appendix Table 6: weight of the GW term); converted to
            ``variant``'s with :func:`~workbench.methods.otm.to_config_alpha`.
        max_epochs, batch_size, lr: the label-free training budget.
        mcca_components: canonical components of MCCA.
        fused_points: size of the evaluation barycenter clustered by ``cluster_on="fused"``
            (``None``: one fused code per evaluation sample).
    """
    config = OTMConfig(
        latent_dim=int(latent_dim),
        hidden_dim=int(hidden_dim),
        alpha=to_config_alpha(float(alpha), str(alpha_convention), str(variant)),
        variant=str(variant),
        reconstruction_weight=float(reconstruction_weight),
        otm_weight=float(otm_weight),
        cluster_weight=float(cluster_weight),
        mmd_weight=float(mmd_weight),
        barycenter_iters=int(barycenter_iters),
        fgw_iters=int(fgw_iters),
        cluster_iters=int(cluster_iters),
    )
    return ClusteringSetup(
        config,
        max_epochs=int(max_epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        mcca_components=int(mcca_components),
        device=str(resolve_device(device)),
        fused_points=None if fused_points is None else int(fused_points),
    )


def clustering_point(
    dataset: str,
    setting: str,
    seed: int = 0,
    *,
    methods: Sequence[str] = CLUSTERING_METHODS,
    dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_samples: Mapping[str, int] | None = None,
    data_root: str | None = None,
    threads: int | None = None,
    cluster_on: str | None = None,
    side_by_side: Sequence[str] = ("concat",),
    **setup: Any,
) -> pd.DataFrame:
    """One clustering point: every method of ``methods`` trained on ``setting`` views, one seed.

    Args:
        dataset: the dataset (registry name), clustered whole (:func:`full_views`).
        setting: ``"aligned"`` or ``"unaligned"`` training views.
        seed: seed of unalignment, initialisation, training and k-means.
        methods: names of :data:`CLUSTERING_METHODS`.
        dataset_options: dataset -> loader options (e.g. ``{"mfeat": {"views": [...]}}``).
        n_samples: dataset -> size of a seeded subset (seed 0) of the samples.
        data_root: folder of datasets loaded from disk.
        threads: torch threads during the point (``None``: unchanged).
        cluster_on, side_by_side: which codes the learned methods cluster
            (:func:`clustering_experiment`; ``None``: the paper's, :func:`paper_cluster_on`).
        **setup: the keyword arguments of :func:`clustering_setup` (device, model, budget).

    Returns:
        tidy frame ``dataset, setting, method, seed, cluster_on, role, metric, value``.
    """
    options, subset = _data(dataset, dataset_options, n_samples)
    with torch_threads(threads):
        return clustering_experiment(
            dataset,
            methods=tuple(methods),
            settings=(setting,),
            seeds=(int(seed),),
            setup=clustering_setup(**setup),
            n_samples=subset,
            root=data_root,
            cluster_on=cluster_on,
            side_by_side=tuple(side_by_side),
            **options,
        )


def unaligned_model(
    dataset: str,
    seed: int = 0,
    *,
    dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_samples: Mapping[str, int] | None = None,
    data_root: str | None = None,
    threads: int | None = None,
    **setup: Any,
) -> tuple[MWAE, dict[str, Tensor], np.ndarray]:
    """Fig. 2's model: one MWAE+OTM trained on unaligned views of the whole ``dataset``.

    The views are unaligned with :func:`unalign_views` seeded by ``seed``; the arguments are
    those of :func:`clustering_point` (``**setup``: of :func:`clustering_setup`).

    Returns:
        ``(model, views, y)``: the trained model, the aligned evaluation views and the labels.
    """
    options, subset = _data(dataset, dataset_options, n_samples)
    views, y, n_clusters = full_views(dataset, n_samples=subset, root=data_root, **options)
    with torch_threads(threads):
        model, _ = train_mwae(
            "MWAE+OTM",
            unalign_views(views, seed=int(seed)),
            aligned=False,
            seed=int(seed),
            setup=clustering_setup(**setup),
            n_clusters=n_clusters,
        )
    return model, views, y


def _alignment(
    dataset: str, seed: int = 0, *, alphas: Sequence[float] = (0.0, 0.5, 1.0), **params
) -> tuple[pd.DataFrame, tuple[MWAE, dict[str, Tensor], np.ndarray]]:
    model, views, y = unaligned_model(dataset, seed, **params)
    with torch_threads(params.get("threads")):
        table = alignment_by_alpha(model, views, y, alphas=tuple(alphas), seed=int(seed))
    long = table.melt(
        id_vars=["alpha", "modality_a", "modality_b"],
        value_vars=["accuracy", "chance"],
        var_name="metric",
    )
    long["metric"] = long["metric"].map({"accuracy": "same_class_mass", "chance": "chance"})
    frame = long.assign(dataset=dataset, method="MWAE+OTM", seed=int(seed))[
        ["dataset", "method", "seed", "alpha", "modality_a", "modality_b", "metric", "value"]
    ]
    return frame, (model, views, y)


def alignment_point(dataset: str, seed: int = 0, **params) -> pd.DataFrame:
    """One alignment point: :func:`unaligned_model` and its plans' same-class mass across
    modalities (:func:`alignment_by_alpha` at ``alphas``).

    Args:
        dataset, seed: as in :func:`unaligned_model`.
        **params: ``alphas`` (FGW trade-offs at which the server is re-solved) and the keyword
            arguments of :func:`unaligned_model`.

    Returns:
        tidy frame ``dataset, method, seed, alpha, modality_a, modality_b, metric, value`` with
        ``metric`` ``"same_class_mass"`` (the plans') or ``"chance"`` (the independent
        coupling's).
    """
    return _alignment(dataset, seed, **params)[0]


def supervised_point(
    dataset: str,
    fusion: str,
    seed: int = 0,
    *,
    dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_samples: Mapping[str, int] | None = None,
    data_root: str | None = None,
    device: str = "auto",
    threads: int | None = None,
    otm_weight: float = 1.0,
    latent_dim: int = 32,
    hidden_dim: int = 128,
    tensor_dim: int = 8,
    rank: int = 4,
    barycenter_iters: int = 3,
    fgw_iters: int = 10,
    max_epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float = 0.0,
    momentum: float = 0.9,
    patience: int | None = 5,
    noise_levels: Sequence[float] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    cache: bool = True,
    evaluate: bool = True,
) -> pd.DataFrame:
    """One supervised point: ``fusion`` with and without OTM at one seed (Tables 3-5).

    Args:
        dataset: the dataset (its train/validation/test splits).
        fusion: one of :data:`~workbench.methods.otm_fusions.FUSIONS`.
        seed: training seed.
        dataset_options: dataset -> loader options.
        n_samples: not used by this part (the splits are used whole); a value for ``dataset``
            is an error.
        otm_weight: the ``beta`` of the "+ OTM" model.
        latent_dim, hidden_dim, tensor_dim, rank, barycenter_iters, fgw_iters: the
            :class:`~workbench.methods.otm_fusions.FusionOTMConfig`.
        max_epochs, batch_size, lr, optimizer, weight_decay, momentum, patience: the
            :class:`~workbench.training.TrainerConfig`.
        noise_levels: energy ratios of the test-time noise.
        cache: re-use trained weights (the Trainer's checkpoint cache).
        evaluate: ``False``: train only (:func:`supervised_experiment`).

    Returns:
        the tidy frame of :func:`supervised_experiment`.
    """
    options, subset = _data(dataset, dataset_options, n_samples)
    if subset is not None:
        raise ValueError(
            f"supervised point: n_samples={subset} for {dataset!r}; the supervised part uses "
            "the dataset's splits whole."
        )
    if fusion not in FUSIONS:
        raise ValueError(f"supervised point: fusion {fusion!r}; expected one of {FUSIONS}.")
    config = FusionOTMConfig(
        latent_dim=int(latent_dim),
        hidden_dim=int(hidden_dim),
        tensor_dim=int(tensor_dim),
        rank=int(rank),
        barycenter_iters=int(barycenter_iters),
        fgw_iters=int(fgw_iters),
    )
    trainer = TrainerConfig(
        max_epochs=int(max_epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        optimizer=str(optimizer),
        weight_decay=float(weight_decay),
        momentum=float(momentum),
        patience=None if patience is None else int(patience),
        progress=False,
        device=str(resolve_device(device)),
    )
    with torch_threads(threads):
        splits = load_splits(dataset, data_root, **options)
        return supervised_experiment(
            splits,
            fusions=(fusion,),
            seeds=(int(seed),),
            otm_weight=float(otm_weight),
            config=config,
            trainer_config=trainer,
            noise_levels=tuple(float(v) for v in noise_levels),
            cache=bool(cache),
            evaluate=bool(evaluate),
        )


# ----------------------------------------------------------------------------- mechanism (synthetic)

MECHANISM_METHODS = ("k-means", "MWAE", "MWAE+OTM")
"""The methods of a mechanism point: k-means on the concatenated raw views (the concat
baseline), the multi-head autoencoders without the mixer (MWAE) and with it (MWAE+OTM)."""

MECHANISM_BASELINES = ("MWAE", "k-means")
"""What MWAE+OTM is compared with on the ``synthetic`` profile (:func:`mechanism_claims`)."""


def shared_structure_options(
    shared: float, n_modalities: int = 2, *, seed: int = 0, n_classes: int = 4
) -> dict[str, Any]:
    """``make_synthetic`` options whose views share a fraction ``shared`` of their latent structure.

    The label ``y`` always lives in the first view (its latent class is ``y`` for every sample).
    Every other view sees ``y`` on a fraction ``shared`` of the samples (the generator's
    *redundant* route) and an independent class of its own on the rest (the route *unique to
    the first view*): at ``shared = 1`` all views have the same class structure, at ``shared = 0``
    the other views' clusters are a structure of their own, unrelated to the first view's. This
    is what the FGW barycenter of Eq. 1-2 can exploit on unaligned views: its Gromov-Wasserstein
    term matches the views' *relational* structure, which only exists in common when ``shared``
    is large.

    Args:
        shared: the share of common latent structure, in ``[0, 1]``.
        n_modalities: number of views (``dims`` of 32 for the first, 16 for the others).
        seed: the generator's seed (data and split).
        n_classes: number of classes.
    """
    shared = float(shared)
    if not 0.0 <= shared <= 1.0:
        raise ValueError(
            f"shared_structure_options: shared={shared}; expected a share in [0, 1] "
            "(0: no latent structure in common, 1: all of it)."
        )
    if int(n_modalities) < 2:
        raise ValueError(
            f"shared_structure_options: n_modalities={n_modalities}; the mechanism needs >= 2 views."
        )
    m = int(n_modalities)
    return {
        "dims": [32] + [16] * (m - 1),
        "n_classes": int(n_classes),
        "redundancy": shared,
        "uniqueness": [1.0 - shared] + [0.0] * (m - 1),
        "seed": int(seed),
    }


def mechanism_point(
    shared: float,
    seed: int = 0,
    *,
    setting: str = "unaligned",
    methods: Sequence[str] = MECHANISM_METHODS,
    n_samples: int = 600,
    n_modalities: int = 2,
    n_classes: int = 4,
    threads: int | None = None,
    **setup: Any,
) -> pd.DataFrame:
    """One point of the ``synthetic`` profile: clustering of views sharing ``shared`` of their
    latent structure (:func:`shared_structure_options`), trained on ``setting`` views.

    The data are drawn with ``seed`` (a new draw per seed, so seeds vary data and training); a
    seeded subset of ``n_samples`` of the generator's 1500 samples is clustered whole, as in
    :func:`clustering_experiment` (aligned evaluation views, labels only to score).

    Args:
        shared: the knob, in ``[0, 1]``.
        seed: seed of the data, the unalignment, the initialisation, training and k-means.
        setting: ``"aligned"`` or ``"unaligned"`` training views.
        methods: names of :data:`CLUSTERING_METHODS` (default :data:`MECHANISM_METHODS`).
        n_samples: samples clustered.
        n_modalities, n_classes: the generator's.
        threads: torch threads during the point.
        **setup: the keyword arguments of :func:`clustering_setup`.

    Returns:
        the tidy frame of :func:`clustering_experiment` with a ``shared`` column.
    """
    options = shared_structure_options(
        shared, n_modalities, seed=int(seed), n_classes=int(n_classes)
    )
    with torch_threads(threads):
        frame = clustering_experiment(
            "synthetic",
            methods=tuple(methods),
            settings=(setting,),
            seeds=(int(seed),),
            setup=clustering_setup(**setup),
            n_samples=int(n_samples),
            **options,
        )
    return frame.assign(shared=float(shared))


_POINTS: dict[str, Callable[..., pd.DataFrame]] = {
    "clustering": clustering_point,
    "supervised": supervised_point,
    "alignment": alignment_point,
    "mechanism": mechanism_point,
}


def part_function(part: str) -> Callable[..., pd.DataFrame]:
    """The run point of ``part`` (:func:`clustering_point`, :func:`supervised_point` or
    :func:`alignment_point`)."""
    if part not in _POINTS:
        raise ValueError(f"OTM run point: part {part!r}; expected one of {tuple(_POINTS)}.")
    return _POINTS[part]


def run_point(part: str, **params: Any) -> pd.DataFrame:
    """One grid point of ``configs/otm.yaml``: the tidy rows of its part, with a ``part`` column.

    Args:
        part: ``"clustering"``, ``"supervised"`` or ``"alignment"``.
        **params: the keyword arguments of :func:`clustering_point`,
            :func:`supervised_point` or :func:`alignment_point`.
    """
    frame = part_function(part)(**params)
    return frame.assign(part=part)[["part", *frame.columns]]


def training_point(part: str, **params: Any) -> pd.DataFrame:
    """The training stages of :func:`run_point` only, for the cost estimate
    (:func:`workbench.experiments.dryrun.estimate` times their optimiser steps).

    The same arguments as :func:`run_point` and the same training code, then nothing else:

    - ``clustering``: the label-free autoencoders of ``methods`` (MWAE, MWAE+OTM, MWAE+OTM(WB):
      :func:`train_mwae` on the views :func:`run_clustering` trains on); no clustering, no
      fused codes (no barycenter of the evaluation views), no MCCA, k-means, spectral or
      GWMAC-style run;
    - ``mechanism``: the same as ``clustering`` on the point's synthetic views;
    - ``alignment``: :func:`unaligned_model`; no plans re-solved at ``alphas``;
    - ``supervised``: each fusion with and without OTM fitted by the Trainer (its validation
      pass per epoch included); no test, probe or noise evaluation
      (:func:`supervised_experiment` with ``evaluate=False``).

    Returns:
        one row per trained model: ``part, dataset, method, seed, metric, value``
        (``metric="trained"``, ``value=1``; a supervised model's ``metric="epochs"``, ``value``
        the epochs it trained).
    """
    if part == "supervised":
        frame = supervised_point(**params, evaluate=False)
        frame = frame[["dataset", "method", "seed", "metric", "value"]]
    elif part == "alignment":
        frame = _alignment_training(**params)
    elif part == "clustering":
        frame = _clustering_training(**params)
    elif part == "mechanism":
        frame = _mechanism_training(**params)
    else:
        raise ValueError(f"OTM training point: part {part!r}; expected one of {tuple(_POINTS)}.")
    return frame.assign(part=part)[["part", *frame.columns]]


def _alignment_training(
    dataset: str, seed: int = 0, *, alphas: Sequence[float] = (), **params: Any
) -> pd.DataFrame:
    """:func:`training_point` of an alignment point (the arguments of :func:`alignment_point`;
    ``alphas`` only name the plans the real point would re-solve)."""
    unaligned_model(dataset, seed, **params)
    return pd.DataFrame(
        [
            {
                "dataset": dataset,
                "method": "MWAE+OTM",
                "seed": int(seed),
                "metric": "trained",
                "value": 1.0,
            }
        ]
    )


def _clustering_training(
    dataset: str,
    setting: str,
    seed: int = 0,
    *,
    methods: Sequence[str] = CLUSTERING_METHODS,
    dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_samples: Mapping[str, int] | None = None,
    data_root: str | None = None,
    threads: int | None = None,
    cluster_on: str | None = None,
    side_by_side: Sequence[str] = ("concat",),
    **setup: Any,
) -> pd.DataFrame:
    """:func:`training_point` of a clustering point (the arguments of :func:`clustering_point`;
    ``cluster_on`` and ``side_by_side`` only choose clusterings, which are not run)."""
    options, subset = _data(dataset, dataset_options, n_samples)
    views, _, n_clusters = full_views(dataset, n_samples=subset, root=data_root, **options)
    with torch_threads(threads):
        return _train_learned(dataset, views, n_clusters, setting, int(seed), methods, setup)


def _mechanism_training(
    shared: float,
    seed: int = 0,
    *,
    setting: str = "unaligned",
    methods: Sequence[str] = MECHANISM_METHODS,
    n_samples: int = 600,
    n_modalities: int = 2,
    n_classes: int = 4,
    threads: int | None = None,
    **setup: Any,
) -> pd.DataFrame:
    """:func:`training_point` of a mechanism point (the arguments of :func:`mechanism_point`)."""
    options = shared_structure_options(
        shared, n_modalities, seed=int(seed), n_classes=int(n_classes)
    )
    views, _, n_clusters = full_views("synthetic", n_samples=int(n_samples), **options)
    with torch_threads(threads):
        frame = _train_learned("synthetic", views, n_clusters, setting, int(seed), methods, setup)
    return frame.assign(shared=float(shared))


def _train_learned(
    dataset: str,
    views: Mapping[str, Tensor],
    n_clusters: int,
    setting: str,
    seed: int,
    methods: Sequence[str],
    setup: Mapping[str, Any],
) -> pd.DataFrame:
    """Train the learned methods among ``methods`` as :func:`run_clustering` does (same views,
    seeds and setup), one row each."""
    if setting not in ("aligned", "unaligned"):
        raise ValueError(
            f"clustering training: setting {setting!r}; expected 'aligned' or 'unaligned'."
        )
    config = clustering_setup(**setup)
    aligned = setting == "aligned"
    train = _training_views(views, aligned=aligned, seed=seed)
    rows = []
    for method in methods:
        if method in _MIXERS:
            train_mwae(
                method, train, aligned=aligned, seed=seed, setup=config, n_clusters=n_clusters
            )
            rows.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "seed": seed,
                    "metric": "trained",
                    "value": 1.0,
                }
            )
    return pd.DataFrame(rows, columns=["dataset", "method", "seed", "metric", "value"])


# ----------------------------------------------------------------------------- a whole profile


@dataclass
class OTMRun:
    """A profile run in this process (:func:`run`): the tidy results and Fig. 2's model.

    Attributes:
        results: every point's rows (:func:`run_point`).
        model: the MWAE+OTM of the first alignment point (Fig. 2), or ``None``.
        views: its aligned evaluation views ``{m: [N, D_m]}``.
        y: their labels.
        dataset: the main dataset (Fig. 2's).
        profile: the profile's name.
    """

    results: pd.DataFrame
    model: MWAE | None = None
    views: dict[str, Tensor] = field(default_factory=dict, repr=False)
    y: np.ndarray | None = field(default=None, repr=False)
    dataset: str = ""
    profile: str = ""

    def frame(self, part: str, **where: Any) -> pd.DataFrame:
        """The rows of one part, filtered by ``column=value`` (a list: any of its values)."""
        df = _part(self.results, part)
        for column, wanted in where.items():
            values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
            df = df[df[column].isin(values)]
        return df.dropna(axis=1, how="all").reset_index(drop=True)

    def noise_frame(self, dataset: str | None = None) -> pd.DataFrame:
        """Table 5 / Figs. 3-4: the test rows under noise of one supervised dataset (default:
        the first), for :func:`workbench.plotting.noise_curves`."""
        rows = self.frame("supervised", condition="noise", split="test")
        if rows.empty:
            return rows
        return rows[rows["dataset"] == (dataset or rows["dataset"].iloc[0])]

    def fig2_inputs(self) -> tuple[Tensor, np.ndarray, Tensor, np.ndarray]:
        """Fig. 2's inputs (:func:`workbench.plotting.tsne_pair`): the concatenated codes of the
        aligned views, their labels, the server's fused codes and the labels they carry from
        the last modality (:func:`fused_labels`)."""
        if self.model is None:
            raise ValueError("OTMRun.fig2_inputs: the profile has no alignment point (no model).")
        rows = self.frame("alignment")
        seed = int(rows["seed"].iloc[0]) if len(rows) else 0
        codes = encode_views(self.model, self.views)
        mix = fused_codes(self.model, self.views, seed=seed)
        last = list(self.views)[-1]
        return (
            torch.cat(list(codes.values()), 1),
            self.y,
            mix.fused,
            fused_labels(mix, self.y, last),
        )

    def paper_table(self) -> pd.DataFrame:
        """:func:`paper_table` of the results."""
        return paper_table(self.results, profile=self.profile)


def _points(
    profile: Profile, *, dataset: str | None, data_root: str | None, device: str | None, seed: int
) -> list[dict[str, Any]]:
    """The profile's points with the notebook's overrides: ``dataset`` replaces the profile's
    main dataset (the first point's; ``data_root`` goes with it), ``device`` every point's,
    ``seed`` shifts every seed. Points that become equal are run once."""
    items = [dict(p) for p in profile.grid]
    main = items[0]["dataset"] if items else None
    unique: dict[str, dict[str, Any]] = {}
    for p in items:
        own = p["dataset"] == main
        p["dataset"] = (dataset or main) if own else p["dataset"]
        p["data_root"] = data_root if own else None
        p["seed"] = int(p.get("seed", 0)) + int(seed)
        if device is not None:
            p["device"] = device
        unique.setdefault(canonical_json(p), p)
    return list(unique.values())


def run(
    profile: Profile | str = "smoke",
    *,
    dataset: str | None = None,
    data_root: str | None = None,
    device: str | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> OTMRun:
    """Run a profile of ``configs/otm.yaml`` in this process and keep Fig. 2's model.

    The points and their numbers are the sweep's (:func:`run_point`); this is what the notebook
    calls, with its parameters as overrides.

    Args:
        profile: a :class:`~workbench.experiments.Profile` or its name.
        dataset: replaces the profile's main clustering dataset (the first point's).
        data_root: the folder of the main dataset's real files (``None``: embedded data).
        device: the training device of every point (default: the profile's).
        seed: added to every seed.
        log: called with one line per finished point.
    """
    prof = profile if isinstance(profile, Profile) else load_profile("otm", profile)
    points = _points(prof, dataset=dataset, data_root=data_root, device=device, seed=seed)
    if not points:
        raise ValueError(f"Profile {prof.name!r} of configs/otm.yaml has no points.")
    frames, fig2 = [], None
    for i, p in enumerate(points):
        params = dict(p)
        part = params.pop("part")
        if part == "alignment" and fig2 is None:
            frame, fig2 = _alignment(**params)
            frame = frame.assign(part=part)[["part", *frame.columns]]
        else:
            frame = run_point(part, **params)
        frames.append(
            frame.assign(**{k: v for k, v in p.items() if k not in frame.columns and _scalar(v)})
        )
        if log is not None:
            log(f"[{i + 1}/{len(points)}] {part} {p['dataset']} seed {p['seed']}")
    model, views, y = fig2 if fig2 is not None else (None, {}, None)
    main = next((p["dataset"] for p in points if p["part"] == "alignment"), points[0]["dataset"])
    return OTMRun(pd.concat(frames, ignore_index=True), model, views, y, main, prof.name)


def _scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


# ----------------------------------------------------------------------------- paper table


def alignment_table(results: pd.DataFrame) -> pd.DataFrame:
    """The plans' same-class mass and its chance level per FGW ``alpha`` (mean over pairs and
    seeds)."""
    df = _part(results, "alignment")
    return (
        df.groupby(["dataset", "alpha", "metric"], sort=False)["value"]
        .mean()
        .unstack("metric")[["same_class_mass", "chance"]]
        .round(3)
    )


_SETTING_GAP = ("MWAE+OTM, unaligned training", "MWAE+OTM, aligned training")


def reference() -> pd.DataFrame:
    """``workbench/reference/otm.csv``, plus Table 2's MWAE+OTM rows relabelled by training
    setting (``"MWAE+OTM, aligned training"`` / ``"..., unaligned training"``, condition
    ``normal``), so that the aligned-vs-unaligned gap is a claim between two "methods"."""
    ref = load_reference("otm")
    t2 = ref[(ref["table"] == "2") & (ref["method"] == "MWAE+OTM")]
    derived = t2.assign(
        method=np.where(t2["level"] == "unaligned", _SETTING_GAP[0], _SETTING_GAP[1]),
        condition="normal",
        modality="",
        level="",
    )
    return pd.concat([ref, derived], ignore_index=True)


def _frames(results: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The results of each part, as the claims read them."""
    clustering = _part(results, "clustering")
    if "role" not in clustering.columns:  # results from before cluster_on: one row each
        clustering = clustering.assign(role="main")
    gap = clustering[clustering["method"] == "MWAE+OTM"]
    gap = gap.assign(method=gap["method"] + ", " + gap["setting"] + " training")
    alignment = _part(results, "alignment")
    alignment = alignment.assign(method=alignment["metric"])
    return {
        "clustering": clustering,
        "setting_gap": gap,
        "supervised": _part(results, "supervised"),
        "alignment": alignment,
    }


def _fusion_claims() -> list[Claim]:
    claims = []
    for fusion in FUSIONS:
        label = FUSION_LABELS[fusion]
        claims += [
            Claim(
                id=f"otm.t3.{fusion}",
                text=f"{label} + OTM beats {label} (clean test accuracy)",
                paper="otm",
                table="3",
                kind="ordering",
                method=f"{label} + OTM",
                against=(label,),
                where={"condition": "normal", "split": "test"},
                frame="supervised",
                reference={"table": "3", "metric": "accuracy"},
            ),
            Claim(
                id=f"otm.t4.{fusion}",
                text=f"{label} + OTM helps the weakest modality alone (probe on frozen codes)",
                paper="otm",
                table="4",
                kind="ordering",
                method=f"{label} + OTM",
                against=(label,),
                where={"condition": "single_modality", "split": "test"},
                frame="supervised",
                reference={"table": "4", "metric": "accuracy"},
                paper_method=f"{label}+OTM",
                paper_against=(label,),
            ),
            Claim(
                id=f"otm.t5.{fusion}",
                text=f"{label} + OTM beats {label} under test noise (energy ratio 0.2)",
                paper="otm",
                table="5",
                kind="ordering",
                method=f"{label} + OTM",
                against=(label,),
                where={"condition": "noise", "energy_ratio": 0.2, "split": "test"},
                frame="supervised",
                reference={"table": "5", "metric": "accuracy"},
                paper_method=f"{label}+OTM",
                paper_against=(label,),
            ),
        ]
    return claims


def _purity_claim(id: str, text: str, table: str, against: str, setting: str, **kw) -> Claim:
    """An ordering claim "MWAE+OTM clusters better than ``against``" on purity in one training
    setting (aligned rows of the paper's table are its ``normal`` condition, unaligned ones its
    ``corruption`` condition)."""
    condition = "normal" if setting == "aligned" else "corruption"
    return Claim(
        id=id,
        text=f"{text} (purity)",
        paper="otm",
        table=table,
        kind="ordering",
        method="MWAE+OTM",
        against=(against,),
        where={"setting": setting, "metric": "purity", "role": "main"},
        frame="clustering",
        reference={"table": table, "condition": condition},
        **kw,
    )


CLAIMS: tuple[Claim, ...] = (
    _purity_claim(
        "otm.t2.aligned_vs_mcca",
        "Aligned training: MWAE+OTM clusters better than MCCA",
        "2",
        "MCCA",
        "aligned",
    ),
    _purity_claim(
        "otm.t2.unaligned_vs_gwmac",
        "Unaligned training: MWAE+OTM clusters better than GWMAC",
        "2",
        "GWMAC-style",
        "unaligned",
        paper_against=("GWMAC",),
    ),
    Claim(
        id="otm.t2.unaligned_close_to_aligned",
        text="MWAE+OTM loses less than 0.05 purity when its training views are unaligned",
        paper="otm",
        table="2",
        kind="gap",
        method=_SETTING_GAP[0],
        against=(_SETTING_GAP[1],),
        where={"metric": "purity", "role": "main"},
        frame="setting_gap",
        reference={"table": "2", "method": list(_SETTING_GAP)},
        margin=-0.05,
    ),
    _purity_claim(
        "otm.t10.masks_vs_wb",
        "Unaligned training: random masks beat the weighted barycenter, OTM(WB)",
        "10",
        "MWAE+OTM(WB)",
        "unaligned",
    ),
    Claim(
        id="otm.mixer_vs_mwae",
        text="Unaligned training: the OT mixer improves MWAE (purity)",
        paper="otm",
        kind="ordering",
        method="MWAE+OTM",
        against=("MWAE",),
        where={"setting": "unaligned", "metric": "purity", "role": "main"},
        frame="clustering",
        source="implied by Sec. 4 (no MWAE row in Table 2); a workbench check",
    ),
    *_fusion_claims(),
    Claim(
        id="otm.plans_above_chance",
        text=(
            "The server's plans link same-class samples across modalities (same-class mass "
            "at least 0.05 above chance)"
        ),
        paper="otm",
        kind="gap",
        method="same_class_mass",
        against=("chance",),
        frame="alignment",
        margin=0.05,
        source="assumed by Fig. 2 (fused codes cluster by class); a workbench diagnostic",
    ),
)
"""The OTM paper's claims, as templates: :func:`claims_for` adds the dataset (and the fusion's
weakest modality, the FGW ``alpha``) of each result."""


def _weakest(frame: pd.DataFrame, method: str, higher_is_better: bool = True) -> str | None:
    """The modality whose single-modality score of ``method`` is lowest (mean over seeds)."""
    rows = frame[(frame["method"] == method) & (frame["condition"] == "single_modality")]
    if rows.empty:
        return None
    means = rows.groupby("modality")["value"].mean()
    return str(means.idxmin() if higher_is_better else means.idxmax())


def claims_for(results: pd.DataFrame) -> list[Claim]:
    """:data:`CLAIMS` made concrete for ``results``: one claim per dataset (and per FGW
    ``alpha`` for the alignment claim); fusions that did not run are left out.

    Table 4's weakest modality is chosen from the **validation** rows of the fusion without
    OTM (the claim is judged on the test rows); the paper's from its own baseline's row.
    """
    frames = _frames(results)
    ref = reference()
    out: list[Claim] = []
    for claim in CLAIMS:
        frame = frames.get(claim.frame)
        if frame is None or frame.empty or "dataset" not in frame.columns:
            if claim.frame != "supervised":
                out.append(claim)
            continue
        if claim.frame == "supervised" and claim.method not in set(frame["method"]):
            continue
        for ds in dict.fromkeys(frame["dataset"]):
            where = {**claim.where, "dataset": ds}
            text = f"{claim.text} [{ds}]"
            if claim.id.startswith("otm.t4."):
                validation = frame[(frame["dataset"] == ds) & (frame["split"] == "validation")]
                weak = _weakest(validation, claim.against[0])
                if weak is None:
                    continue
                paper_ref = ref[(ref["table"] == "4") & (ref["metric"] == "accuracy")]
                paper_weak = _weakest(
                    paper_ref.assign(condition="single_modality"),
                    (claim.paper_against or claim.against)[0],
                )
                reference_where = {**claim.reference}
                if paper_weak is not None:
                    reference_where["modality"] = paper_weak
                out.append(
                    replace(
                        claim,
                        id=f"{claim.id}.{ds}",
                        text=f"{claim.text}: {weak} [{ds}]",
                        where={**where, "modality": weak},
                        reference=reference_where,
                    )
                )
            elif claim.frame == "alignment":
                part = frame[frame["dataset"] == ds]
                for alpha in sorted(dict.fromkeys(part["alpha"])):
                    out.append(
                        replace(
                            claim,
                            id=f"{claim.id}.{ds}.alpha{alpha:g}",
                            text=f"{claim.text}, FGW alpha={alpha:g} [{ds}]",
                            where={**where, "alpha": alpha},
                        )
                    )
            else:
                out.append(replace(claim, id=f"{claim.id}.{ds}", text=text, where=where))
    return out


def paper_table(results: pd.DataFrame, *, profile: str | None = None) -> pd.DataFrame:
    """The paper-vs-workbench table of the OTM paper: :func:`workbench.claims.evaluate` of
    :func:`claims_for` ``(results)``.

    The paper side reads ``workbench/reference/otm.csv`` (every dataset of the claimed table);
    the workbench side runs on stand-in data (``mfeat``, ``nutrimouse``, ``av_digits``), so
    absolute numbers are not comparable, only the orderings.

    Args:
        results: the tidy rows of :func:`run_point` (or :attr:`OTMRun.results`).
        profile: the profile the results come from (a column of the table).

    Returns:
        the claims engine's table with a first column ``dataset`` (the claim's, as the other
        papers' tables have it).
    """
    claims = claims_for(results)
    table = evaluate(claims, _frames(results), reference={"otm": reference()}, profile=profile)
    if table.empty or "id" not in table.columns:
        return table
    datasets = {c.id: str(c.where.get("dataset", "")) for c in claims}
    return table.assign(dataset=table["id"].map(datasets).fillna(""))[["dataset", *table.columns]]


# ----------------------------------------------------------------------------- mechanism tables


def _mechanism(results: pd.DataFrame) -> pd.DataFrame:
    df = _part(results, "mechanism")
    if df.empty or "shared" not in df.columns:
        raise ValueError(
            "otm mechanism: no rows with part='mechanism' and a 'shared' column; run the "
            "'synthetic' profile (workbench reproduce otm --profile synthetic)."
        )
    return df


ADVANTAGE_PLOT: dict[str, Any] = {
    "knob": "shared",
    "series": "comparison",
    "xlabel": "share of latent structure the views have in common",
    "ylabel": "clustering accuracy difference",
}
"""How :func:`workbench.plotting.advantage_plot` reads :func:`mechanism_advantage`'s frame: one
panel, one line per comparison."""


def mechanism_advantage(
    results: pd.DataFrame,
    *,
    metric: str = "hungarian_accuracy",
    method: str = "MWAE+OTM",
    baselines: Sequence[str] = MECHANISM_BASELINES,
    knob: str = "shared",
) -> pd.DataFrame:
    """The method's per-seed paired advantage over each baseline at each knob value.

    For every seed the method's score minus the baseline's (same seed, same data draw) is taken;
    the frame gives their mean, sample std, standard error ``std / sqrt(n)`` and ``n``
    (:func:`~workbench.experiments.evidence.seed_stats`, the tidy shape of
    :func:`workbench.plotting.advantage_plot`). The method is read
    twice: on its paper-protocol clustering (``role="main"``: the fused codes ``tilde Z_B`` when
    trained unaligned) and on its concatenated codes (``role="side"``), each against the
    baseline's main clustering.

    Args:
        results: tidy rows of :func:`mechanism_point` (e.g. ``results/otm/synthetic/results.csv``).
        metric: the clustering score (``"hungarian_accuracy"``, ``"purity"``, ``"nmi"``, ``"ari"``).
        method: the method whose advantage is measured.
        baselines: what it is compared with.
        knob: the column of the knob.

    Returns:
        frame ``knob, comparison, cluster_on, baseline, mean, std, se, n`` (``knob`` named as
        the column), one row per knob value and comparison, sorted by knob.
    """
    df = _mechanism(results)
    df = df[df["metric"] == metric]
    if df.empty:
        raise ValueError(f"mechanism_advantage: no rows with metric {metric!r}.")
    role = df["role"] if "role" in df.columns else pd.Series("main", index=df.index)
    rows = []
    mine = df[df["method"] == method]
    for (value, on), part in mine.groupby([knob, "cluster_on"], sort=True):
        own = part.groupby("seed")["value"].mean()
        for baseline in baselines:
            base_rows = df[(df["method"] == baseline) & (df[knob] == value) & (role == "main")]
            base = base_rows.groupby("seed")["value"].mean()
            d = (own - base).dropna()
            if d.empty:
                continue
            rows.append(
                {
                    knob: float(value),
                    "comparison": f"{method} ({on} codes) − {baseline}",
                    "cluster_on": on,
                    "baseline": baseline,
                    **seed_stats(d),
                }
            )
    if not rows:
        raise ValueError(
            f"mechanism_advantage: no seed has both {method!r} and one of {tuple(baselines)}."
        )
    return pd.DataFrame(rows).sort_values([knob, "comparison"], ignore_index=True)


def mechanism_claims(
    results: pd.DataFrame,
    *,
    metric: str = "hungarian_accuracy",
    baselines: Sequence[str] = MECHANISM_BASELINES,
) -> list[Claim]:
    """One ordering claim per knob value and baseline: "MWAE+OTM clusters better than
    ``baseline`` on unaligned views sharing ``shared`` of their latent structure" (the paper's
    protocol, ``role="main"``). Not in the paper: the workbench's mechanism check, expected to
    hold where much structure is shared and to vanish where none is."""
    df = _mechanism(results)
    claims = []
    for shared in sorted(dict.fromkeys(float(v) for v in df["shared"])):
        for baseline in baselines:
            claims.append(
                Claim(
                    id=f"otm.mechanism.vs_{baseline.lower().replace('-', '')}.shared{shared:g}",
                    text=(
                        f"Unaligned views sharing {shared:.0%} of their latent structure: "
                        f"MWAE+OTM clusters better than {baseline} ({metric})"
                    ),
                    paper="otm",
                    kind="ordering",
                    method="MWAE+OTM",
                    against=(baseline,),
                    where={"shared": shared, "metric": metric, "role": "main"},
                    frame="mechanism",
                    source="workbench mechanism check on synthetic data (not in the paper)",
                )
            )
    return claims


def mechanism_table(results: pd.DataFrame, *, profile: str | None = None) -> pd.DataFrame:
    """The ``synthetic`` profile's claims table: :func:`workbench.claims.evaluate` of
    :func:`mechanism_claims` (the ``paper_table`` of that profile in ``configs/otm.yaml``)."""
    df = _mechanism(results)
    table = evaluate(
        mechanism_claims(df), {"mechanism": df}, reference={"otm": reference()}, profile=profile
    )
    return table.assign(dataset="synthetic")[["dataset", *table.columns]]


# ----------------------------------------------------------------------------- diagnoses


def _f(x: float) -> str:
    return f"{x:.3f}"


def _spread_text(row) -> str:
    mean, se, n = float(row.diff_mean), float(row.diff_se), int(row.n_seeds)
    if n < 2 or not np.isfinite(se):
        return f"one seed only (difference {mean:+.3f}): no spread to judge it against."
    need = seeds_needed(mean, se, n)
    tail = (
        f"about {need:.0f} seeds would separate it at this spread"
        if np.isfinite(need)
        else "there is no gap to separate"
    )
    return f"the difference {mean:+.3f} lies within 2 SE ({_f(2 * se)}) with {n} seeds; {tail}."


def _scores(results: pd.DataFrame, **where: Any) -> pd.Series:
    """Per-seed mean value of the rows matching ``where`` (columns absent from ``results``:
    no rows)."""
    df = results
    for column, wanted in where.items():
        if column not in df.columns:
            return pd.Series(dtype=float)
        df = df[df[column] == wanted]
    return df.groupby("seed")["value"].mean() if len(df) else pd.Series(dtype=float)


def _claim_dataset(row) -> str:
    """The claim's dataset: the table's ``dataset`` column, else the ``[dataset]`` that ends the
    claim's text (:func:`claims_for`), else the id's last part."""
    ds = getattr(row, "dataset", None)
    if isinstance(ds, str) and ds:
        return ds
    found = re.search(r"\[([^\]]+)\]\s*$", str(getattr(row, "claim", "")))
    if found:
        return found.group(1)
    return str(row.id).split(".alpha", 1)[0].rsplit(".", 1)[-1]


def _setting_value(results: pd.DataFrame, column: str, **where: Any) -> Any:
    rows = results
    for k, v in where.items():
        if k in rows.columns:
            rows = rows[rows[k] == v]
    if column not in rows.columns or rows[column].dropna().empty:
        return None
    value = rows[column].dropna().iloc[0]
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _alignment_probe(results: pd.DataFrame, ds: str) -> tuple[str, float | None]:
    """Fig. 2's probe on ``ds``: a sentence on the server's same-class mass across views and how
    far it lies above chance (``None`` when the profile has no alignment probe on ``ds``)."""
    align = _part(results, "alignment")
    align = align[align["dataset"] == ds] if "dataset" in align.columns else align
    if not len(align):
        return f"the profile has no alignment probe on {ds}", None
    mass = align[align["metric"] == "same_class_mass"]["value"].mean()
    chance = align[align["metric"] == "chance"]["value"].mean()
    text = (
        f"the server's plans put {_f(mass)} of their mass on same-class pairs across views "
        f"(chance {_f(chance)})"
    )
    return text, float(mass - chance)


def _diagnose_fused(row, results: pd.DataFrame) -> tuple[str, str]:
    """Unaligned OTM clustered on its fused codes (Table 2/10, mixer vs MWAE): is the fused-code
    protocol, or the mixer, behind the shortfall?

    Fused codes carry a sample's cluster only as far as the barycenter matches the same class
    across views: where Fig. 2's probe finds the plans' same-class mass within 0.05 of chance,
    each fused code mixes classes and the loss is the data's (the views give the barycenter no
    class structure to match); otherwise it is the protocol's (``implementation``)."""
    ds = _claim_dataset(row)
    clus = _part(results, "clustering")
    clus = clus[(clus["dataset"] == ds) & (clus["metric"] == "purity")]
    base = dict(dataset=ds, method="MWAE+OTM", setting="unaligned")
    fused = _scores(clus, **base, role="main")
    concat = _scores(clus, **base, role="side", cluster_on="concat")
    probe, above = _alignment_probe(results, ds)
    if len(fused) and len(concat):
        gap = float((concat - fused).dropna().mean())
        n = int((concat - fused).dropna().shape[0])
        if gap > 0.02:
            points = _setting_value(clus, "fused_points", **base)
            iters = _setting_value(clus, "barycenter_iters", **base)
            fgw = _setting_value(clus, "fgw_iters", **base)
            size = f"{points} fused codes" if points is not None else "one fused code per sample"
            head = (
                f"on {ds} the unaligned MWAE+OTM's concatenated codes score {_f(concat.mean())} "
                f"purity but its fused codes (the paper's protocol: a barycenter of {size}, "
                f"{iters} outer x {fgw} FGW iterations) only {_f(fused.mean())}, "
                f"{gap:+.3f} over {n} seeds: the loss is in clustering the fused codes, "
                "not in the learned codes"
            )
            if above is not None and above < 0.05:
                return (
                    "data",
                    f"{head}; {probe}, so the barycenter does not match the same class across "
                    "views and each fused code mixes classes, while the concatenated codes of "
                    "the aligned test views need no such match.",
                )
            return "implementation", head + "."
    if row.verdict == "not clearly":
        return "spread", f"on {ds} " + _spread_text(row)
    return (
        "data",
        f"on {ds} MWAE+OTM trails by {-float(row.diff_mean):.3f} ± {_f(float(row.diff_se))} "
        f"({int(row.n_seeds)} seeds) on its fused and its concatenated codes alike; {probe}, "
        "so the unaligned views give the barycenter little shared structure to match "
        "(the synthetic profile shows where it appears).",
    )


def _diagnose_backbone(row, results: pd.DataFrame) -> tuple[str, str]:
    """Aligned training vs MCCA: does the autoencoder backbone already trail?"""
    ds = _claim_dataset(row)
    clus = _part(results, "clustering")
    clus = clus[(clus["dataset"] == ds) & (clus["metric"] == "purity")]
    kw = dict(setting="aligned", role="main")
    mcca, mwae, otm_ = (_scores(clus, method=m, **kw) for m in ("MCCA", "MWAE", "MWAE+OTM"))
    if len(mcca) and len(mwae) and float(mwae.mean()) < float(mcca.mean()):
        latent = _setting_value(clus, "latent_dim", method="MWAE")
        epochs = _setting_value(clus, "max_epochs", method="MWAE")
        return (
            "implementation",
            f"on {ds} the autoencoders without the mixer already trail MCCA "
            f"({_f(mwae.mean())} vs {_f(mcca.mean())} purity) and the mixer moves them by "
            f"{float(otm_.mean() - mwae.mean()):+.3f}: the gap is the stand-in backbone's "
            f"(two-layer MLP autoencoders, latent_dim={latent}, {epochs} label-free epochs), "
            "not the mixer's.",
        )
    if row.verdict == "not clearly":
        return "spread", f"on {ds} " + _spread_text(row)
    return (
        "data",
        f"on {ds} MWAE+OTM trails MCCA by {-float(row.diff_mean):.3f} ± "
        f"{_f(float(row.diff_se))} ({int(row.n_seeds)} seeds) although MWAE alone scores "
        f"{_f(mwae.mean()) if len(mwae) else 'n/a'}: a linear CCA on aligned views suits these "
        "features.",
    )


def _runs(provenance: Mapping[str, Any], methods: Sequence[str], dataset: str) -> list[dict]:
    return [
        r
        for r in (provenance or {}).get("convergence", []) or []
        if r.get("method") in methods and r.get("dataset") == dataset
    ]


def _diagnose_supervised(row, results: pd.DataFrame, provenance) -> tuple[str, str]:
    """Tables 3-5: budget (runs still improving), spread, or a probe of the modalities."""
    parts = str(row.id).split(".")
    fusion, ds = parts[2], _claim_dataset(row)
    label = FUSION_LABELS.get(fusion, fusion)
    methods = (label, f"{label} + OTM")
    runs = _runs(provenance, methods, ds)
    still = sum(bool(r.get("still_improving")) for r in runs)
    if runs and still / len(runs) >= 0.5:
        return (
            "budget",
            f"{still} of the {len(runs)} runs of {label} with and without OTM on {ds} were "
            "still improving when training stopped (best validation epoch in the last quarter "
            "of the budget): the comparison is not converged.",
        )
    if row.verdict == "not clearly":
        return "spread", f"{label} on {ds}: " + _spread_text(row)
    sup = _part(results, "supervised")
    single = sup[
        (sup["method"] == label)
        & (sup["dataset"] == ds)
        & (sup["condition"] == "single_modality")
        & (sup["split"] == "test")
    ]
    means = single.groupby("modality")["value"].mean().sort_values()
    if len(means) >= 2:
        probe = (
            f"each modality alone already reaches {_f(means.iloc[0])} ({means.index[0]}) and "
            f"{_f(means.iloc[-1])} ({means.index[-1]}) with a probe on the baseline's codes"
        )
    else:
        probe = "the profile has no single-modality probe for it"
    return (
        "data",
        f"{label} + OTM trails {label} on {ds} by {-float(row.diff_mean):.3f} ± "
        f"{_f(float(row.diff_se))} ({int(row.n_seeds)} seeds); {probe}, so no modality is "
        "uninformative enough for the mixer to bring it information from the others.",
    )


def _diagnose_plans(row, results: pd.DataFrame) -> tuple[str, str]:
    ds = _claim_dataset(row)
    align = _part(results, "alignment")
    alpha = float(str(row.id).rsplit(".alpha", 1)[-1]) if ".alpha" in str(row.id) else None
    if alpha is not None and "alpha" in align.columns:
        align = align[np.isclose(align["alpha"].astype(float), alpha)]
    if "dataset" in align.columns:
        align = align[align["dataset"] == ds]
    mass = align[align["metric"] == "same_class_mass"]["value"].mean()
    chance = align[align["metric"] == "chance"]["value"].mean()
    if row.verdict == "not clearly":
        return "spread", f"on {ds} at FGW alpha={alpha:g}: " + _spread_text(row)
    return (
        "data",
        f"on {ds} at FGW alpha={alpha:g} the plans put {_f(mass)} of their mass on same-class "
        f"pairs against {_f(chance)} by chance: the views' code geometries share too little "
        "structure for the barycenter to match samples of the same class.",
    )


def _diagnose_mechanism(row, results: pd.DataFrame) -> tuple[str, str]:
    """The synthetic profile's claims: where along the knob, and on which codes, the mixer
    trails, and whether its gap narrows as more structure is shared."""
    if str(row.verdict) == "not clearly":
        return "spread", _spread_text(row)
    found = re.search(r"\.vs_([a-z]+)\.shared([0-9.]+)$", str(row.id))
    try:
        adv = mechanism_advantage(results)
    except ValueError:
        adv = pd.DataFrame()
    if found is None or adv.empty:
        return "data", f"the difference is {float(row.diff_mean):+.3f} ± {_f(float(row.diff_se))}."
    baseline = {"mwae": "MWAE", "kmeans": "k-means"}.get(found.group(1), found.group(1))
    shared = float(found.group(2))
    adv = adv[adv["baseline"] == baseline]

    def gap(on: str, at: float) -> float:
        sel = adv[(adv["cluster_on"] == on) & np.isclose(adv["shared"], at)]
        return float(sel["mean"].iloc[0]) if len(sel) else float("nan")

    lo, hi = float(adv["shared"].min()), float(adv["shared"].max())
    trend = (
        f"along the knob the fused codes' difference goes from {gap('fused', lo):+.3f} "
        f"(shared={lo:g}) to {gap('fused', hi):+.3f} (shared={hi:g}), the concatenated codes' "
        f"from {gap('concat', lo):+.3f} to {gap('concat', hi):+.3f}"
    )
    head = (
        f"MWAE+OTM trails {baseline} by {-float(row.diff_mean):.3f} ± "
        f"{_f(float(row.diff_se))} ({int(row.n_seeds)} seeds) at shared={shared:g}; {trend}"
    )
    if shared == 0:
        return (
            "data",
            head + "; with no latent structure in common the views give the barycenter nothing "
            "to align, so no advantage is expected here.",
        )
    iters = _setting_value(results, "barycenter_iters")
    fgw = _setting_value(results, "fgw_iters")
    epochs = _setting_value(results, "max_epochs")
    caps = [
        *([f"capped at {iters} outer x {fgw} FGW iterations"] if iters and fgw else []),
        *([f"{epochs} label-free epochs"] if epochs else []),
    ]
    setup = f" ({', '.join(caps)})" if caps else ""
    return (
        "implementation",
        head + f"; the views share {shared:.0%} of their structure by construction, so the "
        f"mechanism's precondition holds, yet the mixer{setup} does not turn it into a gain.",
    )


def diagnose(ev) -> dict[str, tuple[str, str]]:
    """Why each claim of a committed OTM run that does not hold does not hold.

    Reads ``ev.table`` (``paper_table.csv``), ``ev.results`` (``results.csv``) and
    ``ev.provenance`` (``provenance.json``) of a :class:`~workbench.experiments.evidence.Evidence`
    (any object with these three attributes). Every number in a text is computed from them:

    - clustering claims on the unaligned MWAE+OTM (Tables 2 and 10, mixer vs MWAE):
      ``implementation`` when its concatenated codes (the ``role="side"`` rows) beat its fused
      codes (the paper's protocol, with the run's capped barycenter) by more than 0.02 purity;
      else ``spread`` when ``not clearly``; else ``data``, with the alignment probe (the plans'
      same-class mass vs chance, :func:`alignment_accuracy`).
    - aligned vs MCCA: ``implementation`` when MWAE without the mixer already trails MCCA (the
      stand-in autoencoder backbone); else spread / data.
    - supervised claims (Tables 3-5): ``budget`` when half or more of the two methods' runs were
      still improving (``provenance["convergence"]``); else spread; else ``data`` with the
      single-modality probe scores of the baseline's codes.
    - the plans' claim: spread / ``data`` with the same-class mass and chance.
    - the synthetic profile's mechanism claims: ``spread`` when ``not clearly``; failing,
      ``data`` at ``shared = 0`` (nothing in common to align: no advantage expected) and
      ``implementation`` elsewhere (the precondition holds by construction; the text gives the
      gap along the knob on fused and concatenated codes and the profile's solver caps).
    - anything else: ``spread`` when ``not clearly``, ``data`` when it fails.

    Returns:
        claim id -> ``(kind, text)``, ``kind`` one of ``"budget"``, ``"spread"``, ``"data"``,
        ``"implementation"``.
    """
    table = getattr(ev, "table", None)
    results = getattr(ev, "results", None)
    if table is None or results is None:
        raise ValueError(
            "otm.diagnose: expected an Evidence with .table (paper_table.csv) and .results "
            "(results.csv); got "
            f"{type(ev).__name__}."
        )
    provenance = getattr(ev, "provenance", None) or {}
    if table.empty:
        return {}
    out: dict[str, tuple[str, str]] = {}
    for row in table[table["verdict"] != "holds"].itertuples(index=False):
        cid = str(row.id)
        n = float(row.n_seeds) if row.n_seeds is not None else float("nan")
        if not (np.isfinite(float(row.diff_mean)) and np.isfinite(n) and n > 0):
            continue  # not judged on this profile: the generic diagnosis says why
        if cid.startswith(("otm.t3.", "otm.t4.", "otm.t5.")):
            out[cid] = _diagnose_supervised(row, results, provenance)
        elif cid.startswith("otm.plans_above_chance"):
            out[cid] = _diagnose_plans(row, results)
        elif cid.startswith("otm.t2.aligned_vs_mcca"):
            out[cid] = _diagnose_backbone(row, results)
        elif cid.startswith(("otm.t2.unaligned", "otm.t10.", "otm.mixer_vs_mwae")):
            out[cid] = _diagnose_fused(row, results)
        elif cid.startswith("otm.mechanism."):
            out[cid] = _diagnose_mechanism(row, results)
        elif row.verdict == "not clearly":
            out[cid] = ("spread", _spread_text(row))
        else:
            out[cid] = (
                "data",
                f"{row.claim}: the difference is {float(row.diff_mean):+.3f} ± "
                f"{_f(float(row.diff_se))} over {int(row.n_seeds)} seeds, confidently below zero.",
            )
    return out
