"""Baseline fusion models: ``encoders + fusion + head``.

``ConcatFusion`` is the foundation's first baseline: one MLP encoder per modality, the
embeddings concatenated (a missing modality contributes zeros) and a linear head.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data.base import MultimodalBatch, MultimodalDataset, Task
from ..methods.base import Method, Output

__all__ = ["ConcatFusion", "FusionConfig", "MLPEncoder"]


class MLPEncoder(nn.Module):
    """Flatten the input and map it with an MLP: ``[B, ...] -> [B, out_dim]``.

    A ``[B, L, D]`` token sequence is mean-pooled over its real tokens first (``mask``).
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: Sequence[int] = (128,), dropout: float = 0.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = in_dim
        for h in hidden:
            layers += [nn.Linear(d, h), nn.ReLU(), nn.Dropout(dropout)]
            d = h
        layers.append(nn.Linear(d, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is not None:
            w = mask.to(x.dtype).unsqueeze(-1)
            x = (x * w).sum(1) / w.sum(1).clamp_min(1.0)
        return self.net(x.flatten(1).float())


@dataclass(frozen=True)
class FusionConfig:
    """Sizes of a fusion baseline: ``in_dims`` per modality, embedding size, MLP hidden sizes."""

    in_dims: Mapping[str, int]
    task: Task
    embed_dim: int = 64
    hidden: tuple[int, ...] = (128,)
    dropout: float = 0.1

    @classmethod
    def for_dataset(cls, dataset: MultimodalDataset, **kwargs) -> FusionConfig:
        """Input sizes read from ``dataset`` (last dimension of sequences, flattened otherwise)."""
        dims = {}
        for m in dataset.modalities:
            shape = dataset.modality_shape(m)
            dims[m] = shape[-1] if dataset.is_sequence(m) else int(torch.Size(shape).numel())
        return cls(in_dims=dims, task=dataset.task, **kwargs)


class ConcatFusion(Method):
    """Concatenation fusion: ``head([h_1(x_1); ...; h_M(x_M)])`` with zeros for missing modalities."""

    def __init__(self, config: FusionConfig) -> None:
        super().__init__()
        self.config = config
        self.task = config.task
        self.modalities = tuple(config.in_dims)
        self.encoders = nn.ModuleDict(
            {m: MLPEncoder(d, config.embed_dim, config.hidden, config.dropout) for m, d in config.in_dims.items()}
        )
        self.head = nn.Linear(config.embed_dim * len(self.modalities), config.task.n_outputs)

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        return {m: self.encoders[m](batch.inputs[m], batch.mask(m)) for m in self.modalities}

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        parts = [embeddings[m] * present[:, j : j + 1].to(embeddings[m].dtype) for j, m in enumerate(self.modalities)]
        y_hat = self.head(torch.cat(parts, dim=-1))
        if self.task.kind == "binary":
            y_hat = y_hat.squeeze(-1)
        return Output(y_hat)
