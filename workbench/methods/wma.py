"""WMA: Wasserstein modality alignment of a one-tower multimodal transformer (Zhi et al.).

The WMA loss (Eq. 9 of the WMA paper; Eq. 10 for three modalities) adds to the task loss, for
every pair of modalities ``(m_k, m_l)``,

.. math::
    \\alpha \\, \\big(D^i_{m_k m_l} - \\beta \\, \\bar D_{m_k m_l}\\big)^2,

where :math:`D^i = \\langle C, T^* \\rangle` (Eq. 8) is the IPOT cost between the *output*
token features :math:`H^{m_k}_i` and :math:`H^{m_l}_i` of sample ``i`` (Eq. 5-7; uniform
weights over the real tokens, cosine cost by default) and :math:`\\bar D` is the basis: the
mean ``D`` of the first training batch at initialisation (pretrained weights applied), stored
as a buffer and computed once. ``beta=0`` is the paper's "minimize OT" ablation (Table 2);
``alpha=0`` is the baseline (plain fine-tuning).

:class:`WMA` wraps any backbone whose ``predict`` returns the output tokens in
``Output.extras["tokens.<m>"]`` / ``["mask.<m>"]`` (:class:`~workbench.models.transformer.OneTowerTransformer`,
:class:`~workbench.models.transformer.ViltTransformer`). :func:`alpha_beta_grid` trains the
paper's α×β grid as a resumable :mod:`workbench.sweep` (scores in a result store, weights in
the Trainer's checkpoint cache); :func:`run_point` is the same point as an importable sweep
function over registered datasets (``workbench sweep configs/wma_smoke.yaml``), with the
profiles of :func:`profile_settings`.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from ..corruptions import MissingModality, UniformNoise
from ..data.base import MultimodalBatch, MultimodalDataset
from ..models.base import Method, Output
from ..ot import ipot, pairwise_cost

__all__ = [
    "PAPER_ALPHAS",
    "PAPER_BETAS",
    "WMA",
    "WMAConfig",
    "PAPER_DATASETS",
    "VILT_DATASETS",
    "alpha_beta_grid",
    "backbone_factory",
    "PAPER_BATCH_SIZES",
    "PAPER_LRS",
    "VILT_B",
    "WMAProfile",
    "load_data",
    "profile_settings",
    "run_point",
    "card_conditions",
    "evaluate_point",
    "grid_context",
    "grid_points",
    "regime_of",
    "PAPER_MODALITY_NAMES",
    "paper_comparison",
    "claims_summary",
    "claims_table",
    "claims_verdicts",
    "fit_wma",
    "modality_pairs",
    "ot_distances",
    "paper_grid",
    "regime_frame",
    "select_best",
    "table1_conditions",
    "win_rate",
    "wma_penalty",
]

PAPER_ALPHAS = (0.1, 0.2, 1.0, 5.0)
"""The α search range of Sec. 4.1 of the WMA paper."""
PAPER_BETAS = (0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 4.0, 6.0, 10.0)
"""The β search range of Sec. 4.1 of the WMA paper (the card omits 6.0)."""


@dataclass(frozen=True)
class WMAConfig:
    """Hyper-parameters of the WMA loss (Eq. 9-10 of the WMA paper).

    Attributes:
        alpha: weight α of the alignment term (0: the baseline).
        beta: target ratio β of the OT cost to the basis (0: "minimize OT").
        cost: token cost of Eq. (5): ``"cosine"`` (1 - cos, the ViLT reference; default),
            ``"euclidean"`` or ``"sqeuclidean"``.
        ot_beta: IPOT proximal step (ViLT: 0.5).
        n_outer: IPOT iterations (ViLT: 50).
        n_inner: Sinkhorn scalings per IPOT step (ViLT: 1).
        cost_scale: passed to :func:`workbench.ot.ipot`; ``1.0`` solves on the raw cost as the
            ViLT reference code does, ``"max"`` rescales each cost by its maximum.
        pairs: the modality pairs aligned; ``None`` = all pairs (Eq. 10).
        basis: ``"first_batch"`` (the paper's text: mean D of the first batch at
            initialisation, computed once) or ``"batch"`` (Eq. 9 read literally: the detached
            mean D of the current batch).
    """

    alpha: float = 1.0
    beta: float = 2.0
    cost: str = "cosine"
    ot_beta: float = 0.5
    n_outer: int = 50
    n_inner: int = 1
    cost_scale: float | str = 1.0
    pairs: tuple[tuple[str, str], ...] | None = None
    basis: str = "first_batch"

    def __post_init__(self) -> None:
        if self.alpha < 0 or self.beta < 0:
            raise ValueError(
                f"WMAConfig: alpha and beta must be >= 0; got alpha={self.alpha}, beta={self.beta}."
            )
        if self.cost not in ("cosine", "euclidean", "sqeuclidean"):
            raise ValueError(
                f"WMAConfig.cost={self.cost!r}; expected 'cosine', 'euclidean' or 'sqeuclidean'."
            )
        if self.basis not in ("first_batch", "batch"):
            raise ValueError(f"WMAConfig.basis={self.basis!r}; expected 'first_batch' or 'batch'.")


def modality_pairs(modalities: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """All unordered pairs, in order: ``(m1, m2), (m1, m3), (m2, m3)`` for Eq. (10)."""
    return tuple(itertools.combinations(tuple(modalities), 2))


def ot_distances(
    tokens: Mapping[str, Tensor],
    masks: Mapping[str, Tensor | None],
    pairs: Sequence[tuple[str, str]],
    config: WMAConfig = WMAConfig(),
) -> dict[tuple[str, str], Tensor]:
    """The per-sample OT costs :math:`D^i_{m_k m_l}` of Eq. (5)-(8) of the WMA paper.

    All pairs are solved in one batched :func:`workbench.ot.ipot` call (costs padded to a
    common size and masked). The gradient flows into the token features through the cost with
    the plan held constant.

    Args:
        tokens: modality -> output tokens ``H^m`` ``[B, L_m, d]``.
        masks: modality -> bool ``[B, L_m]`` (True = real token) or None (all real).
        pairs: the pairs ``(m_k, m_l)``.
        config: cost and IPOT settings.

    Returns:
        ``{(m_k, m_l): D [B]}``.
    """
    if not pairs:
        return {}
    costs, mas, mbs = [], [], []
    for a, b in pairs:
        for m in (a, b):
            if m not in tokens:
                raise ValueError(
                    f"ot_distances: no output tokens for modality {m!r}; have {sorted(tokens)}."
                )
        C = pairwise_cost(tokens[a], tokens[b], config.cost)
        B, n, k = C.shape
        ma = masks.get(a)
        mb = masks.get(b)
        costs.append(C)
        mas.append(torch.ones(B, n, dtype=torch.bool, device=C.device) if ma is None else ma.bool())
        mbs.append(torch.ones(B, k, dtype=torch.bool, device=C.device) if mb is None else mb.bool())
    N = max(C.shape[1] for C in costs)
    K = max(C.shape[2] for C in costs)
    pad = torch.nn.functional.pad
    C = torch.cat([pad(c, (0, K - c.shape[2], 0, N - c.shape[1])) for c in costs])
    mask_a = torch.cat([pad(m, (0, N - m.shape[1])) for m in mas])
    mask_b = torch.cat([pad(m, (0, K - m.shape[1])) for m in mbs])
    result = ipot(
        C,
        beta=config.ot_beta,
        n_outer=config.n_outer,
        n_inner=config.n_inner,
        mask_a=mask_a,
        mask_b=mask_b,
        cost_scale=config.cost_scale,
    )
    return dict(zip(pairs, result.value.split(costs[0].shape[0])))


def wma_penalty(
    D: Tensor, basis: Tensor | float, beta: float, weight: Tensor | None = None
) -> Tensor:
    """The batch mean of :math:`(D^i - \\beta \\bar D)^2`, one pair's term of Eq. (9)/(10).

    Args:
        D: ``[B]`` OT costs of one modality pair.
        basis: the basis :math:`\\bar D` (scalar).
        beta: β.
        weight: optional ``[B]`` 0/1 weights (samples where a modality of the pair is missing
            get 0: their OT cost is meaningless); the mean is over the weighted samples.

    Returns:
        A scalar (0 when every weight is 0).
    """
    sq = (D - beta * torch.as_tensor(basis, dtype=D.dtype, device=D.device)) ** 2
    if weight is None:
        return sq.mean()
    w = weight.to(D.dtype)
    return (sq * w).sum() / w.sum().clamp_min(1.0)


class WMA(Method):
    """A backbone fine-tuned with the WMA loss (Eq. 9-10 of the WMA paper).

    ``embed`` and ``predict`` are the backbone's; ``loss`` adds
    ``alpha * sum_pairs mean_i (D^i - beta * basis)^2`` to the task loss. The basis (buffer
    ``basis``, one value per pair) is set once, from the first batch seen by :meth:`loss`
    (the first training batch, initial weights applied), or explicitly by :meth:`init_basis`;
    ``basis_ready`` records that it was set, and both are saved with the weights.

    Args:
        backbone: a Method whose ``predict`` puts ``tokens.<m>`` and ``mask.<m>`` in extras.
        config: a :class:`WMAConfig`.
    """

    def __init__(self, backbone: Method, config: WMAConfig = WMAConfig()) -> None:
        super().__init__()
        self.backbone = backbone
        self.config = config
        self.task = backbone.task
        self.modalities = tuple(backbone.modalities)
        self.pairs = (
            tuple(config.pairs) if config.pairs is not None else modality_pairs(self.modalities)
        )
        for a, b in self.pairs:
            if a not in self.modalities or b not in self.modalities:
                raise ValueError(
                    f"WMAConfig.pairs has ({a!r}, {b!r}); the backbone's modalities are {self.modalities}."
                )
        self.register_buffer("basis", torch.zeros(len(self.pairs)))
        self.register_buffer("basis_ready", torch.zeros((), dtype=torch.bool))

    def extra_repr(self) -> str:
        # repr(model) enters the Trainer's cache key: include the backbone's full config.
        return f"config={self.config!r}, backbone_config={getattr(self.backbone, 'config', None)!r}"

    @property
    def active(self) -> bool:
        """False for the baseline (``alpha == 0``): no OT is solved."""
        return self.config.alpha > 0

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        return self.backbone.embed(batch)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        return self.backbone.predict(embeddings, present)

    def distances(self, output: Output) -> dict[tuple[str, str], Tensor]:
        """The per-sample OT costs ``{pair: D [B]}`` of an output (Eq. 8)."""
        tokens = {
            m: output.extras[f"tokens.{m}"]
            for m in self.modalities
            if f"tokens.{m}" in output.extras
        }
        masks = {m: output.extras.get(f"mask.{m}") for m in tokens}
        return ot_distances(tokens, masks, self.pairs, self.config)

    @torch.no_grad()
    def init_basis(self, batch: MultimodalBatch) -> Tensor:
        """Set the basis from ``batch`` with the current weights (idempotent: only once)."""
        if not bool(self.basis_ready):
            self._set_basis(self.distances(self(batch)), batch.present)
        return self.basis.clone()

    def _set_basis(self, D: dict[tuple[str, str], Tensor], present: Tensor) -> None:
        values = []
        for a, b in self.pairs:
            w = self._pair_weight(present, a, b).to(D[(a, b)].dtype)
            values.append((D[(a, b)].detach() * w).sum() / w.sum().clamp_min(1.0))
        self.basis.copy_(torch.stack(values))
        self.basis_ready.fill_(True)

    def _pair_weight(self, present: Tensor, a: str, b: str) -> Tensor:
        return present[:, self.modalities.index(a)] & present[:, self.modalities.index(b)]

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        """Eq. (9)/(10): task loss + ``alpha * sum_pairs mean_i (D^i - beta * basis)^2``."""
        task, logs = self.backbone.loss(output, batch)
        logs = {"task_loss": logs.get("loss", float(task.detach()))}
        if not self.active:
            logs["loss"] = float(task.detach())
            return task, logs
        D = self.distances(output)
        present = output.extras.get("present", batch.present)
        if self.config.basis == "first_batch" and not bool(self.basis_ready):
            self._set_basis(D, present)
        reg = task.new_zeros(())
        for j, (a, b) in enumerate(self.pairs):
            w = self._pair_weight(present, a, b)
            basis = D[(a, b)].detach()[w].mean() if self.config.basis == "batch" else self.basis[j]
            reg = reg + wma_penalty(D[(a, b)], basis, self.config.beta, w)
            logs[f"D_{a}_{b}"] = float(D[(a, b)].detach().mean())
        loss = task + self.config.alpha * reg
        logs.update(wma=float(reg.detach()), loss=float(loss.detach()))
        return loss, logs


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
    by the caller over the levels), at the embedding level."""
    out: dict[str, list] = {"normal": []}
    for m in modalities:
        for a in amplitudes:
            out[f"noise/{m}/{a:g}"] = [UniformNoise(m, amplitude=a, level="embedding")]
        for r in rates:
            out[f"missing/{m}/{r:g}"] = [MissingModality(m, rate=r, level="embedding")]
    return out


# ============================================================================ training and grid


def fit_wma(
    build_backbone: Callable[[], Method],
    train: MultimodalDataset,
    validation: MultimodalDataset,
    *,
    alpha: float,
    beta: float,
    seed: int = 0,
    trainer_config=None,
    wma_config: WMAConfig = WMAConfig(),
    lrs: Sequence[float] | None = None,
    cache: bool = True,
):
    """Train one WMA point (cached), selecting the learning rate on validation.

    The backbone is built under ``torch.random.fork_rng`` seeded with ``seed``, so its initial
    weights depend only on ``seed`` and the caller's global RNG is untouched.

    Args:
        build_backbone: ``() -> Method`` building a fresh backbone.
        train, validation: the splits; selection uses ``validation`` only.
        alpha, beta: the WMA weights (``alpha=0``: baseline; ``beta=0``: minimize OT).
        seed: training seed (initialisation, shuffling, dropout).
        trainer_config: a :class:`~workbench.training.TrainerConfig` (its ``seed`` is replaced).
        wma_config: the other WMA settings (its ``alpha``/``beta`` are replaced).
        lrs: learning rates to try (the paper's grid in the full profile); default the config's.
        cache: re-use checkpoints of identical runs.

    Returns:
        ``(model, trainer)`` of the best validation score.
    """
    from ..training import Trainer, TrainerConfig

    base = dataclasses.replace(trainer_config or TrainerConfig(), seed=int(seed))
    config = dataclasses.replace(wma_config, alpha=float(alpha), beta=float(beta))
    best = None
    for lr in lrs or (base.lr,):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            model = WMA(build_backbone(), config)
        trainer = Trainer(dataclasses.replace(base, lr=float(lr)), cache=cache)
        model = trainer.fit(model, train, validation)
        if best is None or _better(trainer, best[1], validation):
            best = (model, trainer)
    return best


def _better(a, b, dataset: MultimodalDataset) -> bool:
    from .. import metrics as M

    sign = 1.0 if M.higher_is_better(a.config.monitor or dataset.task.metric) else -1.0
    return sign * a.best_score_ > sign * b.best_score_


def grid_context(
    build_backbone: Callable[[], Method],
    train: MultimodalDataset,
    validation: MultimodalDataset,
    test: MultimodalDataset,
    conditions: Mapping,
    *,
    trainer_config=None,
    wma_config: WMAConfig = WMAConfig(),
    lrs: Sequence[float] | None = None,
) -> str:
    """A 16-hex fingerprint of everything but (α, β, seed) that decides a grid point's scores:
    the backbone (class, config, architecture, initial weights of seed 0), the three splits'
    data, the test cases, the trainer settings, the other WMA settings and the learning rates.

    :func:`alpha_beta_grid` stores it with every point, so one result store can hold several
    grids and a changed setting never re-uses a stale score.
    """
    import hashlib
    import json

    from ..training import TrainerConfig, _dataset_fingerprint, _fingerprint_tensor, _jsonable

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
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
    trainer,
    test: MultimodalDataset,
    conditions: Mapping,
    *,
    alpha: float,
    beta: float,
    seed: int,
) -> pd.DataFrame:
    """Score one trained grid point under the test cases: the rows of :func:`alpha_beta_grid`.

    The corruption seed is the training seed, so every regime of a seed sees the same
    corrupted test set.
    """
    from ..evaluation import robustness

    regime = regime_of(alpha, beta)
    df = robustness({regime: {int(seed): model}}, test, conditions)
    df.insert(2, "case", df["condition"])  # "noise/text" -> case; condition = "noise"
    df["condition"] = df["case"].str.split("/").str[0]
    df["alpha"], df["beta"], df["regime"] = float(alpha), float(beta), regime
    df["val_score"] = float(trainer.best_score_)
    df["val_metric"] = trainer.config.monitor or test.task.metric
    df["lr"] = float(trainer.config.lr)
    df["best_epoch"] = int(trainer.best_epoch_)
    return df


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
    alphas: Sequence[float] = PAPER_ALPHAS,
    betas: Sequence[float] = PAPER_BETAS,
    seeds: Sequence[int] = (0,),
    conditions: Mapping | None = None,
    trainer_config=None,
    wma_config: WMAConfig = WMAConfig(),
    lrs: Sequence[float] | None = None,
    baseline: bool = True,
    minimize_ot: bool = True,
    cache: bool = True,
    models: dict | None = None,
    store=None,
    log: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Train and evaluate the α×β grid of Tables 3-6 of the WMA paper (plus the baseline
    ``alpha=0`` and "minimize OT" ``alpha=1, beta=0`` points) as a resumable sweep.

    Every point ``(alpha, beta, seed)`` runs through :func:`workbench.sweep.run_sweep`: its
    scores are written to a :class:`~workbench.sweep.ResultStore` the moment it finishes, so an
    interrupted grid resumes where it stopped and a finished one is read back without training
    or evaluating anything. The point's parameters include :func:`grid_context`, so changing
    the data, backbone, trainer, test cases or other WMA settings starts new points. Trained
    weights also go through the Trainer's checkpoint cache (``cache=True``).

    Args:
        build_backbone: ``() -> Method`` building a fresh backbone.
        train, validation, test: the splits (selection on validation, scores on test).
        alphas, betas: the grid (default: the paper's).
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
        The tidy frame of :func:`workbench.evaluation.robustness` with extra columns
        ``case`` (the label of the test case, e.g. ``"noise/text"``; ``condition`` is then the
        corruption's name, ``"noise"``, as in ``workbench/reference/wma.csv``), ``alpha, beta,
        regime`` (``"baseline"``, ``"minimize OT"`` or ``"WMA"``), ``val_score`` (the selected
        validation score), ``val_metric``, ``lr``, ``best_epoch``, ``context`` and ``run_id``.

    Raises:
        RuntimeError: a point failed (its traceback is in the store's ``<run_id>.error.json``).
    """
    from ..sweep import ResultStore, run_sweep
    from ..util import outputs_dir

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
    if summary.failed:
        first = next(iter(summary.failed.items()))
        raise RuntimeError(
            f"alpha_beta_grid(): {len(summary.failed)} of {len(grid)} points failed; the first, "
            f"{first[0]}: {first[1]} (traceback in {store.error_path(first[0])})."
        )
    if models is not None:
        for a, b, s in points:
            if (a, b, s) not in models:
                models[(a, b, s)] = fit(alpha=a, beta=b, seed=s)[0]
    return summary.load()


def select_best(grid: pd.DataFrame, higher_is_better: bool = True) -> tuple[float, float]:
    """The (α, β) of the WMA regime with the best mean *validation* score (never test).

    Args:
        grid: the frame of :func:`alpha_beta_grid`.
        higher_is_better: False for an error metric (MAE).
    """
    wma = grid[grid["regime"] == "WMA"]
    if wma.empty:
        raise ValueError("select_best(): the grid has no WMA rows (alpha > 0, beta > 0).")
    scores = wma.groupby(["alpha", "beta"])["val_score"].mean()
    best = scores.idxmax() if higher_is_better else scores.idxmin()
    return float(best[0]), float(best[1])


# ============================================================================ backbones and claims

VILT_DATASETS = ("hateful_memes", "mmimdb")
"""Datasets the paper fine-tunes ViLT on (early fusion); the others use the feature transformer."""

PAPER_DATASETS = {
    "hateful_memes": "Hateful Memes",
    "mmimdb": "MM-IMDb",
    "ur_funny": "UR-FUNNY",
    "mosei": "MOSEI",
}
"""Workbench dataset name -> the name printed in the WMA paper's tables."""


def backbone_factory(
    train: MultimodalDataset,
    kind: str = "auto",
    *,
    pretrained: str | None = None,
    **sizes,
) -> Callable[[], Method]:
    """A ``() -> backbone`` builder for ``train``'s modalities.

    Args:
        train: the training split (input sizes and task are read from it).
        kind: ``"transformer"`` (the card's 2-layer 8-head late-fusion transformer),
            ``"vilt"`` (:class:`~workbench.models.transformer.ViltTransformer`) or ``"auto"``
            (ViLT for Hateful Memes and MM-IMDb, as in the paper, else the transformer).
        pretrained: ViLT weights (a local folder) for ``kind="vilt"``; None: random init.
        **sizes: overrides of :class:`~workbench.models.transformer.TransformerConfig` or
            :class:`~workbench.models.transformer.ViltAdapterConfig` fields.

    Returns:
        A function building a fresh backbone (call it under a seed: :func:`fit_wma` does).
    """
    from ..models.transformer import (
        OneTowerTransformer,
        TransformerConfig,
        ViltAdapterConfig,
        ViltTransformer,
    )

    if kind == "auto":
        kind = "vilt" if train.name in VILT_DATASETS else "transformer"
    if kind == "transformer":
        config = TransformerConfig.for_dataset(train, **sizes)
        return lambda: OneTowerTransformer(config)
    if kind == "vilt":
        vconfig = ViltAdapterConfig.for_dataset(train, pretrained=pretrained, **sizes)
        return lambda: ViltTransformer(vconfig)
    raise ValueError(f"backbone_factory(kind={kind!r}); expected 'auto', 'transformer' or 'vilt'.")


PAPER_BATCH_SIZES = {"hateful_memes": 128, "mmimdb": 64, "ur_funny": 256, "mosei": 256}
"""Batch sizes of Sec. 4.1 of the WMA paper (128 for any other dataset)."""
PAPER_LRS = (1e-2, 1e-3, 1e-4, 5e-5, 1e-5)
"""The learning-rate search range of Sec. 4.1 of the WMA paper (the reproducibility card, which
describes the TMLR version, lists 1e-3, 5e-4, 1e-4, 5e-5, 1e-5)."""
VILT_B = {
    "hidden_size": 768,
    "n_layers": 12,
    "n_heads": 12,
    "intermediate_size": 3072,
    "image_size": 384,
    "patch_size": 32,
    "max_text_len": 40,
}
"""ViLT-B/32's sizes (used for a random-init ViLT when no ``vilt_weights`` are given)."""


@dataclass(frozen=True)
class WMAProfile:
    """The settings of one run profile of the WMA experiments (:func:`profile_settings`).

    Attributes:
        name: ``"smoke"`` or ``"full"``.
        dataset: the registered dataset.
        backbone: ``"transformer"`` or ``"vilt"`` (resolved from ``"auto"``).
        seeds: training seeds.
        alphas, betas: the α×β grid.
        lrs: learning rates selected on validation (``None``: the trainer's ``lr``).
        trainer: the :class:`~workbench.training.TrainerConfig` (its ``seed`` is set per run).
        sizes: backbone size overrides (:func:`backbone_factory`).
        dataset_options: loader options (:func:`workbench.data.load_splits`).
        text_max_len: longest ViLT text id row (``[CLS]`` and ``[SEP]`` included): the
            checkpoint's text position table with ``vilt_weights``, else the random-init size.
    """

    name: str
    dataset: str
    backbone: str
    seeds: tuple[int, ...]
    alphas: tuple[float, ...]
    betas: tuple[float, ...]
    lrs: tuple[float, ...] | None
    trainer: object
    sizes: Mapping[str, object]
    dataset_options: Mapping[str, object]
    text_max_len: int = 40


def profile_settings(
    dataset: str,
    profile: str = "smoke",
    *,
    seed: int = 0,
    device: str = "auto",
    backbone: str = "auto",
    vilt_weights: str | None = None,
    alphas: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
) -> WMAProfile:
    """The WMA experiment settings of a profile (used by notebook ``02_wma`` and :func:`run_point`).

    ``"smoke"``: a small backbone, 12 epochs without early stopping (the best validation
    epoch is kept), three seeds and a 1×2 α×β sub-grid (α = 1, β ∈ {0.5, 2}) on CPU
    (the ``easy_vqa`` smoke subset; real image-text sets at 64 px and at most 512 samples per
    split). ``"full"``: the paper's protocol (Sec. 4.1): the card's 2-layer 8-head transformer
    (d = 128) or ViLT (ViLT-B/32 from ``vilt_weights``; without them a random-init model of
    ViLT-B's size), the paper's batch sizes, learning-rate grid :data:`PAPER_LRS` selected on
    validation, linear warm-up and decay, early stopping with patience 5 (at most 50 epochs),
    the full α and β grids and three seeds.

    Args:
        dataset: a registered dataset name.
        profile: ``"smoke"`` or ``"full"``.
        seed: the first seed (seeds are ``seed, seed + 1, seed + 2``).
        device: training device (``"auto"``: CUDA when available).
        backbone: ``"transformer"``, ``"vilt"`` or ``"auto"`` (ViLT for :data:`VILT_DATASETS`).
        vilt_weights: a local ViLT checkpoint folder (full profile; sets ViLT-B sizes aside).
        alphas, betas: override the profile's grid.
    """
    from ..training import TrainerConfig

    if profile not in ("smoke", "full"):
        raise ValueError(f"profile={profile!r}; expected 'smoke' or 'full'.")
    if backbone not in ("auto", "transformer", "vilt"):
        raise ValueError(f"backbone={backbone!r}; expected 'auto', 'transformer' or 'vilt'.")
    kind = (
        ("vilt" if dataset in VILT_DATASETS else "transformer") if backbone == "auto" else backbone
    )
    seeds = (int(seed), int(seed) + 1, int(seed) + 2)
    image_text = dataset in VILT_DATASETS or dataset in ("food101", "mvsa_single", "n24news")
    if profile == "smoke":
        # No early stopping: with a few hundred samples (8 steps per epoch at 64) the loss
        # sits on a plateau for ~5 epochs before it falls, and patience 5 on a 51-sample
        # validation set stopped runs of every regime there at random. The best validation
        # epoch is still the one kept.
        trainer = TrainerConfig(
            max_epochs=12,
            batch_size=32,
            lr=5e-3 if kind == "transformer" else 1e-3,
            schedule="linear",
            warmup_ratio=0.1,
            patience=None,
            device=device,
            progress=False,
        )
        grid = ((1.0,), (0.5, 2.0))
        lrs = None
        if kind == "transformer":
            sizes = {"d_model": 32, "n_heads": 8}
        else:
            sizes = {"hidden_size": 64, "n_layers": 2, "n_heads": 4, "intermediate_size": 128,
                     "image_size": 64, "patch_size": 16, "max_text_len": 64}  # fmt: skip
        options = (
            {"form": "tokens", "subset": "smoke", "progress": False}
            if dataset == "easy_vqa"
            else {}
        )
        if image_text:
            options = {"image_size": 64, "limit": 512}
        text_max_len = 64
    else:
        trainer = TrainerConfig(
            max_epochs=50,
            batch_size=PAPER_BATCH_SIZES.get(dataset, 128),
            schedule="linear",
            warmup_ratio=0.1,
            patience=5,
            device=device,
            progress=False,
        )
        grid = (PAPER_ALPHAS, PAPER_BETAS)
        lrs = PAPER_LRS
        if kind == "transformer":
            sizes = {"d_model": 128, "n_heads": 8, "n_layers": 2}
        else:
            sizes = {} if vilt_weights else dict(VILT_B)
        options = {"form": "tokens", "progress": False} if dataset == "easy_vqa" else {}
        if image_text:
            options = {"image_size": 384}
        text_max_len = 40
    return WMAProfile(
        name=profile,
        dataset=dataset,
        backbone=kind,
        seeds=seeds,
        alphas=tuple(float(a) for a in (alphas or grid[0])),
        betas=tuple(float(b) for b in (betas or grid[1])),
        lrs=lrs,
        trainer=trainer,
        sizes=sizes,
        dataset_options=options,
        text_max_len=_checkpoint_text_len(vilt_weights, default=text_max_len),
    )


def _checkpoint_text_len(vilt_weights: str | None, default: int) -> int:
    """The text position table of a local ViLT checkpoint (``max_position_embeddings`` in its
    ``config.json``: 40 for ViLT-B/32); ``default`` without weights or without a local config
    (the adapter then reports a missing checkpoint when it loads it)."""
    import json
    from pathlib import Path

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


def load_data(
    settings: WMAProfile,
    data_root: str | None = None,
    *,
    vilt_weights: str | None = None,
    dataset_options: Mapping[str, object] | None = None,
) -> tuple[MultimodalDataset, MultimodalDataset, MultimodalDataset]:
    """The (train, validation, test) splits of a profile's dataset, ready for its backbone.

    For ViLT, raw text (the UTF-8 byte ids of the image-text loaders) becomes ViLT input ids
    with :func:`~workbench.models.transformer.vilt_text_ids`: WordPiece with the tokenizer in
    ``vilt_weights``, byte-level ids for a random-init ViLT.

    Args:
        settings: the profile (:func:`profile_settings`).
        data_root: folder of a real dataset (``None`` for the embedded ones).
        vilt_weights: ViLT checkpoint folder (its tokenizer is used).
        dataset_options: loader options overriding the profile's.

    Raises:
        ValueError: raw images or text ids for the feature transformer.
    """
    from ..data.registry import load_splits
    from ..models.transformer import vilt_text_ids

    options = {**settings.dataset_options, **dict(dataset_options or {})}
    splits = load_splits(settings.dataset, data_root, **options)
    out = [splits[s] for s in ("train", "validation", "test")]
    if settings.backbone == "vilt":
        text = out[0].inputs.get("text")
        sample = None if text is None else text[0]
        if sample is not None and not sample.is_floating_point() and sample.ndim == 1:
            tok = vilt_weights
            if tok is not None:
                from transformers import BertTokenizerFast

                tok = BertTokenizerFast.from_pretrained(str(tok), local_files_only=True)
            out = [vilt_text_ids(d, tok, max_len=settings.text_max_len) for d in out]
    else:
        for m in out[0].modalities:
            x = out[0].inputs[m]
            sample = x[0] if isinstance(x, list) else x[0]
            if not sample.is_floating_point() or (sample.ndim == 3 and sample.shape[0] == 3):
                raise ValueError(
                    f"load_data(): {settings.dataset!r} modality {m!r} holds raw "
                    f"{'text ids' if not sample.is_floating_point() else 'images'} "
                    f"({tuple(sample.shape)} {sample.dtype}); the feature transformer needs "
                    "token features. Use backbone='vilt' for raw image-text data, or extract "
                    "features first."
                )
    return out[0], out[1], out[2]


def run_point(
    dataset: str,
    alpha: float,
    beta: float,
    seed: int = 0,
    profile: str = "smoke",
    *,
    data_root: str | None = None,
    dataset_options: Mapping[str, object] | None = None,
    backbone: str = "auto",
    vilt_weights: str | None = None,
    backbone_options: Mapping[str, object] | None = None,
    trainer_options: Mapping[str, object] | None = None,
    lrs: Sequence[float] | None = None,
    conditions: str = "table1",
    device: str = "auto",
    threads: int | None = None,
    cache: bool = True,
    splits: Mapping[str, MultimodalDataset] | None = None,
) -> pd.DataFrame:
    """Train one WMA grid point on a registered dataset and score it: a sweep function.

    Importable as ``"workbench.methods.wma:run_point"`` for :func:`workbench.sweep.run_sweep`
    and ``workbench sweep`` (see ``configs/wma_smoke.yaml``); every argument but ``splits`` is
    a JSON value, so a sweep's result store resumes and runs in parallel processes.

    Args:
        dataset: a registered dataset (``easy_vqa``, ``hateful_memes``, ``mmimdb``,
            ``ur_funny``, ``mosei``, or any other with token or feature inputs).
        alpha, beta: the WMA weights (``alpha=0``: baseline; ``beta=0``: minimize OT).
        seed: training seed and corruption seed.
        profile: ``"smoke"`` or ``"full"`` (:func:`profile_settings`).
        data_root: folder of a real dataset.
        dataset_options: loader options overriding the profile's.
        backbone, vilt_weights: as in :func:`profile_settings`.
        backbone_options: backbone size overrides.
        trainer_options: :class:`~workbench.training.TrainerConfig` overrides.
        lrs: learning rates overriding the profile's.
        conditions: ``"table1"`` (Sec. 4.1: noise amplitude 3, 50% missing) or ``"card"``
            (the reproducibility card's levels).
        device: training device.
        threads: torch intra-op threads (default unchanged).
        cache: re-use trained weights (the Trainer's checkpoint cache).
        splits: ready ``{"train", "validation", "test"}`` datasets instead of loading
            ``dataset`` (tests; ``dataset`` then only picks the profile).

    Returns:
        The rows of :func:`evaluate_point` plus ``profile`` and ``backbone``.
    """
    if threads is not None:
        torch.set_num_threads(int(threads))
    settings = profile_settings(
        dataset, profile, seed=seed, device=device, backbone=backbone, vilt_weights=vilt_weights
    )
    if splits is None:
        train, validation, test = load_data(
            settings, data_root, vilt_weights=vilt_weights, dataset_options=dataset_options
        )
    else:
        train, validation, test = splits["train"], splits["validation"], splits["test"]
    sizes = {**settings.sizes, **dict(backbone_options or {})}
    build = backbone_factory(train, settings.backbone, pretrained=vilt_weights, **sizes)
    trainer_config = dataclasses.replace(settings.trainer, **dict(trainer_options or {}))
    if conditions == "table1":
        cases = table1_conditions(train.modalities)
    elif conditions == "card":
        cases = card_conditions(train.modalities)
    else:
        raise ValueError(f"run_point(conditions={conditions!r}); expected 'table1' or 'card'.")
    model, trainer = fit_wma(
        build,
        train,
        validation,
        alpha=alpha,
        beta=beta,
        seed=seed,
        trainer_config=trainer_config,
        lrs=lrs if lrs is not None else settings.lrs,
        cache=cache,
    )
    df = evaluate_point(model, trainer, test, cases, alpha=alpha, beta=beta, seed=seed)
    df["profile"], df["backbone"] = profile, settings.backbone
    return df


def regime_frame(grid: pd.DataFrame, alpha: float, beta: float) -> pd.DataFrame:
    """The rows of the baseline, "minimize OT" and the WMA point ``(alpha, beta)`` of a grid,
    with ``method`` set to ``"baseline"``, ``"minimize OT"`` and ``"WMA"`` (Tables 1-2)."""
    pick = (grid["regime"] != "WMA") | (
        np.isclose(grid["alpha"], alpha) & np.isclose(grid["beta"], beta)
    )
    out = grid[pick].copy()
    out["method"] = out["regime"]
    return out


PAPER_MODALITY_NAMES = {"vision": "video"}
"""Workbench modality name -> the name in the WMA paper's tables (MultiBench's ``vision`` is
the paper's ``video``)."""


def paper_comparison(
    frame: pd.DataFrame, dataset: str, reference: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Tables 1-2 of the WMA paper next to the workbench's numbers for one of its datasets.

    Args:
        frame: :func:`regime_frame` rows (``method`` = baseline / minimize OT / WMA).
        dataset: a workbench name from :data:`PAPER_DATASETS`.
        reference: the published numbers (default ``load_reference("wma")``).

    Returns:
        :func:`workbench.evaluation.paper_vs_workbench` on ``method, condition, modality``
        (every published cell; the workbench columns are empty where a cell was not run), with
        the paper's metric in ``metric``.

    Raises:
        ValueError: ``dataset`` is not one of the paper's.
    """
    from ..evaluation import paper_vs_workbench

    if dataset not in PAPER_DATASETS:
        raise ValueError(
            f"paper_comparison(): {dataset!r} is not in the WMA paper; its datasets are {sorted(PAPER_DATASETS)}."
        )
    if reference is None:
        from ..reference import load_reference

        reference = load_reference("wma")
    ref = reference[
        reference["table"].isin(["1", "2"]) & (reference["dataset"] == PAPER_DATASETS[dataset])
    ].copy()
    ref["method"] = ref["method"].map(
        {"ViLT": "baseline", "ViLT-WMA": "WMA", "WMA": "WMA", "minimize OT": "minimize OT"}
    )
    ref["modality"] = ref["modality"].fillna("").astype(str)
    ref = ref.drop_duplicates(["method", "condition", "modality"])  # Table 2 repeats WMA
    ours = frame.copy()
    ours["modality"] = ours["modality"].fillna("").astype(str).replace(PAPER_MODALITY_NAMES)
    out = paper_vs_workbench(ref, ours, on=("method", "condition", "modality"))
    metrics = ref.set_index(["method", "condition", "modality"])["metric"]
    out.insert(
        3,
        "metric",
        [metrics.get(k, "") for k in zip(out["method"], out["condition"], out["modality"])],
    )
    out.insert(4, "workbench_metric", ", ".join(sorted(set(frame["metric"]))))
    return out


def claims_table(
    grid: pd.DataFrame, alpha: float, beta: float, reference: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The paper's claims next to the workbench's: per test case, the gain of WMA over the
    baseline (Table 1) and over "minimize OT" (Table 2), signed so that > 0 means WMA is better
    (MAE flipped).

    Workbench gains are paired by seed (WMA of seed ``s`` minus the baseline of seed ``s``);
    their mean and std over seeds are reported. The paper prints single runs (std empty).

    Args:
        grid: the frame of :func:`alpha_beta_grid` (with ``case``).
        alpha, beta: the WMA point selected on validation (:func:`select_best`).
        reference: the published numbers (default ``workbench.reference.load_reference("wma")``).

    Returns:
        One row per (source, dataset, condition, modality) with ``wma_vs_baseline``,
        ``wma_vs_baseline_std``, ``wma_vs_minimize_ot``, ``wma_vs_minimize_ot_std``; ``source``
        is ``"paper"`` or ``"workbench"``.
    """
    from .. import metrics as M

    if reference is None:
        from ..reference import load_reference

        reference = load_reference("wma")
    keys = ["dataset", "condition", "modality"]
    ref = reference[reference["table"].isin(["1", "2"])].copy()
    ref["signed"] = ref["value"] * np.where(ref["higher_is_better"].astype(bool), 1.0, -1.0)
    ref["method"] = ref["method"].map(
        {"ViLT": "baseline", "ViLT-WMA": "WMA", "WMA": "WMA", "minimize OT": "minimize OT"}
    )
    ref["seed"] = 0
    ours = regime_frame(grid, alpha, beta)
    ours = ours.assign(
        signed=ours["value"] * np.where([M.higher_is_better(m) for m in ours["metric"]], 1.0, -1.0)
    )
    frames = []
    for source, frame in (("paper", ref), ("workbench", ours)):
        table = frame.pivot_table(
            index=[*keys, "seed"], columns="method", values="signed", aggfunc="mean"
        )
        diff = pd.DataFrame(index=table.index)
        diff["wma_vs_baseline"] = table["WMA"] - table["baseline"]
        diff["wma_vs_minimize_ot"] = table["WMA"] - table["minimize OT"]
        g = diff.groupby(level=keys, sort=False)
        out = g.mean()
        for col in ("wma_vs_baseline", "wma_vs_minimize_ot"):
            out[f"{col}_std"] = g[col].std() if source == "workbench" else np.nan
        out.insert(0, "source", source)
        frames.append(out.reset_index())
    return pd.concat(frames, ignore_index=True)


def claims_summary(claims: pd.DataFrame) -> pd.DataFrame:
    """Per source and dataset: in how many test cases WMA beats the baseline / minimize OT
    (``wins``; for the workbench also ``clear``: the mean gain exceeds its std over seeds), and
    the mean gain on the normal, noise and missing test cases (the paper's 0.9 / 2.5 / 2.1%
    relative claim, here as absolute differences)."""
    rows = []
    for (source, dataset), g in claims.groupby(["source", "dataset"], sort=False):
        row = {"source": source, "dataset": dataset}
        for col in ("wma_vs_baseline", "wma_vs_minimize_ot"):
            v = g[col]
            ok = v.notna()
            row[f"{col}: wins"] = f"{int((v[ok] > 0).sum())}/{int(ok.sum())}"
            std = g[f"{col}_std"]
            row[f"{col}: clear"] = (
                f"{int((v[ok] > std[ok]).sum())}/{int(ok.sum())}" if std.notna().any() else ""
            )
        for cond in ("normal", "noise", "missing"):
            row[f"gain {cond}"] = float(g.loc[g["condition"] == cond, "wma_vs_baseline"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def claims_verdicts(summary: pd.DataFrame, source: str = "workbench") -> pd.DataFrame:
    """Plain verdicts on the paper's two claims from :func:`claims_summary`.

    "yes" when WMA wins in more than half of the test cases *and* more than half are clear
    (gain above its std over seeds); "not clearly" when it wins in most but within the seed
    spread; "no" otherwise.
    """
    ours = summary[summary["source"] == source]
    paper = summary[summary["source"] == "paper"]
    if ours.empty:
        raise ValueError(f"claims_verdicts(): no rows with source == {source!r}.")
    rows = []
    for dataset, r in ours.set_index("dataset").iterrows():
        for col, claim in (
            ("wma_vs_baseline", "WMA beats the baseline in most test cases (Table 1)"),
            ("wma_vs_minimize_ot", "WMA beats minimize OT in most test cases (Table 2)"),
        ):
            wins, total = map(int, r[f"{col}: wins"].split("/"))
            clear = int(r[f"{col}: clear"].split("/")[0]) if r[f"{col}: clear"] else wins
            verdict = (
                "yes"
                if wins > total / 2 and clear > total / 2
                else ("not clearly" if wins > total / 2 else "no")
            )
            rows.append(
                {
                    "claim": claim,
                    "paper: wins per dataset": ", ".join(
                        f"{d} {w}" for d, w in zip(paper["dataset"], paper[f"{col}: wins"])
                    ),
                    "dataset": dataset,
                    "workbench: wins": r[f"{col}: wins"],
                    "workbench: clear wins": r[f"{col}: clear"],
                    "reproduces": verdict,
                }
            )
    return pd.DataFrame(rows)


def paper_grid(dataset: str, reference: pd.DataFrame | None = None) -> pd.DataFrame:
    """The paper's α×β grid of one dataset (Tables 3-6) in the shape of :func:`alpha_beta_grid`.

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
    if reference is None:
        from ..reference import load_reference

        reference = load_reference("wma")
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
        grid: :func:`alpha_beta_grid` or :func:`paper_grid` output.
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
