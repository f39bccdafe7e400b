"""The dataset registry: ``load(name, split, root=None, **options)`` and ``available()``.

A dataset family registers a builder with :func:`register`. A builder takes ``root`` (the
``data_root`` of a real dataset, ``None`` for embedded ones) and keyword options and returns a
``dict`` ``{split: MultimodalDataset}`` holding at least ``train``, ``validation`` and ``test``.
Builders are cached per (name, root, options) so that asking for three splits builds once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import MultimodalDataset

__all__ = ["DatasetSpec", "SPLITS", "available", "load", "load_splits", "register", "spec"]

SPLITS = ("train", "validation", "test")

Builder = Callable[..., dict[str, MultimodalDataset]]


@dataclass(frozen=True)
class DatasetSpec:
    """A registry entry.

    Attributes:
        name: registry name (and data card name).
        builder: ``builder(root, **options) -> {split: MultimodalDataset}``.
        embedded: True when the data ships with an installed package or is generated
            (``root`` is not needed).
        description: one line for listings.
    """

    name: str
    builder: Builder
    embedded: bool
    description: str = ""


_REGISTRY: dict[str, DatasetSpec] = {}
_CACHE: dict[str, dict[str, MultimodalDataset]] = {}
_CACHE_MAX = 8


def register(name: str, *, embedded: bool, description: str = "") -> Callable[[Builder], Builder]:
    """Decorator registering a dataset builder under ``name``."""

    def deco(fn: Builder) -> Builder:
        if name in _REGISTRY and _REGISTRY[name].builder is not fn:
            raise ValueError(f"Dataset {name!r} is registered twice.")
        _REGISTRY[name] = DatasetSpec(name, fn, embedded, description or (fn.__doc__ or "").strip().split("\n")[0])
        return fn

    return deco


def available(embedded: bool | None = None) -> list[str]:
    """Names of the registered datasets (only embedded or only real ones when asked)."""
    return sorted(n for n, s in _REGISTRY.items() if embedded is None or s.embedded == embedded)


def spec(name: str) -> DatasetSpec:
    """The registry entry of ``name``; a clear error lists the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(
            f"Unknown dataset {name!r}; available datasets are {available()}. "
            "See `workbench datasets` or workbench.data.available()."
        ) from None


def load_splits(name: str, root: str | Path | None = None, **options: Any) -> dict[str, MultimodalDataset]:
    """All splits of ``name`` as ``{split: MultimodalDataset}``."""
    s = spec(name)
    if root is not None:
        root = Path(root).expanduser()
        if not root.exists():
            raise FileNotFoundError(
                f"data_root {str(root)!r} for dataset {name!r} does not exist; pass the folder that "
                f"holds the files listed under `files` in data_cards/{name}.yaml."
            )
    elif not s.embedded:
        raise FileNotFoundError(
            f"Dataset {name!r} is not embedded: pass root=/path/to/data (the notebooks' `data_root`). "
            f"data_cards/{name}.yaml lists the expected files and where the data is published."
        )
    key = json.dumps([name, None if root is None else str(root), options], sort_keys=True, default=str)
    if key not in _CACHE:
        splits = s.builder(root, **options)
        missing = [sp for sp in SPLITS if sp not in splits]
        if missing:
            raise RuntimeError(f"Builder of {name!r} did not return the splits {missing}.")
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = splits
    return _CACHE[key]


def load(name: str, split: str = "train", root: str | Path | None = None, **options: Any) -> MultimodalDataset:
    """Load one split of a registered dataset.

    Args:
        name: a name from :func:`available`.
        split: ``"train"``, ``"validation"`` or ``"test"``.
        root: folder holding a real dataset's files (``data_root``); ``None`` for embedded data.
        **options: dataset-specific options (e.g. ``seed``, ``n_samples`` for ``synthetic``).

    Raises:
        ValueError: unknown dataset or split.
        FileNotFoundError: ``root`` does not exist, or a real dataset is asked for without it.
    """
    splits = load_splits(name, root, **options)
    if split not in splits:
        raise ValueError(f"Dataset {name!r} has no split {split!r}; expected one of {sorted(splits)}.")
    return splits[split]
