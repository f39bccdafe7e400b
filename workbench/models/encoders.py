"""Modality encoders shared by every method and baseline ("same encoders for every method").

- :class:`MLPEncoder`: vectors ``[B, D]`` (or anything flattened; a ``[B, L, D]`` sequence is
  mean-pooled over its real tokens first).
- :class:`ConvEncoder`: small images ``[B, C, H, W]`` (e.g. the ``[1, 8, 8]`` digits of
  ``av_digits``), two 3x3 convolutions and an adaptive average pool.
- :class:`SequenceEncoder`: variable-length sequences ``[B, L, D]`` with a padding mask
  (e.g. MFCC frames ``[L, 13]``), two 1-D convolutions and a masked mean + max pool.

None of them uses batch statistics, so an embedding never depends on the other samples of its
batch (MLA's test-time fusion is per sample, and so is the evaluation).

:func:`make_encoders` builds one encoder per modality from a
:class:`~workbench.models.fusion.FusionConfig`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # pragma: no cover
    from .fusion import FusionConfig

__all__ = ["ConvEncoder", "MLPEncoder", "SequenceEncoder", "make_encoders"]


class MLPEncoder(nn.Module):
    """Flatten the input and map it with an MLP: ``[B, ...] -> [B, out_dim]``.

    A ``[B, L, D]`` token sequence is mean-pooled over its real tokens first (``mask``).
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden: Sequence[int] = (128,), dropout: float = 0.0
    ) -> None:
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


class ConvEncoder(nn.Module):
    """A small CNN for images ``[B, C, H, W] -> [B, out_dim]``.

    Two 3x3 convolutions (``width``, ``2 * width`` channels, ReLU), adaptive average pooling to
    2x2, dropout and a linear layer. A flat ``[B, C*H*W]`` input is reshaped with ``shape``.
    """

    def __init__(
        self, shape: Sequence[int], out_dim: int, width: int = 16, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if len(shape) != 3:
            raise ValueError(f"ConvEncoder needs an image shape (C, H, W); got {tuple(shape)}.")
        self.shape = tuple(int(s) for s in shape)
        c = self.shape[0]
        self.net = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(8 * width, out_dim),
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x.float().reshape(x.shape[0], *self.shape)
        return self.net(x)


class SequenceEncoder(nn.Module):
    """A 1-D CNN for padded sequences ``[B, L, D]`` with a mask ``[B, L]`` -> ``[B, out_dim]``.

    Two kernel-3 convolutions over time (ReLU); padded frames are zeroed before each convolution
    and excluded from the mean and max pools, so the output does not depend on how much padding
    the batch added.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: int = 64, dropout: float = 0.0) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.conv1 = nn.Conv1d(in_dim, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, out_dim))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x.float()
        if x.ndim == 2:  # a fixed-size vector seen as a length-1 sequence
            x = x[:, None, :]
        if mask is None:
            mask = x.new_ones(x.shape[:2], dtype=bool)
        w = mask.to(x.dtype).unsqueeze(1)  # [B, 1, L]
        h = self.norm(x).transpose(1, 2) * w
        h = self.conv1(h).relu() * w
        h = self.conv2(h).relu() * w
        n = w.sum(-1).clamp_min(1.0)
        mean = h.sum(-1) / n
        peak = h.masked_fill(w == 0, 0.0).amax(-1)
        return self.out(torch.cat([mean, peak], dim=-1))


def make_encoders(config: FusionConfig) -> nn.ModuleDict:
    """One encoder per modality of ``config``.

    ``config.encoder == "mlp"`` gives an :class:`MLPEncoder` per modality (the foundation's
    default). ``"auto"`` picks by the modality's shape: :class:`SequenceEncoder` for a
    variable-length modality, :class:`ConvEncoder` for an image ``(C, H, W)``, and
    :class:`MLPEncoder` otherwise. Every method built from the same config gets the same
    encoders.
    """
    encoders = {}
    for m, d in config.in_dims.items():
        shape = tuple((config.shapes or {}).get(m, (d,)))
        if config.encoder == "mlp":
            enc: nn.Module = MLPEncoder(d, config.embed_dim, config.hidden, config.dropout)
        elif config.encoder == "auto":
            if m in config.sequence:
                enc = SequenceEncoder(
                    d, config.embed_dim, config.hidden[0] if config.hidden else 64, config.dropout
                )
            elif len(shape) == 3:
                enc = ConvEncoder(shape, config.embed_dim, dropout=config.dropout)
            else:
                enc = MLPEncoder(d, config.embed_dim, config.hidden, config.dropout)
        else:
            raise ValueError(f"FusionConfig.encoder={config.encoder!r}; expected 'mlp' or 'auto'.")
        encoders[m] = enc
    return nn.ModuleDict(encoders)
