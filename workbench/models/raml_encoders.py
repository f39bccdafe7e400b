"""Modality encoders f_m shared by RAML and its baselines (Sec. IV-A of the RAML paper).

The paper puts "two-layer MLP networks" on vector features and "one-layer LSTM networks" with
max-pooling over time on frame-level sequences. The embedded stand-in data adds small images
(``[C, H, W]``, e.g. 8x8 digits), for which a two-layer CNN is used.

:func:`encoder_for` picks the encoder from a :class:`ModalitySpec` (shape and whether the
modality is a variable-length sequence); :func:`modality_specs` reads the specs of a dataset.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data.base import MultimodalDataset
from .fusion import MLPEncoder

__all__ = ["ImageEncoder", "ModalitySpec", "SequenceEncoder", "encoder_for", "modality_specs"]


@dataclass(frozen=True)
class ModalitySpec:
    """What an encoder needs to know about one modality.

    Attributes:
        shape: shape of one sample (``(D,)`` vector, ``(C, H, W)`` image, ``(-1, D)`` sequence).
        sequence: True for a variable-length ``[L, D]`` sequence (padded in batches).
    """

    shape: tuple[int, ...]
    sequence: bool = False

    @property
    def kind(self) -> str:
        """``"sequence"``, ``"image"`` (3-d sample) or ``"vector"`` (anything else, flattened)."""
        if self.sequence:
            return "sequence"
        return "image" if len(self.shape) == 3 else "vector"


def modality_specs(dataset: MultimodalDataset) -> dict[str, ModalitySpec]:
    """``{modality: ModalitySpec}`` of ``dataset``, in its modality order."""
    return {
        m: ModalitySpec(tuple(int(s) for s in dataset.modality_shape(m)), bool(dataset.is_sequence(m)))
        for m in dataset.modalities
    }


class ImageEncoder(nn.Module):
    """Two stride-2 3x3 convolutions, global average pooling, a linear map: ``[B, C, H, W] -> [B, out_dim]``."""

    def __init__(self, in_channels: int, out_dim: int, width: int = 32, dropout: float = 0.0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, width // 2, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width // 2, width, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(width * 4, out_dim),
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.net(x.float())


class SequenceEncoder(nn.Module):
    """A one-layer LSTM (or a 1-d CNN) with max-pooling over the real time steps.

    ``[B, L, D]`` with ``mask`` ``bool [B, L]`` (True = real step) -> ``[B, out_dim]``. The
    LSTM runs left to right, so padding at the end never changes the outputs at real steps.
    A row with no real step (length 0) gets zeros.

    Args:
        in_dim: feature size ``D`` of a step.
        out_dim: output size.
        kind: ``"lstm"`` (the paper's choice) or ``"cnn"`` (faster on a CPU: two 1-d
            convolutions, kernel 3).
    """

    def __init__(self, in_dim: int, out_dim: int, kind: str = "lstm") -> None:
        super().__init__()
        if kind not in ("lstm", "cnn"):
            raise ValueError(f"SequenceEncoder kind={kind!r}; expected 'lstm' or 'cnn'.")
        self.kind = kind
        if kind == "lstm":
            self.rnn = nn.LSTM(in_dim, out_dim, num_layers=1, batch_first=True)
        else:
            self.conv = nn.Sequential(
                nn.Conv1d(in_dim, out_dim, 3, padding=1), nn.ReLU(), nn.Conv1d(out_dim, out_dim, 3, padding=1)
            )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x.float()
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        h = self.rnn(x)[0] if self.kind == "lstm" else self.conv(x.transpose(1, 2)).transpose(1, 2)
        h = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        return torch.where(torch.isfinite(h), h, torch.zeros_like(h))


def encoder_for(spec: ModalitySpec, out_dim: int, *, hidden: int = 128, sequence_encoder: str = "lstm",
                dropout: float = 0.0) -> nn.Module:
    """The encoder f_m of one modality; every encoder maps ``(x, mask) -> [B, out_dim]``.

    Args:
        spec: the modality's shape and kind.
        out_dim: output size of f_m.
        hidden: hidden width of the two-layer MLP (vectors) / channel width (images).
        sequence_encoder: ``"lstm"`` or ``"cnn"`` for sequences.
        dropout: dropout inside the encoder.
    """
    if spec.kind == "sequence":
        return SequenceEncoder(spec.shape[-1], out_dim, sequence_encoder)
    if spec.kind == "image":
        return ImageEncoder(spec.shape[0], out_dim, width=max(8, hidden // 4), dropout=dropout)
    in_dim = int(torch.Size(spec.shape).numel())
    return MLPEncoder(in_dim, out_dim, (hidden,), dropout)
