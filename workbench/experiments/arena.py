"""The robustness arena: every method, the same encoders, the same corruptions, one table.

>>> df = run_arena("smoke")                  # the smoke profile of configs/arena.yaml (resumable)
>>> leaderboard(df)                          # mean ± std over seeds, per dataset and method
>>> paper_table(df)                          # the papers' robustness claims checked on the arena
>>> df = run_point("RAML", "mfeat", seed=0, max_epochs=4, embed_dim=32, hidden_dim=64,
...                dataset_options={"views": ["fou", "fac", "kar"]})

- **Methods**: every method and baseline of :func:`workbench.methods.available` that applies
  to a dataset, built by the one registry (:mod:`workbench.methods`). With
  ``encoders="shared"`` (default) every method but WMA gets the *same* encoders: one set per
  point, the ``"auto"`` family of :func:`workbench.models.encoders.encoders_for` (MLP for
  vectors, CNN for images, 1-D CNN for sequences) with output size ``embed_dim``, passed to
  the model's constructor (:func:`shared_encoders`). ``encoders="native"`` keeps each method's
  own encoders (MLP encoders for the MLA paper's fusions). WMA's backbone is a transformer over
  tokens and keeps its own token projections (token-sequence datasets only). What the arena
  adds to the registry is how its sizes map onto each paper's options
  (:func:`method_options`).
- **Corruptions** (:func:`arena_conditions`): per modality, uniform noise on the embeddings
  (``UniformNoise``, WMA Sec. 4.1) at increasing amplitude; Gaussian noise on the inputs
  (``GaussianNoise``, RAML Tab. II) at increasing sigma for image modalities; missing
  modality (``MissingModality``, MLA Fig. 2) at increasing rate; every missing pattern
  (``MissingPattern``, RAML Tab. I, ``2^M - 1`` of them); and unaligned training
  (:func:`workbench.corruptions.unalign` of the training split, OTM Tab. 2), for which each
  method is trained a second time on the unaligned split and tested clean (all are supervised
  and train on per-sample tuples; labels stay with the first modality; validation and test stay
  aligned).
- **One point** (:func:`run_point`): train one method on one dataset with one seed
  (``Trainer(cache=True)``, selection on validation), evaluate it under every condition and
  return the tidy frame of :func:`workbench.evaluation.robustness` plus a ``severity`` column,
  the x-axis of the severity curves. Every setting is an argument, so a profile of
  ``configs/arena.yaml`` (smoke, cpu, full) names all of them in its grid, and
  :func:`run_arena` / ``workbench.experiments.reproduce("arena", profile)`` sweep them with
  :func:`workbench.sweep.run_sweep` (resumable).
- **Summaries**: :func:`severity_curves`, :func:`auc` (trapezoid area under the severity
  curve, normalised by the severity range), relative robustness ``AUC / clean`` and effective
  robustness ``AUC - RR_baseline * clean`` (:func:`robustness_summary`), :func:`leaderboard`
  (mean ± std over seeds), :func:`family_auc` (the workbench side of the claims) and
  :func:`paper_table` (the papers' robustness claims, :data:`CLAIMS`, checked on the arena by
  :func:`workbench.claims.evaluate`).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from .. import corruptions as C
from .. import methods
from ..claims import Claim, evaluate
from ..data.base import MultimodalDataset
from ..data.registry import load_splits
from ..evaluation import robustness
from ..models.base import Method
from ..models.encoders import encoders_for, modality_specs
from ..sweep import Grid, run_sweep
from ..training import Trainer, TrainerConfig
from . import load_profile

__all__ = [
    "CLAIMS",
    "FAMILIES",
    "PAPER_SEVERITIES",
    "arena_conditions",
    "arena_grid",
    "auc",
    "build",
    "effective_robustness",
    "family_auc",
    "family_summary",
    "leaderboard",
    "leaderboard_numeric",
    "method_options",
    "methods_table",
    "paper_table",
    "relative_robustness",
    "robustness_summary",
    "run_arena",
    "run_point",
    "severity_curves",
    "shared_encoders",
    "trapezoid_auc",
]

FAMILIES = ("noise", "gaussian_noise", "missing", "missing_pattern", "unaligned")
"""The corruption families of the arena, in table order (``condition`` values)."""

PAPER_SEVERITIES: Mapping[str, tuple[float, ...]] = {
    "noise": (0.25, 0.5, 1.0, 2.0, 3.0),
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),
    "missing": (0.1, 0.3, 0.5, 0.7),
}
"""The papers' severity grids, per family: ``UniformNoise`` amplitudes on the embeddings (WMA:
up to 3), ``GaussianNoise`` sigmas on image inputs (RAML Tab. II: 0.08-0.38) and
``MissingModality`` rates (MLA Fig. 2: 0.1-0.7). Missing patterns and unaligned training have
no severity to choose."""


# ============================================================================ methods


def _hidden(hidden_dim: int | Sequence[int]) -> tuple[int, ...]:
    if isinstance(hidden_dim, (int, np.integer)):
        return (int(hidden_dim),)
    return tuple(int(h) for h in hidden_dim)


def shared_encoders(
    train: MultimodalDataset,
    embed_dim: int,
    hidden_dim: int | Sequence[int] = 128,
    dropout: float = 0.1,
) -> nn.ModuleDict:
    """The arena's shared encoders for ``train``: one ``"auto"``-family encoder per modality
    (:func:`workbench.models.encoders.encoders_for`), each ``[B, ...] -> [B, embed_dim]``.

    Args:
        train: the training split (modality shapes and kinds).
        embed_dim: output size of every encoder.
        hidden_dim: hidden width(s) of the MLP encoders (``hidden_dim[0]`` is also the channel
            width of the sequence encoders).
        dropout: dropout inside the encoders.
    """
    return encoders_for(
        modality_specs(train),
        int(embed_dim),
        family="auto",
        hidden=_hidden(hidden_dim),
        dropout=float(dropout),
    )


def method_options(
    name: str,
    *,
    embed_dim: int = 64,
    hidden_dim: int | Sequence[int] = 128,
    dropout: float = 0.1,
    encoders: str = "shared",
) -> dict[str, Any]:
    """The options of :func:`workbench.methods.build` that give method ``name`` the arena's sizes.

    - MLA paper (fusions, OGM-GE, QMF, MLA): ``embed_dim``, the MLP ``hidden`` widths,
      ``dropout``; ``encoder="auto"`` (shared) or ``"mlp"`` (native).
    - RAML paper: RAML's encoders and Gaussian heads are ``embed_dim`` wide; its baselines'
      encoders output ``embed_dim`` with ``hidden_dim[0]`` inside.
    - OTM: late fusion with the OT mixer regulariser (``otm_weight=1``, supervised OTM, Eq. 5
      and 7), ``latent_dim = embed_dim``, ``hidden_dim = hidden_dim[0]``.
    - WMA: a transformer backbone with ``d_model = embed_dim``, 4 heads (1 when ``embed_dim``
      is not a multiple of 4) and 2 layers.

    Raises:
        ValueError: an unknown method name.
    """
    paper = methods.spec(name).paper
    d, hidden = int(embed_dim), _hidden(hidden_dim)
    if paper == "mla":
        return {
            "embed_dim": d,
            "hidden": hidden,
            "dropout": float(dropout),
            "encoder": "auto" if encoders == "shared" else "mlp",
        }
    if paper == "raml":
        return {"embed_dim": d, "hidden_dim": d if name == "RAML" else hidden[0]}
    if paper == "otm":
        return {"fusion": "late", "otm_weight": 1.0, "latent_dim": d, "hidden_dim": hidden[0]}
    if paper == "wma":
        return {"d_model": d, "n_heads": 4 if d % 4 == 0 else 1, "n_layers": 2}
    raise ValueError(f"The arena has no sizes for paper {paper!r} (method {name!r}).")


def build(
    name: str,
    train: MultimodalDataset,
    seed: int = 0,
    *,
    embed_dim: int = 64,
    hidden_dim: int | Sequence[int] = 128,
    dropout: float = 0.1,
    encoders: str = "shared",
    **options: Any,
) -> Method:
    """A fresh, untrained method for ``train`` with the arena's sizes and encoders.

    Inside a forked RNG seeded with ``seed`` (:func:`workbench.util.seeded`) the shared
    encoders are drawn first (:func:`shared_encoders`; not for WMA or ``encoders="native"``),
    then the registry's factory builds the rest of the model around them
    (:func:`workbench.methods.spec`), so the whole model is one draw of the seed's stream.

    Args:
        name: a name of :func:`workbench.methods.available`.
        train: the training split (shapes, task).
        seed: seed of the initial weights (the caller's global RNG is left as it was) and of
            the method's own generators (e.g. OGM-GE's noise, OTM's mixer).
        embed_dim, hidden_dim, dropout: the arena's sizes (:func:`method_options`).
        encoders: ``"shared"`` or ``"native"``.
        **options: further method options (e.g. ``lambda_u`` for RAML, ``alpha`` for WMA);
            they override the arena's.

    Raises:
        ValueError: an unknown name, a method that does not apply to ``train``, or an unknown
            ``encoders``.
    """
    if encoders not in ("shared", "native"):
        raise ValueError(f"arena.build(encoders={encoders!r}); expected 'shared' or 'native'.")
    spec = methods.spec(name)
    opts = {**method_options(name, embed_dim=embed_dim, hidden_dim=hidden_dim,
                             dropout=dropout, encoders=encoders), **options}  # fmt: skip
    share = encoders == "shared" and spec.paper != "wma"
    # The shared encoders are drawn first inside build's seeded scope; the model's own weights
    # continue the seed's stream after them.
    return methods.build(
        name,
        train,
        encoders=(lambda: shared_encoders(train, embed_dim, hidden_dim, dropout))
        if share
        else None,
        seed=int(seed),
        **opts,
    )


# ============================================================================ conditions


def _is_image(dataset: MultimodalDataset, m: str) -> bool:
    return not dataset.is_sequence(m) and len(dataset.modality_shape(m)) == 3


def _severities(severities: Mapping[str, Sequence[float]] | None) -> dict[str, tuple[float, ...]]:
    out = {k: tuple(v) for k, v in PAPER_SEVERITIES.items()}
    unknown = sorted(set(severities or {}) - set(out))
    if unknown:
        raise ValueError(f"Unknown severity families {unknown}; expected some of {sorted(out)}.")
    out.update({k: tuple(float(x) for x in v) for k, v in (severities or {}).items()})
    return out


def _families(families: Sequence[str] | None) -> tuple[str, ...]:
    families = tuple(FAMILIES if families is None else families)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"Unknown corruption families {unknown}; expected a subset of {FAMILIES}.")
    return families


def arena_conditions(
    dataset: MultimodalDataset,
    severities: Mapping[str, Sequence[float]] | None = None,
    families: Sequence[str] | None = None,
) -> list[list[C.Corruption]]:
    """The test conditions of the arena for ``dataset`` (clean first).

    Args:
        dataset: the test split (its modalities and their kinds).
        severities: ``family -> levels`` for ``"noise"`` (amplitudes), ``"gaussian_noise"``
            (sigmas) and ``"missing"`` (rates); a family not given keeps
            :data:`PAPER_SEVERITIES`.
        families: subset of :data:`FAMILIES` (``"unaligned"`` is a training condition and
            adds nothing here).

    Returns:
        Conditions for :func:`workbench.evaluation.robustness`: ``[]`` (clean), then per
        modality ``UniformNoise`` (embedding level) at each amplitude, ``GaussianNoise`` (input
        level) at each sigma where the modality is an image ``[C, H, W]``, ``MissingModality``
        at each rate, then every ``MissingPattern`` but the full one.
    """
    levels = _severities(severities)
    families = _families(families)
    out: list[list[C.Corruption]] = [[]]
    for m in dataset.modalities:
        if "noise" in families:
            out += [[C.UniformNoise(m, amplitude=a, level="embedding")] for a in levels["noise"]]
        if "gaussian_noise" in families and _is_image(dataset, m):
            out += [[C.GaussianNoise(m, sigma=s, level="input")] for s in levels["gaussian_noise"]]
        if "missing" in families:
            out += [[C.MissingModality(m, rate=r, level="embedding")] for r in levels["missing"]]
    if "missing_pattern" in families:
        out += [
            [C.MissingPattern(pattern)]
            for pattern in C.all_missing_patterns(dataset.modalities)[:-1]
        ]
    return out


def _severity(row: Mapping[str, Any], n_modalities: int) -> float:
    if row["condition"] == "missing_pattern":  # severity = fraction of modalities dropped
        return (n_modalities - float(row["level"])) / n_modalities
    return float(row["level"])


# ============================================================================ one point


def _in_worker() -> bool:
    return multiprocessing.parent_process() is not None


def run_point(
    method: str,
    dataset: str,
    seed: int = 0,
    *,
    max_epochs: int = 30,
    patience: int | None = 5,
    batch_size: int = 64,
    lr: float = 1e-3,
    embed_dim: int = 64,
    hidden_dim: int | Sequence[int] = 128,
    dropout: float = 0.1,
    severities: Mapping[str, Sequence[float]] | None = None,
    families: Sequence[str] | None = None,
    encoders: str = "shared",
    data_root: str | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    method_options: Mapping[str, Any] | None = None,
    trainer_options: Mapping[str, Any] | None = None,
    device: str = "auto",
    threads: int | None = None,
    cache: bool = True,
    splits: Mapping[str, MultimodalDataset] | None = None,
) -> pd.DataFrame:
    """Train one method on one dataset with one seed and evaluate it under every condition.

    Importable as ``"workbench.experiments.arena:run_point"`` for
    :func:`workbench.sweep.run_sweep`; every argument but ``splits`` is a JSON value, and the
    defaults are the ``full`` profile's.

    Args:
        method: a method name (:func:`workbench.methods.available`).
        dataset: a registered dataset name (:func:`workbench.data.registry.available`).
        seed: the training seed (initial weights, shuffling) and the corruption seed.
        max_epochs, patience, batch_size, lr: the :class:`~workbench.training.TrainerConfig`.
        embed_dim, hidden_dim, dropout: the sizes of every method (:func:`method_options`).
        severities: ``family -> levels`` (:func:`arena_conditions`; default
            :data:`PAPER_SEVERITIES`).
        families: corruption families to run (default all of :data:`FAMILIES`).
        encoders: ``"shared"`` or ``"native"`` (:func:`build`).
        data_root: folder of a real dataset (``None`` for the embedded ones).
        dataset_options: builder options, e.g. ``{"views": ["fou", "fac", "kar"]}`` for mfeat.
        method_options: further method options (:func:`build`).
        trainer_options: overrides of the :class:`~workbench.training.TrainerConfig` (after
            the method's own, :attr:`workbench.methods.MethodSpec.trainer`).
        device: training device (``"auto"``: CUDA when available).
        threads: torch intra-op threads; default 1 inside a sweep worker process (small models
            run faster single-threaded when several workers share the cores), else unchanged.
        cache: re-use trained weights (``Trainer(cache=True)``).
        splits: ready ``{"train", "validation", "test"}`` datasets instead of loading
            ``dataset`` (tests; ``dataset`` is then only a label).

    Returns:
        The tidy frame of :func:`workbench.evaluation.robustness` (``method, dataset,
        condition, modality, level, metric, seed, value, detail``) plus ``severity`` (the
        x-axis of the severity curve: ``level``, or for a missing pattern the fraction of
        modalities dropped, 1 for unaligned training). Unaligned training adds one row per
        metric: ``condition="unaligned"``, ``modality`` the permuted modalities, level 1.
        ``best_epoch``, ``max_epochs`` and ``stopped_early`` say how the model of the row
        trained (for :func:`workbench.experiments.convergence`).
    """
    if threads is None and _in_worker():
        threads = 1
    if threads is not None:
        torch.set_num_threads(int(threads))
    if splits is None:
        splits = load_splits(dataset, data_root, **dict(dataset_options or {}))
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    spec = methods.spec(method)
    config = TrainerConfig(
        max_epochs=int(max_epochs),
        patience=None if patience is None else int(patience),
        batch_size=int(batch_size),
        lr=float(lr),
        seed=int(seed),
        device=device,
        progress=False,
    )
    overrides = {**dict(spec.trainer or {}), **dict(trainer_options or {})}
    config = dataclasses.replace(config, **overrides)
    sizes = {"embed_dim": embed_dim, "hidden_dim": hidden_dim, "dropout": dropout}

    def fit(train_split: MultimodalDataset) -> tuple[Method, dict[str, Any]]:
        model = build(
            method, train_split, seed, encoders=encoders, **sizes, **dict(method_options or {})
        )
        trainer = Trainer(config, cache=cache)
        model = trainer.fit(model, train_split, validation)
        return model, {
            "best_epoch": int(trainer.best_epoch_),
            "max_epochs": int(config.max_epochs),
            "stopped_early": bool(trainer.stopped_early_),
        }

    families = _families(families)
    conditions = arena_conditions(test, severities, families)
    model, fitted = fit(train)
    df = robustness({method: {int(seed): model}}, test, conditions, seeds=(int(seed),))
    df = df.assign(**fitted)
    if "unaligned" in families:
        shuffled = C.unalign(train, generator=torch.Generator().manual_seed(int(seed)))
        # A distinct split name keeps the Trainer cache keys of the aligned and the unaligned
        # runs apart whatever the data fingerprint makes of a row permutation.
        shuffled.split = f"{train.split}-unaligned"
        model_u, fitted_u = fit(shuffled)
        du = robustness({method: {int(seed): model_u}}, test, None, seeds=(int(seed),))
        mods = "+".join(train.modalities[1:])
        du = du.assign(
            condition="unaligned",
            modality=mods,
            level=1.0,
            detail=f"unalign({mods}) of train",
            **fitted_u,
        )
        df = pd.concat([df, du], ignore_index=True)
    df["dataset"] = dataset
    n = len(test.modalities)
    df["severity"] = [_severity(r, n) for r in df[["condition", "level"]].to_dict("records")]
    return df


# ============================================================================ sweeps


def arena_grid(
    profile: str = "smoke",
    *,
    datasets: str | Sequence[str] | None = None,
    data_root: str | None = None,
    device: str | None = None,
    seed: int = 0,
) -> Grid:
    """The sweep grid of an arena profile (``configs/arena.yaml``), with a notebook's overrides.

    Without overrides this is the profile's grid, point for point, so a notebook and
    ``workbench reproduce arena --profile P`` share one store and never recompute each
    other's points.

    Args:
        profile: ``"smoke"``, ``"cpu"`` or ``"full"``.
        datasets: keep these datasets (a list or a comma-separated string); one the profile
            does not name is added with default options.
        data_root: folder of a real dataset, set on every point.
        device: training device of every point (``None``: the profile's).
        seed: shift of the profile's seeds (0: the profile's seeds).

    Raises:
        ValueError: an unknown profile.
    """
    prof = load_profile("arena", profile)
    axes = dict(prof.grid.axes)
    points = [dict(p) for p in prof.grid.points] or [{}]
    if datasets is not None:
        names = (
            [d.strip() for d in datasets.split(",")]
            if isinstance(datasets, str)
            else list(datasets)
        )
        names = [d for d in names if d]
        if "dataset" in axes:
            axes["dataset"] = tuple(names)
        else:
            known = {p.get("dataset"): p for p in points}
            points = [known.get(d, {"dataset": d}) for d in names]
    if data_root is not None:
        axes["data_root"] = (str(data_root),)
    if device is not None and (device != "auto" or "device" in axes):
        axes["device"] = (str(device),)
    if seed:
        axes["seed"] = tuple(int(s) + int(seed) for s in axes.get("seed", (0,)))
    return Grid(axes, [p for p in points if p])


def run_arena(
    profile: str = "smoke",
    *,
    datasets: str | Sequence[str] | None = None,
    data_root: str | None = None,
    device: str | None = None,
    seed: int = 0,
    store: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    log: Callable[[str], None] | None = None,
    skip_inapplicable: bool = True,
) -> pd.DataFrame:
    """Run (or resume) an arena profile as a sweep and return its tidy frame.

    Points already in the store are not recomputed (:func:`workbench.sweep.run_sweep`); a point
    whose method does not apply to its dataset (e.g. WMA on image data) fails with a clear
    error and, with ``skip_inapplicable``, is simply absent from the frame.

    Args:
        profile, datasets, data_root, device, seed: see :func:`arena_grid`.
        store: the store folder (default ``<outputs>/sweeps/arena_<profile>``, the store of
            ``workbench.experiments.reproduce("arena", profile)``).
        n_jobs: worker processes (default: the profile's).
        log: called with one line per finished point (e.g. ``print``).

    Returns:
        The tidy frame of every finished point of the grid (see :func:`run_point`).

    Raises:
        RuntimeError: a point failed for another reason than applicability.
    """
    prof = load_profile("arena", profile)
    grid = arena_grid(profile, datasets=datasets, data_root=data_root, device=device, seed=seed)
    target = prof.default_store if store is None else store
    summary = run_sweep(
        prof.function, grid, target, prof.n_jobs if n_jobs is None else n_jobs, log=log
    )
    failures = {
        rid: msg
        for rid, msg in summary.failed.items()
        if not (skip_inapplicable and "does not apply to dataset" in msg)
    }
    if failures:
        first = next(iter(failures.values()))
        raise RuntimeError(
            f"{len(failures)} arena point(s) failed (first: {first}); see the .error.json files in "
            f"{summary.store.path}."
        )
    df = summary.load()
    keep = [c for c in (*_ROW_COLUMNS, "severity", "detail") if c in df.columns]
    return df[keep]


_ROW_COLUMNS = ("method", "dataset", "condition", "modality", "level", "metric", "seed", "value")


def methods_table(grid: Grid, *, data_root: str | None = None) -> pd.DataFrame:
    """Every registered method, its paper, role and note, and whether it applies to each dataset
    of ``grid`` (its training split is loaded to check); ``in_grid`` marks the methods swept.

    Args:
        grid: an arena grid (:func:`arena_grid`): its points name ``dataset`` and
            ``dataset_options``.
        data_root: folder of a real dataset (``None`` for the embedded ones).
    """
    datasets: dict[str, MultimodalDataset] = {}
    for p in grid:
        if p["dataset"] not in datasets:
            root = p.get("data_root", data_root)
            splits = load_splits(p["dataset"], root, **dict(p.get("dataset_options") or {}))
            datasets[p["dataset"]] = splits["train"]
    swept = {p["method"] for p in grid}
    rows = []
    for name in methods.available():
        s = methods.spec(name)
        row = {"method": name, "paper": s.paper, "role": s.role, "note": s.note}
        row.update({d: bool(s.applies(train)) for d, train in datasets.items()})
        rows.append({**row, "in_grid": name in swept})
    return pd.DataFrame(rows)


# ============================================================================ summaries


def trapezoid_auc(
    severity: Sequence[float], value: Sequence[float], *, normalize: bool = True
) -> float:
    r"""Area under a severity curve by the trapezoid rule.

    .. math:: \mathrm{AUC} = \frac{1}{s_K - s_0}\sum_{k=1}^{K} (s_k - s_{k-1})\frac{v_k + v_{k-1}}{2}

    Args:
        severity: ``[K+1]`` severities (sorted here; the clean point is severity 0).
        value: ``[K+1]`` scores at those severities.
        normalize: divide by the severity range, so the AUC is in the metric's units (the mean
            score over the range; equal to the clean score for a flat curve).

    Returns:
        The area (``value[0]`` for a single point).
    """
    s = np.asarray(severity, dtype=float)
    v = np.asarray(value, dtype=float)
    if s.shape != v.shape or s.ndim != 1 or s.size == 0:
        raise ValueError(
            f"trapezoid_auc(): severity and value must be 1-d of the same non-zero length; got {s.shape} and {v.shape}."
        )
    order = np.argsort(s, kind="stable")
    s, v = s[order], v[order]
    if s.size == 1:
        return float(v[0])
    area = float(np.sum(np.diff(s) * (v[1:] + v[:-1]) / 2.0))
    width = float(s[-1] - s[0])
    if not normalize:
        return area
    if width <= 0:
        return float(v.mean())
    return area / width


def relative_robustness(auc_value, clean):
    """Relative robustness ``AUC / clean`` (1: no loss under the corruption family)."""
    return np.asarray(auc_value, dtype=float) / np.asarray(clean, dtype=float)


def effective_robustness(auc_value, clean, baseline_auc, baseline_clean):
    """Effective robustness: the AUC above what the baseline's relative robustness predicts.

    .. math:: \\mathrm{ER} = \\mathrm{AUC} - \\frac{\\mathrm{AUC}_b}{\\mathrm{clean}_b}\\,\\mathrm{clean}

    (a baseline "trend" through the origin with the baseline's slope, after Taori et al.,
    2020); 0 for the baseline itself, > 0 when a method keeps more of its clean score than the
    baseline (late fusion by default) does.
    """
    return np.asarray(auc_value, dtype=float) - relative_robustness(
        baseline_auc, baseline_clean
    ) * np.asarray(clean, dtype=float)


_KEYS = ["method", "dataset", "metric", "seed"]


def _with_severity(df: pd.DataFrame) -> pd.DataFrame:
    if "severity" in df.columns:
        return df
    n = df.loc[df["condition"] == "missing_pattern", "modality"].str.count(r"\+").max()
    n_mod = int(n) + 2 if pd.notna(n) else 1  # largest tested pattern keeps M - 1 modalities
    out = df.copy()
    out["severity"] = [_severity(r, n_mod) for r in df[["condition", "level"]].to_dict("records")]
    return out


def severity_curves(df: pd.DataFrame) -> pd.DataFrame:
    """Per-seed severity curves, anchored at the clean score (severity 0).

    Missing patterns are averaged over the patterns of equal size (``modality = "all"``);
    every curve gets the clean point of its method, dataset, metric and seed at severity 0.

    Args:
        df: an arena frame (:func:`run_point` / :func:`run_arena`).

    Returns:
        Columns ``method, dataset, condition, modality, metric, seed, severity, value``.
    """
    df = _with_severity(df)
    clean = df[df["condition"] == "normal"]
    if clean.empty:
        raise ValueError("severity_curves(): the frame has no clean (condition == 'normal') rows.")
    rest = df[df["condition"] != "normal"].copy()
    rest.loc[rest["condition"] == "missing_pattern", "modality"] = "all"
    keys = [*_KEYS, "condition", "modality", "severity"]
    curves = rest.groupby(keys, sort=False)["value"].mean().reset_index()
    anchors = curves[[*_KEYS, "condition", "modality"]].drop_duplicates()
    anchors = anchors.merge(clean[[*_KEYS, "value"]], on=_KEYS, how="inner").assign(severity=0.0)
    out = pd.concat([anchors, curves], ignore_index=True)
    return (
        out[[*_KEYS[:2], "condition", "modality", "metric", "seed", "severity", "value"]]
        .sort_values(
            ["dataset", "method", "condition", "modality", "seed", "severity"], kind="stable"
        )
        .reset_index(drop=True)
    )


def auc(df: pd.DataFrame, *, normalize: bool = True) -> pd.DataFrame:
    """Area under each severity curve (:func:`trapezoid_auc`), per method x dataset x corruption
    family x modality x metric x seed, with the clean score next to it.

    Returns:
        Columns ``method, dataset, condition, modality, metric, seed, clean, auc``.
    """
    curves = severity_curves(df)
    keys = ["method", "dataset", "condition", "modality", "metric", "seed"]
    rows = []
    for key, part in curves.groupby(keys, sort=False):
        clean = part.loc[part["severity"] == 0.0, "value"].mean()
        rows.append(
            {
                **dict(zip(keys, key)),
                "clean": float(clean),
                "auc": trapezoid_auc(part["severity"], part["value"], normalize=normalize),
            }
        )
    return pd.DataFrame(rows, columns=[*keys, "clean", "auc"])


def robustness_summary(df: pd.DataFrame, baseline: str = "Late Fusion") -> pd.DataFrame:
    """AUC, relative robustness and effective robustness per seed.

    Args:
        df: an arena frame.
        baseline: the method effective robustness is measured against (late fusion, as in
            the issue); its relative robustness is averaged over seeds per dataset, family,
            modality and metric. ``effective`` is NaN where the baseline was not run.

    Returns:
        The columns of :func:`auc` plus ``relative`` (``auc / clean``) and ``effective``.
    """
    out = auc(df)
    out["relative"] = relative_robustness(out["auc"], out["clean"])
    keys = ["dataset", "condition", "modality", "metric"]
    base = out[out["method"] == baseline]
    slope = base.groupby(keys, sort=False)["relative"].mean().rename("_baseline_rr").reset_index()
    out = out.merge(slope, on=keys, how="left")
    out["effective"] = out["auc"] - out["_baseline_rr"] * out["clean"]
    return out.drop(columns="_baseline_rr")


def _family_means(summary: pd.DataFrame) -> pd.DataFrame:
    """Per seed: clean, the AUC of each family (mean over modalities), mean relative and
    effective robustness over families."""
    keys = ["dataset", "method", "metric", "seed"]
    fam = summary.groupby([*keys, "condition"], sort=False)[["auc", "relative", "effective"]].mean()
    wide = fam["auc"].unstack("condition")
    order = [f for f in FAMILIES if f in wide.columns]
    wide = wide[order]
    over = fam.groupby(level=keys, sort=False)[["relative", "effective"]].mean()
    clean = summary.groupby(keys, sort=False)["clean"].first()
    out = pd.concat([clean, wide, over], axis=1)
    out["mean_auc"] = wide.mean(axis=1)
    return out.reset_index()


def leaderboard_numeric(df: pd.DataFrame, baseline: str = "Late Fusion") -> pd.DataFrame:
    """The leaderboard as numbers: ``(dataset, method)`` x (``mean``/``std`` over seeds,
    column), columns ``clean``, one AUC per family, ``mean_auc``, ``relative``, ``effective``;
    rows sorted by ``mean_auc`` within each dataset."""
    per_seed = _family_means(robustness_summary(df, baseline))
    cols = [c for c in per_seed.columns if c not in ("dataset", "method", "metric", "seed")]
    g = per_seed.groupby(["dataset", "method"], sort=False)[cols]
    mean, std = g.mean(), g.std(ddof=1).fillna(0.0)
    mean = mean.sort_values(["dataset", "mean_auc"], ascending=[True, False], kind="stable")
    std = std.loc[mean.index]
    return pd.concat({"mean": mean, "std": std}, axis=1)


def leaderboard(
    df: pd.DataFrame, baseline: str = "Late Fusion", fmt: str = "{:.3f}"
) -> pd.DataFrame:
    """The arena leaderboard: ``"mean ± std"`` over seeds per dataset and method.

    Columns: ``clean`` (the clean score), the normalised AUC of each corruption family (mean
    over modalities), ``mean_auc`` (mean over families; the ranking key), ``relative``
    (relative robustness, mean over families) and ``effective`` (effective robustness against
    ``baseline``), and ``rank`` within the dataset.
    """
    num = leaderboard_numeric(df, baseline)
    mean, std = num["mean"], num["std"]
    out = pd.DataFrame(index=mean.index)
    for c in mean.columns:
        out[c] = [
            "" if pd.isna(m) else f"{fmt.format(m)} ± {fmt.format(s)}"
            for m, s in zip(mean[c], std[c])
        ]
    out["rank"] = (
        mean.groupby(level="dataset")["mean_auc"].rank(ascending=False, method="min").astype(int)
    )
    return out


def family_summary(df: pd.DataFrame, baseline: str = "Late Fusion") -> pd.DataFrame:
    """AUC, relative and effective robustness per dataset, method and corruption family: the
    per-seed mean over the family's modalities, then ``mean`` and ``std`` over seeds.

    Returns:
        Index ``(dataset, method)``; columns ``(measure, statistic, condition)`` with measure in
        ``auc, relative, effective`` and statistic in ``mean, std``.
    """
    summary = robustness_summary(df, baseline)
    per_seed = summary.groupby(["dataset", "method", "condition", "seed"], sort=False)[
        ["auc", "relative", "effective"]
    ].mean()
    stats = per_seed.groupby(level=["dataset", "method", "condition"], sort=False).agg(
        ["mean", "std"]
    )
    return stats.unstack("condition")


# ============================================================================ paper claims


def family_auc(df: pd.DataFrame) -> pd.DataFrame:
    """The workbench side of the arena's claims: per method, dataset, corruption family, metric
    and seed, the normalised AUC (:func:`auc`) averaged over the family's modalities.

    Returns:
        Columns ``method, dataset, condition, metric, seed, value`` (``value`` = the AUC).
    """
    keys = ["method", "dataset", "condition", "metric", "seed"]
    if df.empty:
        return pd.DataFrame(columns=[*keys, "value"])
    per_family = auc(df).groupby(keys, sort=False)["auc"].mean()
    return per_family.rename("value").reset_index()


def _beats(
    key: str, paper: str, table: str, family: str, method: str, against: str, reference: dict,
    paper_against: str | None = None,
) -> Claim:  # fmt: skip
    return Claim(
        id=f"arena.{key}",
        text=f"{method} beats {paper_against or against} under {family.replace('_', ' ')}",
        paper=paper,
        table=table,
        kind="ordering",
        method=method,
        against=(against,),
        where={"condition": family},
        reference={"table": table, "condition": family, **reference},
        paper_against=None if paper_against is None else (paper_against,),
        pair_on=("dataset",),
    )


CLAIMS: tuple[Claim, ...] = (
    _beats("mla_vs_late_fusion.missing", "mla", "2", "missing", "MLA", "Late Fusion", {}),
    _beats("qmf_vs_late_fusion.missing", "mla", "2", "missing", "QMF", "Late Fusion", {}),
    _beats(
        "raml_vs_concat.missing_pattern", "raml", "I", "missing_pattern", "RAML", "Concat",
        {"modality": "average"}, paper_against="Concat Fusion",
    ),
    _beats(
        "raml_vs_mmin.missing_pattern", "raml", "I", "missing_pattern", "RAML", "MMIN",
        {"modality": "average"},
    ),
    _beats(
        "tmc_vs_concat.missing_pattern", "raml", "I", "missing_pattern", "TMC", "Concat",
        {"modality": "average"}, paper_against="Concat Fusion",
    ),
)  # fmt: skip
"""The papers' robustness claims "A beats B under corruption family F", checked on the arena.

Paper side (:func:`workbench.claims.evaluate`): A - B over the printed cells of MLA Table 2
(IEMOCAP, every missing rate) and RAML Table I (the pattern average of each dataset). Workbench
side: A - B in normalised AUC of family F (:func:`family_auc`), per dataset, averaged within
each seed. The arena's ``Concat`` (the MLA paper's concatenation baseline, joint training) plays
RAML's "Concat Fusion"."""


def paper_table(results: pd.DataFrame, *, profile: str | None = None) -> pd.DataFrame:
    """The papers' robustness claims (:data:`CLAIMS`) checked on the arena's tidy results.

    Args:
        results: an arena frame (:func:`run_arena`, or the results of
            ``workbench.experiments.reproduce("arena", profile)``).
        profile: the profile the results come from (a column of the table).

    Returns:
        :func:`workbench.claims.evaluate`'s table, one row per claim; a claim whose methods the
        profile did not run is ``not clearly`` and says so.
    """
    return evaluate(CLAIMS, {"main": family_auc(results)}, profile=profile)
