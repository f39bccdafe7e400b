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
:class:`~workbench.models.transformer.ViltTransformer`); :func:`backbone_factory` builds either.
The paper's experiments (test cases, the α×β grid, run points, the paper table) are in
:mod:`workbench.experiments.wma`, their profiles in ``configs/wma.yaml``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from ..data.base import MultimodalBatch, MultimodalDataset
from ..models.base import Method, Output
from ..ot import ipot, pairwise_cost

__all__ = [
    "VILT_DATASETS",
    "WMA",
    "WMAConfig",
    "backbone_factory",
    "modality_pairs",
    "ot_distances",
    "wma_penalty",
]


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
