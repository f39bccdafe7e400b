"""Corruptions: noisy, missing and unaligned modalities, as pure functions of a batch.

A corruption is a small frozen dataclass with a ``level``:

- ``"input"``: applied to :class:`~workbench.data.MultimodalBatch` inputs before the model's
  ``embed`` (RAML's Gaussian image noise and word masking);
- ``"embedding"``: applied to the dict of embeddings returned by ``embed``, before ``predict``
  (WMA's uniform noise of amplitude 3 and zeroed embeddings).

Calling a corruption on a batch, ``c(batch, generator)``, returns a new batch; calling
``c.on_embeddings(embeddings, present, generator)`` returns new ``(embeddings, present)``.
Inputs are never mutated. All randomness comes from the explicit ``torch.Generator``, drawn on
the CPU so the same seed gives the same corruption on every machine and device.

Corruptions are registered by name (:func:`get`, :func:`available`) so notebooks and the CLI
can name them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor

from .data.base import MultimodalBatch

__all__ = [
    "Clean",
    "Corruption",
    "MissingModality",
    "UniformNoise",
    "apply_embedding_level",
    "apply_input_level",
    "available",
    "get",
    "register",
]

Level = Literal["input", "embedding"]

_REGISTRY: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator registering a corruption under its ``name`` class attribute."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """Names of the registered corruptions."""
    return sorted(_REGISTRY)


def get(name: str, **params: Any) -> Corruption:
    """Build the corruption registered as ``name`` with ``params``."""
    if name not in _REGISTRY:
        raise ValueError(f"Unknown corruption {name!r}; available corruptions are {available()}.")
    return _REGISTRY[name](**params)


def _rand(shape: tuple[int, ...], generator: torch.Generator, like: Tensor, kind: str = "uniform") -> Tensor:
    """Random numbers drawn on the CPU from ``generator`` (device-independent), moved to ``like``."""
    fn: Callable[..., Tensor] = torch.rand if kind == "uniform" else torch.randn
    return fn(shape, generator=generator, dtype=torch.float32).to(device=like.device, dtype=like.dtype)


def _bernoulli_rows(n: int, rate: float, generator: torch.Generator) -> Tensor:
    return torch.rand(n, generator=generator) < rate


class Corruption:
    """Base class: subclasses are frozen dataclasses that implement one or both hooks.

    Attributes:
        name: registry name (class attribute).
        level: ``"input"`` or ``"embedding"``.
        modality: the modality it acts on (``None`` when it acts on the whole batch).
    """

    name: ClassVar[str] = "corruption"
    level: Level
    modality: str | None

    def __call__(self, batch: MultimodalBatch, generator: torch.Generator) -> MultimodalBatch:
        """Input level: a corrupted copy of ``batch``."""
        inputs, present = self._apply(dict(batch.inputs), batch.present.clone(), batch.modalities, generator)
        return batch.replace(inputs=inputs, present=present)

    def on_embeddings(
        self, embeddings: dict[str, Tensor], present: Tensor, modalities: tuple[str, ...], generator: torch.Generator
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Embedding level: corrupted copies of ``embeddings`` and ``present``."""
        return self._apply(dict(embeddings), present.clone(), modalities, generator)

    def _apply(
        self, xs: dict[str, Tensor], present: Tensor, modalities: tuple[str, ...], generator: torch.Generator
    ) -> tuple[dict[str, Tensor], Tensor]:
        raise NotImplementedError

    @property
    def severity(self) -> float:
        """The corruption's severity in the paper's units (amplitude, sigma, p, rate)."""
        return 0.0

    def describe(self) -> dict[str, Any]:
        """``{condition, modality, level}`` columns for the tidy evaluation frame."""
        return {"condition": self.name, "modality": self.modality or "", "severity": self.severity}

    @staticmethod
    def _check_modality(modality: str, modalities: tuple[str, ...]) -> int:
        if modality not in modalities:
            raise ValueError(f"Corruption names modality {modality!r}; the data has modalities {modalities}.")
        return modalities.index(modality)


@register
@dataclass(frozen=True)
class Clean(Corruption):
    """No corruption (the ``normal`` test case)."""

    name: ClassVar[str] = "normal"
    level: Level = "input"
    modality: str | None = None

    def _apply(self, xs, present, modalities, generator):
        return xs, present


@register
@dataclass(frozen=True)
class UniformNoise(Corruption):
    """Add ``U(-amplitude, amplitude)`` noise to one modality (Sec. 4.1 of the WMA paper).

    The WMA paper adds uniform noise of amplitude 3 to the embedding features of one modality
    (``level="embedding"``); its reproducibility card uses amplitudes 0.25/0.5/0.75. Only
    present samples are perturbed (a missing modality stays zeros).

    Args:
        modality: modality to perturb.
        amplitude: half-width of the uniform distribution.
        level: ``"embedding"`` (default, as in WMA) or ``"input"``.
    """

    name: ClassVar[str] = "noise"
    modality: str = ""
    amplitude: float = 3.0
    level: Level = "embedding"

    def __post_init__(self) -> None:
        if self.amplitude < 0:
            raise ValueError(f"UniformNoise.amplitude must be >= 0; got {self.amplitude}.")

    @property
    def severity(self) -> float:
        return float(self.amplitude)

    def _apply(self, xs, present, modalities, generator):
        j = self._check_modality(self.modality, modalities)
        x = xs[self.modality]
        if not x.is_floating_point():
            raise ValueError(
                f"UniformNoise on {self.modality!r}: expected float features, got {x.dtype} "
                "(token ids?); apply it at the embedding level instead."
            )
        noise = (2 * _rand(tuple(x.shape), generator, x) - 1) * self.amplitude
        keep = present[:, j].to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        xs[self.modality] = x + noise * keep
        return xs, present


@register
@dataclass(frozen=True)
class MissingModality(Corruption):
    """Drop one modality for a random ``rate`` of the samples: zeros and ``present=False``.

    WMA tests 50% missing (zeroed embeddings, Sec. 4.1); its card 25/50/75%; MLA drops 10-70%.
    A sample whose only remaining modality would be dropped keeps it, so no sample ends up with
    every modality missing unless ``allow_all_missing=True``.

    Args:
        modality: modality to drop.
        rate: fraction of samples in which it is dropped, in [0, 1].
        level: ``"embedding"`` (zero the embeddings, as in WMA) or ``"input"``.
        allow_all_missing: allow samples with no modality left.
    """

    name: ClassVar[str] = "missing"
    modality: str = ""
    rate: float = 0.5
    level: Level = "embedding"
    allow_all_missing: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"MissingModality.rate must be in [0, 1]; got {self.rate}.")

    @property
    def severity(self) -> float:
        return float(self.rate)

    def _apply(self, xs, present, modalities, generator):
        j = self._check_modality(self.modality, modalities)
        drop = _bernoulli_rows(present.shape[0], self.rate, generator).to(present.device)
        if not self.allow_all_missing:
            others = present.clone()
            others[:, j] = False
            drop &= others.any(dim=1)
        x = xs[self.modality]
        keep = (~drop).to(x.dtype).view(-1, *([1] * (x.ndim - 1))) if x.is_floating_point() else None
        xs[self.modality] = x * keep if keep is not None else x.masked_fill(drop.view(-1, *([1] * (x.ndim - 1))), 0)
        present[:, j] &= ~drop
        return xs, present


def apply_input_level(corruptions, batch: MultimodalBatch, generator: torch.Generator) -> MultimodalBatch:
    """Apply the input-level corruptions of ``corruptions`` (in order) to ``batch``."""
    for c in corruptions:
        if c.level == "input":
            batch = c(batch, generator)
    return batch


def apply_embedding_level(corruptions, embeddings, present, modalities, generator):
    """Apply the embedding-level corruptions of ``corruptions`` (in order)."""
    for c in corruptions:
        if c.level == "embedding":
            embeddings, present = c.on_embeddings(embeddings, present, modalities, generator)
    return embeddings, present
