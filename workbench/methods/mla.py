"""MLA: multimodal learning with alternating unimodal adaptation (the MLA paper).

- Alternating unimodal learning (Eq. 1-2): iteration ``t`` trains only modality
  ``m_t = t mod M`` through its encoder ``h_{m_t}`` and the shared head ``g``; the other
  encoders get no gradient (``None``, so no optimiser, momentum or weight decay touches them).
- Head gradient modification, HGM (Eq. 3-4): a recursive-least-squares projector ``P`` built
  from the mean encoded feature of each step multiplies the head's gradient, so the head's
  update is (nearly) orthogonal to the features of the previously trained modality. The head
  ``y = W h + b`` is treated as ``[W b] [h; 1]``: ``P`` acts on the augmented ``[h; 1]``, so the
  weight and the bias are projected consistently.
- Test-time dynamic fusion, DF (Eq. 5-7): per-sample entropy of each modality's softmax,
  weights ``lambda_m = softmax_m(max_v e_v - e_m)`` over the present modalities.

Also the experiment helpers of the notebook ``03_mla``: unimodal evaluation (every other
modality missing), fixed missing-modality masks for train/validation/test, the modality gap
(Fig. 3), a tidy result frame over methods and seeds, and the paper-vs-workbench table.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..corruptions import MissingModality
from ..data.base import MultimodalBatch, MultimodalDataset
from ..models.base import Method, Output, task_loss
from ..models.encoders import make_encoders
from ..models.fusion import FusionConfig

__all__ = [
    "MLA",
    "MLAConfig",
    "ModalityGap",
    "claims_table",
    "drop_modalities",
    "dynamic_fusion",
    "entropy_weights",
    "evaluate_method",
    "load_mla_reference",
    "modality_gap",
    "only_modality",
    "project_gradient",
    "reference_rls_update",
    "rls_update",
    "run_methods",
    "subsample_splits",
    "summary_table",
]


# ----------------------------------------------------------------------------- Eq. 3-4


def rls_update(P: Tensor, h: Tensor, alpha: float) -> Tensor:
    r"""One recursive-least-squares step of the projector (Eq. 3 of the MLA paper).

    .. math:: q = \frac{P h}{\alpha + h^\top P h}, \qquad P \leftarrow P - q\, h^\top P.

    (The paper prints ``P_t`` in ``q_t``'s numerator; it must be ``P_{t-1}``, as in OWM.)
    ``P`` stays symmetric positive semi-definite, and ``P h`` shrinks by the factor
    ``alpha / (alpha + h^T P h)``: small ``alpha`` makes ``P`` nearly orthogonal to ``h``.

    Args:
        P: ``[s, s]`` symmetric PSD projector.
        h: ``[s]`` feature (the mean encoded feature of the step, augmented with a 1).
        alpha: regulariser ``alpha > 0``.

    Returns:
        the updated ``[s, s]`` projector (symmetrised against round-off).
    """
    Ph = P @ h
    q = Ph / (alpha + h @ Ph)
    P = P - torch.outer(q, Ph)  # q h^T P = q (P h)^T for a symmetric P
    return 0.5 * (P + P.T)


def reference_rls_update(P: Tensor, h: Tensor, alpha: float) -> Tensor:
    """The projector update as written in the authors' public code (a named option only).

    The code divides by ``alpha + k r`` where ``k = P h`` is a column and ``r = h^T`` a row, an
    outer product (an ``[s, s]`` matrix, divided element-wise) where the paper's scalar
    ``h^T P h`` belongs, then rescales ``P`` to unit Frobenius norm. Kept so the two can be
    compared; :func:`rls_update` is the paper's Eq. 3.
    """
    k = (P @ h)[:, None]
    P = P - (k @ k.T) / (alpha + k @ h[None, :])
    return P / torch.linalg.matrix_norm(P).clamp_min(1e-12)


def project_gradient(
    weight_grad: Tensor, bias_grad: Tensor | None, P: Tensor
) -> tuple[Tensor, Tensor | None]:
    """Apply the projector to a linear head's gradient (Eq. 4 of the MLA paper).

    The head ``y = W h + b`` has parameters ``[W b]`` acting on ``[h; 1]``; the modified
    gradient is ``[grad_W grad_b] P`` (``P`` symmetric), so ``[dW db] [x; 1] = 0`` for any ``x``
    in ``P``'s null space.

    Args:
        weight_grad: ``[K, s]``.
        bias_grad: ``[K]`` or ``None`` (a head without bias; then ``P`` is ``[s, s]``).
        P: ``[s + 1, s + 1]`` (with bias) or ``[s, s]``.

    Returns:
        the projected ``(weight_grad, bias_grad)``.
    """
    if bias_grad is None:
        return weight_grad @ P, None
    G = torch.cat([weight_grad, bias_grad[:, None]], dim=1) @ P
    return G[:, :-1].contiguous(), G[:, -1].contiguous()


# ----------------------------------------------------------------------------- Eq. 5-7


def entropy_weights(logits: Tensor, present: Tensor | None = None) -> Tensor:
    r"""Modality importance ``lambda_{m,r}`` of test-time dynamic fusion (Eq. 6-7).

    .. math:: e_{m,r} = -p_{m,r}^\top \log p_{m,r}, \quad
              \lambda_{m,r} = \frac{\exp(\max_v e_{v,r} - e_{m,r})}{\sum_v \exp(\max_v e_{v,r} - e_{v,r})}

    The entropy is over the classes of each sample (the authors' code takes it over the batch
    dimension; here a sample's weights never depend on its batch). Missing modalities get
    weight 0 and are left out of the max and the normalisation.

    Args:
        logits: ``[B, M, K]`` unimodal logits.
        present: ``bool [B, M]`` (default: all present).

    Returns:
        ``[B, M]`` weights, each row summing to 1 (all zeros for a sample with no modality).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    e = -(logp.exp() * logp).sum(-1)  # [B, M]
    if present is None:
        present = torch.ones(e.shape, dtype=torch.bool, device=e.device)
    e_max = e.masked_fill(~present, -torch.inf).amax(dim=1, keepdim=True)
    score = (e_max - e).masked_fill(~present, -torch.inf)
    w = torch.softmax(score, dim=1)
    return torch.nan_to_num(w, nan=0.0).to(logits.dtype)


def dynamic_fusion(logits: Tensor, present: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Entropy-weighted fusion of unimodal logits (Eq. 5): ``y_hat_r = sum_m lambda_{m,r} f_m``.

    Args:
        logits: ``[B, M, K]``; present: ``bool [B, M]``.

    Returns:
        ``(y_hat [B, K], weights [B, M])``.
    """
    w = entropy_weights(logits, present)
    return (w.unsqueeze(-1) * logits).sum(1), w


# ----------------------------------------------------------------------------- the method


@dataclass(frozen=True)
class MLAConfig:
    """Settings of MLA.

    Attributes:
        fusion: encoders and sizes (the same ``FusionConfig`` as the baselines).
        hgm: head gradient modification (Eq. 3-4) on/off (Table 3 ablation).
        dynamic_fusion: entropy-weighted test-time fusion (Eq. 5-7) on/off; off = the mean of
            the present modalities' logits (Table 3 ablation).
        alpha: the RLS regulariser ``alpha`` of Eq. 3.
        projector: ``"shared"`` (the paper's single ``P_t``, updated every iteration with the
            current modality's mean feature, then applied, Algorithm 1 lines 5-6) or
            ``"per_modality"`` (one ``P_m`` per modality, updated with its own features; a step
            of modality ``m`` is projected with the other modalities' projectors only, so the
            head still learns freely along the current modality's features).
        hgm_variant: ``"paper"`` (Eq. 3, weight and bias projected) or ``"reference"`` (the
            authors' code's update, :func:`reference_rls_update`, on the weight only). The
            public code's projection never runs (a parameter-name check never matches), so
            ``hgm=False`` is what that code effectively trains.
        alternate: ``"batch"`` (Eq. 1: one modality per iteration, each batch trains one
            modality) or ``"within_batch"`` (the authors' code: every batch trains each modality
            in turn, one optimiser step per modality; ``t`` still counts unimodal steps).
    """

    fusion: FusionConfig
    hgm: bool = True
    dynamic_fusion: bool = True
    alpha: float = 1.0
    projector: str = "shared"
    hgm_variant: str = "paper"
    alternate: str = "batch"

    def __post_init__(self) -> None:
        if self.alpha <= 0:
            raise ValueError(f"MLAConfig.alpha must be > 0; got {self.alpha}.")
        for name, value, allowed in (
            ("projector", self.projector, ("shared", "per_modality")),
            ("hgm_variant", self.hgm_variant, ("paper", "reference")),
            ("alternate", self.alternate, ("batch", "within_batch")),
        ):
            if value not in allowed:
                raise ValueError(f"MLAConfig.{name}={value!r}; expected one of {allowed}.")
        if self.fusion.task.kind != "multiclass":
            raise ValueError(
                f"MLA's dynamic fusion uses softmax entropies: it needs a multiclass task, got {self.fusion.task.kind!r}."
            )


class MLA(Method):
    """MLA: modality encoders ``h_m``, one shared linear head ``g``, alternating unimodal steps.

    ``predict`` returns the fused logits (Eq. 5) and ``extras["unimodal"]`` (``[B, M, K]``, the
    ``f_m = g(h_m)``) and ``extras["weights"]`` (``[B, M]``, the ``lambda_m``).

    Buffers: ``step`` (the iteration ``t``) and ``projector`` (``[1 or M, s+1, s+1]``, ``P``).
    """

    def __init__(self, config: MLAConfig) -> None:
        super().__init__()
        self.config = config
        self.task = config.fusion.task
        self.modalities = tuple(config.fusion.in_dims)
        s = config.fusion.embed_dim
        self.encoders = make_encoders(config.fusion)
        self.head = nn.Linear(s, self.task.n_outputs)
        n_p = 1 if config.projector == "shared" else len(self.modalities)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("projector", torch.eye(s + 1).repeat(n_p, 1, 1))

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        return {m: self.encoders[m](batch.inputs[m], batch.mask(m)) for m in self.modalities}

    def unimodal(self, embeddings: Mapping[str, Tensor]) -> Tensor:
        """``[B, M, K]`` unimodal logits ``f_m = g(h_m)`` through the shared head."""
        return torch.stack([self.head(embeddings[m]) for m in self.modalities], dim=1)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        uni = self.unimodal(embeddings)
        if self.config.dynamic_fusion:
            y_hat, w = dynamic_fusion(uni, present)
        else:
            w = present.to(uni.dtype)
            w = w / w.sum(1, keepdim=True).clamp_min(1.0)
            y_hat = (w.unsqueeze(-1) * uni).sum(1)
        return Output(y_hat, {"unimodal": uni, "weights": w})

    def modality_at(self, t: int) -> str:
        """The modality trained at iteration ``t``: ``m_t = t mod M`` (Eq. 1)."""
        return self.modalities[int(t) % len(self.modalities)]

    def training_step(
        self, batch: MultimodalBatch, optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        """One (``"batch"``) or ``M`` (``"within_batch"``) alternating unimodal steps on ``batch``."""
        n = 1 if self.config.alternate == "batch" else len(self.modalities)
        logs: dict[str, float] = {}
        for _ in range(n):
            logs.update(self._unimodal_step(batch, optimizer))
        return logs

    def _unimodal_step(
        self, batch: MultimodalBatch, optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        t = int(self.step)
        j = t % len(self.modalities)
        m = self.modalities[j]
        self.step += 1
        optimizer.zero_grad(set_to_none=True)
        rows = batch.present[:, j]
        if not bool(rows.any()):  # no sample has this modality: nothing to learn this iteration
            return {}
        sub = batch.select(rows) if not bool(rows.all()) else batch
        h = self.encoders[m](sub.inputs[m], sub.mask(m))
        loss = task_loss(self.head(h), sub.y, self.task)
        loss.backward()  # gradients reach h_m and g only: the other encoders keep grad=None
        if self.config.hgm:
            self._modify_head_gradient(h.detach(), j, first=(t == 0))
        optimizer.step()
        return {f"loss_{m}": float(loss.detach()), "loss": float(loss.detach())}

    @torch.no_grad()
    def _modify_head_gradient(self, h: Tensor, j: int, first: bool) -> None:
        """Eq. 3 (update ``P`` with the mean feature) then Eq. 4 (``grad <- grad P``, ``t > 0``)."""
        c = self.config
        h_bar = torch.cat([h.mean(0), h.new_ones(1)]).to(self.projector.dtype)
        k = 0 if c.projector == "shared" else j
        if c.hgm_variant == "paper":
            self.projector[k] = rls_update(self.projector[k], h_bar, c.alpha)
        else:
            self.projector[k] = reference_rls_update(self.projector[k], h_bar, c.alpha)
        if first or self.head.weight.grad is None:
            return  # Eq. 4: the first iteration uses the plain gradient
        if c.projector == "shared":
            P = self.projector[0]
        else:
            P = torch.eye(self.projector.shape[-1], device=h.device, dtype=self.projector.dtype)
            for i in range(len(self.modalities)):
                if i != j:
                    P = P @ self.projector[i]
        gW, gb = self.head.weight.grad, self.head.bias.grad
        if c.hgm_variant == "paper":
            new_w, new_b = project_gradient(gW.to(P.dtype), gb.to(P.dtype), P)
            self.head.weight.grad.copy_(new_w)
            self.head.bias.grad.copy_(new_b)
        else:  # the code projects the weight only, with P^T and the non-augmented block
            self.head.weight.grad.copy_(gW @ P[:-1, :-1].T)


# ----------------------------------------------------------------------------- experiments


def only_modality(modality: str, modalities: Sequence[str]) -> tuple[MissingModality, ...]:
    """Corruptions that drop every modality but ``modality`` (embedding level, every sample).

    "Prediction from this modality only" (Table 1's unimodal rows) is the model evaluated
    under these corruptions.
    """
    if modality not in modalities:
        raise ValueError(f"only_modality: {modality!r} is not one of {tuple(modalities)}.")
    return tuple(
        MissingModality(modality=m, rate=1.0, level="embedding", allow_all_missing=True)
        for m in modalities
        if m != modality
    )


def drop_modalities(
    dataset: MultimodalDataset,
    rate: float,
    *,
    seed: int = 0,
    modalities: Sequence[str] | None = None,
) -> MultimodalDataset:
    """A copy of ``dataset`` where each of ``modalities`` is missing in each sample with
    probability ``rate`` (Sec. 3.2.1 of the MLA paper): zeros and ``present=False``.

    The mask is drawn once (seeded) and fixed, so training, validation and testing can all
    have missing modalities at the same rate. A sample left with no modality gets one of its
    dropped modalities back (chosen at random), so every sample keeps at least one.

    Args:
        dataset: the split to mask.
        rate: missing probability ``eta`` in ``[0, 1]``.
        seed: seed of the mask.
        modalities: the modalities that may go missing (default all).
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"drop_modalities: rate must be in [0, 1]; got {rate}.")
    names = tuple(modalities) if modalities is not None else dataset.modalities
    cols = [dataset.modalities.index(m) for m in names]
    g = torch.Generator().manual_seed(int(seed))
    n, M = len(dataset), len(dataset.modalities)
    drop = torch.zeros(n, M, dtype=torch.bool)
    drop[:, cols] = torch.rand(n, len(cols), generator=g) < rate
    present = dataset.present & ~drop
    empty = ~present.any(1) & dataset.present.any(1)
    if empty.any():
        choice = (
            torch.rand(n, M, generator=g).masked_fill(~(dataset.present & drop), -1.0).argmax(1)
        )
        present[empty, choice[empty]] = True
    inputs: dict[str, Any] = {}
    for j, m in enumerate(dataset.modalities):
        x = dataset.inputs[m]
        gone = ~present[:, j]
        if isinstance(x, list):
            inputs[m] = [torch.zeros_like(s) if bool(gone[i]) else s for i, s in enumerate(x)]
        else:
            inputs[m] = x * (~gone).to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return dataset.replace(
        inputs=inputs,
        present=present,
        meta={**dataset.meta, "missing_rate": rate, "missing_seed": seed},
    )


def evaluate_method(
    model: Method,
    dataset: MultimodalDataset,
    *,
    method: str,
    dataset_name: str | None = None,
    seed: int = 0,
    condition: str = "normal",
    level: str = "",
    metric: str | None = None,
    unimodal: bool = True,
) -> pd.DataFrame:
    """Tidy rows: the fused (``modality="multi"``) and unimodal scores of one trained model.

    Columns: method, dataset, condition, modality, level, metric, seed, value. Unimodal rows
    have condition ``"single_modality"`` (the reference CSV's vocabulary).
    """
    from ..evaluation import evaluate

    metric = metric or dataset.task.metric
    name = dataset_name or dataset.name
    base = {"method": method, "dataset": name, "level": level, "metric": metric, "seed": seed}
    rows = [
        {
            **base,
            "condition": condition,
            "modality": "multi",
            "value": evaluate(model, dataset, metric),
        }
    ]
    if unimodal:
        gen = torch.Generator().manual_seed(0)
        for m in dataset.modalities:
            value = evaluate(
                model, dataset, metric, only_modality(m, dataset.modalities), generator=gen
            )
            rows.append({**base, "condition": "single_modality", "modality": m, "value": value})
    cols = ["method", "dataset", "condition", "modality", "level", "metric", "seed", "value"]
    return pd.DataFrame(rows)[cols]


def run_methods(
    methods: Iterable[str],
    splits: Mapping[str, MultimodalDataset],
    *,
    seeds: Sequence[int] = (0,),
    trainer_config: Any = None,
    dataset_name: str | None = None,
    method_options: Mapping[str, Mapping[str, Any]] | None = None,
    level: str = "",
    condition: str = "normal",
    cache: bool = True,
    **build_options: Any,
) -> tuple[pd.DataFrame, dict[tuple[str, int], Method]]:
    """Train every method for every seed (selection on ``validation``) and score it on ``test``.

    Args:
        methods: names for :func:`~workbench.methods.baselines.build_method`, or labels
            mapped to a base name and options through ``method_options`` (e.g.
            ``{"MLA (no HGM)": {"method": "MLA", "hgm": False}}``).
        splits: ``{"train", "validation", "test"}`` datasets.
        seeds: seeds of initialisation and training.
        trainer_config: a :class:`~workbench.training.TrainerConfig` (its ``seed`` is replaced).
        dataset_name: the ``dataset`` column (default the dataset's name).
        method_options: per-label options (see ``methods``).
        level, condition: columns of the result (e.g. ``level="missing_rate=30"``).
        cache: re-use checkpoints (``Trainer(cache=True)``).
        **build_options: shared encoder settings (``embed_dim``, ``encoder``, ``hidden``, ...).

    Returns:
        ``(frame, models)``: the tidy frame of :func:`evaluate_method` with a ``best_epoch``
        column, and the trained models keyed by ``(label, seed)``.
    """
    from ..training import Trainer, TrainerConfig
    from .baselines import build_method

    trainer_config = trainer_config or TrainerConfig()
    method_options = method_options or {}
    frames, models = [], {}
    for label in methods:
        opts = dict(method_options.get(label, {}))
        base = opts.pop("method", label)
        for seed in seeds:
            model = build_method(base, splits["train"], seed=seed, **build_options, **opts)
            trainer = Trainer(dataclasses.replace(trainer_config, seed=int(seed)), cache=cache)
            model = trainer.fit(model, splits["train"], splits["validation"])
            frame = evaluate_method(
                model,
                splits["test"],
                method=label,
                dataset_name=dataset_name,
                seed=seed,
                condition=condition,
                level=level,
            )
            frame["best_epoch"] = trainer.best_epoch_
            frames.append(frame)
            models[(label, int(seed))] = model
    return pd.concat(frames, ignore_index=True), models


def summary_table(frame: pd.DataFrame, *, scale: float = 100.0, digits: int = 1) -> pd.DataFrame:
    """``mean ± std`` over seeds: one row per (dataset, modality), one column per method.

    ``scale=100`` prints accuracies in percent, like the paper's tables.
    """
    keys = [k for k in ("dataset", "level", "modality") if k in frame and frame[k].nunique() > 0]
    g = frame.groupby([*keys, "method"], sort=False)["value"]
    stats = g.agg(["mean", "std"]).reset_index()
    stats["cell"] = [
        f"{scale * m:.{digits}f} ± {0.0 if np.isnan(s) else scale * s:.{digits}f}"
        for m, s in zip(stats["mean"], stats["std"])
    ]
    order = list(dict.fromkeys(frame["method"]))
    table = stats.pivot_table(
        index=keys, columns="method", values="cell", aggfunc="first", sort=False
    )
    return table[[m for m in order if m in table.columns]]


@dataclass(frozen=True)
class ModalityGap:
    """The modality gap of a model on a dataset (Fig. 3 of the MLA paper; Liang et al., 2022).

    Attributes:
        distance: distance between the centroids of the L2-normalised embeddings of the first
            two modalities (the gap).
        centroids: ``[M, d]`` centroids of the normalised embeddings.
        points: ``[N * M, 2]`` 2-D PCA projection of all normalised embeddings.
        modality: ``[N * M]`` modality name of each point.
        y: ``[N * M]`` class of each point.
    """

    distance: float
    centroids: np.ndarray
    points: np.ndarray
    modality: np.ndarray
    y: np.ndarray


@torch.no_grad()
def modality_gap(
    model: Method, dataset: MultimodalDataset, *, batch_size: int = 512
) -> ModalityGap:
    """Embed ``dataset`` with ``model.embed``, L2-normalise each embedding, and measure the gap.

    Only samples where a modality is present contribute to its centroid.
    """
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    embs: dict[str, list[Tensor]] = {m: [] for m in dataset.modalities}
    ys: dict[str, list[Tensor]] = {m: [] for m in dataset.modalities}
    try:
        for batch in dataset.loader(batch_size):
            batch = batch.to(device)
            e = model.embed(batch)
            for j, m in enumerate(dataset.modalities):
                keep = batch.present[:, j]
                embs[m].append(torch.nn.functional.normalize(e[m][keep].float(), dim=-1).cpu())
                ys[m].append(batch.y[keep].cpu())
    finally:
        model.train(was)
    X = {m: torch.cat(v).numpy() for m, v in embs.items()}
    centroids = np.stack([X[m].mean(0) for m in dataset.modalities])
    distance = float(np.linalg.norm(centroids[0] - centroids[1])) if len(centroids) > 1 else 0.0
    allX = np.concatenate([X[m] for m in dataset.modalities])
    centred = allX - allX.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    labels = np.concatenate([np.full(len(X[m]), m) for m in dataset.modalities])
    y = np.concatenate([torch.cat(ys[m]).numpy() for m in dataset.modalities])
    return ModalityGap(distance, centroids, points, labels, y)


def claims_table(
    results: pd.DataFrame,
    *,
    reference: pd.DataFrame | None = None,
    weak: str,
    joint: str = "Concat",
    ablation: pd.DataFrame | None = None,
    missing: pd.DataFrame | None = None,
    gaps: Mapping[str, Sequence[float]] | None = None,
) -> pd.DataFrame:
    """Paper-vs-workbench: each claim of the MLA paper, the paper's evidence, ours, and a verdict.

    Args:
        results: Table 1 frame (:func:`run_methods`) on one dataset.
        reference: ``workbench/reference/mla.csv`` (read when omitted).
        weak: the weak modality of ``results`` (the one joint training neglects).
        joint: the joint-training baseline compared for laziness.
        ablation: Table 3 frame with methods labelled ``"HGM✗ DF✗"`` ... ``"HGM✓ DF✓"``.
        missing: Table 2 frame with a ``level`` of ``missing_rate=<pct>``.
        gaps: ``{"MLA": [...], "Concat": [...]}`` modality-gap distances over seeds.

    Returns:
        one row per claim: claim, paper, workbench, holds.
    """
    if reference is None:
        reference = load_mla_reference()
    ref = reference
    r1 = ref[ref["table"].astype(str) == "1"]

    def mean(frame, **eq) -> float:
        sel = frame
        for k, v in eq.items():
            sel = sel[sel[k] == v]
        return float(sel["value"].mean()) if len(sel) else float("nan")

    rows = []
    # 1. MLA beats every baseline on the fused prediction.
    methods = [m for m in dict.fromkeys(results["method"]) if m != "MLA"]
    ours = {m: mean(results, method=m, modality="multi") for m in [*methods, "MLA"]}
    best_other = max(methods, key=lambda m: ours[m]) if methods else None
    paper_multi = r1[r1["modality"] == "multi"]
    wins = sum(
        float(g.loc[g["method"] == "MLA", "value"].astype(float).max())
        >= float(g["value"].astype(float).max())
        for _, g in paper_multi.groupby("dataset")
    )
    rows.append(
        {
            "claim": "MLA has the best multimodal accuracy (Table 1)",
            "paper": f"best on {wins}/{paper_multi['dataset'].nunique()} datasets",
            "workbench": f"MLA {100 * ours['MLA']:.1f} vs best baseline {best_other} {100 * ours[best_other]:.1f}"
            if best_other
            else "no baseline",
            "holds": bool(best_other) and ours["MLA"] >= ours[best_other],
        }
    )
    # 2. Modality laziness: the weak modality's unimodal accuracy is higher under MLA than joint training.
    wj, wm = mean(results, method=joint, modality=weak), mean(results, method="MLA", modality=weak)
    crema = r1[(r1["dataset"] == "CREMA-D") & (r1["modality"] == "video")]
    pj = (
        float(crema.loc[crema["method"] == "Concat", "value"].astype(float).iloc[0])
        if len(crema)
        else float("nan")
    )
    pm = (
        float(crema.loc[crema["method"] == "MLA", "value"].astype(float).iloc[0])
        if len(crema)
        else float("nan")
    )
    rows.append(
        {
            "claim": "MLA lifts the weak modality (less modality laziness)",
            "paper": f"CREMA-D video: Concat {pj:.1f} -> MLA {pm:.1f}",
            "workbench": f"{weak}: {joint} {100 * wj:.1f} -> MLA {100 * wm:.1f}",
            "holds": wm > wj,
        }
    )
    if ablation is not None:
        r3 = ref[(ref["table"].astype(str) == "3") & (ref["modality"] == "multi")]

        def p3(level: str) -> float:
            return float(r3.loc[r3["level"] == level, "value"].astype(float).mean())

        cells = {
            lab: mean(ablation, method=lab, modality="multi")
            for lab in dict.fromkeys(ablation["method"])
        }
        full, none = cells.get("HGM✓ DF✓", np.nan), cells.get("HGM✗ DF✗", np.nan)
        rows.append(
            {
                "claim": "HGM + DF is the best ablation cell (Table 3)",
                "paper": f"mean over datasets: none {p3('HGM=0;DF=0'):.1f}, both {p3('HGM=1;DF=1'):.1f}",
                "workbench": ", ".join(f"{k} {100 * v:.1f}" for k, v in cells.items()),
                "holds": bool(full >= max(cells.values()) - 1e-12) and full > none,
            }
        )
        df_gain = cells.get("HGM✗ DF✓", np.nan) - none
        rows.append(
            {
                "claim": "dynamic fusion alone improves the fused accuracy",
                "paper": f"+{p3('HGM=0;DF=1') - p3('HGM=0;DF=0'):.1f} points (mean over datasets)",
                "workbench": f"{100 * df_gain:+.1f} points",
                "holds": bool(df_gain > 0),
            }
        )
    if missing is not None:
        r2 = ref[ref["table"].astype(str) == "2"]
        lev = sorted(missing["level"].unique(), key=lambda s: float(str(s).split("=")[-1]))
        multi = missing[missing["modality"] == "multi"]
        per = multi.groupby(["level", "method"])["value"].mean().unstack()
        per = per.loc[[lv for lv in lev if lv in per.index]]
        if "MLA" in per:
            others = per.drop(columns="MLA")
            n_win = int((per["MLA"].values[:, None] >= others.values).all(1).sum())
            p_win = int(
                sum(
                    float(g.loc[g["method"] == "MLA", "value"].astype(float).max())
                    >= float(g["value"].astype(float).max())
                    for _, g in r2.groupby("level")
                )
            )
            rows.append(
                {
                    "claim": "MLA is best at every missing rate (Table 2)",
                    "paper": f"best at {p_win}/{r2['level'].nunique()} rates",
                    "workbench": f"best at {n_win}/{len(per)} rates",
                    "holds": n_win == len(per),
                }
            )
    if gaps is not None and "MLA" in gaps:
        other = next((k for k in gaps if k != "MLA"), None)
        g_m, g_o = (
            float(np.mean(gaps["MLA"])),
            float(np.mean(gaps[other])) if other else float("nan"),
        )
        rows.append(
            {
                "claim": "MLA enlarges the modality gap (Fig. 3)",
                "paper": "larger gap than Concat on Food-101 (figure only)",
                "workbench": f"MLA {g_m:.3f} vs {other} {g_o:.3f}",
                "holds": g_m > g_o,
            }
        )
    return pd.DataFrame(rows)


def load_mla_reference() -> pd.DataFrame:
    """The MLA paper's published numbers (``workbench/reference/mla.csv``)."""
    try:
        from ..reference import load_reference  # the lead's helper, when present

        return load_reference("mla")
    except (ImportError, AttributeError):
        from importlib import resources

        with resources.files("workbench.reference").joinpath("mla.csv").open() as f:
            return pd.read_csv(f, dtype={"table": str})


def subsample_splits(
    splits: Mapping[str, MultimodalDataset], sizes: Mapping[str, int] | None, *, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """Random subsets of each split (``sizes[split]`` samples; all when absent) for quick runs."""
    if not sizes:
        return dict(splits)
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, ds in splits.items():
        n = sizes.get(name)
        if n is None or n >= len(ds):
            out[name] = ds
        else:
            out[name] = ds.subset(torch.randperm(len(ds), generator=g)[:n].sort().values)
    return out
