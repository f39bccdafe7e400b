"""Modality encoders of every method and baseline, in one module.

- :class:`MLPEncoder`: vectors ``[B, D]`` (or anything flattened; a ``[B, L, D]`` sequence is
  mean-pooled over its real tokens first).
- :class:`ConvEncoder`: small images ``[B, C, H, W]`` (e.g. the ``[1, 8, 8]`` digits of
  ``av_digits``), two 3x3 convolutions (the second optionally with stride 2) and an adaptive
  average pool.
- :class:`SequenceEncoder`: variable-length sequences ``[B, L, D]`` with a padding mask
  (e.g. MFCC frames ``[L, 13]``), two 1-D convolutions and a masked mean + max pool, or
  (``kind="moments"``, the OTM fusions) the masked mean and std of the frames and an MLP.
- :class:`MaxPoolSequenceEncoder`: the RAML paper's sequence encoder, a one-layer LSTM (or two
  1-D convolutions) with max-pooling over the real time steps.

Every encoder maps ``(x, mask) -> [B, out_dim]``. None of them uses batch statistics, so an
embedding never depends on the other samples of its batch (MLA's test-time fusion is per
sample, and so is the evaluation).

An encoder *family* (:data:`ENCODER_FAMILIES`) picks the encoder of a modality from its
:class:`ModalitySpec` (:func:`encoder_for`):

- ``"mlp"``: an :class:`MLPEncoder` for every modality (the foundation's default).
- ``"auto"``: :class:`SequenceEncoder` for a variable-length modality, :class:`ConvEncoder` for
  an image ``(C, H, W)``, :class:`MLPEncoder` otherwise ("same encoders for every method" in
  the arena).
- ``"raml"``: the encoders f_m of RAML and its baselines (Sec. IV-A of the RAML paper):
  "two-layer MLP networks" on vector features and "one-layer LSTM networks" with max-pooling
  over time on frame-level sequences (:class:`MaxPoolSequenceEncoder`); the embedded stand-in
  data adds small images, for which a two-layer CNN (:class:`ConvEncoder`, second convolution
  with stride 2) is used.
- ``"otm"``: the encoders of the OTM paper's fusion models (MultiBench style): a one-hidden-layer
  :class:`MLPEncoder` on every fixed-size modality (images flattened) and, for a
  variable-length modality, the masked mean and std of its frames followed by an MLP
  (:class:`SequenceEncoder` with ``kind="moments"``).

:func:`encoders_for` builds one encoder per modality of ``{modality: ModalitySpec}``
(:func:`modality_specs` reads them from a dataset); :func:`make_encoders` does so for a
:class:`~workbench.models.fusion.FusionConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

if TYPE_CHECKING:  # pragma: no cover
    from ..data.base import MultimodalDataset
    from .fusion import FusionConfig

__all__ = [
    "ENCODER_FAMILIES",
    "ConvEncoder",
    "MLPEncoder",
    "MaxPoolSequenceEncoder",
    "ModalitySpec",
    "SequenceEncoder",
    "encoder_for",
    "encoders_for",
    "make_encoders",
    "masked_moments",
    "mlp",
    "modality_specs",
]

ENCODER_FAMILIES = ("mlp", "auto", "raml", "otm")
"""The encoder families of :func:`encoder_for`."""


def mlp(d_in: int, hidden: int, d_out: int) -> nn.Sequential:
    """A two-layer perceptron ``Linear(d_in, hidden) -> ReLU -> Linear(hidden, d_out)`` (the
    heads, decoders and small backbones of OTM, RAML's baselines and the fusion models)."""
    return nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, d_out))


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

    @property
    def in_dim(self) -> int:
        """Input size of a vector encoder: ``D`` of a sequence step, the flattened size otherwise."""
        if self.sequence:
            return int(self.shape[-1])
        return int(torch.Size(self.shape).numel())


def modality_specs(dataset: MultimodalDataset) -> dict[str, ModalitySpec]:
    """``{modality: ModalitySpec}`` of ``dataset``, in its modality order."""
    return {
        m: ModalitySpec(
            tuple(int(s) for s in dataset.modality_shape(m)), bool(dataset.is_sequence(m))
        )
        for m in dataset.modalities
    }


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

    Two 3x3 convolutions (ReLU; the second with ``stride``), adaptive average pooling to 2x2,
    dropout and a linear layer. A flat ``[B, C*H*W]`` input is reshaped with ``shape``.

    Args:
        shape: ``(C, H, W)`` of one sample.
        out_dim: output size.
        width: channels of the two convolutions, ``(c1, c2)``; an int ``w`` means ``(w, 2 * w)``.
        dropout: dropout before the linear layer.
        stride: stride of the second convolution.
    """

    def __init__(
        self,
        shape: Sequence[int],
        out_dim: int,
        width: int | tuple[int, int] = 16,
        dropout: float = 0.0,
        stride: int = 1,
    ) -> None:
        super().__init__()
        if len(shape) != 3:
            raise ValueError(f"ConvEncoder needs an image shape (C, H, W); got {tuple(shape)}.")
        self.shape = tuple(int(s) for s in shape)
        c1, c2 = (width, 2 * width) if isinstance(width, int) else (int(w) for w in width)
        self.net = nn.Sequential(
            nn.Conv2d(self.shape[0], c1, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=stride, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(4 * c2, out_dim),
        )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x.float().reshape(x.shape[0], *self.shape)
        return self.net(x)


def masked_moments(x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean and standard deviation over the real steps: ``[B, L, D]`` (+ ``bool [B, L]``) ->
    ``[B, 2D]``. Padded steps (``mask`` False) count for nothing."""
    if mask is None:
        mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
    w = mask.unsqueeze(-1).to(x.dtype)
    n = w.sum(1).clamp_min(1.0)
    mean = (x * w).sum(1) / n
    var = (((x - mean.unsqueeze(1)) ** 2) * w).sum(1) / n
    return torch.cat([mean, var.clamp_min(0).sqrt()], -1)


class SequenceEncoder(nn.Module):
    """An encoder of padded sequences ``[B, L, D]`` with a mask ``[B, L]`` -> ``[B, out_dim]``.

    ``kind="conv"`` (default): two kernel-3 convolutions over time (ReLU); padded frames are
    zeroed before each convolution and excluded from the mean and max pools, so the output does
    not depend on how much padding the batch added.

    ``kind="moments"``: the masked mean and standard deviation of the frames
    (:func:`masked_moments`), then :func:`mlp` ``(2 D, hidden, out_dim)`` (the OTM paper's
    fusion models; ``dropout`` unused).
    """

    def __init__(
        self, in_dim: int, out_dim: int, hidden: int = 64, dropout: float = 0.0, kind: str = "conv"
    ) -> None:
        super().__init__()
        if kind not in ("conv", "moments"):
            raise ValueError(f"SequenceEncoder kind={kind!r}; expected 'conv' or 'moments'.")
        self.kind = kind
        if kind == "moments":
            self.mlp = mlp(2 * in_dim, hidden, out_dim)
            return
        self.norm = nn.LayerNorm(in_dim)
        self.conv1 = nn.Conv1d(in_dim, hidden, 3, padding=1)
        self.conv2 = nn.Conv1d(hidden, hidden, 3, padding=1)
        self.out = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, out_dim))

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x.float()
        if x.ndim == 2:  # a fixed-size vector seen as a length-1 sequence
            x = x[:, None, :]
        if self.kind == "moments":
            return self.mlp(masked_moments(x, mask))
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


class MaxPoolSequenceEncoder(nn.Module):
    """A one-layer LSTM (or a 1-d CNN) with max-pooling over the real time steps (RAML, Sec. IV-A).

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
            raise ValueError(f"MaxPoolSequenceEncoder kind={kind!r}; expected 'lstm' or 'cnn'.")
        self.kind = kind
        if kind == "lstm":
            self.rnn = nn.LSTM(in_dim, out_dim, num_layers=1, batch_first=True)
        else:
            self.conv = nn.Sequential(
                nn.Conv1d(in_dim, out_dim, 3, padding=1),
                nn.ReLU(),
                nn.Conv1d(out_dim, out_dim, 3, padding=1),
            )

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = x.float()
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        if self.kind == "lstm":
            h = self.rnn(x)[0]
        else:
            h = self.conv(x.transpose(1, 2)).transpose(1, 2)
        h = h.masked_fill(~mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        return torch.where(torch.isfinite(h), h, torch.zeros_like(h))


def encoder_for(
    spec: ModalitySpec,
    out_dim: int,
    *,
    family: str = "auto",
    hidden: Sequence[int] = (128,),
    dropout: float = 0.0,
    sequence_encoder: str = "lstm",
    in_dim: int | None = None,
) -> nn.Module:
    """The encoder of one modality in an encoder family; it maps ``(x, mask) -> [B, out_dim]``.

    Args:
        spec: the modality's shape and kind.
        out_dim: output size.
        family: ``"mlp"``, ``"auto"``, ``"raml"`` or ``"otm"`` (see the module docstring).
        hidden: hidden widths of the :class:`MLPEncoder` (vectors; every modality in ``"mlp"``).
            ``"auto"``: ``hidden[0]`` (64 if empty) is also the channel width of the
            :class:`SequenceEncoder`. ``"raml"``: the images' :class:`ConvEncoder` has
            ``w // 2`` then ``w = max(8, hidden[0] // 4)`` channels (stride 2). ``"otm"``:
            ``hidden[0]`` is the width of the sequences' moments MLP.
        dropout: dropout inside the encoder (not used by :class:`MaxPoolSequenceEncoder`).
        sequence_encoder: ``"lstm"`` or ``"cnn"``: the kind of
            :class:`MaxPoolSequenceEncoder` for sequences in the ``"raml"`` family.
        in_dim: input size of the vector and sequence encoders (default ``spec.in_dim``).
    """
    if family not in ENCODER_FAMILIES:
        raise ValueError(f"Encoder family {family!r}; expected one of {ENCODER_FAMILIES}.")
    kind = "vector" if family == "mlp" else spec.kind
    if family == "otm" and kind == "image":
        kind = "vector"
    in_dim = spec.in_dim if in_dim is None else int(in_dim)
    if kind == "sequence":
        if family == "otm":
            return SequenceEncoder(in_dim, out_dim, hidden[0] if hidden else 128, kind="moments")
        if family == "raml":
            return MaxPoolSequenceEncoder(in_dim, out_dim, sequence_encoder)
        return SequenceEncoder(in_dim, out_dim, hidden[0] if hidden else 64, dropout)
    if kind == "image":
        if family == "raml":
            width = max(8, (hidden[0] if hidden else 128) // 4)
            return ConvEncoder(spec.shape, out_dim, (width // 2, width), dropout, stride=2)
        return ConvEncoder(spec.shape, out_dim, dropout=dropout)
    return MLPEncoder(in_dim, out_dim, hidden, dropout)


def encoders_for(
    specs: Mapping[str, ModalitySpec],
    out_dim: int,
    *,
    family: str = "auto",
    hidden: Sequence[int] = (128,),
    dropout: float = 0.0,
    sequence_encoder: str = "lstm",
) -> nn.ModuleDict:
    """One :func:`encoder_for` per modality of ``specs`` (built in that order), all of ``family``.

    Example:
        >>> encoders = encoders_for(modality_specs(train), 64, family="raml", hidden=(128,))
    """
    return nn.ModuleDict(
        {
            m: encoder_for(
                spec,
                out_dim,
                family=family,
                hidden=hidden,
                dropout=dropout,
                sequence_encoder=sequence_encoder,
            )
            for m, spec in specs.items()
        }
    )


def make_encoders(config: FusionConfig) -> nn.ModuleDict:
    """One encoder per modality of ``config`` (:func:`encoder_for`, ``family=config.encoder``).

    ``config.encoder == "mlp"`` gives an :class:`MLPEncoder` per modality (the foundation's
    default). ``"auto"`` picks by the modality's shape: :class:`SequenceEncoder` for a
    variable-length modality, :class:`ConvEncoder` for an image ``(C, H, W)``, and
    :class:`MLPEncoder` otherwise. Every method built from the same config gets the same
    encoders.
    """
    if config.encoder not in ("mlp", "auto"):
        raise ValueError(f"FusionConfig.encoder={config.encoder!r}; expected 'mlp' or 'auto'.")
    shapes = config.shapes or {}
    return nn.ModuleDict(
        {
            m: encoder_for(
                ModalitySpec(tuple(shapes.get(m, (d,))), m in config.sequence),
                config.embed_dim,
                family=config.encoder,
                hidden=config.hidden,
                dropout=config.dropout,
                in_dim=d,
            )
            for m, d in config.in_dims.items()
        }
    )
