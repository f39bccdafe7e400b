"""Corruptions: noisy, missing and unaligned modalities, as pure functions of a batch.

A corruption is a small frozen dataclass with a ``level``:

- ``"input"``: applied to :class:`~workbench.data.MultimodalBatch` inputs before the model's
  ``embed`` (RAML's Gaussian image noise and word masking);
- ``"embedding"``: applied to the dict of embeddings returned by ``embed``, before ``predict``
  (WMA's uniform noise of amplitude 3 and zeroed embeddings).

Calling a corruption on a batch, ``c(batch, generator)``, returns a new batch; calling
``c.on_embeddings(embeddings, present, modalities, generator)`` returns new
``(embeddings, present)``. Inputs are never mutated. All randomness comes from the explicit
``torch.Generator``, drawn on the CPU so the same seed gives the same corruption on every
machine and device.

The set, with severities in the papers' own units:

=========================  ===================  ==============================================
class (registry name)      paper                severity
=========================  ===================  ==============================================
``Clean`` (normal)         all                  --
``UniformNoise`` (noise)   WMA                  amplitude (3; card 0.25/0.5/0.75)
``GaussianNoise``          RAML Tab. II-III     sigma, 0.08-0.38 on images in [0, 1]
``WordMask``               RAML Tab. II-III     p, 0.05-0.25
``MissingModality``        WMA, MLA             rate (WMA 0.5; MLA 0.1-0.7)
``MissingPattern``         RAML Tab. I          the kept subset of modalities
``RandomMissingPattern``   RAML (training)      a uniformly drawn non-empty pattern per sample
``Unalign``                OTM Tab. 2           -- (rows permuted per modality)
``EnergyNoise``            OTM Tab. 5, Fig. 3   noise-to-data energy ratio, 0-0.5
``Compose``                RAML Tab. III        the first part's severity
=========================  ===================  ==============================================

No corruption leaves a sample with every modality missing unless it is built with
``allow_all_missing=True``.

Corruptions are registered by name (:func:`get`, :func:`available`) so notebooks and the CLI
can name them.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import torch
from torch import Tensor

from .data.base import MultimodalBatch, unalign

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = [
    "Clean",
    "Compose",
    "Corruption",
    "EnergyNoise",
    "GaussianNoise",
    "MissingModality",
    "MissingPattern",
    "RandomMissingPattern",
    "UniformNoise",
    "Unalign",
    "WordMask",
    "all_missing_patterns",
    "apply_embedding_level",
    "apply_input_level",
    "available",
    "compose",
    "expand_missing_patterns",
    "get",
    "register",
    "severity_conditions",
    "unalign",
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


def _rand(
    shape: tuple[int, ...], generator: torch.Generator, like: Tensor, kind: str = "uniform"
) -> Tensor:
    """Random numbers drawn on the CPU from ``generator`` (device-independent), moved to ``like``."""
    fn: Callable[..., Tensor] = torch.rand if kind == "uniform" else torch.randn
    return fn(shape, generator=generator, dtype=torch.float32).to(
        device=like.device, dtype=like.dtype
    )


def _bernoulli_rows(n: int, rate: float, generator: torch.Generator) -> Tensor:
    return torch.rand(n, generator=generator) < rate


def _rows(v: Tensor, x: Tensor) -> Tensor:
    """``v [B]`` reshaped to broadcast against ``x [B, ...]``."""
    return v.view(-1, *([1] * (x.ndim - 1)))


def _real_tokens(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``bool [B, L]`` mask of real (non-padding) tokens of ``x [B, L, ...]``; all True without lengths."""
    B, L = int(x.shape[0]), int(x.shape[1])
    if lengths is None:
        return torch.ones(B, L, dtype=torch.bool, device=x.device)
    return torch.arange(L, device=x.device)[None, :] < lengths.to(x.device)[:, None]


def _zero_rows(x: Tensor, drop: Tensor) -> Tensor:
    """A copy of ``x`` with rows ``drop`` (bool ``[B]``) set to zero, for any dtype."""
    return x.masked_fill(_rows(drop.to(x.device), x), 0)


def _guard_all_missing(new_present: Tensor, old_present: Tensor) -> Tensor:
    """Rows of ``new_present`` left with no modality get their ``old_present`` row back."""
    empty = ~new_present.any(dim=1)
    return torch.where(empty[:, None], old_present, new_present)


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

    #: Subclasses that must respect padding set this; their ``_apply`` then also receives
    #: ``lengths`` (``batch.lengths`` at the input level, ``{}`` for embeddings).
    uses_lengths: ClassVar[bool] = False

    def __call__(self, batch: MultimodalBatch, generator: torch.Generator) -> MultimodalBatch:
        """Input level: a corrupted copy of ``batch``."""
        extra = {"lengths": batch.lengths} if self.uses_lengths else {}
        inputs, present = self._apply(
            dict(batch.inputs), batch.present.clone(), batch.modalities, generator, **extra
        )
        return batch.replace(inputs=inputs, present=present)

    def on_embeddings(
        self,
        embeddings: dict[str, Tensor],
        present: Tensor,
        modalities: tuple[str, ...],
        generator: torch.Generator,
    ) -> tuple[dict[str, Tensor], Tensor]:
        """Embedding level: corrupted copies of ``embeddings`` and ``present``."""
        extra = {"lengths": {}} if self.uses_lengths else {}
        return self._apply(dict(embeddings), present.clone(), modalities, generator, **extra)

    def _apply(
        self,
        xs: dict[str, Tensor],
        present: Tensor,
        modalities: tuple[str, ...],
        generator: torch.Generator,
    ) -> tuple[dict[str, Tensor], Tensor]:
        raise NotImplementedError

    @property
    def severity(self) -> float:
        """The corruption's severity in the paper's units (amplitude, sigma, p, rate)."""
        return 0.0

    def describe(self) -> dict[str, Any]:
        """``{condition, modality, severity}`` columns for the tidy evaluation frame."""
        return {"condition": self.name, "modality": self.modality or "", "severity": self.severity}

    @staticmethod
    def _check_modality(modality: str, modalities: tuple[str, ...]) -> int:
        if modality not in modalities:
            raise ValueError(
                f"Corruption names modality {modality!r}; the data has modalities {modalities}."
            )
        return modalities.index(modality)


def _check_level(obj: Any) -> None:
    if obj.level not in ("input", "embedding"):
        raise ValueError(
            f"{type(obj).__name__}.level must be 'input' or 'embedding'; got {obj.level!r}."
        )


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
        _check_level(self)

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
        keep = _rows(present[:, j].to(x.dtype), x)
        xs[self.modality] = x + noise * keep
        return xs, present


@register
@dataclass(frozen=True)
class GaussianNoise(Corruption):
    r"""Add zero-mean Gaussian noise to one modality (RAML, Tables II-III and Fig. 5).

    .. math:: \tilde x = x + \sigma \varepsilon, \qquad \varepsilon \sim \mathcal N(0, I)

    RAML corrupts images with sigma from 0.08 to 0.38 (step 0.06), following QMF. The paper
    calls sigma a "variance" throughout, so it is ambiguous whether sigma is a standard
    deviation or a variance (see ``workbench/reference/NOTES.md``). The default treats sigma as
    the **standard deviation**, as QMF's public code (``torch.randn_like(x) * sigma``) does;
    ``parameterization="variance"`` uses ``sqrt(sigma)`` as the standard deviation instead.

    Only present samples are perturbed; for a padded sequence modality (input level) only its
    real tokens are. Images are expected in [0, 1]; ``clip=(0.0, 1.0)`` clips the result.

    Args:
        modality: modality to perturb (float tensor ``[B, ...]``).
        sigma: noise scale in the paper's units, >= 0.
        level: ``"input"`` (default, as in RAML) or ``"embedding"``.
        parameterization: ``"std"`` (default) or ``"variance"``.
        clip: optional ``(low, high)`` to clip the corrupted values to.
    """

    name: ClassVar[str] = "gaussian_noise"
    modality: str = ""
    sigma: float = 0.18
    level: Level = "input"
    parameterization: Literal["std", "variance"] = "std"
    clip: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.sigma < 0:
            raise ValueError(f"GaussianNoise.sigma must be >= 0; got {self.sigma}.")
        if self.parameterization not in ("std", "variance"):
            raise ValueError(
                f"GaussianNoise.parameterization must be 'std' or 'variance'; got {self.parameterization!r}."
            )
        _check_level(self)

    @property
    def severity(self) -> float:
        return float(self.sigma)

    @property
    def std(self) -> float:
        """The standard deviation actually used."""
        return float(self.sigma) if self.parameterization == "std" else float(self.sigma) ** 0.5

    uses_lengths: ClassVar[bool] = True

    def _apply(self, xs, present, modalities, generator, lengths):
        j = self._check_modality(self.modality, modalities)
        x = xs[self.modality]
        if not x.is_floating_point():
            raise ValueError(
                f"GaussianNoise on {self.modality!r}: expected float values, got {x.dtype}; "
                "use WordMask for token ids."
            )
        keep = _rows(present[:, j].to(x.dtype), x)
        if self.modality in lengths and x.ndim >= 3:
            real = _real_tokens(x, lengths[self.modality]).to(x.dtype)
            keep = keep * real.view(*real.shape, *([1] * (x.ndim - 2)))
        out = x + self.std * _rand(tuple(x.shape), generator, x, "normal") * keep
        if self.clip is not None:
            out = torch.where(keep.bool().expand_as(out), out.clamp(*self.clip), x)
        xs[self.modality] = out
        return xs, present


@register
@dataclass(frozen=True)
class WordMask(Corruption):
    """Mask each word (token) of a text modality with probability ``p`` (RAML, Tables II-III).

    RAML masks words with p from 0.05 to 0.25. Two input forms:

    - token ids ``long [B, L]``: a masked token becomes ``mask_id`` (103 = ``[MASK]`` of the
      BERT/MiniLM uncased vocabulary); ids in ``protect_ids`` (padding 0, ``[CLS]`` 101,
      ``[SEP]`` 102) are never masked;
    - token features ``float [B, L, D]``: a masked token becomes the zero vector.

    Padding (positions ``>= lengths``) is never masked and samples whose modality is missing
    are left alone. The masking is per token: a word split into several word pieces has each
    piece masked independently (the papers do not say; this is the common implementation).

    Args:
        modality: the text modality.
        p: masking probability per token, in [0, 1].
        mask_id: replacement id for token ids.
        protect_ids: token ids never masked.
        level: ``"input"`` (default) or ``"embedding"`` (token features only).
    """

    name: ClassVar[str] = "word_mask"
    modality: str = ""
    p: float = 0.1
    mask_id: int = 103
    protect_ids: tuple[int, ...] = (0, 101, 102)
    level: Level = "input"

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"WordMask.p must be in [0, 1]; got {self.p}.")
        _check_level(self)

    @property
    def severity(self) -> float:
        return float(self.p)

    uses_lengths: ClassVar[bool] = True

    def _apply(self, xs, present, modalities, generator, lengths):
        j = self._check_modality(self.modality, modalities)
        x = xs[self.modality]
        if x.ndim < 2:
            raise ValueError(
                f"WordMask on {self.modality!r}: expected token ids [B, L] or token features "
                f"[B, L, D]; got shape {tuple(x.shape)}."
            )
        B, L = int(x.shape[0]), int(x.shape[1])
        hit = (torch.rand(B, L, generator=generator) < self.p).to(x.device)
        hit &= _real_tokens(x, lengths.get(self.modality)) & present[:, j].to(x.device)[:, None]
        if x.is_floating_point():
            if x.ndim < 3:
                raise ValueError(
                    f"WordMask on {self.modality!r}: float input of shape {tuple(x.shape)} is not "
                    "a token sequence; expected token features [B, L, D] or token ids [B, L]."
                )
            xs[self.modality] = x.masked_fill(hit.view(B, L, *([1] * (x.ndim - 2))), 0)
        else:
            if x.ndim != 2:
                raise ValueError(
                    f"WordMask on {self.modality!r}: token ids must be [B, L]; got {tuple(x.shape)}."
                )
            for pid in self.protect_ids:
                hit &= x != pid
            xs[self.modality] = x.masked_fill(hit, self.mask_id)
        return xs, present


@register
@dataclass(frozen=True)
class MissingModality(Corruption):
    """Drop one modality for a random ``rate`` of the samples: zeros and ``present=False``.

    WMA tests 50% missing (zeroed embeddings, Sec. 4.1); its card 25/50/75%; MLA drops 10-70%.
    A sample whose only remaining modality would be dropped keeps it, so no sample ends up with
    every modality missing unless ``allow_all_missing=True`` (the realised rate is then slightly
    below ``rate`` when other modalities are already missing).

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
        _check_level(self)

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
        xs[self.modality] = _zero_rows(xs[self.modality], drop)
        present[:, j] &= ~drop
        return xs, present


def all_missing_patterns(modalities: Sequence[str]) -> list[tuple[str, ...]]:
    """The ``2^M - 1`` non-empty subsets of ``modalities`` (RAML, Sec. III-A).

    Ordered by size (single modalities first, the full set last), each subset in the order of
    ``modalities``.

    Args:
        modalities: the dataset's modality names, ``M`` of them.

    Returns:
        list of ``2^M - 1`` tuples of modality names (the modalities that are *kept*).
    """
    mods = tuple(modalities)
    if len(set(mods)) != len(mods) or not mods:
        raise ValueError(f"all_missing_patterns needs distinct modality names; got {mods}.")
    return [c for r in range(1, len(mods) + 1) for c in itertools.combinations(mods, r)]


def _pattern_mask(pattern: Iterable[str], modalities: tuple[str, ...]) -> Tensor:
    keep = torch.zeros(len(modalities), dtype=torch.bool)
    for m in pattern:
        keep[Corruption._check_modality(m, modalities)] = True
    return keep


def _apply_keep(
    xs: dict[str, Tensor], present: Tensor, keep: Tensor, modalities, allow_all_missing: bool
):
    """Keep modalities where ``keep [B, M]`` is True: others become zeros and ``present=False``."""
    new = present & keep.to(present.device)
    if not allow_all_missing:
        new = _guard_all_missing(new, present)
    for j, m in enumerate(modalities):
        if m in xs:
            dropped = present[:, j] & ~new[:, j]
            if bool(dropped.any()):
                xs[m] = _zero_rows(xs[m], dropped)
    return xs, new


@register
@dataclass(frozen=True)
class MissingPattern(Corruption):
    """Keep only a fixed subset of modalities in every sample (RAML, Table I).

    "If one modality is missing, the corresponding unimodal data is replaced by zero"
    (RAML, Sec. III-A): the other modalities become zeros with ``present=False``. A sample that
    would be left with no modality (it already lacked every kept one) is left unchanged unless
    ``allow_all_missing=True``.

    Args:
        pattern: the modalities that are kept (non-empty, e.g. from :func:`all_missing_patterns`).
        level: ``"input"`` (default, RAML zeroes the inputs) or ``"embedding"``.
        allow_all_missing: allow samples with no modality left.
    """

    name: ClassVar[str] = "missing_pattern"
    pattern: tuple[str, ...] = ()
    level: Level = "input"
    allow_all_missing: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.pattern, str):
            object.__setattr__(self, "pattern", (self.pattern,))
        object.__setattr__(self, "pattern", tuple(self.pattern))
        if not self.pattern and not self.allow_all_missing:
            raise ValueError(
                "MissingPattern(pattern=()) would drop every modality; name at least one kept "
                "modality, or pass allow_all_missing=True."
            )
        _check_level(self)

    @property
    def modality(self) -> str:  # type: ignore[override]
        return "+".join(self.pattern)

    @property
    def severity(self) -> float:
        return float(len(self.pattern))

    def _apply(self, xs, present, modalities, generator):
        keep = _pattern_mask(self.pattern, modalities).expand_as(present)
        return _apply_keep(xs, present, keep, modalities, self.allow_all_missing)


@register
@dataclass(frozen=True)
class RandomMissingPattern(Corruption):
    """Give each sample a uniformly drawn non-empty missing pattern (RAML's training augmentation).

    RAML "augment[s] full-modality samples with all possible missing patterns" during training.
    This corruption draws, per sample, one of the ``2^M - 1`` patterns of
    :func:`all_missing_patterns` uniformly (``include_full=False`` excludes the full set); the
    deterministic alternative that repeats the batch once per pattern is
    :func:`expand_missing_patterns`.

    Args:
        modalities: restrict the patterns to these modalities (others always kept); default all.
        include_full: whether the all-present pattern is among the draws.
        level: ``"input"`` (default) or ``"embedding"``.
    """

    name: ClassVar[str] = "random_missing_pattern"
    modalities: tuple[str, ...] | None = None
    include_full: bool = True
    level: Level = "input"

    def __post_init__(self) -> None:
        if self.modalities is not None:
            object.__setattr__(self, "modalities", tuple(self.modalities))
        _check_level(self)

    @property
    def modality(self) -> str:  # type: ignore[override]
        return "+".join(self.modalities or ())

    def _apply(self, xs, present, modalities, generator):
        mods = tuple(self.modalities) if self.modalities is not None else modalities
        patterns = all_missing_patterns(mods)
        if not self.include_full:
            patterns = patterns[:-1]
        if not patterns:
            return xs, present
        others = [m for m in modalities if m not in mods]
        table = torch.stack([_pattern_mask((*p, *others), modalities) for p in patterns])
        pick = torch.randint(len(patterns), (present.shape[0],), generator=generator)
        return _apply_keep(xs, present, table[pick], modalities, False)


def expand_missing_patterns(
    batch: MultimodalBatch, patterns: Sequence[Sequence[str]] | None = None
) -> MultimodalBatch:
    """Repeat ``batch`` once per missing pattern (RAML's augmentation, deterministic form).

    Args:
        batch: a batch of ``B`` samples over ``M`` modalities.
        patterns: the kept-modality patterns; default :func:`all_missing_patterns` of the batch.

    Returns:
        a batch of ``B * len(patterns)`` samples: block ``k`` is ``batch`` under
        ``MissingPattern(patterns[k])`` (``index`` is repeated, so rows map back to samples).
    """
    patterns = (
        all_missing_patterns(batch.modalities) if patterns is None else [tuple(p) for p in patterns]
    )
    parts = [MissingPattern(tuple(p))(batch, torch.Generator()) for p in patterns]
    cat = {m: torch.cat([b.inputs[m] for b in parts]) for m in batch.modalities}
    return batch.replace(
        inputs=cat,
        present=torch.cat([b.present for b in parts]),
        y=torch.cat([b.y for b in parts]),
        lengths={m: torch.cat([b.lengths[m] for b in parts]) for m in batch.lengths},
        index=None if batch.index is None else torch.cat([b.index for b in parts]),
    )


def severity_conditions(
    modalities: Iterable[str],
    amplitudes: Iterable[float] = (),
    rates: Iterable[float] = (),
    *,
    clean: bool = True,
    level: Level = "embedding",
) -> list[Corruption]:
    """The conditions of a robustness grid: clean, uniform noise and one modality missing.

    >>> [c.name for c in severity_conditions(("a", "b"), amplitudes=(1.0,), rates=(0.5,))]
    ['normal', 'noise', 'noise', 'missing', 'missing']

    Args:
        modalities: the modalities to corrupt, one at a time (e.g. ``test.modalities``).
        amplitudes: the :class:`UniformNoise` amplitudes (WMA Sec. 4.1).
        rates: the :class:`MissingModality` rates.
        clean: start with :class:`Clean` (the reference every retention is relative to).
        level: ``"embedding"`` (as in WMA) or ``"input"``.

    Returns:
        ``[Clean()]`` (when ``clean``), then ``UniformNoise(m, a)`` for every modality ``m`` and
        amplitude ``a``, then ``MissingModality(m, r)`` for every ``m`` and rate ``r``, in that
        order (modality-major), ready for :func:`workbench.evaluation.robustness`.
    """
    modalities, amplitudes, rates = tuple(modalities), tuple(amplitudes), tuple(rates)
    out: list[Corruption] = [Clean()] if clean else []
    out += [UniformNoise(m, float(a), level=level) for m in modalities for a in amplitudes]
    out += [MissingModality(m, float(r), level=level) for m in modalities for r in rates]
    return out


@register
@dataclass(frozen=True)
class Unalign(Corruption):
    """Permute the rows of each named modality independently (OTM, unaligned setting, Table 2).

    Each modality in ``modalities`` gets its own random permutation of the batch rows (with its
    ``present`` column and padding lengths), so cross-modal correspondences are lost while every
    modality keeps its multiset of rows. ``y`` stays with the rows of the modalities *not*
    permuted; by default every modality but the first is permuted, so labels stay attached to
    the first modality. OTM unaligns the *training* split only; since unalignment acts on a split
    rather than a batch, prefer :func:`unalign` on the dataset (one permutation over the whole
    split, not one per batch).

    Args:
        modalities: modalities to permute; default all but the first.
        level: ``"input"`` (default) or ``"embedding"``.
    """

    name: ClassVar[str] = "unalign"
    modalities: tuple[str, ...] | None = None
    level: Level = "input"
    training_only: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.modalities is not None:
            object.__setattr__(self, "modalities", tuple(self.modalities))
        _check_level(self)

    @property
    def modality(self) -> str:  # type: ignore[override]
        return "+".join(self.modalities or ())

    def _targets(self, modalities: tuple[str, ...]) -> tuple[str, ...]:
        mods = tuple(self.modalities) if self.modalities is not None else modalities[1:]
        for m in mods:
            self._check_modality(m, modalities)
        return mods

    def __call__(self, batch: MultimodalBatch, generator: torch.Generator) -> MultimodalBatch:
        inputs, present, lengths = dict(batch.inputs), batch.present.clone(), dict(batch.lengths)
        for m in self._targets(batch.modalities):
            perm = torch.randperm(len(batch), generator=generator).to(present.device)
            j = batch.modalities.index(m)
            inputs[m] = inputs[m][perm.to(inputs[m].device)]
            present[:, j] = batch.present[perm, j]
            if m in lengths:
                lengths[m] = lengths[m][perm.to(lengths[m].device)]
        return batch.replace(inputs=inputs, present=present, lengths=lengths)

    def _apply(self, xs, present, modalities, generator):
        new_present = present.clone()
        for m in self._targets(modalities):
            perm = torch.randperm(present.shape[0], generator=generator).to(present.device)
            j = modalities.index(m)
            xs[m] = xs[m][perm.to(xs[m].device)]
            new_present[:, j] = present[perm, j]
        return xs, new_present


@register
@dataclass(frozen=True)
class EnergyNoise(Corruption):
    r"""Gaussian noise whose energy is a fraction of each sample's data energy (OTM, Sec. 4.4).

    "Zero means no noise, and 0.5 means the energy of noise is a half of data energy"
    (OTM paper). For each sample ``i`` the noise is a Gaussian direction rescaled exactly:

    .. math:: \tilde x_i = x_i + \varepsilon_i, \qquad
              \varepsilon_i = \sqrt{r \, \|x_i\|^2 / \|z_i\|^2}\; z_i,\quad z_i \sim \mathcal N(0, I),

    so ``||eps_i||^2 = r ||x_i||^2`` holds exactly (``r`` = ``energy_ratio``). For padded
    sequences only real tokens enter the energies and get noise. The fraction is called
    ``energy_ratio`` (not ``level``, which every corruption uses for input/embedding).

    Args:
        modality: modality to perturb (float).
        energy_ratio: noise energy / data energy, the paper's "noise level", in [0, 0.5] in OTM
            (any value >= 0 is accepted).
        level: ``"input"`` (default, OTM corrupts the data) or ``"embedding"``.
    """

    name: ClassVar[str] = "energy_noise"
    modality: str = ""
    energy_ratio: float = 0.2
    level: Level = "input"

    def __post_init__(self) -> None:
        if self.energy_ratio < 0:
            raise ValueError(f"EnergyNoise.energy_ratio must be >= 0; got {self.energy_ratio}.")
        _check_level(self)

    @property
    def severity(self) -> float:
        return float(self.energy_ratio)

    uses_lengths: ClassVar[bool] = True

    def _apply(self, xs, present, modalities, generator, lengths):
        j = self._check_modality(self.modality, modalities)
        x = xs[self.modality]
        if not x.is_floating_point():
            raise ValueError(
                f"EnergyNoise on {self.modality!r}: expected float values, got {x.dtype}."
            )
        keep = _rows(present[:, j].to(x.dtype), x)
        if self.modality in lengths and x.ndim >= 3:
            real = _real_tokens(x, lengths[self.modality]).to(x.dtype)
            keep = keep * real.view(*real.shape, *([1] * (x.ndim - 2)))
        z = _rand(tuple(x.shape), generator, x, "normal") * keep
        dims = tuple(range(1, x.ndim))
        data_energy = (x * keep).pow(2).sum(dim=dims, keepdim=True)
        noise_energy = z.pow(2).sum(dim=dims, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
        xs[self.modality] = x + z * torch.sqrt(self.energy_ratio * data_energy / noise_energy)
        return xs, present


@dataclass(frozen=True)
class Compose(Corruption):
    """Several corruptions applied in order, each at its own level (RAML, Table III).

    ``level`` is ``"input"`` or ``"embedding"`` when all parts agree, else ``"mixed"``;
    :func:`apply_input_level` and :func:`apply_embedding_level` apply each part at its level.
    By convention the first part is the swept one: ``severity`` is the first part's.
    """

    name: ClassVar[str] = "compose"
    parts: tuple[Corruption, ...] = ()

    def __post_init__(self) -> None:
        flat: list[Corruption] = []
        for c in self.parts:
            flat.extend(c.parts if isinstance(c, Compose) else (c,))
        object.__setattr__(self, "parts", tuple(flat))

    @property
    def level(self) -> str:  # type: ignore[override]
        levels = {c.level for c in self.parts}
        return levels.pop() if len(levels) == 1 else "mixed"

    @property
    def modality(self) -> str:  # type: ignore[override]
        return "+".join(c.modality or "" for c in self.parts)

    @property
    def severity(self) -> float:
        return self.parts[0].severity if self.parts else 0.0

    def describe(self) -> dict[str, Any]:
        return {
            "condition": "+".join(c.name for c in self.parts),
            "modality": self.modality,
            "severity": self.severity,
        }

    def __call__(self, batch: MultimodalBatch, generator: torch.Generator) -> MultimodalBatch:
        return apply_input_level(self.parts, batch, generator)

    def on_embeddings(self, embeddings, present, modalities, generator):
        return apply_embedding_level(self.parts, embeddings, present, modalities, generator)


def compose(*corruptions: Corruption) -> Compose:
    """Chain corruptions, e.g. ``compose(GaussianNoise("image", 0.18), WordMask("text", 0.1))``."""
    return Compose(tuple(corruptions))


def _flatten(corruptions) -> list[Corruption]:
    out: list[Corruption] = []
    for c in corruptions:
        out.extend(c.parts if isinstance(c, Compose) else (c,))
    return out


def apply_input_level(
    corruptions, batch: MultimodalBatch, generator: torch.Generator
) -> MultimodalBatch:
    """Apply the input-level corruptions of ``corruptions`` (in order) to ``batch``."""
    for c in _flatten(corruptions):
        if c.level == "input":
            batch = c(batch, generator)
    return batch


def apply_embedding_level(corruptions, embeddings, present, modalities, generator):
    """Apply the embedding-level corruptions of ``corruptions`` (in order)."""
    for c in _flatten(corruptions):
        if c.level == "embedding":
            embeddings, present = c.on_embeddings(embeddings, present, modalities, generator)
    return embeddings, present
