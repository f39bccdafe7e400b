"""Baseline fusion models: ``encoders + fusion + head``.

``ConcatFusion`` is the foundation's first baseline: one MLP encoder per modality, the
embeddings concatenated (a missing modality contributes zeros) and a linear head.

The MLA paper's baselines (App. A.2) are built on the same encoders
(:func:`~workbench.models.encoders.make_encoders`), or take shared ones (``encoders=``, an
``nn.ModuleDict`` with one encoder per modality, used as given):

- :class:`SumFusion`: one linear head per modality, the unimodal logits summed, one joint loss.
- :class:`ConcatFusion`: one linear head on the concatenated embeddings.
- :class:`LateFusion`: one linear head per modality, each encoder + head trained on its own
  unimodal loss only (no cross-modal interaction); the fused output is the mean of the
  unimodal logits.
- :class:`FiLMFusion`: a condition modality's embedding gives ``gamma, beta`` (a linear layer to
  twice the embedding size) that modulate the other modalities' embeddings.
- :class:`BiGatedFusion`: per-modality linear layers; the condition modality's hidden state
  through a sigmoid gates the others before the output layer.

A missing modality (``present=False``) contributes zeros (Concat, FiLM, BiGated) or is left
out of the sum / mean of unimodal logits (Sum, Late fusion), so "prediction from modality m
only" is the model with every other modality missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data.base import MultimodalBatch, MultimodalDataset, Task
from .base import Method, Output, task_loss
from .encoders import MLPEncoder, make_encoders

__all__ = [
    "BiGatedFusion",
    "ConcatFusion",
    "FiLMFusion",
    "FusionConfig",
    "LateFusion",
    "MLPEncoder",
    "SumFusion",
    "shared_encoders",
]


@dataclass(frozen=True)
class FusionConfig:
    """Sizes of a fusion baseline: ``in_dims`` per modality, embedding size, MLP hidden sizes.

    ``shapes`` (one sample's shape per modality), ``sequence`` (the variable-length modalities)
    and ``encoder`` (``"mlp"``: an MLP per modality, the default; ``"auto"``: a CNN for images,
    a 1-D CNN for sequences, an MLP for vectors) choose the encoders of
    :func:`~workbench.models.encoders.make_encoders`.
    """

    in_dims: Mapping[str, int]
    task: Task
    embed_dim: int = 64
    hidden: tuple[int, ...] = (128,)
    dropout: float = 0.1
    shapes: Mapping[str, tuple[int, ...]] | None = None
    sequence: tuple[str, ...] = ()
    encoder: str = "mlp"

    @classmethod
    def for_dataset(cls, dataset: MultimodalDataset, **kwargs) -> FusionConfig:
        """Input sizes read from ``dataset`` (last dimension of sequences, flattened otherwise)."""
        dims = {}
        for m in dataset.modalities:
            shape = dataset.modality_shape(m)
            dims[m] = shape[-1] if dataset.is_sequence(m) else int(torch.Size(shape).numel())
        kwargs.setdefault(
            "shapes", {m: tuple(dataset.modality_shape(m)) for m in dataset.modalities}
        )
        kwargs.setdefault(
            "sequence", tuple(m for m in dataset.modalities if dataset.is_sequence(m))
        )
        return cls(in_dims=dims, task=dataset.task, **kwargs)


def shared_encoders(
    encoders: nn.ModuleDict, modalities: tuple[str, ...], owner: str
) -> nn.ModuleDict:
    """``encoders`` checked to hold one module per modality (the very modules, not copies).

    Raises:
        ValueError: an encoder is missing for a modality, or ``encoders`` is not a ``ModuleDict``.
    """
    if not isinstance(encoders, nn.ModuleDict):
        raise ValueError(
            f"{owner}(encoders=...) takes an nn.ModuleDict (modality -> encoder), "
            f"got {type(encoders).__name__}."
        )
    missing = [m for m in modalities if m not in encoders]
    if missing:
        raise ValueError(
            f"{owner}(encoders=...) has no encoder for {missing}; it has {list(encoders)}."
        )
    return encoders


class _EncodedFusion(Method):
    """``encoders + fusion + head``: stores the config and builds one encoder per modality
    (or uses the shared ``encoders`` given, e.g. the arena's, whose outputs must be
    ``config.embed_dim`` wide); ``embed`` runs each encoder on its modality (with the padding
    mask of sequences)."""

    def __init__(self, config: FusionConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__()
        self.config = config
        self.task = config.task
        self.modalities = tuple(config.in_dims)
        self.encoders = (
            make_encoders(config)
            if encoders is None
            else shared_encoders(encoders, self.modalities, type(self).__name__)
        )

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        return {m: self.encoders[m](batch.inputs[m], batch.mask(m)) for m in self.modalities}


class _ConditionedFusion(_EncodedFusion):
    """A fusion in which one ``condition`` modality (default: the first) acts on the others."""

    def __init__(
        self,
        config: FusionConfig,
        condition: str | None = None,
        encoders: nn.ModuleDict | None = None,
    ) -> None:
        super().__init__(config, encoders)
        name = type(self).__name__
        if len(self.modalities) < 2:
            raise ValueError(
                f"{name} needs at least two modalities (a condition and one it acts on)."
            )
        self.condition = condition or self.modalities[0]
        if self.condition not in self.modalities:
            raise ValueError(
                f"{name} condition {self.condition!r} is not one of {self.modalities}."
            )

    def extra_repr(self) -> str:
        return f"condition={self.condition!r}"


class ConcatFusion(_EncodedFusion):
    """Concatenation fusion: ``head([h_1(x_1); ...; h_M(x_M)])`` with zeros for missing modalities."""

    def __init__(self, config: FusionConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        self.head = nn.Linear(config.embed_dim * len(self.modalities), config.task.n_outputs)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        parts = [
            embeddings[m] * present[:, j : j + 1].to(embeddings[m].dtype)
            for j, m in enumerate(self.modalities)
        ]
        y_hat = self.head(torch.cat(parts, dim=-1))
        if self.task.kind == "binary":
            y_hat = y_hat.squeeze(-1)
        return Output(y_hat)


def _column(present: Tensor, j: int, like: Tensor) -> Tensor:
    """``present[:, j]`` as a ``[B, 1]`` float column of ``like``'s dtype."""
    return present[:, j : j + 1].to(like.dtype)


def _squeeze_binary(y_hat: Tensor, task: Task) -> Tensor:
    return y_hat.squeeze(-1) if task.kind == "binary" else y_hat


class _PerModalityHeads(_EncodedFusion):
    """Encoders plus one linear head per modality; ``extras["unimodal"]`` holds ``[B, M, K]``."""

    def __init__(self, config: FusionConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        self.heads = nn.ModuleDict(
            {m: nn.Linear(config.embed_dim, config.task.n_outputs) for m in self.modalities}
        )

    def unimodal(self, embeddings: dict[str, Tensor]) -> Tensor:
        """Unimodal logits ``[B, M, K]`` (missing modalities included; mask with ``present``)."""
        return torch.stack([self.heads[m](embeddings[m]) for m in self.modalities], dim=1)


class SumFusion(_PerModalityHeads):
    """Summation fusion (App. A.2 of the MLA paper): ``sum_m present_m * W_m h_m``, one joint loss."""

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        uni = self.unimodal(embeddings)
        y_hat = (uni * present.unsqueeze(-1).to(uni.dtype)).sum(1)
        return Output(_squeeze_binary(y_hat, self.task), {"unimodal": uni})


class LateFusion(_PerModalityHeads):
    """Late fusion (Gunes & Piccardi, 2005; App. A.2 of the MLA paper).

    Each encoder and its head are trained on their own unimodal loss (the sum of the unimodal
    losses, each over the samples where that modality is present); nothing crosses modalities.
    The fused output is the mean of the present modalities' logits.
    """

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        uni = self.unimodal(embeddings)
        w = present.to(uni.dtype)
        y_hat = (uni * w.unsqueeze(-1)).sum(1) / w.sum(1, keepdim=True).clamp_min(1.0)
        return Output(_squeeze_binary(y_hat, self.task), {"unimodal": uni})

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        uni = output.extras["unimodal"]
        present = output.extras.get("present", batch.present)
        total = uni.new_zeros(())
        logs: dict[str, float] = {}
        for j, m in enumerate(self.modalities):
            rows = present[:, j]
            if rows.any():
                lm = task_loss(_squeeze_binary(uni[rows, j], self.task), batch.y[rows], self.task)
                total = total + lm
                logs[f"loss_{m}"] = float(lm.detach())
        logs["loss"] = float(total.detach())
        return total, logs


class FiLMFusion(_ConditionedFusion):
    """FiLM fusion (Perez et al., 2018; App. A.2 of the MLA paper).

    ``gamma, beta = split(W_c h_c)`` with ``W_c`` a linear layer from the embedding size to twice
    it, computed from the ``condition`` modality ``c`` (default: the first); every other modality
    is modulated, ``gamma * h_m + beta``, and the modulated embeddings (zeros when missing) are
    concatenated into a linear head.
    """

    def __init__(
        self,
        config: FusionConfig,
        condition: str | None = None,
        encoders: nn.ModuleDict | None = None,
    ) -> None:
        super().__init__(config, condition, encoders)
        d = config.embed_dim
        self.film = nn.Linear(d, 2 * d)
        self.head = nn.Linear(d * (len(self.modalities) - 1), config.task.n_outputs)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        c = self.modalities.index(self.condition)
        h_c = embeddings[self.condition] * _column(present, c, embeddings[self.condition])
        gamma, beta = self.film(h_c).chunk(2, dim=-1)
        parts = [
            (gamma * embeddings[m] + beta) * _column(present, j, embeddings[m])
            for j, m in enumerate(self.modalities)
            if m != self.condition
        ]
        return Output(_squeeze_binary(self.head(torch.cat(parts, dim=-1)), self.task))


class BiGatedFusion(_ConditionedFusion):
    """Bilinear gated fusion (Kiela et al., 2018; App. A.2 of the MLA paper).

    Each modality has a linear layer ``u_m = W_m h_m``; the condition modality's
    ``sigmoid(u_c)`` gates the others, whose gated states (zeros when missing) are summed into
    a linear output layer.
    """

    def __init__(
        self,
        config: FusionConfig,
        condition: str | None = None,
        encoders: nn.ModuleDict | None = None,
    ) -> None:
        super().__init__(config, condition, encoders)
        d = config.embed_dim
        self.hidden = nn.ModuleDict({m: nn.Linear(d, d) for m in self.modalities})
        self.head = nn.Linear(d, config.task.n_outputs)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        c = self.modalities.index(self.condition)
        h_c = embeddings[self.condition] * _column(present, c, embeddings[self.condition])
        gate = torch.sigmoid(self.hidden[self.condition](h_c))
        fused = sum(
            gate * self.hidden[m](embeddings[m]) * _column(present, j, embeddings[m])
            for j, m in enumerate(self.modalities)
            if m != self.condition
        )
        return Output(_squeeze_binary(self.head(fused), self.task))
