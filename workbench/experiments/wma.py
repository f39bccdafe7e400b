"""The WMA paper's experiments (Zhi et al.): test cases, the α×β grid, run points, model
selection on validation and the paper-vs-workbench table.

The method (the WMA loss, Eq. 5-10) is :mod:`workbench.methods.wma`; this module trains and
scores it the way Sec. 4.1 of the paper does:

- test cases: :func:`table1_conditions` (uniform noise of amplitude 3 on one modality's
  embeddings; 50% of one modality's embeddings set to zero) and :func:`card_conditions` (the
  reproducibility card's levels);
- one grid point is :func:`run_point` (a :mod:`workbench.sweep` function over registered
  datasets); its profiles (``smoke``, ``cpu``, ``full``) are data in ``configs/wma.yaml``, and
  ``workbench.experiments.reproduce("wma", profile)`` runs one as a resumable sweep;
  :func:`profile_grid` is a profile's grid with a notebook's parameters (dataset, seed, device,
  data and ViLT weights) and :func:`run_grid` runs it;
- model selection: :func:`select` picks each regime's (α, β, learning rate) by the mean
  *validation* score over seeds, never on test;
- :data:`CLAIMS` and :func:`paper_table`: the paper's claims (Tables 1-2) evaluated on the
  selected points with :func:`workbench.claims.evaluate`;
- :func:`alpha_beta_grid` is the same grid for any backbone builder (in-process, resumable);
- the ``synthetic`` profile's mechanism: :func:`noise_sweep_conditions` (the noise knob),
  :func:`noise_advantage` / :func:`advantage_summary` (WMA's paired advantage per amplitude)
  and :func:`mechanism_table` (its claims);
- :func:`diagnose`: why a claim of the committed results does not hold
  (:mod:`workbench.experiments.evidence`).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from .. import metrics as M
from ..claims import Claim, evaluate
from ..corruptions import MissingModality, UniformNoise
from ..data.base import MultimodalDataset
from ..data.registry import load_splits
from ..evaluation import robustness
from ..methods.wma import VILT_DATASETS, WMA, WMAConfig, backbone_factory
from ..models.base import Method
from ..reference import load_reference
from ..sweep import Grid, ResultStore, run_sweep
from ..training import (
    Trainer,
    TrainerConfig,
    _dataset_fingerprint,
    _fingerprint_tensor,
    _jsonable,
)
from ..util import outputs_dir, seeded
from . import Profile, load_profile

__all__ = [
    "CLAIMS",
    "MECHANISM_AGAINST",
    "PAPER_DATASETS",
    "PAPER_MODALITY_NAMES",
    "Setup",
    "advantage_summary",
    "ADVANTAGE_PLOT",
    "alpha_beta_grid",
    "at_seed",
    "basis_table",
    "card_conditions",
    "card_robustness",
    "cell_frame",
    "chosen_models",
    "diagnose",
    "evaluate_point",
    "fit_point",
    "fit_wma",
    "grid_context",
    "grid_points",
    "mechanism_table",
    "noise_advantage",
    "noise_sweep_conditions",
    "paper_grid",
    "paper_table",
    "point_trainer",
    "prepare",
    "prepare_settings",
    "profile_grid",
    "regime_of",
    "run_grid",
    "run_point",
    "select",
    "setup_of",
    "selected_frame",
    "table1_conditions",
    "trained_models",
    "win_rate",
]

FUNCTION = "workbench.experiments.wma:run_point"
"""The sweep function of every profile in ``configs/wma.yaml``."""

PAPER_DATASETS = {
    "hateful_memes": "Hateful Memes",
    "mmimdb": "MM-IMDb",
    "ur_funny": "UR-FUNNY",
    "mosei": "MOSEI",
}
"""Workbench dataset name -> the name printed in the WMA paper's tables."""

PAPER_MODALITY_NAMES = {"vision": "video"}
"""Workbench modality name -> the name in the WMA paper's tables (MultiBench's ``vision`` is
the paper's ``video``)."""

_WMA_DEFAULT = WMAConfig()

REGIMES = ("baseline", "minimize OT", "WMA")
"""The three regimes of Tables 1-2: ``alpha = 0``, ``(alpha = 1, beta = 0)`` and WMA."""


# ============================================================================ test cases


def table1_conditions(
    modalities: Sequence[str], amplitude: float = 3.0, missing_rate: float = 0.5
) -> dict:
    """The test cases of Table 1 of the WMA paper, at the embedding level (Sec. 4.1).

    Returns:
        ``{"normal": [], "noise/<m>": [UniformNoise(m, amplitude)], "missing/<m>":
        [MissingModality(m, missing_rate)]}`` for every modality, ready for
        :func:`workbench.evaluation.robustness`.
    """
    out: dict[str, list] = {"normal": []}
    for m in modalities:
        out[f"noise/{m}"] = [UniformNoise(m, amplitude=amplitude, level="embedding")]
    for m in modalities:
        out[f"missing/{m}"] = [MissingModality(m, rate=missing_rate, level="embedding")]
    return out


def card_conditions(
    modalities: Sequence[str],
    amplitudes: Sequence[float] = (0.25, 0.5, 0.75),
    rates: Sequence[float] = (0.25, 0.5, 0.75),
) -> dict:
    """The reproducibility card's test cases: noise 0.25/0.5/0.75, missing 25/50/75% (averaged
    by :func:`card_robustness` over the levels), at the embedding level."""
    out: dict[str, list] = {"normal": []}
    for m in modalities:
        for a in amplitudes:
            out[f"noise/{m}/{a:g}"] = [UniformNoise(m, amplitude=a, level="embedding")]
        for r in rates:
            out[f"missing/{m}/{r:g}"] = [MissingModality(m, rate=r, level="embedding")]
    return out


def noise_sweep_conditions(
    modalities: Sequence[str],
    amplitudes: Sequence[float] = (0.5, 1.0, 2.0, 3.0, 6.0),
    noisy: Sequence[str] | None = None,
) -> dict:
    """The noise knob of the ``synthetic`` profile: uniform noise of each amplitude on one
    modality's embedding tokens at test time (Sec. 4.1 of the WMA paper fixes the amplitude at
    3; here it moves from none to large), the models trained on clean data as in the paper.

    Args:
        modalities: the dataset's modalities.
        amplitudes: half-widths of :class:`~workbench.corruptions.UniformNoise` (> 0; the
            clean test set is the ``normal`` case, amplitude 0).
        noisy: the modalities to perturb, one at a time (default every modality).

    Returns:
        ``{"normal": [], "noise/<m>/<a>": [UniformNoise(m, a)]}``; the rows of
        :func:`evaluate_point` then carry ``modality = m`` and ``level = a``.

    Raises:
        ValueError: an amplitude that is not positive, or a ``noisy`` modality the data lacks.
    """
    bad = [a for a in amplitudes if not float(a) > 0]
    if bad:
        raise ValueError(
            f"noise_sweep_conditions(amplitudes={list(amplitudes)}): every amplitude must be > 0 "
            "(amplitude 0 is the 'normal' case, always included)."
        )
    noisy = list(modalities) if noisy is None else list(noisy)
    unknown = [m for m in noisy if m not in modalities]
    if unknown:
        raise ValueError(
            f"noise_sweep_conditions(noisy={noisy}): {unknown} not among the data's modalities "
            f"{list(modalities)}."
        )
    out: dict[str, list] = {"normal": []}
    for m in noisy:
        for a in amplitudes:
            out[f"noise/{m}/{float(a):g}"] = [
                UniformNoise(m, amplitude=float(a), level="embedding")
            ]
    return out


CONDITIONS = {
    "table1": table1_conditions,
    "card": card_conditions,
    "noise_sweep": noise_sweep_conditions,
}


# ============================================================================ training and grid


def fit_wma(
    build_backbone: Callable[[], Method],
    train: MultimodalDataset,
    validation: MultimodalDataset,
    *,
    alpha: float,
    beta: float,
    seed: int = 0,
    trainer_config: TrainerConfig | None = None,
    wma_config: WMAConfig = _WMA_DEFAULT,
    lrs: Sequence[float] | None = None,
    cache: bool = True,
) -> tuple[WMA, Trainer]:
    """Train one WMA point (cached), selecting the learning rate on validation.

    The backbone is built under :func:`workbench.util.seeded` with ``seed``, so its initial
    weights depend only on ``seed`` and the caller's global RNG is untouched.

    Args:
        build_backbone: ``() -> Method`` building a fresh backbone.
        train, validation: the splits; selection uses ``validation`` only.
        alpha, beta: the WMA weights (``alpha=0``: baseline; ``beta=0``: minimize OT).
        seed: training seed (initialisation, shuffling, dropout).
        trainer_config: a :class:`~workbench.training.TrainerConfig` (its ``seed`` is replaced).
        wma_config: the other WMA settings (its ``alpha``/``beta`` are replaced).
        lrs: learning rates to try in one call (default the config's ``lr``); a sweep makes
            ``lr`` a grid axis instead and selects it with :func:`select`.
        cache: re-use checkpoints of identical runs.

    Returns:
        ``(model, trainer)`` of the best validation score.
    """
    base = dataclasses.replace(trainer_config or TrainerConfig(), seed=int(seed))
    config = dataclasses.replace(wma_config, alpha=float(alpha), beta=float(beta))
    best = None
    for lr in lrs or (base.lr,):
        with seeded(int(seed)):
            model = WMA(build_backbone(), config)
        trainer = Trainer(dataclasses.replace(base, lr=float(lr)), cache=cache)
        model = trainer.fit(model, train, validation)
        if best is None or _better(trainer, best[1], validation):
            best = (model, trainer)
    return best


def _better(a: Trainer, b: Trainer, dataset: MultimodalDataset) -> bool:
    sign = 1.0 if M.higher_is_better(a.config.monitor or dataset.task.metric) else -1.0
    return sign * a.best_score_ > sign * b.best_score_


def grid_context(
    build_backbone: Callable[[], Method],
    train: MultimodalDataset,
    validation: MultimodalDataset,
    test: MultimodalDataset,
    conditions: Mapping,
    *,
    trainer_config: TrainerConfig | None = None,
    wma_config: WMAConfig = _WMA_DEFAULT,
    lrs: Sequence[float] | None = None,
) -> str:
    """A 16-hex fingerprint of everything but (α, β, seed) that decides a grid point's scores:
    the backbone (class, config, architecture, initial weights of seed 0), the three splits'
    data, the test cases, the trainer settings, the other WMA settings and the learning rates.

    :func:`alpha_beta_grid` stores it with every point, so one result store can hold several
    grids and a changed setting never re-uses a stale score.
    """
    with seeded(0):
        model = WMA(build_backbone(), wma_config)
    payload = {
        "model": type(model.backbone).__qualname__,
        "architecture": repr(model),
        "init": {k: _fingerprint_tensor(v) for k, v in model.state_dict().items()},
        "data": [_dataset_fingerprint(d) for d in (train, validation, test)],
        "conditions": {str(k): [repr(c) for c in (v or [])] for k, v in conditions.items()},
        "trainer": _jsonable(dataclasses.replace(trainer_config or TrainerConfig(), seed=0)),
        "wma": _jsonable(dataclasses.replace(wma_config, alpha=0.0, beta=0.0)),
        "lrs": None if lrs is None else [float(lr) for lr in lrs],
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def regime_of(alpha: float, beta: float) -> str:
    """``"baseline"`` (α = 0), ``"minimize OT"`` (β = 0) or ``"WMA"``."""
    return "baseline" if alpha == 0 else ("minimize OT" if beta == 0 else "WMA")


def evaluate_point(
    model: Method,
    trainer: Trainer,
    test: MultimodalDataset,
    conditions: Mapping,
    *,
    alpha: float,
    beta: float,
    seed: int,
) -> pd.DataFrame:
    """Score one trained grid point under the test cases: the rows of :func:`run_point` and
    :func:`alpha_beta_grid`.

    The corruption seed is the training seed, so every regime of a seed sees the same
    corrupted test set.
    """
    regime = regime_of(alpha, beta)
    df = robustness({regime: {int(seed): model}}, test, conditions)
    df.insert(2, "case", df["condition"])  # "noise/text" -> case; condition = "noise"
    df["condition"] = df["case"].str.split("/").str[0]
    df["alpha"], df["beta"], df["regime"] = float(alpha), float(beta), regime
    df["val_score"] = float(trainer.best_score_)
    df["val_metric"] = trainer.config.monitor or test.task.metric
    df["lr"] = float(trainer.config.lr)
    df["best_epoch"] = int(trainer.best_epoch_)
    config = getattr(model, "config", None)
    df["variant"] = getattr(config, "variant", "") if isinstance(config, WMAConfig) else ""
    df["ot_marginal_error"] = _ot_marginal_error(trainer)
    return df


def _ot_marginal_error(trainer: Trainer) -> float:
    """The largest per-epoch mean IPOT marginal error of a run (NaN for the baseline, which
    solves no OT)."""
    history = getattr(trainer, "history_", None)
    if history is None or "train_ot_marginal_error" not in history:
        return float("nan")
    return float(pd.to_numeric(history["train_ot_marginal_error"]).max())


def grid_points(
    alphas: Sequence[float],
    betas: Sequence[float],
    seeds: Sequence[int],
    *,
    baseline: bool = True,
    minimize_ot: bool = True,
) -> list[tuple[float, float, int]]:
    """``(alpha, beta, seed)`` of a grid: the baseline ``(0, 0)`` and "minimize OT" ``(1, 0)``
    first (when asked), then α×β, each for every seed."""
    points = [(float(a), float(b)) for a in alphas for b in betas]
    if minimize_ot:
        points.insert(0, (1.0, 0.0))
    if baseline:
        points.insert(0, (0.0, 0.0))
    return [(a, b, int(s)) for a, b in points for s in seeds]


def alpha_beta_grid(
    build_backbone: Callable[[], Method],
    train: MultimodalDataset,
    validation: MultimodalDataset,
    test: MultimodalDataset,
    *,
    alphas: Sequence[float],
    betas: Sequence[float],
    seeds: Sequence[int] = (0,),
    conditions: Mapping | None = None,
    trainer_config: TrainerConfig | None = None,
    wma_config: WMAConfig = _WMA_DEFAULT,
    lrs: Sequence[float] | None = None,
    baseline: bool = True,
    minimize_ot: bool = True,
    cache: bool = True,
    models: dict | None = None,
    store=None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Train and evaluate an α×β grid (Tables 3-6 of the WMA paper; plus the baseline
    ``alpha=0`` and "minimize OT" ``alpha=1, beta=0`` points) for any backbone builder, as a
    resumable sweep in this process.

    Every point ``(alpha, beta, seed)`` runs through :func:`workbench.sweep.run_sweep`: its
    scores are written to a :class:`~workbench.sweep.ResultStore` the moment it finishes, so an
    interrupted grid resumes where it stopped and a finished one is read back without training
    or evaluating anything. The point's parameters include :func:`grid_context`, so changing
    the data, backbone, trainer, test cases or other WMA settings starts new points. Trained
    weights also go through the Trainer's checkpoint cache (``cache=True``). The registered
    datasets' profiles run through :func:`run_point` instead (``configs/wma.yaml``).

    Args:
        build_backbone: ``() -> Method`` building a fresh backbone.
        train, validation, test: the splits (selection on validation, scores on test).
        alphas, betas: the grid (the paper's is the ``full`` profile of ``configs/wma.yaml``).
        seeds: training seeds; each seed's model is evaluated with corruption seed = seed.
        conditions: ``label -> corruptions`` (default :func:`table1_conditions`).
        trainer_config, wma_config, lrs, cache: as in :func:`fit_wma`.
        baseline, minimize_ot: also run ``alpha=0`` and ``(alpha=1, beta=0)``.
        models: if a dict is given, the trained models are stored in it under
            ``(alpha, beta, seed)`` (points finished earlier are loaded from the checkpoint
            cache; with ``cache=False`` they are retrained).
        store: the result store (a folder or :class:`~workbench.sweep.ResultStore`; default
            ``<outputs>/sweeps/wma/<dataset>``).
        log: called with one line per point run (e.g. ``print``).

    Returns:
        The tidy frame of :func:`evaluate_point` (columns of
        :func:`workbench.evaluation.robustness` plus ``case`` (the label of the test case,
        e.g. ``"noise/text"``; ``condition`` is then the corruption's name, ``"noise"``, as in
        ``workbench/reference/wma.csv``), ``alpha, beta, regime`` (``"baseline"``,
        ``"minimize OT"`` or ``"WMA"``), ``val_score``, ``val_metric``, ``lr``, ``best_epoch``)
        with ``context`` and ``run_id``.

    Raises:
        RuntimeError: a point failed (its traceback is in the store's ``<run_id>.error.json``).
    """
    if not isinstance(conditions, Mapping) and conditions is not None:
        raise ValueError(
            "alpha_beta_grid(conditions=...) must map a test-case label to its corruptions, "
            "e.g. table1_conditions(train.modalities)."
        )
    conditions = conditions if conditions is not None else table1_conditions(train.modalities)
    context = grid_context(
        build_backbone,
        train,
        validation,
        test,
        conditions,
        trainer_config=trainer_config,
        wma_config=wma_config,
        lrs=lrs,
    )
    if store is None:
        store = outputs_dir() / "sweeps" / "wma" / train.name
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    points = grid_points(alphas, betas, seeds, baseline=baseline, minimize_ot=minimize_ot)
    grid = [
        {"dataset": train.name, "alpha": a, "beta": b, "seed": s, "context": context}
        for a, b, s in points
    ]

    fit = functools.partial(
        fit_wma,
        build_backbone,
        train,
        validation,
        trainer_config=trainer_config,
        wma_config=wma_config,
        lrs=lrs,
        cache=cache,
    )

    def point(dataset: str, alpha: float, beta: float, seed: int, context: str) -> pd.DataFrame:
        model, trainer = fit(alpha=alpha, beta=beta, seed=seed)
        if models is not None:
            models[(alpha, beta, seed)] = model
        return evaluate_point(model, trainer, test, conditions, alpha=alpha, beta=beta, seed=seed)

    summary = run_sweep(point, grid, store, n_jobs=1, log=log)
    _raise_failed(summary, len(grid), "alpha_beta_grid()")
    if models is not None:
        for a, b, s in points:
            if (a, b, s) not in models:
                models[(a, b, s)] = fit(alpha=a, beta=b, seed=s)[0]
    return summary.load()


def _raise_failed(summary, n: int, caller: str) -> None:
    if summary.failed:
        first = next(iter(summary.failed.items()))
        raise RuntimeError(
            f"{caller}: {len(summary.failed)} of {n} points failed; the first, "
            f"{first[0]}: {first[1]} (traceback in {summary.store.error_path(first[0])})."
        )


# ============================================================================ run points


@dataclass(frozen=True)
class Setup:
    """Everything but (α, β, seed) that one run point of a registered dataset needs.

    Attributes:
        train, validation, test: the splits, ready for the backbone.
        build: ``() -> backbone`` (:func:`~workbench.methods.wma.backbone_factory`).
        backbone: ``"transformer"`` or ``"vilt"`` (resolved from ``"auto"``).
        trainer: the :class:`~workbench.training.TrainerConfig` (its ``seed`` is set per run).
        conditions: the test cases (``label -> corruptions``).
    """

    train: MultimodalDataset
    validation: MultimodalDataset
    test: MultimodalDataset
    build: Callable[[], Method]
    backbone: str
    trainer: TrainerConfig
    conditions: dict


@functools.lru_cache(maxsize=4)
def _splits(
    dataset: str, data_root: str | None, options: str, backbone: str, vilt_weights, text_len
):
    """The (train, validation, test) splits ready for ``backbone`` (cached per process)."""
    splits = load_splits(dataset, data_root, **json.loads(options))
    out = [splits[s] for s in ("train", "validation", "test")]
    if backbone == "vilt":
        from ..models.transformer import vilt_text_ids

        text = out[0].inputs.get("text")
        sample = None if text is None else text[0]
        if sample is not None and not sample.is_floating_point() and sample.ndim == 1:
            tok = None
            if vilt_weights is not None:
                from transformers import BertTokenizerFast

                tok = BertTokenizerFast.from_pretrained(
                    str(Path(vilt_weights).expanduser()), local_files_only=True
                )
            out = [vilt_text_ids(d, tok, max_len=text_len) for d in out]
        return tuple(out)
    for m in out[0].modalities:
        x = out[0].inputs[m]
        sample = x[0]
        if not sample.is_floating_point() or (sample.ndim == 3 and sample.shape[0] == 3):
            raise ValueError(
                f"prepare(): {dataset!r} modality {m!r} holds raw "
                f"{'text ids' if not sample.is_floating_point() else 'images'} "
                f"({tuple(sample.shape)} {sample.dtype}); the feature transformer needs "
                "token features. Use backbone='vilt' for raw image-text data, or extract "
                "features first."
            )
    return tuple(out)


def _checkpoint_text_len(vilt_weights: str | None, default: int) -> int:
    """The text position table of a local ViLT checkpoint (``max_position_embeddings`` in its
    ``config.json``: 40 for ViLT-B/32); ``default`` without weights or without a local config
    (the adapter then reports a missing checkpoint when it loads it)."""
    if vilt_weights is None:
        return default
    config = Path(vilt_weights).expanduser() / "config.json"
    if not config.is_file():
        return default
    try:
        return int(json.loads(config.read_text())["max_position_embeddings"])
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(
            f"{config}: not a ViLT config.json with 'max_position_embeddings' ({err}); point "
            "vilt_weights to a copy of a ViLT checkpoint such as dandelin/vilt-b32-mlm."
        ) from None


def prepare(
    dataset: str,
    *,
    backbone: str = "auto",
    backbone_options: Mapping[str, Any] | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    max_epochs: int = TrainerConfig.max_epochs,
    batch_size: int = TrainerConfig.batch_size,
    lr: float = TrainerConfig.lr,
    schedule: str = TrainerConfig.schedule,
    warmup_ratio: float = TrainerConfig.warmup_ratio,
    patience: int | None = TrainerConfig.patience,
    conditions: str = "table1",
    conditions_options: Mapping[str, Any] | None = None,
    data_root: str | None = None,
    vilt_weights: str | None = None,
    device: str = "auto",
    splits: Mapping[str, MultimodalDataset] | None = None,
) -> Setup:
    """The data, backbone builder, trainer settings and test cases of one run point.

    Args:
        dataset: a registered dataset (``easy_vqa``, ``hateful_memes``, ``mmimdb``,
            ``ur_funny``, ``mosei``, or any other with token or feature inputs).
        backbone: ``"transformer"`` (the card's late-fusion transformer), ``"vilt"`` or
            ``"auto"`` (ViLT for Hateful Memes and MM-IMDb, as in the paper).
        backbone_options: backbone sizes (``TransformerConfig`` / ``ViltAdapterConfig``
            fields; with ``vilt_weights`` the checkpoint's architecture is used).
        dataset_options: loader options (:func:`workbench.data.load_splits`).
        max_epochs, batch_size, lr, schedule, warmup_ratio, patience: the
            :class:`~workbench.training.TrainerConfig` (``patience=None``: no early stopping;
            the best validation epoch is kept either way).
        conditions: ``"table1"`` (Sec. 4.1: noise amplitude 3, 50% missing), ``"card"``
            (the reproducibility card's levels) or ``"noise_sweep"`` (the synthetic profile's
            noise knob, :func:`noise_sweep_conditions`).
        conditions_options: keyword arguments of the test-case builder (e.g.
            ``{"amplitudes": [0.5, 1, 2], "noisy": ["m1"]}`` for ``"noise_sweep"``).
        data_root: folder of a real dataset.
        vilt_weights: a local ViLT checkpoint folder (weights and tokenizer); the text is cut
            to its position table.
        device: training device (``"auto"``: CUDA when available).
        splits: ready ``{"train", "validation", "test"}`` datasets instead of loading
            ``dataset`` (tests).

    Raises:
        ValueError: unknown ``conditions`` or ``backbone``; raw images or text ids for the
            feature transformer.
    """
    if conditions not in CONDITIONS:
        raise ValueError(f"conditions={conditions!r}; expected one of {sorted(CONDITIONS)}.")
    if conditions_options is not None and not isinstance(conditions_options, Mapping):
        raise ValueError(
            f"conditions_options={conditions_options!r}; expected a mapping of keyword "
            f"arguments of {CONDITIONS[conditions].__name__}()."
        )
    if backbone not in ("auto", "transformer", "vilt"):
        raise ValueError(f"backbone={backbone!r}; expected 'auto', 'transformer' or 'vilt'.")
    kind = (
        ("vilt" if dataset in VILT_DATASETS else "transformer") if backbone == "auto" else backbone
    )
    sizes = dict(backbone_options or {})
    if splits is None:
        text_len = _checkpoint_text_len(vilt_weights, int(sizes.get("max_text_len", 40)))
        options = json.dumps(dict(dataset_options or {}), sort_keys=True)
        root = None if data_root is None else str(data_root)
        train, validation, test = _splits(dataset, root, options, kind, vilt_weights, text_len)
    else:
        train, validation, test = splits["train"], splits["validation"], splits["test"]
    trainer = TrainerConfig(
        max_epochs=int(max_epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        schedule=schedule,
        warmup_ratio=float(warmup_ratio),
        patience=None if patience is None else int(patience),
        device=device,
        progress=False,
    )
    pretrained = None if vilt_weights is None else str(Path(vilt_weights).expanduser())
    build = backbone_factory(train, kind, pretrained=pretrained, **sizes)
    try:
        cases = CONDITIONS[conditions](train.modalities, **dict(conditions_options or {}))
    except TypeError as err:
        raise ValueError(
            f"conditions_options={dict(conditions_options or {})} do not fit "
            f"{CONDITIONS[conditions].__name__}() ({err})."
        ) from None
    return Setup(train, validation, test, build, kind, trainer, cases)


def fit_point(
    alpha: float,
    beta: float,
    seed: int = 0,
    *,
    cache: bool = True,
    wma_options: Mapping[str, Any] | None = None,
    **settings,
):
    """Train (or load from the checkpoint cache) the model of one run point.

    Args:
        alpha, beta, seed: the point.
        cache: re-use trained weights.
        wma_options: other :class:`~workbench.methods.wma.WMAConfig` fields (``variant``,
            ``cost``, ``n_outer``...); default the config's (``variant="paper"``).
        **settings: :func:`prepare`'s arguments.

    Returns:
        ``(model, trainer, setup)``.
    """
    setup = prepare(**settings)
    wma_config = WMAConfig(**dict(wma_options or {}))
    model, trainer = fit_wma(
        setup.build,
        setup.train,
        setup.validation,
        alpha=alpha,
        beta=beta,
        seed=seed,
        trainer_config=setup.trainer,
        wma_config=wma_config,
        cache=cache,
    )
    return model, trainer, setup


def run_point(
    dataset: str,
    alpha: float,
    beta: float,
    seed: int = 0,
    *,
    threads: int | None = None,
    cache: bool = True,
    **settings: Any,
) -> pd.DataFrame:
    """Train one WMA grid point on a registered dataset and score it: the sweep function of
    every profile in ``configs/wma.yaml``.

    Importable as ``"workbench.experiments.wma:run_point"`` for
    :func:`workbench.sweep.run_sweep`; every argument but ``splits`` is a JSON value, so a
    sweep's result store resumes and runs in parallel processes.

    Args:
        dataset: a registered dataset.
        alpha, beta: the WMA weights (``alpha=0``: baseline; ``beta=0``: minimize OT).
        seed: training seed and corruption seed.
        threads: torch intra-op threads (default unchanged).
        cache: re-use trained weights (the Trainer's checkpoint cache).
        **settings: ``wma_options`` (:func:`fit_point`) and the other arguments of
            :func:`prepare` (backbone, sizes, trainer settings, test cases, data, device).

    Returns:
        The rows of :func:`evaluate_point` (with ``variant`` and ``ot_marginal_error``, the
        largest per-epoch mean IPOT marginal error) plus ``backbone``.
    """
    if threads is not None:
        torch.set_num_threads(int(threads))
    model, trainer, setup = fit_point(alpha, beta, seed, cache=cache, dataset=dataset, **settings)
    df = evaluate_point(
        model, trainer, setup.test, setup.conditions, alpha=alpha, beta=beta, seed=seed
    )
    df["backbone"] = setup.backbone
    return df


# ============================================================================ profiles


def profile_grid(
    profile: Profile | str = "smoke",
    *,
    dataset: str | None = None,
    seed: int | None = None,
    data_root: str | None = None,
    device: str | None = None,
    vilt_weights: str | None = None,
) -> Grid:
    """A profile's grid with a notebook's parameters.

    Args:
        profile: a :class:`~workbench.experiments.Profile` of ``configs/wma.yaml`` or its name.
        dataset: run on this dataset instead of the profile's; the profile's ``datasets``
            section gives its settings (backbone, sizes, trainer, loader options; its
            ``default`` entry for a dataset it does not name) and ``extra_points``, points
            added to the profile's for that dataset (the full profile: the α = 6, 8 cells the
            paper adds for MM-IMDb and UR-FUNNY, Tables 4-5).
        seed: shift the profile's seeds so that they start at ``seed``.
        data_root, device, vilt_weights: set these settings (``None`` and ``"auto"`` keep the
            profile's).

    Returns:
        The :class:`~workbench.sweep.Grid` for :func:`run_grid` (the profile's own grid when
        nothing is changed, so its points share run ids with ``reproduce("wma", profile)``).
    """
    prof = profile if isinstance(profile, Profile) else load_profile("wma", profile)
    axes = dict(prof.grid.axes)
    points = list(prof.grid.points)
    per_dataset = dict(prof.settings.get("datasets") or {})
    if dataset is not None and (dataset,) != axes.get("dataset"):
        overrides = dict(per_dataset.get(dataset, per_dataset.get("default", {})) or {})
        points += list(overrides.pop("extra_points", None) or [])
        for key in ("dataset_options", "data_root"):
            axes.pop(key, None)  # the profile's data belongs to its own dataset
        axes.update({k: (v,) for k, v in overrides.items()})
        axes["dataset"] = (dataset,)
    if seed is not None and "seed" in axes:
        first = min(axes["seed"])
        axes["seed"] = tuple(int(seed) + int(s) - int(first) for s in axes["seed"])
    for key, value in (("data_root", data_root), ("vilt_weights", vilt_weights)):
        if value is not None:
            axes[key] = (str(value),)
    if device not in (None, "auto"):
        axes["device"] = (device,)
    return Grid(axes, points)


def run_grid(
    grid: Grid,
    store: str | Path | ResultStore | None = None,
    *,
    n_jobs: int = 1,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run :func:`run_point` over ``grid`` as a resumable sweep and return its tidy rows.

    Args:
        grid: e.g. :func:`profile_grid`.
        store: the result store (default ``<outputs>/sweeps/wma``; the run ids keep points of
            different grids apart).
        n_jobs: worker processes (1: in this process).
        log: called with one line per finished point.

    Raises:
        RuntimeError: a point failed (its traceback is in the store).
    """
    store = (
        store
        if isinstance(store, ResultStore)
        else ResultStore(store if store is not None else outputs_dir() / "sweeps" / "wma")
    )
    summary = run_sweep(FUNCTION, grid, store, n_jobs, log=log)
    _raise_failed(summary, len(grid), "run_grid()")
    ids = set(grid.run_ids())
    results = summary.load()
    return results[results["run_id"].isin(ids)].reset_index(drop=True)


# ============================================================================ model selection

_CELL = ["dataset", "regime", "alpha", "beta"]


def _higher(frame: pd.DataFrame) -> bool:
    metric = frame["val_metric"].iloc[0] if "val_metric" in frame else frame["metric"].iloc[0]
    return M.higher_is_better(str(metric))


def cell_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The rows of each (dataset, α, β) cell at its learning rate of best mean *validation*
    score over seeds (the whole frame when one learning rate was run)."""
    if "lr" not in results or results["lr"].nunique() <= 1:
        return results
    keep = []
    for _, g in results.groupby([c for c in _CELL if c in results], sort=False):
        scores = g.groupby("lr")["val_score"].mean()
        keep.append(g[g["lr"] == (scores.idxmax() if _higher(g) else scores.idxmin())])
    return pd.concat(keep).sort_index()


def select(results: pd.DataFrame) -> pd.DataFrame:
    """Model selection on the validation split: per dataset and regime, the (α, β, learning
    rate) with the best mean validation score over seeds (never a test score).

    Args:
        results: the rows of :func:`run_point` / :func:`alpha_beta_grid` (``val_score``).

    Returns:
        One row per (dataset, regime): ``alpha, beta, lr, val_score`` (mean over seeds).
    """
    if "dataset" not in results:
        results = results.assign(dataset="")
    cells = cell_frame(results)
    keys = [*_CELL, "lr"] if "lr" in cells else _CELL
    scores = cells.groupby(keys, sort=False)["val_score"].mean().reset_index()
    rows = []
    for _, g in scores.groupby(["dataset", "regime"], sort=False):
        best = g["val_score"].idxmax() if _higher(results) else g["val_score"].idxmin()
        rows.append(g.loc[best])
    out = pd.DataFrame(rows)
    out["order"] = out["regime"].map({r: i for i, r in enumerate(REGIMES)})
    return out.sort_values(["dataset", "order"]).drop(columns="order").reset_index(drop=True)


def selected_frame(results: pd.DataFrame) -> pd.DataFrame:
    """The test rows of the points :func:`select` picks, ``method`` = the regime
    (``baseline``, ``minimize OT``, ``WMA``): the rows of Tables 1-2."""
    if "dataset" not in results:
        results = results.assign(dataset="")
    choice = select(results)
    keys = [c for c in ["dataset", "regime", "alpha", "beta", "lr"] if c in choice]
    out = results.merge(choice[keys], on=keys, how="inner")
    out["method"] = out["regime"]
    return out


# ============================================================================ trained models


def _point_of(grid: Grid, alpha: float, beta: float, seed: int, lr: float | None) -> dict:
    for point in grid:
        if (
            np.isclose(point["alpha"], alpha)
            and np.isclose(point["beta"], beta)
            and int(point.get("seed", 0)) == int(seed)
            and (lr is None or np.isclose(point.get("lr", TrainerConfig.lr), lr))
        ):
            return point
    raise ValueError(f"The grid has no point alpha={alpha}, beta={beta}, seed={seed}, lr={lr}.")


def _settings(point: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v for k, v in point.items() if k not in ("alpha", "beta", "seed", "threads", "cache")
    }


def trained_models(
    grid: Grid, results: pd.DataFrame, *, seeds: Sequence[int] | None = None
) -> dict[tuple[float, float, int], WMA]:
    """The trained models of a grid's points, from the Trainer's checkpoint cache (trained
    when not cached), at each cell's learning rate selected on validation.

    Args:
        grid: the grid that was run (:func:`profile_grid`).
        results: its rows (:func:`run_grid`).
        seeds: only these seeds (default all).

    Returns:
        ``(alpha, beta, seed) -> model`` (in eval mode).
    """
    cells = cell_frame(results)
    keys = cells[["alpha", "beta", "seed", "lr"]].drop_duplicates()
    models = {}
    for a, b, s, lr in keys.itertuples(index=False):
        if seeds is not None and int(s) not in {int(x) for x in seeds}:
            continue
        point = _point_of(grid, a, b, s, lr)
        models[(float(a), float(b), int(s))] = fit_point(a, b, s, **_settings(point))[0].eval()
    return models


def chosen_models(
    models: Mapping[tuple[float, float, int], Method], results: pd.DataFrame
) -> dict[str, dict[int, Method]]:
    """``{"baseline" | "minimize OT" | "WMA": {seed: model}}`` of the points :func:`select`
    picks (the first dataset of ``results``), for :func:`workbench.evaluation.robustness`."""
    choice = select(results)
    choice = choice[choice["dataset"] == choice["dataset"].iloc[0]]
    out: dict[str, dict[int, Method]] = {}
    for r in choice.itertuples(index=False):
        out[r.regime] = {
            s: m
            for (a, b, s), m in models.items()
            if np.isclose(a, r.alpha) and np.isclose(b, r.beta)
        }
    return out


def prepare_settings(point: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments of :func:`prepare` in a grid point (all but α, β, seed, threads, cache and
    ``wma_options``, which :func:`fit_point` reads)."""
    settings = _settings(point)
    settings.pop("wma_options", None)
    return settings


def setup_of(grid: Grid) -> Setup:
    """The :class:`Setup` (data, backbone, trainer, test cases) of a grid's first point."""
    return prepare(**prepare_settings(next(iter(grid))))


def at_seed(
    models: Mapping[tuple[float, float, int], Method], seed: int
) -> dict[tuple[float, float], Method]:
    """``(alpha, beta) -> model`` of one seed (for :func:`workbench.widgets.wma_panel`)."""
    return {(a, b): m for (a, b, s), m in models.items() if int(s) == int(seed)}


def point_trainer(grid: Grid, seed: int | None = None) -> Callable[[float, float], Method]:
    """``(alpha, beta) -> model`` training a new point with the grid's settings (cached), for
    the "train this point" button of :func:`workbench.widgets.wma_panel`."""
    first = next(iter(grid))
    settings = _settings(first)
    s = int(first.get("seed", 0) if seed is None else seed)
    return lambda alpha, beta: fit_point(alpha, beta, s, **settings)[0].eval()


def card_robustness(chosen: Mapping, test: MultimodalDataset) -> pd.DataFrame:
    """The chosen models under the reproducibility card's test cases, averaged per seed over
    the three levels of each case (columns ``method, case, seed, value``)."""
    card = robustness(chosen, test, list(card_conditions(test.modalities).values()))
    card["case"] = np.where(
        card["condition"] == "normal", "normal", card["condition"] + "/" + card["modality"]
    )
    return card.groupby(["method", "case", "seed"], as_index=False)["value"].mean()


def basis_table(models: Mapping[tuple[float, float, int], WMA]) -> pd.DataFrame:
    """Per (α, β) with α > 0: the basis :math:`\\bar D` (mean over pairs and seeds) and the
    target β·:math:`\\bar D` the WMA term pulls the OT cost towards."""
    rows = [
        {"alpha": a, "beta": b, "seed": s, "basis": float(m.basis.mean())}
        for (a, b, s), m in models.items()
        if a > 0
    ]
    frame = pd.DataFrame(rows, columns=["alpha", "beta", "seed", "basis"])
    frame["target beta*basis"] = frame["beta"] * frame["basis"]
    return frame.groupby(["alpha", "beta"])[["basis", "target beta*basis"]].mean()


# ============================================================================ the paper's side


def paper_grid(dataset: str, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's α×β grid of one dataset (Tables 3-6) in the shape of :func:`run_point` rows.

    The baseline rows come from Table 1 (``ViLT``) and the "minimize OT" rows from Table 2, so
    the paper's grid can be drawn with the same plotting functions and compared by
    :func:`win_rate`.

    Args:
        dataset: the name printed in the paper (``"Hateful Memes"``, ``"MM-IMDb"``,
            ``"UR-FUNNY"``, ``"MOSEI"``) or a workbench name from :data:`PAPER_DATASETS`.
        reference: the published numbers (default ``load_reference("wma")``).

    Returns:
        Columns ``regime, alpha, beta, case, condition, modality, metric, value, seed`` (seed 0).
    """
    reference = load_reference("wma") if reference is None else reference
    name = PAPER_DATASETS.get(dataset, dataset)
    ref = reference[reference["dataset"] == name]
    if ref.empty:
        raise ValueError(
            f"paper_grid(): no published rows for {dataset!r}; expected one of {sorted(PAPER_DATASETS.values())}."
        )
    cells = ref[ref["table"].isin(["3", "4", "5", "6"])].copy()
    params = cells["level"].str.extract(r"alpha=([\d.]+);beta=([\d.]+)").astype(float)
    cells["alpha"], cells["beta"], cells["regime"] = params[0], params[1], "WMA"
    base = ref[(ref["table"] == "1") & (ref["method"] == "ViLT")].assign(
        alpha=0.0, beta=0.0, regime="baseline"
    )
    mot = ref[(ref["table"] == "2") & (ref["method"] == "minimize OT")].assign(
        alpha=1.0, beta=0.0, regime="minimize OT"
    )
    out = pd.concat([base, mot, cells], ignore_index=True)
    out["case"] = np.where(
        out["modality"].astype(str) == "",
        out["condition"],
        out["condition"] + "/" + out["modality"].astype(str),
    )
    out["seed"] = 0
    return out[
        ["regime", "alpha", "beta", "case", "condition", "modality", "metric", "value", "seed"]
    ]


def win_rate(grid: pd.DataFrame, higher_is_better: bool = True) -> pd.DataFrame:
    """Per test case: the share of WMA grid cells (mean over seeds) at least as good as the
    baseline, and the best cell's gain (the paper: "improvements in almost half of the settings").

    Args:
        grid: :func:`run_point` / :func:`alpha_beta_grid` rows or :func:`paper_grid`.
        higher_is_better: False for an error metric (MAE).

    Returns:
        Columns ``case, cells, share_at_least_baseline, best_gain``.
    """
    col = "case" if "case" in grid.columns else "condition"
    base = grid[grid["regime"] == "baseline"].groupby(col)["value"].mean()
    cells = (
        grid[grid["regime"] == "WMA"].groupby([col, "alpha", "beta"])["value"].mean().reset_index()
    )
    rows = []
    for case, g in cells.groupby(col, sort=False):
        if case not in base.index:
            continue
        gain = (g["value"] - base[case]) * (1.0 if higher_is_better else -1.0)
        rows.append(
            {
                "case": case,
                "cells": len(g),
                "share_at_least_baseline": float((gain >= 0).mean()),
                "best_gain": float(gain.max()),
            }
        )
    return pd.DataFrame(rows)


# ============================================================================ claims


def _claim(against: str, condition: str) -> Claim:
    table = "1" if against == "baseline" else "2"
    what = {
        "normal": "on clean test data",
        "noise": "under noise",
        "missing": "with a missing modality",
    }
    return Claim(
        id=f"wma.beats_{'baseline' if table == '1' else 'minimize_ot'}.{condition}",
        text=f"WMA beats {'the baseline' if table == '1' else 'minimize OT'} {what[condition]}",
        paper="wma",
        table=table,
        kind="ordering",
        method="WMA",
        against=(against,),
        where={"condition": condition},
        reference={"table": table, "condition": condition, "higher_is_better": True},
        paper_method="ViLT-WMA" if table == "1" else "WMA",
        paper_against="ViLT" if table == "1" else "minimize OT",
    )


CLAIMS: tuple[Claim, ...] = tuple(
    _claim(against, condition)
    for against in ("baseline", "minimize OT")
    for condition in ("normal", "noise", "missing")
)
"""Tables 1-2 of the WMA paper: WMA beats the baseline (Table 1) and "minimize OT" (Table 2)
on clean data, under noise and with a missing modality (the test cases of each condition
averaged per seed). :func:`paper_table` points the paper side to the dataset's rows on one of
the paper's datasets, and to the rows of the paper's datasets whose metric has the same
direction on another dataset."""


def paper_table(results: pd.DataFrame, *, profile: str | None = None) -> pd.DataFrame:
    """The paper's claims (:data:`CLAIMS`) evaluated on the points selected on validation.

    Per dataset of ``results``, the baseline, "minimize OT" and WMA points are chosen by
    :func:`select` (validation only) and the claims evaluated on their test rows with
    :func:`workbench.claims.evaluate` (per-seed paired differences; an error metric such as
    MAE is flipped). On one of the paper's datasets the paper side is read from that
    dataset's rows of ``workbench/reference/wma.csv``.

    Args:
        results: the rows of :func:`run_point` (e.g. ``reproduce("wma", ...).results``).
        profile: the profile name written in the table (default the results' own, if any).

    Returns:
        :func:`workbench.claims.evaluate`'s table with ``dataset`` and the selected ``alpha``,
        ``beta`` of WMA.
    """
    if "dataset" not in results:
        results = results.assign(dataset="")
    frames = []
    for dataset, rows in results.groupby("dataset", sort=False):
        main = selected_frame(rows)
        main["modality"] = main["modality"].fillna("").astype(str).replace(PAPER_MODALITY_NAMES)
        higher = _higher(rows)
        paper_dataset = {"dataset": PAPER_DATASETS[dataset]} if dataset in PAPER_DATASETS else {}
        claims = [
            dataclasses.replace(
                c,
                where={**c.where, "dataset": dataset},
                reference={**c.reference, "higher_is_better": higher, **paper_dataset},
                higher_is_better=higher,
            )
            for c in CLAIMS
        ]
        table = evaluate(claims, {"main": main}, profile=profile or "")
        choice = select(rows).set_index("regime")
        wma = choice.loc["WMA"] if "WMA" in choice.index else {"alpha": np.nan, "beta": np.nan}
        table.insert(0, "dataset", dataset)
        table["alpha"], table["beta"] = float(wma["alpha"]), float(wma["beta"])
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ============================================================================ the synthetic mechanism

MECHANISM_AGAINST = ("baseline", "minimize OT")
"""The regimes WMA is compared with on the ``synthetic`` profile (Tables 1-2's comparisons)."""


def _knob_rows(results: pd.DataFrame) -> pd.DataFrame:
    """The selected test rows of the noise knob: ``normal`` (amplitude 0, counted for every
    noisy modality) and ``noise`` (amplitude = ``level``), with columns ``noisy, amplitude``."""
    sel = selected_frame(results)
    noise = sel[sel["condition"] == "noise"].copy()
    if noise.empty:
        raise ValueError(
            "The results hold no 'noise' rows; run the synthetic profile "
            "(conditions: noise_sweep) or pass rows of run_point with noise test cases."
        )
    noise["noisy"] = noise["modality"].astype(str)
    noise["amplitude"] = pd.to_numeric(noise["level"]).astype(float)
    normal = sel[sel["condition"] == "normal"]
    clean = [normal.assign(noisy=m, amplitude=0.0) for m in noise["noisy"].unique()]
    return pd.concat([*clean, noise], ignore_index=True)


ADVANTAGE_PLOT: dict[str, Any] = {
    "knob": "amplitude",
    "values": "difference",
    "panel": "against",
    "series": "noisy",
    "panel_title": "WMA − {}",
    "series_label": "noise on {}",
    "symlog": True,
    "xlabel": "noise amplitude on one modality (0 = clean)",
    "ylabel": "paired difference",
}
"""How :func:`workbench.plotting.advantage_plot` reads :func:`noise_advantage`'s per-seed frame:
one panel per comparison (the baseline, Table 1; "minimize OT", Table 2), one line per noisy
modality, amplitudes on a symmetric-log axis (0 is the clean test set)."""


def noise_advantage(results: pd.DataFrame) -> pd.DataFrame:
    """WMA's advantage over the baseline and over "minimize OT" per noise amplitude and seed.

    The points are the ones :func:`select` picks on the clean *validation* split (never on
    test); each seed's WMA score is paired with the same seed's baseline and "minimize OT"
    scores on the same corrupted test set (the corruption seed is the training seed,
    :func:`evaluate_point`). A positive difference favours WMA (sign-flipped for an error
    metric such as MAE).

    Args:
        results: the rows of :func:`run_point` with the ``noise_sweep`` test cases (the
            ``synthetic`` profile's ``results.csv``).

    Returns:
        Columns ``dataset, against, noisy, amplitude, seed, wma, other, difference``; amplitude
        0 is the clean test set.

    Raises:
        ValueError: no noise rows, or no WMA run.
    """
    rows = _knob_rows(results)
    if "WMA" not in set(rows["method"]):
        raise ValueError("noise_advantage(): the results hold no WMA run (alpha > 0, beta > 0).")
    sign = 1.0 if _higher(results) else -1.0
    keys = ["dataset", "noisy", "amplitude", "seed"]
    wide = rows.pivot_table(index=keys, columns="method", values="value", aggfunc="mean")
    out = []
    for other in MECHANISM_AGAINST:
        if other not in wide.columns:
            continue
        frame = wide[["WMA", other]].dropna().reset_index()
        frame = frame.rename(columns={"WMA": "wma", other: "other"})
        frame.insert(1, "against", other)
        frame["difference"] = sign * (frame["wma"] - frame["other"])
        out.append(frame)
    if not out:
        raise ValueError(
            f"noise_advantage(): the results hold neither of {MECHANISM_AGAINST} to compare with."
        )
    cols = ["dataset", "against", "noisy", "amplitude", "seed", "wma", "other", "difference"]
    return pd.concat(out, ignore_index=True)[cols]


def advantage_summary(advantage: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std and standard error over seeds of :func:`noise_advantage`, per comparison,
    noisy modality and amplitude (:func:`~workbench.experiments.evidence.seed_summary`:
    ``se = std / sqrt(n)``; ``std`` and ``se`` are NaN with one seed), with the regimes' mean
    scores beside. Columns ``dataset, against, noisy, amplitude, wma, other, mean, std, se, n``
    (the tidy shape of :func:`workbench.plotting.advantage_plot`)."""
    from .evidence import seed_summary

    keys = ["dataset", "against", "noisy", "amplitude"]
    scores = advantage.groupby(keys, sort=True)[["wma", "other"]].mean().reset_index()
    out = seed_summary(advantage, keys, "difference")
    return pd.concat([scores, out.drop(columns=keys)], axis=1)


def _mechanism_claims(rows: pd.DataFrame, higher: bool, dataset: str) -> list[Claim]:
    claims = []
    for other in MECHANISM_AGAINST:
        if other not in set(rows["method"]):
            continue
        table = "1" if other == "baseline" else "2"
        short = "baseline" if other == "baseline" else "minimize_ot"
        first = sorted(rows["noisy"].unique())[0]
        for (noisy, amplitude), _ in rows.groupby(["noisy", "amplitude"], sort=True):
            condition = "normal" if amplitude == 0 else "noise"
            if condition == "normal" and noisy != first:
                continue  # the clean test set is one claim, not one per noisy modality
            where = {"dataset": dataset, "noisy": noisy, "amplitude": float(amplitude)}
            claims.append(
                Claim(
                    id=f"wma.synthetic.beats_{short}."
                    + ("clean" if condition == "normal" else f"{noisy}.a{amplitude:g}"),
                    text=(
                        f"WMA beats {'the baseline' if table == '1' else 'minimize OT'} "
                        + (
                            "on clean test data"
                            if amplitude == 0
                            else f"with uniform noise of amplitude {amplitude:g} on {noisy}"
                        )
                    ),
                    paper="wma",
                    table=table,
                    kind="ordering",
                    method="WMA",
                    against=(other,),
                    where=where,
                    reference={"table": table, "condition": condition},
                    paper_method="ViLT-WMA" if table == "1" else "WMA",
                    paper_against="ViLT" if table == "1" else "minimize OT",
                    higher_is_better=higher,
                )
            )
    return claims


def mechanism_table(results: pd.DataFrame, *, profile: str | None = None) -> pd.DataFrame:
    """The ``synthetic`` profile's claims: WMA beats the baseline (Table 1) and "minimize OT"
    (Table 2) on the clean test set and at every noise amplitude of the knob, one claim per
    (noisy modality, amplitude) (``noisy`` is empty for the clean claim),
    evaluated with :func:`workbench.claims.evaluate` on the points selected on validation.

    The paper side is the paper's Table 1 / Table 2 ``normal`` rows for amplitude 0 and its
    ``noise`` rows (amplitude 3 on ViLT's embeddings) for every other amplitude: the paper
    tests one amplitude, so the knob's other values have no printed counterpart.

    Args:
        results: the rows of :func:`run_point` with the ``noise_sweep`` test cases.
        profile: the profile name written in the table.

    Returns:
        :func:`workbench.claims.evaluate`'s table with ``dataset``, ``noisy``, ``amplitude`` and
        the selected ``alpha``, ``beta`` of WMA.
    """
    if "dataset" not in results:
        results = results.assign(dataset="")
    frames = []
    for dataset, part in results.groupby("dataset", sort=False):
        rows = _knob_rows(part)
        higher = _higher(part)
        claims = _mechanism_claims(rows, higher, str(dataset))
        table = evaluate(claims, {"main": rows}, profile=profile or "")
        knob = pd.DataFrame(
            [
                ("" if c.where["amplitude"] == 0 else c.where["noisy"], c.where["amplitude"])
                for c in claims
            ],
            columns=["noisy", "amplitude"],
        )
        table.insert(0, "dataset", dataset)
        table.insert(2, "noisy", knob["noisy"].to_numpy())
        table.insert(3, "amplitude", knob["amplitude"].to_numpy())
        choice = select(part).set_index("regime")
        wma = choice.loc["WMA"] if "WMA" in choice.index else {"alpha": np.nan, "beta": np.nan}
        table["alpha"], table["beta"] = float(wma["alpha"]), float(wma["beta"])
        frames.append(table)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


# ============================================================================ diagnoses

_WHAT = {"normal": "clean test data", "noise": "noise", "missing": "a missing modality"}


def _claim_parts(claim_id: str) -> tuple[str, str] | None:
    """``(against regime, condition)`` of a :data:`CLAIMS` id, ``None`` for another id."""
    for claim in CLAIMS:
        if claim.id == claim_id:
            return claim.against[0], str(claim.where["condition"])
    return None


def _per_seed_scores(rows: pd.DataFrame, regime: str, condition: str) -> pd.Series:
    part = rows[(rows["method"] == regime) & (rows["condition"] == condition)]
    return part.groupby("seed")["value"].mean()


def _mean_se(x: pd.Series) -> tuple[float, float, int]:
    a = pd.to_numeric(x, errors="coerce").dropna().to_numpy(dtype=float)
    if a.size == 0:
        return float("nan"), float("nan"), 0
    se = float(a.std(ddof=1) / np.sqrt(a.size)) if a.size > 1 else float("nan")
    return float(a.mean()), se, int(a.size)


def _improving(ev, rows: pd.DataFrame) -> tuple[int, int, list[int], int | None]:
    """Runs behind ``rows`` still improving at their last epoch (provenance ``convergence``;
    else ``best_epoch > 0.75 max_epochs`` from the rows), their best epochs and the budget."""
    runs = rows.drop_duplicates("run_id") if "run_id" in rows else rows.iloc[0:0]
    conv = ev.convergence if hasattr(ev, "convergence") else pd.DataFrame()
    if len(conv) and "run_id" in conv and "still_improving" in conv:
        conv = conv[conv["run_id"].astype(str).isin(set(runs["run_id"].astype(str)))]
        if len(conv):
            best = [int(b) for b in pd.to_numeric(conv["best_epoch"], errors="coerce").dropna()]
            budget = pd.to_numeric(conv.get("max_epochs"), errors="coerce").dropna()
            return (
                int(conv["still_improving"].astype(bool).sum()),
                len(conv),
                sorted(best),
                int(budget.max()) if len(budget) else None,
            )
    if {"best_epoch", "max_epochs"} <= set(runs.columns) and len(runs):
        best = pd.to_numeric(runs["best_epoch"], errors="coerce")
        budget = pd.to_numeric(runs["max_epochs"], errors="coerce")
        late = best > 0.75 * budget
        return int(late.sum()), len(runs), sorted(int(b) for b in best.dropna()), int(budget.max())
    return 0, 0, [], None


def diagnose(ev) -> dict[tuple[str, str], tuple[str, str]]:
    """Why a WMA claim (:data:`CLAIMS`, Tables 1-2) does not hold on a committed run.

    For every claim of ``ev.table`` whose verdict is not ``holds``, on the points
    :func:`select` picks on validation (the ones the table judged), in this order:

    - **implementation**: the IPOT plans of WMA or "minimize OT" missed their marginals (the
      run's ``ot_marginal_error`` above ``WMAConfig.ot_tol``), so :math:`D^i` of Eq. 8 is not
      the OT cost the paper regularises;
    - **budget**: at least half of the claim's runs (WMA and the other regime, every seed) had
      their best validation epoch in the last quarter of the budget (provenance
      ``convergence``): the comparison is made before the runs converged;
    - **data**: for a noise or missing-modality claim, the test case does not hurt the other
      regime beyond 2 SE (clean minus corrupted score, per seed): the effect WMA's robustness
      claim is about is absent at the paper's amplitude / rate on this data;
    - **spread**: ``not clearly`` with the paired difference within 2 SE, and the seeds the
      observed mean would need at the observed per-seed std;
    - **data** otherwise: converged runs order the regimes the other way on this data.

    The ``synthetic`` profile's claims (:func:`mechanism_table`) get **budget**, **spread** or
    **data** in the same way, and their texts say how much accuracy each regime loses from the
    clean test set to the claim's noise amplitude (the robustness the claim is about).

    Every number in a text is computed from ``ev.results`` and ``ev.provenance``.

    Args:
        ev: a :class:`workbench.experiments.evidence.Evidence` (or any object with
            ``results``, ``table``, ``provenance`` and ``convergence``).

    Returns:
        ``{(dataset, claim id): (kind, text)}`` for the rows of :data:`CLAIMS` and of
        :func:`mechanism_table` that do not hold and have paired differences (other ids, and
        claims a partial run could not judge, are left to the generic diagnosis).
    """
    from .evidence import seeds_needed

    table, results = ev.table, ev.results
    if "verdict" not in table.columns or results.empty or "regime" not in results.columns:
        return {}
    if "dataset" not in results.columns:
        results = results.assign(dataset="")
    tol = WMAConfig().ot_tol
    out: dict[tuple[str, str], tuple[str, str]] = {}
    knob: dict[str, tuple] = {}  # per dataset: its rows, noise advantage and selected rows
    for _, r in table[table["verdict"] != "holds"].iterrows():
        if str(r["id"]).startswith("wma.synthetic.") and "amplitude" in r:
            found = _diagnose_knob(ev, results, r, knob)
            if found is not None:
                out[found[0]] = found[1]
            continue
        parts = _claim_parts(str(r["id"]))
        if parts is None:
            continue
        other, condition = parts
        dataset = "" if pd.isna(r.get("dataset", "")) else str(r.get("dataset", ""))
        rows = results[results["dataset"].astype(str) == dataset] if dataset else results
        if rows.empty:
            continue
        sel = selected_frame(rows)
        pair = sel[sel["method"].isin(["WMA", other])]
        sign = 1.0 if _higher(rows) else -1.0
        diff = sign * (
            _per_seed_scores(pair, "WMA", condition) - _per_seed_scores(pair, other, condition)
        )
        mean, se, n = _mean_se(diff)
        if n == 0:
            continue  # not judged (e.g. a partial run without WMA): the generic diagnosis says so
        wma_row = select(rows).set_index("regime")
        cell = (
            f"WMA at alpha={wma_row.loc['WMA', 'alpha']:g}, beta={wma_row.loc['WMA', 'beta']:g}"
            if "WMA" in wma_row.index
            else "WMA"
        )
        said = f"{cell} vs {other} with {_WHAT[condition]}: {mean:+.3g} ± {se:.2g} (SE, n={n})"
        ot = pair[pair["method"].isin(["WMA", "minimize OT"])]
        if "ot_marginal_error" in ot.columns:
            err = pd.to_numeric(ot.drop_duplicates("run_id")["ot_marginal_error"], errors="coerce")
            bad = err[err > tol]
            if len(bad):
                out[(dataset, str(r["id"]))] = (
                    "implementation",
                    f"{said}; the IPOT plans missed their marginals in {len(bad)} of "
                    f"{int(err.notna().sum())} OT runs (largest epoch-mean marginal error "
                    f"{float(bad.max()):.3g} > ot_tol {tol:g}), so D of Eq. 8 is not the OT cost "
                    "the paper regularises.",
                )
                continue
        improving, n_runs, best, budget = _improving(ev, pair)
        if n_runs and improving / n_runs >= 0.5:
            span = f" (best epochs {min(best)}-{max(best)})" if best else ""
            out[(dataset, str(r["id"]))] = (
                "budget",
                f"{said}; {improving} of {n_runs} runs of WMA and {other} had their best "
                f"validation epoch in the last quarter of the {budget}-epoch budget{span}: "
                "they were still improving, so the ordering is taken before convergence.",
            )
            continue
        if condition != "normal":
            clean = _per_seed_scores(pair, other, "normal")
            hit = _per_seed_scores(pair, other, condition)
            drop_mean, drop_se, drop_n = _mean_se(sign * (clean - hit))
            if drop_n and not drop_mean > 2 * (drop_se if np.isfinite(drop_se) else 0.0):
                out[(dataset, str(r["id"]))] = (
                    "data",
                    f"{said}; the test case costs {other} only {drop_mean:+.3g} ± "
                    f"{drop_se:.2g} (SE, n={drop_n}; clean {clean.mean():.3g}, with "
                    f"{_WHAT[condition]} {hit.mean():.3g}), within 2 SE of no effect: the "
                    "corruption the claim is about barely touches this data, so there is no "
                    "robustness for WMA to add.",
                )
                continue
        if str(r["verdict"]) == "not clearly" and np.isfinite(se) and abs(mean) <= 2 * se:
            need = seeds_needed(mean, se, n)
            more = (
                "a zero mean clears 2 SE with no number of seeds"
                if np.isinf(need)
                else f"about {need:.0f} seeds would be needed at the observed per-seed std "
                f"({se * np.sqrt(n):.2g}) for this mean to clear 2 SE"
            )
            out[(dataset, str(r["id"]))] = ("spread", f"{said}, within 2 SE; {more}.")
            continue
        out[(dataset, str(r["id"]))] = (
            "data",
            f"{said}; {n_runs - improving} of {n_runs} runs had converged (best epoch before "
            f"the last quarter of the budget), so {other if mean < 0 else 'WMA'} is ahead on "
            "this data, not for lack of epochs.",
        )
    return out


def _num(x: float, digits: int = 3) -> str:
    """``x`` to ``digits`` significant digits, 0 for a rounding residue (|x| < 1e-12)."""
    return "0" if abs(x) < 1e-12 else f"{x:.{digits}g}"


def _diagnose_knob(ev, results: pd.DataFrame, r: pd.Series, cache: dict):
    """:func:`diagnose` of one :func:`mechanism_table` row: ``((dataset, id), (kind, text))``,
    ``None`` when the results do not hold its rows (``cache`` keeps each dataset's frames)."""
    from .evidence import seeds_needed

    dataset = "" if pd.isna(r.get("dataset", "")) else str(r.get("dataset", ""))
    against = next((o for o in MECHANISM_AGAINST if f"vs {o}:" in str(r.get("workbench"))), None)
    if dataset not in cache:
        part = results[results["dataset"].astype(str) == dataset] if dataset else results
        usable = not part.empty and "noise" in set(part["condition"])
        cache[dataset] = (
            (part, noise_advantage(part), selected_frame(part)) if usable else (None, None, None)
        )
    part, adv, sel = cache[dataset]
    if part is None or against is None:
        return None
    adv = adv[adv["against"] == against]
    amplitude = float(r["amplitude"])
    noisy = "" if pd.isna(r.get("noisy")) else str(r.get("noisy"))
    noisy = noisy or str(adv["noisy"].iloc[0])
    here = adv[(adv["noisy"] == noisy) & np.isclose(adv["amplitude"], amplitude)]
    clean = adv[(adv["noisy"] == noisy) & (adv["amplitude"] == 0)]
    if here.empty:
        return None
    mean, se, n = _mean_se(here.set_index("seed")["difference"])
    if n == 0:
        return None
    where = "on the clean test set" if amplitude == 0 else f"at amplitude {amplitude:g} on {noisy}"
    said = f"WMA vs {against} {where}: {mean:+.3g} ± {se:.2g} (SE, n={n})"
    if amplitude > 0 and len(clean):
        sign = 1.0 if _higher(part) else -1.0
        c, h = clean.set_index("seed"), here.set_index("seed")
        lost_wma = _mean_se(sign * (c["wma"] - h["wma"]))
        lost_other = _mean_se(sign * (c["other"] - h["other"]))
        said += (
            f"; from the clean test set to this noise WMA loses {_num(lost_wma[0])} ± "
            f"{_num(lost_wma[1], 2)} and {against} {_num(lost_other[0])} ± "
            f"{_num(lost_other[1], 2)} (SE)"
        )
    improving, n_runs, _, budget = _improving(ev, sel[sel["method"].isin(["WMA", against])])
    key = (dataset, str(r["id"]))
    if n_runs and improving / n_runs >= 0.5:
        return key, (
            "budget",
            f"{said}; {improving} of {n_runs} runs had their best validation epoch in the last "
            f"quarter of the {budget}-epoch budget, so they were still improving.",
        )
    if str(r["verdict"]) == "not clearly" and np.isfinite(se) and abs(mean) <= 2 * se:
        need = seeds_needed(mean, se, n)
        more = (
            "a zero mean clears 2 SE with no number of seeds"
            if np.isinf(need)
            else f"about {need:.0f} seeds would be needed at the observed per-seed std for "
            "this mean to clear 2 SE"
        )
        return key, ("spread", f"{said}, within 2 SE; {more}.")
    return key, (
        "data",
        f"{said}; {n_runs - improving} of {n_runs} runs had converged, so on this data "
        f"{against if mean < 0 else 'WMA'} is ahead at this amplitude, not for lack of epochs.",
    )
