"""One registry of every paper method and baseline, by the name its paper prints.

>>> from workbench import methods
>>> methods.available(paper="mla")
['Sum', 'Concat', 'Late Fusion', 'FiLM', 'BiGated', 'OGM-GE', 'QMF', 'MLA', 'AE']
>>> model = methods.build("MLA", train, seed=0, embed_dim=64)

A factory has the signature ``factory(train, *, encoders=None, **options) -> Method``:
``train`` is the training split (modalities, shapes, task); ``encoders`` is an optional
``nn.ModuleDict`` (one encoder per modality, from
:func:`workbench.models.encoders.encoders_for`) that the method uses instead of building its
own, so the arena can give every entrant the same encoders; ``options`` are the method's
configuration fields. Names are unique across papers: MLA's joint-training baseline is
``"Concat"``, RAML's full-modality baseline ``"Concat Fusion"``, as the papers print them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

from ..data.base import MultimodalDataset
from ..models.base import Method
from ..util import seeded

__all__ = ["MethodSpec", "available", "build", "register", "spec"]


def multimodal(dataset: MultimodalDataset) -> bool:
    """At least two modalities."""
    return len(dataset.modalities) >= 2


def multiclass_multimodal(dataset: MultimodalDataset) -> bool:
    """At least two modalities and a multiclass task."""
    return multimodal(dataset) and dataset.task.kind == "multiclass"


def token_sequences(dataset: MultimodalDataset) -> bool:
    """Every modality is a token sequence ``[L, D]`` (what a one-tower transformer reads)."""
    return multimodal(dataset) and all(
        dataset.is_sequence(m) or len(dataset.modality_shape(m)) == 2 for m in dataset.modalities
    )


@dataclass(frozen=True)
class MethodSpec:
    """One registered method.

    Attributes:
        name: the name its paper prints (the ``method`` column of every result frame).
        paper: the paper whose table it appears in (``"mla"``, ``"raml"``, ``"otm"``, ``"wma"``).
        factory: ``(train, *, encoders=None, **options) -> Method``.
        role: ``"method"`` (the paper's own) or ``"baseline"``.
        applies: ``train -> bool``: whether the method is defined for a dataset.
        note: one line on what it is.
        cite: the paper that defines it.
        trainer: overrides of :class:`~workbench.training.TrainerConfig` fields it needs.
    """

    name: str
    paper: str
    factory: Callable[..., Method]
    role: str = "baseline"
    applies: Callable[[MultimodalDataset], bool] = multimodal
    note: str = ""
    cite: str = ""
    trainer: Mapping[str, Any] = None  # type: ignore[assignment]


_REGISTRY: dict[str, MethodSpec] = {}


def register(spec: MethodSpec) -> MethodSpec:
    """Add ``spec`` to the registry; a name may be registered once."""
    if spec.name in _REGISTRY:
        raise ValueError(f"Method {spec.name!r} is registered twice.")
    if spec.role not in ("method", "baseline"):
        raise ValueError(
            f"Method {spec.name!r}: role must be 'method' or 'baseline', not {spec.role!r}."
        )
    _REGISTRY[spec.name] = spec
    return spec


def spec(name: str) -> MethodSpec:
    """The registered :class:`MethodSpec` of ``name``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown method {name!r}; workbench.methods.available() lists {list(_REGISTRY)}."
        ) from None


def available(
    dataset: MultimodalDataset | None = None, *, paper: str | None = None, role: str | None = None
) -> list[str]:
    """Registered method names, in registration order.

    Args:
        dataset: keep those defined for this dataset.
        paper: keep one paper's (``"mla"``, ``"raml"``, ``"otm"``, ``"wma"``).
        role: keep ``"method"`` or ``"baseline"``.
    """
    return [
        n
        for n, s in _REGISTRY.items()
        if (paper is None or s.paper == paper)
        and (role is None or s.role == role)
        and (dataset is None or s.applies(dataset))
    ]


def build(
    name: str,
    train: MultimodalDataset,
    *,
    encoders: nn.ModuleDict | Callable[[], nn.ModuleDict] | None = None,
    seed: int | None = None,
    **options: Any,
) -> Method:
    """Build method ``name`` for ``train``.

    Args:
        name: a name of :func:`available`.
        train: the training split.
        encoders: one encoder per modality to use instead of the method's own, or a
            function building them, called first inside the seeded scope (so shared encoders
            and the rest of the model are one draw of the seed's stream).
        seed: seed of the initial weights, drawn in a forked RNG (:func:`workbench.util.seeded`:
            the caller's global RNG is left as it was); ``None`` draws from the global RNG.
        **options: the method's configuration fields.

    Raises:
        ValueError: an unknown name, or a method not defined for ``train``.
    """
    s = spec(name)
    if not s.applies(train):
        raise ValueError(
            f"Method {name!r} is not defined for dataset {getattr(train, 'name', train)!r} "
            f"({s.note or s.applies.__doc__}); available(dataset) lists those that are."
        )
    if seed is None:
        enc = encoders() if callable(encoders) and not isinstance(encoders, nn.Module) else encoders
        return s.factory(train, encoders=enc, **options)
    with seeded(int(seed)):
        enc = encoders() if callable(encoders) and not isinstance(encoders, nn.Module) else encoders
        return s.factory(train, encoders=enc, seed=int(seed), **options)
