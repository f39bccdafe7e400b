"""The RAML paper's evaluation protocol: methods by name, missing patterns, corruption grids.

- :func:`make_method` builds RAML or a baseline by the paper's name ("Concat Fusion", "MD", ...).
- :func:`train_models` trains them over seeds with the cached :class:`~workbench.training.Trainer`.
- :func:`evaluate_patterns` is Table I: every missing pattern ({I}, {T}, {I,T}, ...) and the
  average over patterns, as a tidy frame (condition ``missing_pattern``, modality the pattern).
- :func:`corruption_conditions` gives Tables II-III: Gaussian noise σ on the image modality,
  masking p on the sequence modality, and both at once.
- :func:`ablation_variants` lists the models of Tables IV-VI and Fig. 4 (full or reduced set),
  and which of them are the same training run as a main model (re-used, not retrained).
- :func:`weights_by_level` gives Fig. 5's element-wise weights as the corruption grows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import corruptions as C
from ..data.base import MultimodalDataset
from ..evaluation import robustness
from ..models.base import Method
from ..training import Trainer, TrainerConfig
from .imperfect_baselines import BASELINES, ImperfectConfig
from .raml import RAML, RAMLConfig, element_weights

__all__ = [
    "METHODS",
    "PAPER_SIGMAS",
    "PAPER_PS",
    "PAPER_LAMBDAS",
    "abbreviations",
    "ablation_variants",
    "add_pattern_average",
    "corruption_conditions",
    "evaluate_patterns",
    "make_method",
    "pattern_conditions",
    "pattern_label",
    "train_models",
    "weights_by_level",
]

PAPER_SIGMAS = (0.08, 0.12, 0.18, 0.26, 0.38)
"""Gaussian noise levels σ of Tables II-III."""
PAPER_PS = (0.05, 0.1, 0.15, 0.2, 0.25)
"""Word-masking probabilities p of Tables II-III."""

PAPER_LAMBDAS = (0.2, 0.4, 0.8, 1.0, 1.2, 1.6)
"""λ values of Fig. 4 (right), as multiples of the defaults λ1 = 1 and λ2 = 0.01."""

METHODS = ("RAML", *BASELINES)
"""Every method :func:`make_method` knows, by the paper's names."""


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


def corruption_conditions(
    image: str | None,
    sequence: str | None,
    *,
    sigmas: Iterable[float] = PAPER_SIGMAS,
    ps: Iterable[float] = PAPER_PS,
    fixed_p: float = 0.1,
    fixed_sigma: float = 0.18,
) -> dict[str, dict[str, list]]:
    """The corruption grids of Tables II-III.

    Args:
        image: the modality receiving Gaussian noise σ (``None``: skip those grids).
        sequence: the modality receiving word/frame masking p (``None``: skip those grids).
        sigmas, ps: the swept levels.
        fixed_p, fixed_sigma: the other corruption's level in Table III (p = 0.1 when σ is
            swept, σ = 0.18 when p is swept, as the caption says).

    Returns:
        ``{"noise": {label: [corruption]}, "mask": ..., "noise+mask(p)": ..., "mask+noise(σ)": ...}``
        (only the grids whose modality is given).

    Raises:
        ValueError: when ``workbench.corruptions`` lacks ``GaussianNoise`` or ``WordMask``.
    """
    for name in ("GaussianNoise", "WordMask"):
        if not hasattr(C, name):
            raise ValueError(
                f"workbench.corruptions has no {name}; the RAML corruption grids need it "
                "(GaussianNoise(modality, sigma) and WordMask(modality, p))."
            )
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


def make_method(name: str, train: MultimodalDataset, **options: Any) -> Method:
    """RAML or a baseline by the paper's name, configured for ``train``.

    Args:
        name: ``"RAML"`` or a key of :data:`~workbench.methods.imperfect_baselines.BASELINES`.
        train: the training split (modalities, shapes, task).
        options: fields of :class:`RAMLConfig` or :class:`ImperfectConfig`; fields the chosen
            config does not have (e.g. ``lambda_u`` for a baseline) are ignored.
    """
    if name == "RAML":
        cls, config_cls = RAML, RAMLConfig
    elif name in BASELINES:
        cls, config_cls = BASELINES[name], ImperfectConfig
    else:
        raise ValueError(f"Unknown RAML-paper method {name!r}; expected one of {METHODS}.")
    fields = config_cls.__dataclass_fields__
    return cls(config_cls.for_dataset(train, **{k: v for k, v in options.items() if k in fields}))


def ablation_variants(
    options: Mapping[str, Any],
    *,
    full: bool = True,
    lambdas: Iterable[float] = PAPER_LAMBDAS,
    lambda_d_unit: float = 0.01,
) -> tuple[dict[str, tuple[str, dict[str, Any]]], dict[str, str]]:
    """The ablation models of Tables IV-VI and Fig. 4 as :func:`train_models` specs.

    Every ablation of the paper is a training-time change (Table IV trains on complete
    samples; Table V trains RAML with identical or learned fixed weights; Table VI drops loss
    terms; Fig. 4 trains separate predictors or other λ), so each variant is its own run.
    Variants whose configuration equals a main model of Table I are not retrained but named
    as aliases: ``"Concat Fusion (full-modality)"`` is Concat Fusion (it never sees missing
    patterns) and λ = 1 is RAML with its default λ1 = 1, λ2 = ``lambda_d_unit``.

    Args:
        options: the main models' options (``embed_dim``, ``hidden``, ``sequence_encoder``, ...).
        full: the paper's full set. ``False`` keeps one variant per comparison: Table IV only
            RAML (full-modality) against Concat Fusion, Table VI only L^M + L^D (the "without
            L^U" row the paper discusses); Tables V and Fig. 4 (left) are kept whole.
        lambdas: the λ values of Fig. 4 (right); λ1 = ``lam`` and λ2 = ``lam * lambda_d_unit``.
        lambda_d_unit: the default λ2 (the x-axis unit of the λ2 curve).

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
) -> tuple[dict[str, dict[int, Method]], pd.DataFrame]:
    """Train every ``label -> (method name, options)`` for every seed, selecting on validation.

    The weights are initialised under ``torch.manual_seed(seed)`` inside a forked RNG (the
    caller's RNG state is untouched) and the Trainer runs with ``seed``.

    Returns:
        ``({label: {seed: model}}, log)`` where ``log`` has one row per run (label, seed,
        best_epoch, best validation score, from_cache).
    """
    models: dict[str, dict[int, Method]] = {}
    log = []
    for label, (name, options) in specs.items():
        models[label] = {}
        for seed in seeds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(seed))
                model = make_method(name, splits["train"], **options)
            trainer = Trainer(config, cache=cache, seed=int(seed))
            models[label][int(seed)] = trainer.fit(model, splits["train"], splits["validation"])
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


def weights_by_level(
    model: RAML,
    dataset: MultimodalDataset,
    make_corruption,
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
