"""The RAML paper's experiment: missing patterns, corruption grids, ablations, paper table.

One grid point of ``configs/raml.yaml`` is one trained model (a method or an ablation variant,
one seed), its epoch selected on the validation split under the pattern distribution of its
training (all missing patterns, :func:`pattern_validation`, for every model trained with the
pattern augmentation; complete samples for Concat Fusion and the full-modality variants), and
its evaluation (:func:`run_point`):

- Table I: every missing pattern ({I}, {A}, {I,A}, ...) and the average over patterns
  (:func:`evaluate_patterns`; condition ``missing_pattern``, modality the pattern label);
- Tables II-III (``role="main"`` points): Gaussian noise σ on the image modality, masking p on
  the sequence modality, and both at once (:func:`corruption_conditions`);
- Tables IV-VI and Fig. 4 (``role="ablation"`` points): the variants of
  :func:`ablation_variants`, evaluated on every missing pattern. Variants equal to a main model
  are not retrained: "Concat Fusion (full-modality)" is Concat Fusion and λ = 1 is RAML.

:func:`paper_table` checks :data:`CLAIMS` with :func:`workbench.claims.evaluate` (the paper
side read from ``workbench/reference/raml.csv``). Fig. 5's weights come from
:func:`weights_by_level` and :func:`mean_weights`; Fig. 4's λ curve from :func:`lambda_frame`.
:func:`diagnose` says why each claim of the committed results that does not hold does not
(budget, spread or data, with numbers computed from the results and their provenance).

The ``synthetic`` profile tests the mechanism itself on data built for it
(:func:`run_synthetic_point`): the knob is the redundancy between the two modalities
(:func:`synthetic_options`), RAML is paired per seed with Concat Fusion, identical weights and
MMVAE under one missing or one noisy modality (:func:`advantage`, :data:`SYNTHETIC_CLAIMS`),
and :func:`synthetic_weights` probes whether the fusion weights move away from the noise.

>>> from workbench.experiments import load_profile, raml
>>> profile = load_profile("raml", "smoke")
>>> results = raml.run(profile)                 # resumable sweep of the profile's points
>>> raml.paper_table(results, profile="smoke")
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import corruptions as C
from .. import methods
from ..claims import Claim, evaluate, paired_differences, verdict
from ..data import load_splits
from ..data.base import MultimodalDataset
from ..evaluation import paper_vs_workbench, robustness
from ..methods.raml import RAML, RAMLConfig, element_weights
from ..models.base import Method
from ..reference import load_reference
from ..sweep import Grid, ResultStore, run_sweep
from ..training import Trainer, TrainerConfig
from ..util import torch_threads
from . import Profile
from .evidence import seed_summary, seeds_needed

__all__ = [
    "CLAIMS",
    "SYNTHETIC_CLAIMS",
    "Fitted",
    "advantage",
    "advantage_by_seed",
    "ADVANTAGE_PLOT",
    "abbreviations",
    "ablation_variants",
    "ablation_frame",
    "add_pattern_average",
    "corruption_conditions",
    "corruption_modalities",
    "corrupted_weights",
    "diagnose",
    "evaluate_patterns",
    "fit_point",
    "grid_for",
    "lambda_frame",
    "load_data",
    "mean_weights",
    "paper_table",
    "reference",
    "pattern_conditions",
    "pattern_label",
    "pattern_validation",
    "run",
    "trains_on_patterns",
    "run_point",
    "run_synthetic_point",
    "synthetic_options",
    "synthetic_table",
    "synthetic_weights",
    "table_one",
    "train_models",
    "trained",
    "weights_by_level",
]

REFERENCE_DATASET = "Food-101"
"""The paper's two-modality (image + text) dataset whose tables the claims are checked against."""


# ----------------------------------------------------------------------------- patterns
def abbreviations(modalities: Sequence[str]) -> dict[str, str]:
    """Short names for pattern labels: the capitalised initial when initials are unique
    (``image, audio -> I, A``), else the full names."""
    initials = [m[:1].upper() for m in modalities]
    if len(set(initials)) == len(initials):
        return dict(zip(modalities, initials))
    return {m: m for m in modalities}


def pattern_label(pattern: Sequence[bool], modalities: Sequence[str]) -> str:
    """``"{I,T}"``-style label of the modalities *available* in ``pattern`` (as in Table I)."""
    short = abbreviations(modalities)
    return "{" + ",".join(short[m] for m, keep in zip(modalities, pattern) if bool(keep)) + "}"


def pattern_conditions(modalities: Sequence[str]) -> dict[str, C.Corruption]:
    """``{label: corruption}`` for all 2^M - 1 test patterns of Table I."""
    return {
        pattern_label([m in kept for m in modalities], modalities): C.MissingPattern(pattern=kept)
        for kept in C.all_missing_patterns(modalities)
    }


def add_pattern_average(df: pd.DataFrame) -> pd.DataFrame:
    """Append Table I's ``average`` column: the mean over patterns per method, dataset, metric, seed."""
    rows = df[df["condition"] == "missing_pattern"]
    keys = ["method", "dataset", "metric", "seed"]
    avg = rows.groupby(keys, sort=False)["value"].mean().reset_index()
    avg["condition"], avg["modality"], avg["level"] = "missing_pattern", "average", 0.0
    return pd.concat([df, avg[df.columns.intersection(avg.columns)]], ignore_index=True)


def evaluate_patterns(
    models: Mapping[str, Mapping[int, Method]],
    dataset: MultimodalDataset,
    metrics: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Table I as a tidy frame: each model under every missing pattern, plus the average.

    Args:
        models: ``{method name: {seed: trained model}}``.
        dataset: the test split.
        metrics: metric names (default the dataset's).

    Returns:
        Columns of :func:`workbench.evaluation.robustness`; ``condition="missing_pattern"`` and
        ``modality`` the pattern label (``"{I}"``, ..., ``"average"``).
    """
    conds = pattern_conditions(dataset.modalities)
    df = robustness(models, dataset, conds, metrics)
    df["modality"] = df["condition"]
    df["condition"] = "missing_pattern"
    return add_pattern_average(df)


# ----------------------------------------------------------------------------- corruptions
def corruption_modalities(dataset: MultimodalDataset) -> tuple[str | None, str | None]:
    """``(image, sequence)``: the first image modality (``[C, H, W]``), which receives Gaussian
    noise, and the first variable-length modality, which receives masking (Tables II-III);
    ``None`` where the dataset has none."""
    image = next((m for m in dataset.modalities if len(dataset.modality_shape(m)) == 3), None)
    sequence = next((m for m in dataset.modalities if dataset.is_sequence(m)), None)
    return image, sequence


def corruption_conditions(
    image: str | None,
    sequence: str | None,
    *,
    sigmas: Iterable[float],
    ps: Iterable[float],
    fixed_p: float = 0.1,
    fixed_sigma: float = 0.18,
) -> dict[str, dict[str, list]]:
    """The corruption grids of Tables II-III.

    Args:
        image: the modality receiving Gaussian noise σ (``None``: skip those grids).
        sequence: the modality receiving word/frame masking p (``None``: skip those grids).
        sigmas, ps: the swept levels (the paper: σ 0.08-0.38, p 0.05-0.25; ``configs/raml.yaml``).
        fixed_p, fixed_sigma: the other corruption's level in Table III (p = 0.1 when σ is
            swept, σ = 0.18 when p is swept, as the caption says).

    Returns:
        ``{"noise": {label: [corruption]}, "mask": ..., "noise+mask": ..., "mask+noise": ...}``
        (only the grids whose modality is given).
    """
    sigmas, ps = list(sigmas), list(ps)
    grids: dict[str, dict[str, list]] = {}
    if image is not None:
        grids["noise"] = {
            f"sigma={s:g}": [C.GaussianNoise(modality=image, sigma=s)] for s in sigmas
        }
    if sequence is not None:
        grids["mask"] = {f"p={p:g}": [C.WordMask(modality=sequence, p=p)] for p in ps}
    if image is not None and sequence is not None:
        grids["noise+mask"] = {
            f"sigma={s:g};p={fixed_p:g}": [
                C.GaussianNoise(modality=image, sigma=s),
                C.WordMask(modality=sequence, p=fixed_p),
            ]
            for s in sigmas
        }
        grids["mask+noise"] = {
            f"sigma={fixed_sigma:g};p={p:g}": [
                C.GaussianNoise(modality=image, sigma=fixed_sigma),
                C.WordMask(modality=sequence, p=p),
            ]
            for p in ps
        }
    return grids


_EVALUATION = ("role", "metrics", "sigmas", "ps", "fixed_sigma", "fixed_p", "threads")
"""The settings of :func:`run_point` that do not change the trained model."""
_GRID_TABLE = {"noise": "II", "mask": "II", "noise+mask": "III-top", "mask+noise": "III-bottom"}
_GRID_SWEPT = {"noise": "sigma", "mask": "p", "noise+mask": "sigma", "mask+noise": "p"}


def _swept_level(label: str, key: str) -> float:
    pairs = dict(part.split("=") for part in label.split(";"))
    return float(pairs[key])


# ----------------------------------------------------------------------------- ablations
def ablation_variants(
    options: Mapping[str, Any],
    *,
    full: bool = True,
    lambdas: Iterable[float] = (),
    lambda_d_unit: float = 1.0,
) -> tuple[dict[str, tuple[str, dict[str, Any]]], dict[str, str]]:
    """The ablation models of Tables IV-VI and Fig. 4 as :func:`train_models` specs.

    Every ablation of the paper is a training-time change (Table IV trains on complete
    samples; Table V trains RAML with identical or learned fixed weights; Table VI drops loss
    terms; Fig. 4 trains separate predictors or other λ), so each variant is its own run.
    Variants whose configuration equals a main model of Table I are not retrained but named
    as aliases: ``"Concat Fusion (full-modality)"`` is Concat Fusion (it never sees missing
    patterns) and λ = 1 is RAML with its defaults λ1 = 1, λ2 = 1 (λ2 weighs the D-normalised
    L^D of :func:`workbench.methods.raml.sparsity_loss`, so the paper's values are used as they
    are).

    Args:
        options: the main models' options (``embed_dim``, ``hidden_dim``, ``sequence_encoder``, ...).
        full: the paper's full set. ``False`` keeps one variant per comparison: Table IV only
            RAML (full-modality) against Concat Fusion, Table VI only L^M + L^D (the "without
            L^U" row the paper discusses); Tables V and Fig. 4 (left) are kept whole.
        lambdas: the λ values of Fig. 4 (right); λ1 = ``lam`` and λ2 = ``lam * lambda_d_unit``.
        lambda_d_unit: the x-axis unit of the λ2 curve (1: λ2 = ``lam``, the paper's values on
            the D-normalised L^D; 1/D would give the same weights on the summed l1 norm).

    Returns:
        ``(specs, aliases)``: ``{label: (method name, options)}`` to train and
        ``{label: main model label}`` for the variants that re-use a main model.
    """
    opts = dict(options)
    no_aug = dict(opts, pattern_augmentation=False)
    full_modality = ("RAML", "TMC", "MD", "ETMC") if full else ("RAML",)
    specs: dict[str, tuple[str, dict[str, Any]]] = {
        f"{m} (full-modality)": (m, no_aug) for m in full_modality
    }
    aliases = {"Concat Fusion (full-modality)": "Concat Fusion"}
    specs["Identical"] = ("RAML", dict(opts, weighting="identical"))
    specs["Fixed"] = ("RAML", dict(opts, weighting="fixed"))
    losses = {"L_M=1;L_U=0;L_D=1": dict(opts, lambda_u=0.0)}
    if full:
        losses = {
            "L_M=1;L_U=0;L_D=0": dict(opts, lambda_u=0.0, lambda_d=0.0),
            **losses,
            "L_M=1;L_U=1;L_D=0": dict(opts, lambda_d=0.0),
        }
    specs.update({label: ("RAML", o) for label, o in losses.items()})
    specs["RAML (separate predictors)"] = ("RAML", dict(opts, shared_predictor=False))
    default_u = RAMLConfig.__dataclass_fields__["lambda_u"].default
    default_d = RAMLConfig.__dataclass_fields__["lambda_d"].default
    for lam in lambdas:
        for name, value, default in (
            ("lambda_u", float(lam), default_u),
            ("lambda_d", float(lam) * lambda_d_unit, default_d),
        ):
            label = f"{name}={float(lam)}"
            if np.isclose(value, default) and opts.get(name, default) == default:
                aliases[label] = "RAML"
            else:
                specs[label] = ("RAML", dict(opts, **{name: value}))
    return specs, aliases


def train_models(
    specs: Mapping[str, tuple[str, Mapping[str, Any]]],
    splits: Mapping[str, MultimodalDataset],
    seeds: Sequence[int],
    config: TrainerConfig,
    *,
    cache: bool = True,
    selection: str = "auto",
) -> tuple[dict[str, dict[int, Method]], pd.DataFrame]:
    """Train every ``label -> (method name, options)`` for every seed, selecting on validation
    under the pattern distribution of the model's training (:func:`fit_point`'s ``selection``).

    The weights are initialised by :func:`workbench.methods.build` with ``seed`` (a forked
    RNG: the caller's RNG state is untouched) and the Trainer runs with ``seed``.

    Returns:
        ``({label: {seed: model}}, log)`` where ``log`` has one row per run (label, seed,
        best_epoch, best validation score, from_cache).
    """
    models: dict[str, dict[int, Method]] = {}
    log = []
    for label, (name, options) in specs.items():
        models[label] = {}
        for seed in seeds:
            model = methods.build(name, splits["train"], seed=int(seed), **options)
            trainer = Trainer(config, cache=cache, seed=int(seed))
            validation = _selection_split(model, splits["validation"], selection)
            models[label][int(seed)] = trainer.fit(model, splits["train"], validation)
            log.append(
                {
                    "method": label,
                    "seed": int(seed),
                    "best_epoch": trainer.best_epoch_,
                    "best_validation": trainer.best_score_,
                    "from_cache": trainer.from_cache_,
                }
            )
    return models, pd.DataFrame(log)


# ----------------------------------------------------------------------------- run points
def load_data(
    dataset: str,
    data_root: str | None = None,
    *,
    dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
    max_samples: Mapping[str, int] | None = None,
) -> dict[str, MultimodalDataset]:
    """The splits of ``dataset``, each cut to its first ``max_samples[split]`` samples.

    Args:
        dataset: a registered dataset name.
        data_root: where a real dataset lives (``None``: the embedded data).
        dataset_options: ``{dataset: keyword arguments of load_splits}`` (e.g. mfeat's ``views``).
        max_samples: ``{split: n}``; ``None`` keeps every sample.
    """
    options = dict((dataset_options or {}).get(dataset, {}))
    if "views" in options:
        options["views"] = tuple(options["views"])
    splits = load_splits(dataset, data_root, **options)
    if max_samples:
        splits = {
            k: v.subset(range(min(int(max_samples[k]), len(v))), k) if k in max_samples else v
            for k, v in splits.items()
        }
    return splits


def pattern_validation(dataset: MultimodalDataset) -> MultimodalDataset:
    """The validation split under every missing pattern: the model-selection set of RAML.

    RAML trains on all 2^M - 1 missing patterns of every sample and is tested on each pattern
    (Sec. III-A, Table I), so the epoch is selected on the validation samples under the same
    pattern distribution as training: the split repeated once per pattern of
    :func:`workbench.corruptions.all_missing_patterns` (pattern-major), the dropped modalities'
    inputs zeroed and ``present`` False, as :class:`~workbench.corruptions.MissingPattern` does
    at test time (a sample that would be left with no modality keeps its row). The selection
    score is then the mean over patterns of the validation metric, weighted by their sizes,
    i.e. the unweighted mean over patterns of Table I's "Average" on complete samples.

    Args:
        dataset: the validation split.

    Returns:
        a dataset of ``(2^M - 1) * N`` rows, ``meta["patterns"]`` the kept-modality tuples.
    """
    mods = dataset.modalities
    patterns = C.all_missing_patterns(mods)
    parts_in: dict[str, list] = {m: [] for m in mods}
    presents = []
    for kept in patterns:
        keep = torch.tensor([m in kept for m in mods], dtype=torch.bool)
        new = dataset.present & keep
        empty = ~new.any(1)
        new[empty] = dataset.present[empty]
        for j, m in enumerate(mods):
            drop = dataset.present[:, j] & ~new[:, j]
            x = dataset.inputs[m]
            if isinstance(x, list):
                parts_in[m].append([torch.zeros_like(r) if bool(d) else r for r, d in zip(x, drop)])
            else:
                shape = (-1,) + (1,) * (x.ndim - 1)
                parts_in[m].append(x.masked_fill(drop.view(shape), 0))
        presents.append(new)
    inputs = {
        m: [r for part in parts for r in part] if isinstance(dataset.inputs[m], list)
        else torch.cat(parts)
        for m, parts in parts_in.items()
    }  # fmt: skip
    return dataset.replace(
        inputs=inputs,
        y=dataset.y.repeat(len(patterns), *([1] * (dataset.y.ndim - 1))),
        present=torch.cat(presents),
        meta={**dataset.meta, "patterns": [tuple(p) for p in patterns]},
    )


def trains_on_patterns(model: Method) -> bool:
    """Whether ``model`` trains with the missing-pattern augmentation (RAML's
    ``pattern_augmentation``, a baseline's ``augment``)."""
    if isinstance(model, RAML):
        return bool(model.config.pattern_augmentation)
    return bool(getattr(model, "augment", False))


def _selection_split(
    model: Method, validation: MultimodalDataset, selection: str
) -> MultimodalDataset:
    if selection not in ("auto", "patterns", "clean"):
        raise ValueError(f"selection={selection!r}; expected 'auto', 'patterns' or 'clean'.")
    if selection == "patterns" or (selection == "auto" and trains_on_patterns(model)):
        return pattern_validation(validation)
    return validation


@dataclass(frozen=True)
class Fitted:
    """One trained model of a run point.

    Attributes:
        model: the trained model (best validation epoch, eval mode).
        splits: the data it was trained and is evaluated on.
        best_epoch: the epoch selected on validation.
        val_score: its validation score.
        from_cache: whether the checkpoint came from the Trainer's cache.
        stopped_early: whether early stopping ended the training (patience ran out).
    """

    model: Method
    splits: Mapping[str, MultimodalDataset]
    best_epoch: int
    val_score: float
    from_cache: bool
    stopped_early: bool = False


def fit_point(
    *,
    dataset: str,
    method: str,
    seed: int,
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
    data_root: str | None = None,
    dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
    max_samples: Mapping[str, int] | None = None,
    embed_dim: int = 128,
    hidden_dim: int = 128,
    sequence_encoder: str = "lstm",
    max_epochs: int = 60,
    batch_size: int = 128,
    lr: float = 1e-3,
    weight_decay: float = 5e-4,
    patience: int | None = 8,
    device: str = "auto",
    selection: str = "auto",
    cache: bool = True,
) -> Fitted:
    """Train the model of one run point (cached by the Trainer: a second call loads it).

    The epoch is selected on the validation split under the pattern distribution of the
    model's training (``selection="auto"``): all missing patterns (:func:`pattern_validation`)
    for a model trained with the pattern augmentation (RAML and the baselines, Table I's test
    distribution too), the complete samples for one trained on complete samples (Concat Fusion,
    the full-modality variants of Table IV). ``"patterns"`` or ``"clean"`` force one of them
    (``"clean"`` for every model was the workbench's protocol before issue 17).

    Args:
        dataset, method, seed, model, options: as in :func:`run_point`.
        data_root, dataset_options, max_samples: as in :func:`load_data`.
        embed_dim, hidden_dim, sequence_encoder: the model's sizes (every method's options).
        max_epochs, batch_size, lr, weight_decay, patience, device: the
            :class:`~workbench.training.TrainerConfig` (Adam; selection on validation).
        selection: ``"auto"``, ``"patterns"`` (validation under every missing pattern) or
            ``"clean"`` (the complete validation samples).
        cache: re-use the Trainer's checkpoint of the same run.

    Raises:
        TypeError: an unknown setting (e.g. a misspelt key in ``configs/raml.yaml``).
    """
    splits = load_data(dataset, data_root, dataset_options=dataset_options, max_samples=max_samples)
    opts = dict(embed_dim=embed_dim, hidden_dim=hidden_dim, sequence_encoder=sequence_encoder)
    opts.update(options or {})
    config = TrainerConfig(
        max_epochs=int(max_epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        weight_decay=float(weight_decay),
        patience=None if patience is None else int(patience),
        device=device,
        progress=False,
    )
    net = methods.build(model or method, splits["train"], seed=int(seed), **opts)
    validation = _selection_split(net, splits["validation"], selection)
    trainer = Trainer(config, cache=cache, seed=int(seed))
    net = trainer.fit(net, splits["train"], validation)
    return Fitted(
        net,
        splits,
        int(trainer.best_epoch_),
        float(trainer.best_score_),
        trainer.from_cache_,
        bool(getattr(trainer, "stopped_early_", False)),
    )


def run_point(
    *,
    dataset: str,
    method: str,
    seed: int,
    role: str = "main",
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
    metrics: Sequence[str] = ("wa", "ua"),
    sigmas: Sequence[float] = (),
    ps: Sequence[float] = (),
    fixed_sigma: float = 0.18,
    fixed_p: float = 0.1,
    threads: int | None = None,
    **training: Any,
) -> pd.DataFrame:
    """Train one model (cached) and evaluate it: one grid point of ``configs/raml.yaml``.

    Args:
        dataset: a registered dataset (``data_root``, ``dataset_options`` and ``max_samples`` in
            ``training`` say where it is and how much of it is used).
        method: the row label: a registered name of the RAML paper (``"RAML"``, ``"MD"``, ...)
            or an ablation label (``"Identical"``, ``"L_M=1;L_U=0;L_D=1"``, ``"lambda_u=0.2"``).
        seed: seed of the initial weights, the Trainer and the corruption draws.
        role: ``"main"`` (Table I in every metric, Tables II-III in the first) or
            ``"ablation"`` (Table I in the first metric).
        model: the registered method trained (default ``method``).
        options: the model's options beyond the shared ``embed_dim``, ``hidden_dim`` and
            ``sequence_encoder`` (an ablation's change, e.g. ``{"weighting": "identical"}``).
        metrics: metric names.
        sigmas, ps: the noise and masking levels of Tables II-III (empty: skip them).
        fixed_sigma, fixed_p: the other corruption's level in Table III.
        threads: torch intra-op threads while the point trains and is evaluated, restored
            after (``None``: unchanged; :func:`workbench.util.torch_threads`). The smoke
            profile's tiny models use 1.
        training: :func:`fit_point`'s data and training settings (``max_epochs``, ``lr``, ...).

    Returns:
        Tidy rows (``method, dataset, condition, modality, level, metric, seed, value``) plus
        ``table`` (``"I"``, ``"II"``, ``"III-top"``, ``"III-bottom"``), ``grid`` (``pattern``,
        ``noise``, ``mask``, ``noise+mask``, ``mask+noise``), ``available`` and ``complete``
        (pattern rows: how many modalities the pattern keeps, and whether it keeps all),
        ``split`` (``"test"``), ``role``, ``best_epoch`` and ``val_score``.
    """
    if role not in ("main", "ablation"):
        raise ValueError(f"run_point(role={role!r}); expected 'main' or 'ablation'.")
    with torch_threads(threads):
        return _run_point(
            dataset=dataset, method=method, seed=seed, role=role, model=model, options=options,
            metrics=metrics, sigmas=sigmas, ps=ps, fixed_sigma=fixed_sigma, fixed_p=fixed_p,
            **training,
        )  # fmt: skip


def _run_point(
    *,
    dataset: str,
    method: str,
    seed: int,
    role: str,
    model: str | None,
    options: Mapping[str, Any] | None,
    metrics: Sequence[str],
    sigmas: Sequence[float],
    ps: Sequence[float],
    fixed_sigma: float,
    fixed_p: float,
    **training: Any,
) -> pd.DataFrame:
    """:func:`run_point`'s body, under its thread count."""
    fitted = fit_point(
        dataset=dataset, method=method, seed=seed, model=model, options=options, **training
    )
    test = fitted.splits["test"]
    models = {method: {int(seed): fitted.model}}
    metrics = list(metrics)
    patterns = evaluate_patterns(models, test, metrics if role == "main" else metrics[:1])
    kept = {label: len(c.pattern) for label, c in pattern_conditions(test.modalities).items()}
    patterns["available"] = patterns["modality"].map(kept)  # NaN for "average"
    patterns["complete"] = patterns["available"].eq(len(test.modalities))
    patterns["table"], patterns["grid"] = "I", "pattern"
    frames = [patterns]
    if role == "main" and (sigmas or ps):
        image, sequence = corruption_modalities(test)
        grids = corruption_conditions(
            image, sequence, sigmas=sigmas, ps=ps, fixed_p=fixed_p, fixed_sigma=fixed_sigma
        )
        for name, conds in grids.items():
            df = robustness(models, test, conds, metrics[:1])
            df["level"] = [_swept_level(c, _GRID_SWEPT[name]) for c in df["condition"]]
            df["table"], df["grid"] = _GRID_TABLE[name], name
            frames.append(df)
    out = pd.concat(frames, ignore_index=True)
    out["split"], out["role"] = "test", role
    out["best_epoch"], out["val_score"] = fitted.best_epoch, fitted.val_score
    return out


def grid_for(
    profile: Profile,
    *,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    device: str | None = None,
    seed: int = 0,
) -> Grid:
    """The profile's grid with a notebook's parameters applied.

    Args:
        profile: a profile of ``configs/raml.yaml``.
        dataset: replaces the profile's first dataset (others, e.g. the full profile's
            ``mfeat``, are kept).
        data_root: where a real dataset lives (``None``: as in the profile).
        device: ``"auto"``, ``"cpu"``, ``"cuda"`` (``None``: as in the profile).
        seed: added to every seed of the profile (``0``: the profile's seeds).
    """
    grid = profile.grid
    first = _first_dataset(grid)

    def edit(params: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(params)
        if dataset is not None and out.get("dataset") == first:
            out["dataset"] = dataset
        if data_root is not None and "data_root" in out:
            out["data_root"] = str(data_root)
        if device is not None and "device" in out:
            out["device"] = device
        if "seed" in out and seed:
            out["seed"] = int(out["seed"]) + int(seed)
        return out

    axes = {}
    for name, values in grid.axes.items():
        if name in ("dataset", "seed"):
            values = list(dict.fromkeys(edit({name: v})[name] for v in values))
        elif name in ("data_root", "device"):
            values = [edit({name: v})[name] for v in values]
        axes[name] = list(values)
    return Grid(axes, [edit(p) for p in grid.points])


def _first_dataset(grid: Grid) -> str | None:
    if "dataset" in grid.axes:
        return grid.axes["dataset"][0]
    return next((p["dataset"] for p in grid.points if "dataset" in p), None)


def run(
    profile: Profile,
    *,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    device: str | None = None,
    seed: int = 0,
    store: str | os.PathLike | None = None,
    n_jobs: int = 1,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run the profile's points (:func:`grid_for`) as a resumable sweep; the tidy results.

    Finished points are kept in ``store`` (default the profile's, the one
    :func:`workbench.experiments.reproduce` uses) and not recomputed.

    Args:
        n_jobs: worker processes (default 1: in this process, as a notebook runs).
    """
    grid = grid_for(profile, dataset=dataset, data_root=data_root, device=device, seed=seed)
    store = ResultStore(Path(store) if store is not None else profile.default_store)
    summary = run_sweep(profile.function, grid, store, n_jobs, log=log)
    if summary.failed:
        first = next(iter(summary.failed.values()))
        raise RuntimeError(
            f"{len(summary.failed)} of {len(grid)} RAML points failed (errors in {store.path}); "
            f"first: {first}"
        )
    return summary.load()


def trained(
    profile: Profile,
    method: str = "RAML",
    *,
    dataset: str | None = None,
    data_root: str | os.PathLike | None = None,
    device: str | None = None,
    seed: int = 0,
) -> Fitted:
    """The trained model of ``method`` with the first seed of its points in the profile's grid
    (:func:`grid_for` with the same arguments as :func:`run`; loaded from the Trainer's cache
    when :func:`run` trained it)."""
    grid = grid_for(profile, dataset=dataset, data_root=data_root, device=device, seed=seed)
    points = [p for p in grid if p.get("method") == method]
    if not points:
        raise ValueError(f"The {profile.name!r} RAML profile has no point of method {method!r}.")
    point = min(points, key=lambda p: int(p["seed"]))
    return fit_point(**{k: v for k, v in point.items() if k not in _EVALUATION})


# ----------------------------------------------------------------------------- figures
def weights_by_level(
    model: RAML,
    dataset: MultimodalDataset,
    make_corruption: Callable[[float], Any],
    levels: Sequence[float],
    *,
    seed: int = 0,
    max_samples: int = 32,
) -> dict[float, np.ndarray]:
    """Fig. 5 (bottom): the element-wise weights ω ``[N, M, D]`` at each corruption level.

    Args:
        model: a trained RAML.
        dataset: the samples shown (the first ``max_samples``).
        make_corruption: ``level -> corruption`` (e.g. ``lambda s: GaussianNoise("image", s)``);
            level 0 means clean.
        levels: the levels, e.g. σ in (0, 0.18, 0.38).
        seed: seed of the corruption draws (the same for every level).
    """
    out = {}
    for level in levels:
        corr = [] if float(level) == 0 else [make_corruption(level)]
        out[float(level)] = element_weights(
            model,
            dataset,
            corr,
            generator=torch.Generator().manual_seed(seed),
            max_samples=max_samples,
        )
    return out


def corrupted_weights(
    model: RAML,
    dataset: MultimodalDataset,
    *,
    sigmas: Sequence[float] = (0.0, 0.18, 0.38),
    ps: Sequence[float] = (0.0, 0.15, 0.25),
    seed: int = 0,
    max_samples: int = 8,
) -> dict[str, dict[str, np.ndarray]]:
    """Fig. 5 (bottom): ω under Gaussian noise σ on the image modality and masking p on the
    sequence modality (:func:`corruption_modalities`).

    Returns:
        ``{"noise": {"σ=0": ω, ...}, "mask": {"p=0": ω, ...}}`` (a grid is left out when the
        dataset has no such modality); each ω is ``[N, M, D]``.
    """
    image, sequence = corruption_modalities(dataset)
    out: dict[str, dict[str, np.ndarray]] = {}
    if image is not None:
        w = weights_by_level(
            model, dataset, lambda s: C.GaussianNoise(modality=image, sigma=s), sigmas,
            seed=seed, max_samples=max_samples,
        )  # fmt: skip
        out["noise"] = {f"σ={k:g}": v for k, v in w.items()}
    if sequence is not None:
        w = weights_by_level(
            model, dataset, lambda p: C.WordMask(modality=sequence, p=p), ps,
            seed=seed, max_samples=max_samples,
        )  # fmt: skip
        out["mask"] = {f"p={k:g}": v for k, v in w.items()}
    return out


def mean_weights(
    weights: Mapping[str, Mapping[str, np.ndarray]], modalities: Sequence[str]
) -> pd.DataFrame:
    """The mean weight of each modality per corruption level (one row per level)."""
    return pd.DataFrame(
        [
            {"corruption": label, **{m: float(w[:, j].mean()) for j, m in enumerate(modalities)}}
            for levels in weights.values()
            for label, w in levels.items()
        ]
    )


def ablation_frame(results: pd.DataFrame, metric: str = "wa") -> pd.DataFrame:
    """Tables IV-VI and Fig. 4 as one frame: the ablation variants' Table I rows, the main
    RAML and Concat Fusion rows on the seeds the ablations ran, and the variants that re-use a
    main model under their ablation names ("Concat Fusion (full-modality)" is Concat Fusion,
    ``lambda_u=1.0`` and ``lambda_d=1.0`` are RAML)."""
    rows = results[(results["table"] == "I") & (results["metric"] == metric)]
    ablation = rows[rows["role"] == "ablation"]
    seeds = ablation["seed"].unique()
    main = rows[(rows["role"] == "main") & rows["seed"].isin(seeds)]
    frames = [ablation, main[main["method"].isin(["RAML", "Concat Fusion"])]]
    names = set(ablation["method"])
    if any(n.endswith("(full-modality)") for n in names):
        frames.append(
            main[main["method"] == "Concat Fusion"].assign(method="Concat Fusion (full-modality)")
        )
    for parameter in ("lambda_u", "lambda_d"):
        if any(n.startswith(f"{parameter}=") for n in names) and f"{parameter}=1.0" not in names:
            frames.append(main[main["method"] == "RAML"].assign(method=f"{parameter}=1.0"))
    return pd.concat(frames, ignore_index=True)


def lambda_frame(results: pd.DataFrame, metric: str = "wa") -> pd.DataFrame:
    """Fig. 4 (right): the pattern average of every λ variant (:func:`ablation_frame`, so
    λ = 1 is RAML), with columns ``parameter`` (``lambda_u`` / ``lambda_d``) and ``lambda``
    (λ1 and λ2 themselves, on the D-normalised L^D)."""
    frame = ablation_frame(results, metric)
    lam = frame[frame["method"].str.startswith("lambda_") & (frame["modality"] == "average")].copy()
    parts = lam["method"].str.split("=", expand=True)
    lam["parameter"] = parts[0] if len(lam) else pd.Series(dtype=str)
    lam["lambda"] = parts[1].astype(float) if len(lam) else pd.Series(dtype=float)
    return lam.reset_index(drop=True)


def table_one(results: pd.DataFrame, dataset: str = REFERENCE_DATASET) -> pd.DataFrame:
    """Table I of the paper (``dataset``, WA) next to the workbench's WA per missing pattern
    (:func:`workbench.evaluation.paper_vs_workbench`; mean ± std over seeds). The paper's
    image + text patterns are matched by position to the workbench's two modalities: ``{I}``
    to the first, ``{T}`` to the second (the sequence modality of av_digits, audio)."""
    ours = results[
        (results["table"] == "I") & (results["metric"] == "wa") & (results["role"] == "main")
    ]
    ref = load_reference("raml")
    paper = ref[
        (ref["table"] == "I") & (ref["dataset"] == dataset) & ref["method"].isin(ours["method"])
    ]
    frames = []
    for name, part in ours.groupby("dataset", sort=False):
        labels = [m for m in part["modality"].unique() if m != "average"]
        if len(labels) != 3:  # only two-modality data matches the image + text patterns
            continue
        mapping = {"{I}": labels[0], "{T}": labels[1], "{I,T}": labels[2]}
        matched = paper.assign(modality=paper["modality"].replace(mapping))
        frames.append(
            paper_vs_workbench(matched, part, on=("method", "modality", "metric")).assign(
                dataset=name
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ----------------------------------------------------------------------------- claims
_PATTERN_AVG = {"condition": "missing_pattern", "modality": "average", "metric": "wa"}
_REF_I = {"table": "I", "dataset": REFERENCE_DATASET}

CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="raml.best_average",
        text="RAML has the best average WA over the missing patterns (Table I)",
        paper="raml", table="I", kind="best_of", method="RAML",
        where={**_PATTERN_AVG, "role": "main"},
        reference={**_REF_I, "modality": "average"},
    ),
    Claim(
        id="raml.single_modality",
        text="RAML beats Concat Fusion when one modality is left (Table I, single-modality patterns)",
        paper="raml", table="I", kind="ordering", method="RAML", against=("Concat Fusion",),
        where={"condition": "missing_pattern", "available": 1, "metric": "wa"},
        reference={**_REF_I, "modality": ["{I}", "{T}"]},
        pair_on=("modality",),
    ),
    Claim(
        id="raml.full_modality",
        text="RAML beats Concat Fusion on complete samples, both trained full-modality (Table IV)",
        paper="raml", table="IV", kind="ordering", method="RAML (full-modality)",
        against=("Concat Fusion",), paper_method="RAML",
        where={"condition": "missing_pattern", "complete": True, "metric": "wa"},
        reference={"table": "IV", "dataset": REFERENCE_DATASET},
    ),
    Claim(
        id="raml.adaptive_vs_identical",
        text="Adaptive weights beat identical weights (Table V)",
        paper="raml", table="V", kind="ordering", method="RAML", against=("Identical",),
        paper_method="Adaptive (RAML)", where=_PATTERN_AVG,
        reference={"table": "V", "dataset": REFERENCE_DATASET},
    ),
    Claim(
        id="raml.adaptive_vs_fixed",
        text="Adaptive weights beat fixed weights (Table V)",
        paper="raml", table="V", kind="ordering", method="RAML", against=("Fixed",),
        paper_method="Adaptive (RAML)", where=_PATTERN_AVG,
        reference={"table": "V", "dataset": REFERENCE_DATASET},
    ),
    Claim(
        id="raml.unimodal_loss",
        text="L^U helps: full RAML beats L^M + L^D (Table VI)",
        paper="raml", table="VI", kind="ordering", method="RAML",
        against=("L_M=1;L_U=0;L_D=1",), paper_method="L_M=1;L_U=1;L_D=1",
        where=_PATTERN_AVG,
        reference={"table": "VI", "dataset": REFERENCE_DATASET, "modality": "average"},
    ),
    Claim(
        id="raml.shared_predictor",
        text="The shared predictor beats separate unimodal predictors (Fig. 4 left)",
        paper="raml", table="", kind="ordering", method="RAML",
        against=("RAML (separate predictors)",), where=_PATTERN_AVG, source="Fig. 4 (left)",
    ),
    Claim(
        id="raml.best_under_noise",
        text="RAML has the best WA under Gaussian noise on the image (Table II)",
        paper="raml", table="II", kind="best_of", method="RAML",
        where={"grid": "noise", "metric": "wa"}, pair_on=("level",),
        reference={"table": "II", "dataset": REFERENCE_DATASET, "modality": "image"},
    ),
    Claim(
        id="raml.best_under_masking",
        text="RAML has the best WA under masking of the sequence (text) modality (Table II)",
        paper="raml", table="II", kind="best_of", method="RAML",
        where={"grid": "mask", "metric": "wa"}, pair_on=("level",),
        reference={"table": "II", "dataset": REFERENCE_DATASET, "modality": "text"},
    ),
    Claim(
        id="raml.best_under_both",
        text="RAML has the best WA under noise and masking at once (Table III)",
        paper="raml", table="III", kind="best_of", method="RAML",
        where={"grid": ["noise+mask", "mask+noise"], "metric": "wa"},
        pair_on=("grid", "level"),
        reference={"table": ["III-top", "III-bottom"], "dataset": REFERENCE_DATASET},
    ),
)  # fmt: skip
"""The RAML paper's claims that the workbench checks. The paper side is read from
``workbench/reference/raml.csv`` (Food-101, the paper's image + text dataset); the workbench
side from :func:`run_point`'s rows (the sequence modality in the role of text)."""


def reference() -> pd.DataFrame:
    """The paper's published numbers with Table VI's loss combinations as method names.

    Table VI prints RAML under four loss combinations (its ``level``, e.g.
    ``"L_M=1;L_U=0;L_D=1"``); naming each row by its combination lets a claim compare two of
    them, as the workbench names its ablation variants.
    """
    ref = load_reference("raml")
    vi = ref["table"] == "VI"
    ref.loc[vi, "method"] = ref.loc[vi, "level"]
    ref.loc[vi, "level"] = ""
    return ref


def paper_table(
    results: pd.DataFrame,
    *,
    profile: str | None = None,
    claims: Iterable[Claim] = CLAIMS,
) -> pd.DataFrame:
    """The paper-vs-workbench table: :data:`CLAIMS` evaluated on ``results``, per dataset.

    Args:
        results: :func:`run_point` rows (e.g. :func:`run`'s or ``reproduce("raml", ...)``'s).
        profile: the profile the results come from (a column of the table).
        claims: the claims to check.

    Returns:
        :func:`workbench.claims.evaluate`'s columns with ``dataset`` first.
    """
    claims = tuple(claims)
    ref = {"raml": reference()}
    tables = [
        evaluate(claims, part, reference=ref, profile=profile).assign(dataset=name)
        for name, part in results.groupby("dataset", sort=False)
    ]
    if not tables:
        return evaluate(claims, results, reference=ref, profile=profile).assign(dataset="")
    out = pd.concat(tables, ignore_index=True)
    return out[["dataset", *[c for c in out.columns if c != "dataset"]]]


# ----------------------------------------------------------------------------- synthetic mechanism
def synthetic_options(
    redundancy: float,
    *,
    n_samples: int = 1200,
    dims: Sequence[int] = (32, 16),
    n_classes: int = 4,
    noise: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    r"""The :func:`workbench.data.synthetic.make_synthetic` options of one redundancy level.

    A sample's label lives in every modality with probability :math:`\rho` (the redundant
    route) and in one modality only, each with probability :math:`(1 - \rho) / M`, the others
    then showing an unrelated class (the unique routes). At :math:`\rho = 1` any modality alone
    predicts the label, so a fusion that leans on the clean modality when the other is noisy or
    missing (RAML's element-wise precision weights, Eq. 4, and its training on every missing
    pattern) keeps its accuracy; at :math:`\rho = 0` the corrupted modality's information is
    gone whatever the fusion does.

    Args:
        redundancy: :math:`\rho \in [0, 1]`.
        n_samples, dims, n_classes, noise, seed: as in ``make_synthetic``.

    Raises:
        ValueError: ``redundancy`` outside [0, 1].
    """
    rho = float(redundancy)
    if not 0.0 <= rho <= 1.0:
        raise ValueError(
            f"synthetic_options(redundancy={redundancy!r}): expected a share in [0, 1] "
            "(0: every sample's label in one modality only, 1: in every modality)."
        )
    return {
        "n_samples": int(n_samples),
        "dims": tuple(int(d) for d in dims),
        "n_classes": int(n_classes),
        "noise": float(noise),
        "seed": int(seed),
        "redundancy": rho,
        "uniqueness": (1.0 - rho) / len(dims),
    }


def run_synthetic_point(
    *,
    method: str,
    seed: int,
    redundancy: float,
    model: str | None = None,
    options: Mapping[str, Any] | None = None,
    sigmas: Sequence[float] = (0.5, 1.0, 2.0),
    noisy: str | None = None,
    metric: str = "accuracy",
    n_samples: int = 1200,
    dims: Sequence[int] = (32, 16),
    n_classes: int = 4,
    noise: float = 1.0,
    **training: Any,
) -> pd.DataFrame:
    """One point of the ``synthetic`` profile: a model trained on the redundancy level
    ``redundancy`` (:func:`synthetic_options`; the data drawn with the point's ``seed``), tested
    on every missing pattern (as Table I) and with Gaussian noise σ added to one modality (as
    Table II's image noise, :class:`~workbench.corruptions.GaussianNoise`, in feature units).

    Args:
        method, seed, model, options: as in :func:`run_point` (``seed`` also draws the data,
            so the seeds cover data and initialisation; methods are paired on it).
        redundancy: the knob, :math:`\\rho \\in [0, 1]`.
        sigmas: the noise levels (the features are ``tanh`` outputs plus 0.1 noise, in [-1, 1]).
        noisy: the modality receiving the noise (default the first one).
        metric: the metric reported.
        n_samples, dims, n_classes, noise: the generator's settings.
        training: :func:`fit_point`'s training settings (``max_epochs``, ``lr``, ...).

    Returns:
        Tidy rows (``method, dataset, condition, modality, level, metric, seed, value``) plus
        ``grid`` (``"pattern"``: ``modality`` the pattern label, ``available`` how many
        modalities it keeps; ``"noise"``: ``modality`` the noisy one, ``level`` σ),
        ``redundancy``, ``best_epoch``, ``max_epochs``, ``stopped_early`` and ``val_score``.
    """
    data = synthetic_options(
        redundancy, n_samples=n_samples, dims=dims, n_classes=n_classes, noise=noise, seed=seed
    )
    fitted = fit_point(
        dataset="synthetic",
        method=method,
        seed=seed,
        model=model,
        options=options,
        dataset_options={"synthetic": data},
        **training,
    )
    test = fitted.splits["test"]
    noisy = noisy or test.modalities[0]
    if noisy not in test.modalities:
        raise ValueError(
            f"run_synthetic_point(noisy={noisy!r}): expected one of {test.modalities}."
        )
    models = {method: {int(seed): fitted.model}}
    patterns = evaluate_patterns(models, test, [metric])
    kept = {label: len(c.pattern) for label, c in pattern_conditions(test.modalities).items()}
    patterns["available"] = patterns["modality"].map(kept)
    patterns["grid"] = "pattern"
    noisy_rows = robustness(
        models,
        test,
        {f"sigma={s:g}": [C.GaussianNoise(modality=noisy, sigma=float(s))] for s in sigmas},
        [metric],
    )
    noisy_rows["level"] = [_swept_level(c, "sigma") for c in noisy_rows["condition"]]
    noisy_rows["modality"], noisy_rows["grid"] = noisy, "noise"
    out = pd.concat([patterns, noisy_rows], ignore_index=True)
    out["redundancy"] = float(redundancy)
    out["best_epoch"], out["val_score"] = fitted.best_epoch, fitted.val_score
    out["max_epochs"] = int(training.get("max_epochs", 60))
    out["stopped_early"] = fitted.stopped_early
    return out


_SYNTHETIC_DATA = ("n_samples", "dims", "n_classes", "noise")
_SYNTHETIC_EVALUATION = ("sigmas", "noisy", "metric")


def synthetic_weights(
    profile: Profile,
    redundancies: Sequence[float] = (0.0, 1.0),
    *,
    sigmas: Sequence[float] | None = None,
    method: str = "RAML",
    max_samples: int = 240,
) -> pd.DataFrame:
    """The probe behind the noise results: RAML's mean fusion weight ω per modality (Eq. 4)
    as Gaussian noise σ grows on the noisy modality, on the ``synthetic`` profile's data.

    The model of ``method`` with the profile's first seed is trained at each redundancy
    (:func:`fit_point`, cached: loaded when ``workbench reproduce raml --profile synthetic``
    trained it on this machine) and its weights :func:`weights_by_level` averaged over the
    first ``max_samples`` test samples and the embedding elements. A precision that falls
    with σ moves weight to the clean modality; one that does not cannot.

    Args:
        profile: the ``synthetic`` profile (its grid gives the data and training settings).
        redundancies: the knob values probed.
        sigmas: the noise levels (default ``0`` and the profile's).
        method: a RAML point of the profile (``"RAML"``).
        max_samples: test samples averaged over.

    Returns:
        Columns ``redundancy``, ``sigma`` and one mean weight per modality.

    Raises:
        ValueError: the profile has no such point.
    """
    points = [p for p in profile.grid if p.get("method") == method]
    if not points:
        raise ValueError(f"The {profile.name!r} RAML profile has no point of method {method!r}.")
    first = min(int(p["seed"]) for p in points)
    rows = []
    for rho in redundancies:
        match = [
            p for p in points if int(p["seed"]) == first and float(p["redundancy"]) == float(rho)
        ]
        if not match:
            raise ValueError(
                f"synthetic_weights: no {method} point at redundancy={rho!r} in the "
                f"{profile.name!r} profile (it has {sorted({p['redundancy'] for p in points})})."
            )
        point = dict(match[0])
        levels = [0.0, *(point.get("sigmas", ()) if sigmas is None else sigmas)]
        data = synthetic_options(
            rho, seed=first, **{k: point.pop(k) for k in _SYNTHETIC_DATA if k in point}
        )
        train = {k: v for k, v in point.items() if k not in (*_SYNTHETIC_EVALUATION, "redundancy")}
        fitted = fit_point(dataset="synthetic", dataset_options={"synthetic": data}, **train)
        test = fitted.splits["test"]
        noisy = point.get("noisy") or test.modalities[0]
        weights = weights_by_level(
            fitted.model,
            test,
            lambda s, m=noisy: C.GaussianNoise(modality=m, sigma=float(s)),
            levels,
            seed=first,
            max_samples=max_samples,
        )
        for level, w in weights.items():
            means = {m: float(w[:, j].mean()) for j, m in enumerate(test.modalities)}
            rows.append({"redundancy": float(rho), "sigma": float(level), **means})
    return pd.DataFrame(rows)


def _test_label(row: pd.Series) -> str:
    if row["grid"] == "noise":
        return f"{row['modality']} noisy (σ={float(row['level']):g})"
    return "complete" if row["available"] == row["_modalities"] else "one modality missing"


def advantage_by_seed(
    results: pd.DataFrame,
    method: str = "RAML",
    baseline: str | Sequence[str] = "Concat Fusion",
    *,
    knob: str = "redundancy",
    metric: str = "accuracy",
) -> pd.DataFrame:
    """The paired advantage ``method - baseline`` per seed, knob value and test condition.

    Within each seed (the same data and corruption draws for both methods) the difference of
    the metric is taken per condition; the single-modality patterns are averaged into "one
    modality missing", the noise levels are kept apart ("m0 noisy (σ=1)").

    Args:
        results: :func:`run_synthetic_point` rows (e.g. ``results/raml/synthetic/results.csv``).
        method: the method whose advantage is measured.
        baseline: the baseline, or several (one block of rows each).
        knob: the column the knob is in.
        metric: the metric compared.

    Returns:
        Columns ``knob`` (its level, named as the knob), ``test``, ``seed``, ``advantage``,
        ``method``, ``baseline``.

    Raises:
        ValueError: a missing column or method (the message names it).
    """
    baselines = [baseline] if isinstance(baseline, str) else list(baseline)
    need = {knob, "grid", "modality", "level", "available", "metric", "method", "seed", "value"}
    missing = need - set(results.columns)
    if missing:
        raise ValueError(
            f"advantage: the results lack columns {sorted(missing)}; pass run_synthetic_point rows."
        )
    for name in (method, *baselines):
        if name not in set(results["method"]):
            raise ValueError(
                f"advantage: no rows of method {name!r}; the results have "
                f"{sorted(results['method'].unique())}."
            )
    rows = results[(results["metric"] == metric) & (results["modality"] != "average")].copy()
    rows["_modalities"] = rows.loc[rows["grid"] == "pattern", "available"].max()
    rows["test"] = rows.apply(_test_label, axis=1)
    per_seed = rows.groupby([knob, "test", "seed", "method"])["value"].mean().unstack("method")
    frames = [
        (per_seed[method] - per_seed[other])
        .dropna()
        .rename("advantage")
        .reset_index()
        .assign(method=method, baseline=other)
        for other in baselines
    ]
    return pd.concat(frames, ignore_index=True)


ADVANTAGE_PLOT: dict[str, Any] = {
    "knob": "value",
    "panel": "baseline",
    "series": "test",
    "scale": 100.0,
    "panel_title": "vs {}",
    "ylabel": "advantage (points)",
}
"""How :func:`workbench.plotting.advantage_plot` reads :func:`advantage`'s frame: one panel per
baseline, one line per test condition, in percentage points."""


def advantage(
    results: pd.DataFrame,
    method: str = "RAML",
    baseline: str | Sequence[str] = "Concat Fusion",
    *,
    knob: str = "redundancy",
    metric: str = "accuracy",
) -> pd.DataFrame:
    """:func:`advantage_by_seed` over the seeds: mean, standard deviation and standard error of
    the paired advantage per baseline, knob value and test condition.

    Returns:
        Columns ``knob`` (the knob's name), ``value`` (its level), ``test``, ``mean``, ``std``,
        ``se``, ``n`` (seeds) and ``method``, ``baseline``.
    """
    d = advantage_by_seed(results, method, baseline, knob=knob, metric=metric)
    keys = ["method", "baseline", knob, "test"]
    out = seed_summary(d, keys, "advantage", sort=False)  # baselines as given, knob ascending
    out = out.rename(columns={knob: "value"})
    out.insert(0, "knob", knob)
    cols = ["knob", "value", "test", "mean", "std", "se", "n", "method", "baseline"]
    return out[cols].reset_index(drop=True)


def _synthetic_claim(id_: str, text: str, against: str, where: Mapping[str, Any], pair_on) -> Claim:
    return Claim(
        id=f"raml.synthetic.{id_}", text=text, paper="raml", kind="ordering", method="RAML",
        against=(against,), where={"redundancy": 1.0, "metric": "accuracy", **where},
        pair_on=pair_on, source="synthetic data: the mechanism of Sec. III, not a table",
    )  # fmt: skip


_ONE_MISSING = {"grid": "pattern", "available": 1}
SYNTHETIC_CLAIMS: tuple[Claim, ...] = (
    _synthetic_claim(
        "missing_vs_concat",
        "Full redundancy: RAML beats Concat Fusion when one modality is missing",
        "Concat Fusion", _ONE_MISSING, ("modality",),
    ),
    _synthetic_claim(
        "noise_vs_concat",
        "Full redundancy: RAML beats Concat Fusion when one modality is noisy",
        "Concat Fusion", {"grid": "noise"}, ("level",),
    ),
    _synthetic_claim(
        "noise_vs_identical",
        "Full redundancy: precision weights beat identical weights when one modality is noisy",
        "Identical", {"grid": "noise"}, ("level",),
    ),
    _synthetic_claim(
        "noise_vs_mmvae",
        "Full redundancy: RAML beats MMVAE when one modality is noisy",
        "MMVAE", {"grid": "noise"}, ("level",),
    ),
)  # fmt: skip
"""The mechanism's predictions on the ``synthetic`` profile, checked where it should show: at
full redundancy (ρ = 1). The knob's other end is read from :func:`advantage` (the notebook's
figure), not claimed."""


def synthetic_table(results: pd.DataFrame, *, profile: str | None = None) -> pd.DataFrame:
    """:data:`SYNTHETIC_CLAIMS` evaluated on the ``synthetic`` profile's results (its
    ``paper_table``); the paper side is "not tabulated" (the paper has no such data)."""
    return paper_table(results, profile=profile, claims=SYNTHETIC_CLAIMS)


# ----------------------------------------------------------------------------- diagnoses
_POINTS = 100.0  # WA in [0, 1] reported in points of accuracy


def _rows_of(claim: Claim, results: pd.DataFrame) -> pd.DataFrame:
    mask = pd.Series(True, index=results.index)
    for column, wanted in claim.where.items():
        values = list(wanted) if isinstance(wanted, (list, tuple, set)) else [wanted]
        mask &= results[column].isin(values)
    return results[mask & np.isfinite(pd.to_numeric(results["value"], errors="coerce"))]


def _gaps(claim: Claim, rows: pd.DataFrame) -> list[tuple[str, float, float, int, str]]:
    """``(competitor, mean, se, n, verdict)`` of the competitors that block the claim: those
    confidently ahead when there are any (a "fails"), else those within 2 SE."""
    others = list(claim.against) or [m for m in dict.fromkeys(rows["method"]) if m != claim.method]
    out = []
    for other in others:
        d = paired_differences(rows, claim.method, other, pair_on=claim.pair_on).to_numpy()
        if d.size == 0:
            continue
        v = verdict(d)
        if v != "holds":
            se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else float("nan")
            out.append((other, float(d.mean()), se, int(d.size), v))
    ahead = [g for g in out if g[4] == "fails"]
    return ahead or out


def _names(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _paper_gap(evidence: Any) -> float:
    match = re.search(r"mean ([+-]?\d+(?:\.\d+)?(?:e[+-]?\d+)?)", str(evidence))
    return float(match.group(1)) if match else float("nan")


def _fmt_gap(other: str, mean: float, se: float, n: int) -> str:
    return f"{other} {_POINTS * mean:+.2f} ± {_POINTS * se:.2f} points (n={n})"


def diagnose(ev: Any) -> dict[str, tuple[str, str]]:
    """Why each claim of the committed results that does not hold does not: ``{claim id:
    (kind, sentence)}``, every number in the sentence computed from ``ev``.

    ``ev`` is a :class:`workbench.experiments.evidence.Evidence` (or anything with its
    ``results``, ``table`` and ``provenance``). For each claim of :data:`CLAIMS` whose verdict
    is not "holds", the competitors it does not clear are found again from the per-seed paired
    differences (:func:`workbench.claims.paired_differences`), and the first rule that applies
    names the kind:

    - ``budget``: at least half of the runs of the claim's method and of those competitors were
      still improving at the end of the budget (``provenance["convergence"]``);
    - ``data``: the runs converged but the claim's methods are within less than the paper's
      gap of 100% on the claim's rows (a ceiling: the stand-in data leaves no room for the
      effect), or the reversal is beyond 2 SE with converged runs;
    - ``spread``: converged, the gap within 2 SE; the sentence gives the seeds needed for the
      observed mean to clear 2 SE at the observed spread.

    Args:
        ev: the committed evidence of the RAML paper.

    Returns:
        ``{id: (kind, text)}`` for every claim of ``ev.table`` in :data:`CLAIMS` that does not hold.
    """
    table, results = ev.table, ev.results
    conv = pd.DataFrame((ev.provenance or {}).get("convergence", []))
    claims = {c.id: c for c in CLAIMS}
    out: dict[str, tuple[str, str]] = {}
    for row in table.itertuples(index=False):
        claim = claims.get(row.id)
        if claim is None or row.verdict == "holds":
            continue
        dataset = getattr(row, "dataset", None)
        data = results[results["dataset"] == dataset] if "dataset" in results else results
        rows = _rows_of(claim, data)
        gaps = _gaps(claim, rows)
        names = [claim.method, *(g[0] for g in gaps)]
        gap_text = "; ".join(_fmt_gap(*g[:4]) for g in gaps) or "no competitor within reach"
        runs = conv[conv["method"].isin(names)] if len(conv) else conv
        if len(runs) and "dataset" in runs:
            runs = runs[runs["dataset"] == dataset]
        n_runs = len(runs)
        n_still = int(runs["still_improving"].astype(bool).sum()) if n_runs else 0
        who = _names(names)
        if n_runs and n_still / n_runs >= 0.5:
            still = runs.groupby("method", sort=False)["still_improving"].agg(["sum", "size"])
            per = ", ".join(
                f"{m} {int(still.loc[m, 'sum'])}/{int(still.loc[m, 'size'])}"
                for m in names
                if m in still.index
            )
            epochs = runs["best_epoch"].astype(int)
            text = (
                f"{n_still} of {n_runs} runs were still improving when the "
                f"{int(runs['max_epochs'].max())}-epoch budget ended ({per}; best epochs "
                f"{epochs.min()}-{epochs.max()}); {claim.method} vs {gap_text} of WA: the "
                "ordering is not settled at this budget."
            )
            out[row.id] = ("budget", text)
            continue
        means = rows[rows["method"].isin(names)].groupby("method")["value"].mean()
        headroom = 1.0 - float(means.max()) if len(means) else float("nan")
        paper = abs(_paper_gap(getattr(row, "paper_evidence", "")))
        converged = f"{n_runs - n_still} of {n_runs} runs of {who} converged"
        if np.isfinite(paper) and np.isfinite(headroom) and headroom < paper:
            text = (
                f"{converged}, at up to {_POINTS * (1 - headroom):.2f}% WA on the claim's rows: "
                f"{_POINTS * headroom:.2f} points of headroom, less than the paper's gap of "
                f"{_POINTS * paper:.2f} points ({claim.method} vs {gap_text}); the stand-in data "
                "is too easy here for the effect to show."
            )
            out[row.id] = ("data", text)
        elif row.verdict == "fails":
            text = (
                f"{converged} and {claim.method} trails beyond 2 SE ({gap_text}): the advantage "
                "the paper reports is absent on this dataset."
            )
            out[row.id] = ("data", text)
        else:
            needed = [seeds_needed(mean, se, n) for _, mean, se, n, _ in gaps]
            more = f"{max(needed):.0f}" if needed else "nan"
            text = (
                f"{converged}; {claim.method} vs {gap_text}: within 2 SE; at this spread about "
                f"{more} seeds would separate the observed gap."
            )
            out[row.id] = ("spread", text)
    return out
