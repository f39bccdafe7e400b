"""Tiny data for dry runs and tests: fixture files in real datasets' published formats, and
registered datasets cut to a few samples per split.

A dry run (:mod:`workbench.experiments.dryrun`) proves a profile's code paths without the
data: a dataset that needs a ``data_root`` gets a fixture folder written here in its
publisher's format (the structure the real loader reads, never real data), and every dataset,
embedded or not, is read by its own registered loader and then cut to a few samples per split
(:func:`sliced`). The test suite's other writers live in ``tests/real_formats.py``, which
re-exports the ones defined here.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import numpy as np
import torch

from . import registry
from .base import MultimodalDataset

__all__ = ["FIXTURES", "image", "sliced", "write_fixture", "write_hateful_memes"]


def image(path: Path, rng: np.random.Generator, size=(12, 10), fmt=None) -> None:
    """A random RGB image file at ``path`` (``size`` = height, width; ``fmt`` a PIL format)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, format=fmt)


def write_hateful_memes(root: Path, rng, sizes=(4, 2, 3), text=lambda rid: f"meme {rid} é"):
    """The challenge release: ``train.jsonl``, ``dev_seen.jsonl``, ``test_seen.jsonl`` (one JSON
    object per line, ``{"id": 42953, "img": "img/42953.png", "label": 0, "text": "..."}``: the
    id an integer, the image path relative to the jsonl's folder and zero-padded to 5 digits)
    and the PNGs under ``img/``; also the unlabelled ``test_unseen.jsonl`` (no ``label``), as
    released in phase 2. Labels alternate 0/1 within a split; ``text`` gets the id."""
    root = Path(root)
    base = {"train.jsonl": 1000, "dev_seen.jsonl": 2000, "test_seen.jsonl": 3000}
    for fname, n in zip(("train.jsonl", "dev_seen.jsonl", "test_seen.jsonl"), sizes):
        lines = []
        for i in range(n):
            rid = base[fname] + i
            image(root / "img" / f"{rid:05d}.png", rng)
            record = {"id": rid, "img": f"img/{rid:05d}.png", "label": i % 2, "text": text(rid)}
            lines.append(json.dumps(record))
        (root / fname).write_text("\n".join(lines) + "\n")
    unseen = {"id": 9000, "img": "img/09000.png", "text": "no label"}
    (root / "test_unseen.jsonl").write_text(json.dumps(unseen) + "\n")


FIXTURES: dict[str, Callable[[Path, np.random.Generator, tuple[int, int, int]], None]] = {
    "hateful_memes": lambda root, rng, sizes: write_hateful_memes(
        root, rng, sizes, text=lambda rid: f"a meme with a long caption number {rid} " * 4
    ),
}
"""Dataset name -> ``writer(root, rng, (n_train, n_validation, n_test))`` of a fixture folder
in the publisher's format, for the non-embedded datasets a profile uses."""


def write_fixture(dataset: str, root: str | Path, sizes=(8, 4, 4), seed: int = 0) -> Path:
    """Write a fixture of ``dataset`` in its publisher's format to ``root`` and return it.

    Raises:
        ValueError: no fixture writer for ``dataset`` (the message lists the ones there are).
    """
    if dataset not in FIXTURES:
        raise ValueError(
            f"No fixture writer for dataset {dataset!r}; there are writers for "
            f"{sorted(FIXTURES)}. Add one to workbench.data.fixtures.FIXTURES (the publisher's "
            "file layout, as the real loader reads it)."
        )
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    FIXTURES[dataset](root, np.random.default_rng(seed), tuple(int(n) for n in sizes))
    return root


def _cut(split: MultimodalDataset, n: int, seed: int) -> MultimodalDataset:
    """``n`` samples of ``split`` (seeded; every class of a classification split first, so a
    stratified metric or a clustering with k clusters has each class when ``n`` allows)."""
    if len(split) <= n:
        return split
    g = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(split), generator=g)
    y = split.y
    if y.ndim == 1 and not y.is_floating_point():
        first: dict[int, int] = {}
        for i in order.tolist():
            first.setdefault(int(y[i]), i)
        head = list(first.values())[:n]
        rest = [i for i in order.tolist() if i not in set(head)]
        keep = sorted(head + rest[: n - len(head)])
    else:
        keep = sorted(order[:n].tolist())
    return split.subset(keep, split.split)


@contextlib.contextmanager
def sliced(sizes: Mapping[str, int], *, seed: int = 0) -> Iterator[None]:
    """Within the block, every registered dataset is loaded by its own builder and then cut to
    ``sizes[split]`` samples per split (``{"train": 16, "validation": 8, "test": 8}``).

    The registry's split cache is emptied on entry and on exit, so no cut split leaks into a
    later load (nor a whole one into the block).
    """
    bad = {k: v for k, v in sizes.items() if k not in registry.SPLITS or int(v) < 1}
    if bad:
        raise ValueError(
            f"sliced(sizes={dict(sizes)!r}): expected split names {registry.SPLITS} with "
            "sizes >= 1."
        )
    originals = dict(registry._REGISTRY)

    def wrap(builder):
        def cut(root, **options):
            splits = builder(root, **options)
            return {
                name: _cut(ds, int(sizes[name]), seed) if name in sizes else ds
                for name, ds in splits.items()
            }

        return cut

    registry._CACHE.clear()
    try:
        for name, spec in originals.items():
            registry._REGISTRY[name] = registry.DatasetSpec(
                spec.name, wrap(spec.builder), spec.embedded, spec.description
            )
        yield
    finally:
        registry._REGISTRY.clear()
        registry._REGISTRY.update(originals)
        registry._CACHE.clear()
