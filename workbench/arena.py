"""The robustness arena: every method, the same encoders, the same corruptions, one table.

>>> df = run_point("RAML", "mfeat", seed=0, profile="smoke",
...                dataset_options={"views": ["fou", "fac", "kar"]})
>>> summary = run_arena(["Concat", "Late Fusion", "MLA", "RAML"], ["av_digits"], seeds=[0, 1])
>>> leaderboard(summary)                     # mean ± std over seeds, per dataset and method

- **Entrants** (:data:`ENTRANTS`, :func:`entrants`, :func:`build_entrant`): the MLA paper's
  fusions and training schemes (:func:`workbench.methods.baselines.build_method`), RAML and its
  baselines (:func:`workbench.methods.raml_protocol.make_method`), OTM on late fusion
  (:class:`workbench.methods.otm_fusions.OTMFusion`, supervised, Eq. 5 and 7 of the OTM paper)
  and WMA (:class:`workbench.methods.wma.WMA` on the one-tower transformer; token-sequence
  datasets only). With ``encoders="shared"`` (default) every entrant but WMA gets the *same*
  encoder family, the ``"auto"`` family of :mod:`workbench.models.encoders` (MLP for vectors,
  CNN for images, 1-D CNN for sequences), of the same output size: RAML and its baselines are
  built on that module's ``"raml"`` family (LSTM, two-layer MLPs, strided CNN) and OTM on its
  own encoders, which the arena swaps for the shared ones after construction, so that their
  other initial weights stay those of the native build (``encoders="native"`` keeps them).
  WMA's backbone is a transformer over tokens and keeps its own token projections.
- **Corruptions** (:func:`arena_conditions`): per modality, uniform noise on the embeddings
  (``UniformNoise``, WMA Sec. 4.1) at increasing amplitude; Gaussian noise on the inputs
  (``GaussianNoise``, RAML Tab. II) at increasing sigma for image modalities; missing
  modality (``MissingModality``, MLA Fig. 2) at increasing rate; every missing pattern
  (``MissingPattern``, RAML Tab. I, ``2^M - 1`` of them); and unaligned training
  (:func:`workbench.corruptions.unalign` of the training split, OTM Tab. 2), for which each
  entrant is trained a second time on the unaligned split and tested clean. Unaligned training
  applies to every entrant here: all are supervised and train on per-sample tuples, so the
  same unaligned split is given to each (labels stay with the first modality; validation and
  test stay aligned).
- **One point** (:func:`run_point`): train one entrant on one dataset with one seed
  (``Trainer(cache=True)``, selection on validation), evaluate it under every condition and
  return the tidy frame of :func:`workbench.evaluation.robustness` plus a ``severity`` column,
  the x-axis of the severity curves. :func:`run_arena` sweeps points with
  :func:`workbench.sweep.run_sweep` (resumable).
- **Summaries**: :func:`severity_curves`, :func:`auc` (trapezoid area under the severity
  curve, normalised by the severity range), relative robustness ``AUC / clean`` and effective
  robustness ``AUC - RR_baseline * clean`` (:func:`robustness_summary`), :func:`leaderboard`
  (mean ± std over seeds) and :func:`claims_table` (the papers' robustness claims checked on the
  arena).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from . import corruptions as C
from .data.base import MultimodalDataset
from .evaluation import robustness
from .models.base import Method

__all__ = [
    "ENTRANTS",
    "FAMILIES",
    "PROFILES",
    "ArenaProfile",
    "Entrant",
    "arena_conditions",
    "arena_grid",
    "arena_store",
    "auc",
    "build_entrant",
    "claims_table",
    "effective_robustness",
    "entrants",
    "leaderboard",
    "leaderboard_numeric",
    "register_entrant",
    "relative_robustness",
    "robustness_summary",
    "run_arena",
    "run_point",
    "severity_curves",
    "trapezoid_auc",
]

FAMILIES = ("noise", "gaussian_noise", "missing", "missing_pattern", "unaligned")
"""The corruption families of the arena, in table order (``condition`` values)."""


# ============================================================================ profiles


@dataclass(frozen=True)
class ArenaProfile:
    """Training budget and corruption severities of an arena run.

    Attributes:
        max_epochs, patience, batch_size, lr: the :class:`~workbench.training.TrainerConfig`.
        embed_dim: output size of every entrant's encoders (the shared encoders).
        hidden: hidden width of the shared MLP encoders.
        amplitudes: ``UniformNoise`` amplitudes on the embeddings (WMA: 3; card 0.25-0.75).
        sigmas: ``GaussianNoise`` sigmas on image inputs (RAML Tab. II: 0.08-0.38).
        rates: ``MissingModality`` rates (MLA Fig. 2: 0.1-0.7).
        patterns: evaluate every missing pattern (RAML Tab. I).
        unaligned: also train on the unaligned training split (OTM Tab. 2) and test clean.
    """

    max_epochs: int = 30
    patience: int | None = 5
    batch_size: int = 64
    lr: float = 1e-3
    embed_dim: int = 64
    hidden: tuple[int, ...] = (128,)
    amplitudes: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 3.0)
    sigmas: tuple[float, ...] = (0.08, 0.12, 0.18, 0.26, 0.38)
    rates: tuple[float, ...] = (0.1, 0.3, 0.5, 0.7)
    patterns: bool = True
    unaligned: bool = True


PROFILES: dict[str, ArenaProfile] = {
    "smoke": ArenaProfile(
        max_epochs=4,
        patience=2,
        embed_dim=32,
        hidden=(64,),
        amplitudes=(0.5, 1.5, 3.0),
        sigmas=(0.08, 0.18, 0.38),
        rates=(0.25, 0.5, 0.75),
        unaligned=True,
    ),
    "full": ArenaProfile(),
}
"""``"smoke"``: a few epochs and three severities per family (CPU, about a second a point);
``"full"``: up to 30 epochs with early stopping and the papers' severity grids."""


def _profile(profile: str | ArenaProfile) -> ArenaProfile:
    if isinstance(profile, ArenaProfile):
        return profile
    if profile not in PROFILES:
        raise ValueError(
            f"Unknown arena profile {profile!r}; expected one of {sorted(PROFILES)} or an ArenaProfile."
        )
    return PROFILES[profile]


# ============================================================================ entrants


def _is_image(dataset: MultimodalDataset, m: str) -> bool:
    return not dataset.is_sequence(m) and len(dataset.modality_shape(m)) == 3


def _is_tokens(dataset: MultimodalDataset, m: str) -> bool:
    return dataset.is_sequence(m) or len(dataset.modality_shape(m)) == 2


def _multimodal(dataset: MultimodalDataset) -> bool:
    return len(dataset.modalities) >= 2


def _token_sequences(dataset: MultimodalDataset) -> bool:
    return _multimodal(dataset) and all(_is_tokens(dataset, m) for m in dataset.modalities)


def _multiclass_multimodal(dataset: MultimodalDataset) -> bool:
    return _multimodal(dataset) and dataset.task.kind == "multiclass"


@dataclass(frozen=True)
class Entrant:
    """One arena entrant.

    Attributes:
        name: the arena's name (the ``method`` column), as printed in the papers.
        paper: where it comes from (``"mla"``, ``"raml"``, ``"otm"``, ``"wma"``).
        build: ``(train, options) -> Method`` with ``options`` holding at least
            ``embed_dim``, ``hidden``, ``encoders`` and ``seed``; called under a forked RNG
            seeded with ``seed``.
        applies: ``train -> bool``: whether the entrant is defined for the dataset.
        trainer: overrides of the :class:`~workbench.training.TrainerConfig` fields.
        note: one line on what it is.
    """

    name: str
    paper: str
    build: Callable[[MultimodalDataset, dict[str, Any]], Method]
    applies: Callable[[MultimodalDataset], bool] = _multimodal
    trainer: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


ENTRANTS: dict[str, Entrant] = {}
"""Registered entrants by name (:func:`register_entrant`)."""


def register_entrant(entrant: Entrant) -> Entrant:
    """Add ``entrant`` to :data:`ENTRANTS` (a name may be registered once)."""
    if entrant.name in ENTRANTS:
        raise ValueError(f"Arena entrant {entrant.name!r} is registered twice.")
    ENTRANTS[entrant.name] = entrant
    return entrant


def _shared_encoders(train: MultimodalDataset, out_dim: int, options: Mapping[str, Any]):
    from .models.encoders import encoders_for, modality_specs

    return encoders_for(
        modality_specs(train),
        int(out_dim),
        family="auto",
        hidden=tuple(options["hidden"]),
        dropout=float(options.get("dropout", 0.1)),
    )


def _method_options(options: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in options.items()
        if k not in ("embed_dim", "hidden", "encoders", "dropout", "seed")
    }


def _mla_family(name: str) -> Callable[[MultimodalDataset, dict[str, Any]], Method]:
    def build(train: MultimodalDataset, options: dict[str, Any]) -> Method:
        from .methods.baselines import build_method
        from .models.fusion import FusionConfig

        config = FusionConfig.for_dataset(
            train,
            embed_dim=int(options["embed_dim"]),
            hidden=tuple(options["hidden"]),
            encoder="auto" if options["encoders"] == "shared" else "mlp",
            dropout=float(options.get("dropout", 0.1)),
        )
        return build_method(name, config, seed=int(options["seed"]), **_method_options(options))

    return build


def _raml_family(name: str) -> Callable[[MultimodalDataset, dict[str, Any]], Method]:
    def build(train: MultimodalDataset, options: dict[str, Any]) -> Method:
        from .methods.raml_protocol import make_method

        d = int(options["embed_dim"])
        opts = {"embed_dim": d, "hidden": d if name == "RAML" else int(options["hidden"][0])}
        opts.update(_method_options(options))
        model = make_method(name, train, **opts)
        if options["encoders"] == "shared":
            # RAML's encoders output `hidden` (then the mu/sigma heads); the baselines' output
            # `embed_dim`: the shared encoders replace them with the same output size.
            out = opts["hidden"] if name == "RAML" else d
            model.encoders = _shared_encoders(train, out, options)
        return model

    return build


def _build_otm(train: MultimodalDataset, options: dict[str, Any]) -> Method:
    from .methods.otm_fusions import FusionOTMConfig, OTMFusion

    d = int(options["embed_dim"])
    fields = FusionOTMConfig.__dataclass_fields__
    opts = {
        "fusion": "late",
        "otm_weight": 1.0,
        "latent_dim": d,
        "hidden_dim": options["hidden"][0],
    }
    opts.update({k: v for k, v in _method_options(options).items() if k in fields})
    opts.setdefault("seed", int(options["seed"]))
    model = OTMFusion.for_dataset(train, FusionOTMConfig(**opts))
    if options["encoders"] == "shared":
        model.encoders = _shared_encoders(train, d, options)
    return model


def _build_wma(train: MultimodalDataset, options: dict[str, Any]) -> Method:
    from .methods.wma import WMA, WMAConfig, backbone_factory

    opts = _method_options(options)
    wfields = WMAConfig.__dataclass_fields__
    wma = WMAConfig(**{k: v for k, v in opts.items() if k in wfields})
    sizes = {k: v for k, v in opts.items() if k not in wfields}
    d = int(options["embed_dim"])
    sizes.setdefault("d_model", d)
    sizes.setdefault("n_heads", 4 if d % 4 == 0 else 1)
    sizes.setdefault("n_layers", 2)
    return WMA(backbone_factory(train, "transformer", **sizes)(), wma)


def _register_defaults() -> None:
    for name, note in (
        ("Sum", "sum of unimodal logits, one joint loss"),
        ("Concat", "concatenated embeddings, linear head"),
        ("Late Fusion", "unimodal heads trained separately, mean of logits"),
        ("FiLM", "feature-wise linear modulation by the first modality"),
        ("BiGated", "bilinear gating by the first modality"),
        ("OGM-GE", "concat + on-the-fly gradient modulation"),
        ("QMF", "late fusion + energy-based quality weights"),
        ("MLA", "alternating unimodal adaptation + entropy-weighted fusion (MLA paper)"),
    ):
        applies = _multiclass_multimodal if name in ("OGM-GE", "QMF") else _multimodal
        register_entrant(Entrant(name, "mla", _mla_family(name), applies, note=note))
    for name, note in (
        ("RAML", "Gaussian embeddings, precision-weighted fusion (RAML paper)"),
        ("Augmentation", "concat trained on all missing patterns"),
        ("MVAE", "product-of-experts VAE"),
        ("MMVAE", "mixture-of-experts VAE"),
        ("CRA", "cascaded residual autoencoder imagination"),
        ("MMIN", "missing modality imagination network"),
        ("TMC", "trusted multi-view classification (Dirichlet evidence)"),
        ("MD", "multimodal dynamics (informativeness gates + TCP)"),
        ("ETMC", "TMC + concatenated pseudo-view"),
    ):
        applies = _multiclass_multimodal if name in ("TMC", "ETMC", "MD") else _multimodal
        register_entrant(Entrant(name, "raml", _raml_family(name), applies, note=note))
    register_entrant(
        Entrant(
            "OTM",
            "otm",
            _build_otm,
            _multimodal,
            note="late fusion + the OT mixer regulariser (supervised OTM, Eq. 5 and 7)",
        )
    )
    register_entrant(
        Entrant(
            "WMA",
            "wma",
            _build_wma,
            _token_sequences,
            note="one-tower transformer + Wasserstein modality alignment (token datasets only)",
        )
    )


_register_defaults()


def entrants(dataset: MultimodalDataset | None = None) -> list[str]:
    """Names of the registered entrants (those that apply to ``dataset`` when given)."""
    return [n for n, e in ENTRANTS.items() if dataset is None or e.applies(dataset)]


def build_entrant(
    name: str,
    train: MultimodalDataset,
    seed: int = 0,
    *,
    embed_dim: int = 64,
    hidden: Sequence[int] = (128,),
    encoders: str = "shared",
    **options: Any,
) -> Method:
    """A fresh, untrained entrant for ``train``, its initial weights drawn from ``seed``.

    Args:
        name: a key of :data:`ENTRANTS`.
        train: the training split (shapes, task).
        seed: seed of the initial weights (in a forked RNG: the global RNG is left as it was).
        embed_dim: output size of every encoder.
        hidden: hidden widths of the shared MLP encoders.
        encoders: ``"shared"`` (the same encoder family for every entrant but WMA) or
            ``"native"`` (each module's own encoders).
        **options: method options (e.g. ``lambda_u`` for RAML, ``alpha``/``beta`` for WMA).

    Raises:
        ValueError: an unknown name, or an entrant that does not apply to ``train``.
    """
    if name not in ENTRANTS:
        raise ValueError(f"Unknown arena entrant {name!r}; registered: {list(ENTRANTS)}.")
    entrant = ENTRANTS[name]
    if not entrant.applies(train):
        raise ValueError(
            f"Arena entrant {name!r} does not apply to dataset {train.name!r} "
            f"(modalities {train.modalities}, task {train.task.kind}); applicable: {entrants(train)}."
        )
    if encoders not in ("shared", "native"):
        raise ValueError(f"build_entrant(encoders={encoders!r}); expected 'shared' or 'native'.")
    opts = {
        "embed_dim": int(embed_dim),
        "hidden": tuple(int(h) for h in hidden),
        "encoders": encoders,
        "seed": int(seed),
    }
    opts.update(options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return entrant.build(train, opts)


# ============================================================================ conditions


def arena_conditions(
    dataset: MultimodalDataset,
    profile: str | ArenaProfile = "smoke",
    families: Sequence[str] | None = None,
) -> list[list[C.Corruption]]:
    """The test conditions of the arena for ``dataset`` (clean first).

    Args:
        dataset: the test split (its modalities and their kinds).
        profile: severities (:data:`PROFILES` name or an :class:`ArenaProfile`).
        families: subset of :data:`FAMILIES` (``"unaligned"`` is a training condition and
            adds nothing here).

    Returns:
        Conditions for :func:`workbench.evaluation.robustness`: ``[]`` (clean), then per
        modality ``UniformNoise`` (embedding level) at each amplitude, ``GaussianNoise`` (input
        level) at each sigma where the modality is an image ``[C, H, W]``, ``MissingModality``
        at each rate, then every ``MissingPattern`` but the full one.
    """
    p = _profile(profile)
    families = tuple(FAMILIES if families is None else families)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"Unknown corruption families {unknown}; expected a subset of {FAMILIES}.")
    out: list[list[C.Corruption]] = [[]]
    for m in dataset.modalities:
        if "noise" in families:
            out += [
                [C.UniformNoise(m, amplitude=float(a), level="embedding")] for a in p.amplitudes
            ]
        if "gaussian_noise" in families and _is_image(dataset, m):
            out += [[C.GaussianNoise(m, sigma=float(s), level="input")] for s in p.sigmas]
        if "missing" in families:
            out += [[C.MissingModality(m, rate=float(r), level="embedding")] for r in p.rates]
    if "missing_pattern" in families and p.patterns:
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
    profile: str = "smoke",
    *,
    data_root: str | None = None,
    dataset_options: Mapping[str, Any] | None = None,
    method_options: Mapping[str, Any] | None = None,
    trainer_options: Mapping[str, Any] | None = None,
    families: Sequence[str] | None = None,
    encoders: str = "shared",
    device: str = "auto",
    threads: int | None = None,
    cache: bool = True,
    splits: Mapping[str, MultimodalDataset] | None = None,
) -> pd.DataFrame:
    """Train one entrant on one dataset with one seed and evaluate it under every condition.

    Importable as ``"workbench.arena:run_point"`` for :func:`workbench.sweep.run_sweep`; every
    argument but ``splits`` is a JSON value.

    Args:
        method: an entrant name (:func:`entrants`).
        dataset: a registered dataset name (:func:`workbench.data.registry.available`).
        seed: the training seed (initial weights, shuffling) and the corruption seed.
        profile: ``"smoke"`` or ``"full"`` (:data:`PROFILES`).
        data_root: folder of a real dataset (``None`` for the embedded ones).
        dataset_options: builder options, e.g. ``{"views": ["fou", "fac", "kar"]}`` for mfeat.
        method_options: entrant options (:func:`build_entrant`).
        trainer_options: overrides of the :class:`~workbench.training.TrainerConfig`.
        families: corruption families to run (default all of :data:`FAMILIES`).
        encoders: ``"shared"`` or ``"native"`` (:func:`build_entrant`).
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
    """
    from .training import Trainer, TrainerConfig

    if threads is None and _in_worker():
        threads = 1
    if threads is not None:
        torch.set_num_threads(int(threads))
    p = _profile(profile)
    if splits is None:
        from .data.registry import load_splits

        splits = load_splits(dataset, data_root, **dict(dataset_options or {}))
    train, validation, test = splits["train"], splits["validation"], splits["test"]
    entrant = ENTRANTS.get(method)
    if entrant is None:
        raise ValueError(f"Unknown arena entrant {method!r}; registered: {list(ENTRANTS)}.")
    config = TrainerConfig(
        max_epochs=p.max_epochs,
        patience=p.patience,
        batch_size=p.batch_size,
        lr=p.lr,
        seed=int(seed),
        device=device,
        progress=False,
    )
    config = dataclasses.replace(config, **{**dict(entrant.trainer), **dict(trainer_options or {})})
    opts = dict(method_options or {})

    def fit(train_split: MultimodalDataset) -> Method:
        model = build_entrant(
            method,
            train_split,
            seed,
            embed_dim=p.embed_dim,
            hidden=p.hidden,
            encoders=encoders,
            **opts,
        )
        return Trainer(config, cache=cache).fit(model, train_split, validation)

    families = tuple(FAMILIES if families is None else families)
    conditions = arena_conditions(test, p, families)
    model = fit(train)
    df = robustness({method: {int(seed): model}}, test, conditions, seeds=(int(seed),))
    if "unaligned" in families and p.unaligned:
        shuffled = C.unalign(train, generator=torch.Generator().manual_seed(int(seed)))
        # The Trainer's data fingerprint (sums) is invariant to row order, so an unaligned split
        # would hit the aligned run's checkpoint: a distinct split name keeps the keys apart.
        shuffled.split = f"{train.split}-unaligned"
        model_u = fit(shuffled)
        du = robustness({method: {int(seed): model_u}}, test, None, seeds=(int(seed),))
        mods = "+".join(train.modalities[1:])
        du = du.assign(
            condition="unaligned", modality=mods, level=1.0, detail=f"unalign({mods}) of train"
        )
        df = pd.concat([df, du], ignore_index=True)
    df["dataset"] = dataset
    n = len(test.modalities)
    df["severity"] = [_severity(r, n) for r in df[["condition", "level"]].to_dict("records")]
    return df


# ============================================================================ sweeps


def arena_store(profile: str = "smoke", root: str | os.PathLike | None = None) -> Path:
    """The result store folder of an arena sweep: ``<outputs>/sweeps/arena_<profile>``."""
    from .util import outputs_dir

    return Path(root) if root is not None else outputs_dir() / "sweeps" / f"arena_{profile}"


def arena_grid(
    methods: Sequence[str],
    datasets: Sequence[str] | Mapping[str, Mapping[str, Any]],
    seeds: Sequence[int],
    profile: str = "smoke",
    **constants: Any,
):
    """The sweep grid of an arena: ``datasets x methods x seeds`` (as explicit points).

    Args:
        methods: entrant names (each is checked against the registry).
        datasets: names, or ``{name: dataset_options}`` (e.g. ``{"mfeat": {"views": [...]}}``).
        seeds: training seeds.
        profile: the profile of every point.
        **constants: further :func:`run_point` arguments shared by every point (JSON values).

    Returns:
        A :class:`workbench.sweep.Grid`.
    """
    from .sweep import Grid

    unknown = [m for m in methods if m not in ENTRANTS]
    if unknown:
        raise ValueError(f"Unknown arena entrants {unknown}; registered: {list(ENTRANTS)}.")
    if not isinstance(datasets, Mapping):
        datasets = {d: {} for d in datasets}
    points = []
    for name, options in datasets.items():
        point = {"dataset": name}
        if options:
            point["dataset_options"] = dict(options)
        points.append(point)
    axes = {
        "method": list(methods),
        "seed": [int(s) for s in seeds],
        "profile": profile,
        **constants,
    }
    return Grid(axes, points)


def run_arena(
    methods: Sequence[str],
    datasets: Sequence[str] | Mapping[str, Mapping[str, Any]],
    seeds: Sequence[int] = (0, 1),
    profile: str = "smoke",
    *,
    store: str | os.PathLike | None = None,
    n_jobs: int = 1,
    log: Callable[[str], None] | None = None,
    skip_inapplicable: bool = True,
    **constants: Any,
) -> pd.DataFrame:
    """Run (or resume) an arena sweep and return its tidy frame.

    Points already in the store are not recomputed (:func:`workbench.sweep.run_sweep`); a point
    whose entrant does not apply to its dataset (e.g. WMA on image data) fails with a clear
    error and, with ``skip_inapplicable``, is simply absent from the frame.

    Args:
        methods, datasets, seeds, profile, constants: see :func:`arena_grid`.
        store: the store folder (default :func:`arena_store`).
        n_jobs: worker processes.
        log: called with one line per finished point (e.g. ``print``).

    Returns:
        The tidy frame of every finished point (see :func:`run_point`).

    Raises:
        RuntimeError: a point failed for another reason than applicability.
    """
    from .sweep import run_sweep

    grid = arena_grid(methods, datasets, seeds, profile, **constants)
    summary = run_sweep(
        "workbench.arena:run_point", grid, arena_store(profile, store), n_jobs, log=log
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


# ============================================================================ paper claims


@dataclass(frozen=True)
class _Claim:
    paper: str
    table: str
    condition: str  # reference condition
    method: str  # the papers' name
    baseline: str
    family: str  # arena family
    arena_method: str
    arena_baseline: str
    text: str


CLAIMS = (
    _Claim(
        "mla",
        "2",
        "missing",
        "MLA",
        "Late Fusion",
        "missing",
        "MLA",
        "Late Fusion",
        "MLA beats late fusion under missing modalities",
    ),
    _Claim(
        "mla",
        "2",
        "missing",
        "QMF",
        "Late Fusion",
        "missing",
        "QMF",
        "Late Fusion",
        "QMF beats late fusion under missing modalities",
    ),
    _Claim(
        "raml",
        "I",
        "missing_pattern",
        "RAML",
        "Concat Fusion",
        "missing_pattern",
        "RAML",
        "Concat",
        "RAML beats concat fusion on the average over missing patterns",
    ),
    _Claim(
        "raml",
        "I",
        "missing_pattern",
        "RAML",
        "MMIN",
        "missing_pattern",
        "RAML",
        "MMIN",
        "RAML beats MMIN on the average over missing patterns",
    ),
    _Claim(
        "raml",
        "I",
        "missing_pattern",
        "TMC",
        "Concat Fusion",
        "missing_pattern",
        "TMC",
        "Concat",
        "TMC beats concat fusion on the average over missing patterns",
    ),
)


def claims_table(
    df: pd.DataFrame, reference: Mapping[str, pd.DataFrame] | None = None
) -> pd.DataFrame:
    """The papers' robustness claims checked on the arena (paper-vs-workbench).

    For each claim "A beats B under corruption family F": the paper's gap is the mean over the
    printed numbers of A minus B under F (MLA Table 2: every missing rate on IEMOCAP; RAML
    Table I: the pattern average of each dataset; percentages as fractions); the workbench gap
    is A's minus B's normalised AUC on F (per seed and dataset, then mean ± std). A claim
    *holds* when the workbench gap has the paper's sign and its mean exceeds one std.

    Args:
        df: an arena frame.
        reference: ``{paper: load_reference(paper)}`` (default: loaded).

    Returns:
        Columns ``claim, paper, table, paper_gap, workbench_gap, workbench_std, n, holds``;
        claims whose methods the arena did not run get ``holds = "not run"``.
    """
    from .reference import load_reference

    reference = dict(reference or {})
    summary = robustness_summary(df) if not df.empty else pd.DataFrame()
    rows = []
    for c in CLAIMS:
        ref = reference.get(c.paper)
        if ref is None:
            ref = reference[c.paper] = load_reference(c.paper)
        r = ref[(ref["table"] == c.table) & (ref["condition"] == c.condition)]
        if c.condition == "missing_pattern":
            r = r[r["modality"] == "average"]
        keys = ["dataset", "modality", "level", "metric"]
        a = r[r["method"] == c.method].set_index(keys)["value"]
        b = r[r["method"] == c.baseline].set_index(keys)["value"]
        gap = (a - b).dropna()
        scale = np.where(gap.index.get_level_values("metric").str.endswith("_pct"), 0.01, 1.0)
        paper_gap = float(np.mean(gap.to_numpy() * scale)) if len(gap) else float("nan")
        row = {"claim": c.text, "paper": c.paper, "table": c.table, "paper_gap": paper_gap}
        ok = not summary.empty and {c.arena_method, c.arena_baseline} <= set(summary["method"])
        if ok:
            s = summary[summary["condition"] == c.family]
            fam = s.groupby(["method", "dataset", "seed"])["auc"].mean().unstack("method")
            if {c.arena_method, c.arena_baseline} <= set(fam.columns):
                d = (fam[c.arena_method] - fam[c.arena_baseline]).dropna()
            else:
                d = pd.Series(dtype=float)
            ok = len(d) > 0
        if ok:
            mean, std = float(d.mean()), float(d.std(ddof=1)) if len(d) > 1 else 0.0
            same = np.sign(mean) == np.sign(paper_gap)
            row.update(
                workbench_gap=mean,
                workbench_std=std,
                n=int(len(d)),
                holds="yes" if same and abs(mean) > std else ("weakly" if same else "no"),
            )
        else:
            row.update(workbench_gap=np.nan, workbench_std=np.nan, n=0, holds="not run")
        rows.append(row)
    return pd.DataFrame(rows)
