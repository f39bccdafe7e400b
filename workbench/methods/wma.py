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

**Special tokens (one rule).** A modality's special tokens are part of that modality's
embedding (Eq. 1-2: :math:`x^{\\bar m} = [m_{cls}; m_1; \\dots]`), so the embedding-level test
cases (noise, zeroing) corrupt them with the modality: ViLT's text ``[CLS]`` and ``[SEP]`` with
the text, its image ``[CLS]`` with the image. The OT token sets hold only the content tokens:
no ``[CLS]`` of either modality and no text ``[SEP]``, as in ViLT's word-patch alignment
(``compute_itm_wpa`` in ``vilt/modules/objectives.py`` of dandelin/ViLT masks position 0 of both
modalities and the last real text token). The backbone says which output tokens enter OT with
``Output.extras["ot_mask.<m>"]`` (else ``"mask.<m>"``). A shared CLS that belongs to no modality
(:class:`~workbench.models.transformer.OneTowerTransformer`'s) is neither corrupted nor aligned.
A sample whose OT set of a pair is empty (e.g. an empty text: ``[CLS] [SEP]``) is left out of
that pair's term, like a sample with a missing modality.

**IPOT numerics.** ``variant="paper"`` (default) solves Eq. 5-6 with
:func:`workbench.ot.ipot`'s scale-free ``cost_scale="max"``, so the 50 IPOT steps reach the
exact plan's marginals for every offered cost at any feature scale; ``variant="reference_code"``
solves on the raw cost as the ViLT code does (``exp(-C / 0.5)``), which suits the cosine cost in
[0, 2] but underflows for a squared-Euclidean cost of large features. Each training batch logs
the mean L1 marginal error of its plans (``ot_marginal_error``, one value per epoch in the
Trainer's history as ``train_ot_marginal_error``), and a
:class:`~workbench.util.ConvergenceWarning` is raised (once per model) when a batch's mean
exceeds ``WMAConfig.ot_tol``.

:class:`WMA` wraps any backbone whose ``predict`` returns the output tokens in
``Output.extras["tokens.<m>"]`` / ``["mask.<m>"]`` (:class:`~workbench.models.transformer.OneTowerTransformer`,
:class:`~workbench.models.transformer.ViltTransformer`); :func:`backbone_factory` builds either.
The paper's experiments (test cases, the α×β grid, run points, the paper table) are in
:mod:`workbench.experiments.wma`, their profiles in ``configs/wma.yaml``.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.base import MultimodalBatch, MultimodalDataset
from ..models.base import Method, Output
from ..ot import ipot, pairwise_cost
from ..util import ConvergenceWarning

__all__ = [
    "VILT_DATASETS",
    "WMA",
    "WMAConfig",
    "WMASolution",
    "backbone_factory",
    "modality_pairs",
    "ot_distances",
    "solve_pairs",
    "wma_penalty",
]


VARIANTS = ("paper", "reference_code")
"""``WMAConfig.variant`` values: the paper's Eq. 5-8 with a scale-free IPOT, or the ViLT
reference code's raw-cost IPOT."""


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
        variant: ``"paper"`` (default): Eq. 5-8 solved with the scale-free
            ``cost_scale="max"`` of :func:`workbench.ot.ipot` (the step β is relative to each
            cost's range), so no offered cost underflows at any feature scale;
            ``"reference_code"``: the ViLT reference code's raw cost (``cost_scale=1.0``:
            ``exp(-C / ot_beta)``, read in ``vilt/modules/objectives.py`` of dandelin/ViLT).
        cost_scale: overrides the variant's ``cost_scale`` (``"max"`` or a positive float);
            ``None`` (default): the variant's.
        ot_tol: tolerance on a batch's mean L1 marginal error
            :math:`\\|T1 - a\\|_1 + \\|T^\\top 1 - b\\|_1` of the IPOT plans; above it a
            :class:`~workbench.util.ConvergenceWarning` is raised (once per model).
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
    variant: str = "paper"
    cost_scale: float | str | None = None
    ot_tol: float = 1e-2
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
        if self.variant not in VARIANTS:
            raise ValueError(f"WMAConfig.variant={self.variant!r}; expected one of {VARIANTS}.")
        scale = self.cost_scale
        if scale is not None and not (
            scale == "max" or (isinstance(scale, (int, float)) and scale > 0)
        ):
            raise ValueError(
                f"WMAConfig.cost_scale={scale!r}; expected None, 'max' or a positive number."
            )
        if not self.ot_tol > 0:
            raise ValueError(f"WMAConfig.ot_tol={self.ot_tol}; expected a positive tolerance.")

    @property
    def ipot_cost_scale(self) -> float | str:
        """The ``cost_scale`` passed to :func:`workbench.ot.ipot`: ``cost_scale`` if set, else
        ``"max"`` (``variant="paper"``) or ``1.0`` (``variant="reference_code"``)."""
        if self.cost_scale is not None:
            return self.cost_scale
        return "max" if self.variant == "paper" else 1.0


def modality_pairs(modalities: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """All unordered pairs, in order: ``(m1, m2), (m1, m3), (m2, m3)`` for Eq. (10)."""
    return tuple(itertools.combinations(tuple(modalities), 2))


@dataclass(frozen=True)
class WMASolution:
    """The OT problems of one batch (Eq. 5-8 of the WMA paper), per modality pair.

    Attributes:
        distances: ``{pair: D [B]}`` (0 where the pair's token sets are not both non-empty).
        marginal_error: ``{pair: [B]}`` L1 marginal error of each IPOT plan (0 where not solved).
        solved: ``{pair: bool [B]}``: both OT token sets of the sample are non-empty.
    """

    distances: dict[tuple[str, str], Tensor]
    marginal_error: dict[tuple[str, str], Tensor]
    solved: dict[tuple[str, str], Tensor]

    def mean_marginal_error(self) -> float:
        """Mean marginal error over the solved problems of every pair (0.0 if none)."""
        errs = [e[self.solved[p]] for p, e in self.marginal_error.items()]
        errs = [e for e in errs if e.numel()]
        return float(torch.cat(errs).mean()) if errs else 0.0


def solve_pairs(
    tokens: Mapping[str, Tensor],
    masks: Mapping[str, Tensor | None],
    pairs: Sequence[tuple[str, str]],
    config: WMAConfig = WMAConfig(),
) -> WMASolution:
    """The per-sample OT costs :math:`D^i_{m_k m_l}` of Eq. (5)-(8) of the WMA paper, with
    IPOT's marginal errors.

    All pairs are solved in one batched :func:`workbench.ot.ipot` call (costs padded to a
    common size and masked; ``cost_scale`` from :attr:`WMAConfig.ipot_cost_scale`). The
    gradient flows into the token features through the cost with the plan held constant.
    Samples whose token set of a pair is empty are not solved (``D = 0``, ``solved`` False).

    Args:
        tokens: modality -> output tokens ``H^m`` ``[B, L_m, d]``.
        masks: modality -> bool ``[B, L_m]`` (True = token in the OT set) or None (all).
        pairs: the pairs ``(m_k, m_l)``.
        config: cost and IPOT settings.
    """
    if not pairs:
        return WMASolution({}, {}, {})
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
    solved = mask_a.any(-1) & mask_b.any(-1)
    if not bool(solved.all()):  # an empty set: solve a 1x1 stand-in, then drop it
        mask_a = mask_a.clone()
        mask_b = mask_b.clone()
        mask_a[~solved, 0] = True
        mask_b[~solved, 0] = True
    result = ipot(
        C,
        beta=config.ot_beta,
        n_outer=config.n_outer,
        n_inner=config.n_inner,
        mask_a=mask_a,
        mask_b=mask_b,
        cost_scale=config.ipot_cost_scale,
    )
    value = torch.where(solved, result.value, torch.zeros_like(result.value))
    error = torch.where(solved, result.marginal_error.detach(), 0.0)
    size = costs[0].shape[0]
    return WMASolution(
        dict(zip(pairs, value.split(size))),
        dict(zip(pairs, error.split(size))),
        dict(zip(pairs, solved.split(size))),
    )


def ot_distances(
    tokens: Mapping[str, Tensor],
    masks: Mapping[str, Tensor | None],
    pairs: Sequence[tuple[str, str]],
    config: WMAConfig = WMAConfig(),
) -> dict[tuple[str, str], Tensor]:
    """``{(m_k, m_l): D [B]}``, the per-sample OT costs of Eq. (5)-(8) of the WMA paper
    (:func:`solve_pairs`' ``distances``).

    Args:
        tokens: modality -> output tokens ``H^m`` ``[B, L_m, d]``.
        masks: modality -> bool ``[B, L_m]`` (True = token in the OT set) or None (all).
        pairs: the pairs ``(m_k, m_l)``.
        config: cost and IPOT settings.
    """
    return solve_pairs(tokens, masks, pairs, config).distances


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
        self._warned_ot = False

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
        return self.solve(output).distances

    def solve(self, output: Output) -> WMASolution:
        """The OT problems of an output (Eq. 5-8): the OT token sets are
        ``extras["tokens.<m>"]`` under ``extras["ot_mask.<m>"]`` (the content tokens; else
        ``"mask.<m>"``)."""
        tokens = {
            m: output.extras[f"tokens.{m}"]
            for m in self.modalities
            if f"tokens.{m}" in output.extras
        }
        masks = {
            m: output.extras.get(f"ot_mask.{m}", output.extras.get(f"mask.{m}")) for m in tokens
        }
        return solve_pairs(tokens, masks, self.pairs, self.config)

    @torch.no_grad()
    def init_basis(self, batch: MultimodalBatch) -> Tensor:
        """Set the basis from ``batch`` with the current weights (idempotent: only once)."""
        if not bool(self.basis_ready):
            self._set_basis(self.solve(self(batch)), batch.present)
        return self.basis.clone()

    def _set_basis(self, sol: WMASolution, present: Tensor) -> None:
        values = []
        for a, b in self.pairs:
            D = sol.distances[(a, b)]
            w = self._pair_weight(present, a, b, sol).to(D.dtype)
            values.append((D.detach() * w).sum() / w.sum().clamp_min(1.0))
        self.basis.copy_(torch.stack(values))
        self.basis_ready.fill_(True)

    def _pair_weight(self, present: Tensor, a: str, b: str, sol: WMASolution) -> Tensor:
        both = present[:, self.modalities.index(a)] & present[:, self.modalities.index(b)]
        return both & sol.solved[(a, b)]

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        """Eq. (9)/(10): task loss + ``alpha * sum_pairs mean_i (D^i - beta * basis)^2``."""
        task, logs = self.backbone.loss(output, batch)
        logs = {"task_loss": logs.get("loss", float(task.detach()))}
        if not self.active:
            logs["loss"] = float(task.detach())
            return task, logs
        sol = self.solve(output)
        D = sol.distances
        present = output.extras.get("present", batch.present)
        if self.config.basis == "first_batch" and not bool(self.basis_ready):
            self._set_basis(sol, present)
        reg = task.new_zeros(())
        for j, (a, b) in enumerate(self.pairs):
            w = self._pair_weight(present, a, b, sol)
            if not bool(w.any()):  # no sample has both token sets: no term for this pair
                continue
            basis = D[(a, b)].detach()[w].mean() if self.config.basis == "batch" else self.basis[j]
            reg = reg + wma_penalty(D[(a, b)], basis, self.config.beta, w)
            logs[f"D_{a}_{b}"] = float(D[(a, b)].detach()[w].mean())
        loss = task + self.config.alpha * reg
        error = sol.mean_marginal_error()
        logs.update(wma=float(reg.detach()), ot_marginal_error=error, loss=float(loss.detach()))
        if error > self.config.ot_tol and not self._warned_ot:
            self._warned_ot = True
            warnings.warn(
                f"WMA: IPOT's mean L1 marginal error on a training batch is {error:.3g} > "
                f"ot_tol={self.config.ot_tol:g} after n_outer={self.config.n_outer} steps "
                f"(cost={self.config.cost!r}, cost_scale={self.config.ipot_cost_scale!r}): the "
                "OT costs D are not those of a transport plan. Use variant='paper' "
                "(cost_scale='max') or more n_outer; the per-epoch mean is "
                "train_ot_marginal_error in the Trainer's history.",
                ConvergenceWarning,
                stacklevel=2,
            )
        return loss, logs


# ============================================================================ backbones

VILT_DATASETS = ("hateful_memes", "mmimdb")
"""Datasets the paper fine-tunes ViLT on (early fusion); the others use the feature transformer."""


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
        A function building a fresh backbone (call it under a seed:
        :func:`workbench.experiments.wma.fit_wma` does).
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
