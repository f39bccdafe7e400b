"""Shared helpers of the real-dataset loaders (multi-view, MultiBench, vision-language, affect).

Private to :mod:`workbench.data`: finding files under ``data_root`` with errors that name the
expected path, the data card and where the data is published; seeded splits; image and text
decoding; safe (pickle-free) array loading.

Text is held in a :class:`MultimodalDataset` as UTF-8 byte ids, one variable-length ``long [L_i]``
tensor per sample (the byte value, never 0 in text, so zero padding is unambiguous); this keeps
the raw string with every row through ``subset``/``collate``. :func:`decode_text` turns a row
(or a padded row) back into the string for a tokenizer.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .base import MultimodalDataset, Task

__all__ = [
    "DataFormatError",
    "check_finite",
    "decode_text",
    "encode_labels",
    "encode_text",
    "find_file",
    "load_image",
    "load_npz",
    "make_splits",
    "malformed",
    "missing_file",
    "read_jsonl",
    "seeded_split",
]


class DataFormatError(ValueError):
    """A real-data file exists but does not hold what its published format promises (truncated,
    wrong keys, wrong shapes, labels that do not match the samples, NaN). The message names the
    file, the key inside it and what was expected."""


def malformed(path: Path | str, key: str | None, expected: str, found: str = "") -> DataFormatError:
    """The :class:`DataFormatError` for ``key`` of file ``path``: what was expected, what was found."""
    where = f"{str(path)!r}" + (f", key {key!r}" if key else "")
    return DataFormatError(
        f"Malformed file {where}: expected {expected}{'; found ' + found if found else ''}."
    )


def check_finite(x: np.ndarray, path: Path | str, key: str) -> np.ndarray:
    """``x`` unchanged, or a :class:`DataFormatError` naming ``path``/``key`` if it holds NaN/inf."""
    arr = np.asarray(x)
    if arr.dtype.kind in "fc" and arr.size and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise malformed(path, key, "finite numbers", f"{bad} NaN/inf value(s) of {arr.size}")
    return x


def missing_file(
    name: str, expected: Sequence[Path] | Path, published: str, hint: str = ""
) -> FileNotFoundError:
    """The ``FileNotFoundError`` of a real dataset: expected path(s), data card, source."""
    paths = [expected] if isinstance(expected, Path) else list(expected)
    shown = " or ".join(repr(str(p)) for p in paths)
    return FileNotFoundError(
        f"Dataset {name!r}: expected file {shown} was not found. data_cards/{name}.yaml lists every "
        f"file expected under data_root; the data is published at {published}.{(' ' + hint) if hint else ''}"
    )


def find_file(
    root: Path, name: str, candidates: Sequence[str], published: str, hint: str = ""
) -> Path:
    """The first of ``root/candidate`` that exists, else :func:`missing_file`."""
    root = Path(root)
    for c in candidates:
        p = root / c
        if p.exists():
            return p
    raise missing_file(name, [root / c for c in candidates], published, hint)


def encode_labels(
    values: Iterable[Any], classes: Sequence[Any] | None = None
) -> tuple[np.ndarray, list[Any]]:
    """Map labels to ids ``0..K-1`` in the order of ``classes`` (sorted unique values by default)."""
    values = list(values)
    if classes is None:
        classes = sorted(set(values), key=lambda v: (str(type(v)), v))
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(v) for v in values if v not in index})
    if unknown:
        raise ValueError(
            f"Labels {unknown[:5]} are not among the known classes {list(classes)[:10]}..."
        )
    return np.asarray([index[v] for v in values], dtype=np.int64), list(classes)


def seeded_split(
    n: int, fractions: Sequence[float], seed: int, stratify: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Seeded train/validation/test indices with the given fractions (stratified when asked).

    Args:
        n: number of samples.
        fractions: ``(train, validation, test)`` fractions summing to 1.
        seed: seed of ``np.random.default_rng``.
        stratify: optional ``[n]`` class ids; each class is split with the same fractions.
    """
    f = np.asarray(fractions, dtype=float)
    if f.shape != (3,) or (f < 0).any() or abs(f.sum() - 1) > 1e-6:
        raise ValueError(
            f"fractions={tuple(fractions)} must be three non-negative numbers summing to 1."
        )
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(n)]
        if stratify is None
        else [np.flatnonzero(stratify == c) for c in np.unique(stratify)]
    )
    out: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for g in groups:
        g = rng.permutation(g)
        n_train = int(round(f[0] * len(g)))
        n_val = int(round(f[1] * len(g)))
        out["train"].append(g[:n_train])
        out["validation"].append(g[n_train : n_train + n_val])
        out["test"].append(g[n_train + n_val :])
    return {k: np.sort(np.concatenate(v)) for k, v in out.items()}


def make_splits(
    name: str,
    inputs: Mapping[str, Tensor | list[Tensor]],
    y: Tensor,
    task: Task,
    indices: Mapping[str, np.ndarray] | None,
    meta: Mapping[str, Any] | None = None,
) -> dict[str, MultimodalDataset]:
    """Build ``{split: MultimodalDataset}`` from one table and split indices (None: every split is
    the whole set, as in transductive clustering)."""
    full = MultimodalDataset(name, inputs, y, task, split="all", meta=meta)
    if indices is None:
        return {
            s: full.subset(np.arange(len(full)), split=s) for s in ("train", "validation", "test")
        }
    return {s: full.subset(idx, split=s) for s, idx in indices.items()}


def encode_text(text: str, max_bytes: int | None = None) -> Tensor:
    """``long [L]`` UTF-8 byte ids of ``text`` (at least one byte: an empty text becomes a space)."""
    data = (text or " ").encode("utf-8")
    if max_bytes is not None:
        data = data[:max_bytes]
    return torch.tensor(list(data), dtype=torch.long)


def decode_text(ids: Tensor) -> str:
    """The string of a ``long [L]`` byte-id row (zero padding is dropped)."""
    ids = torch.as_tensor(ids).flatten()
    return bytes(int(b) for b in ids.tolist() if b != 0).decode("utf-8", errors="replace")


def load_image(path: Path, size: int | tuple[int, int]) -> Tensor:
    """An RGB image file as ``float32 [3, H, W]`` in [0, 1], resized (bilinear) to ``size``."""
    from PIL import Image

    hw = (size, size) if isinstance(size, int) else tuple(size)
    with Image.open(path) as img:
        img = img.convert("RGB").resize((hw[1], hw[0]), Image.BILINEAR)
        arr = np.asarray(img, dtype=np.float32) / 255.0
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The records of a JSON-lines file (blank lines skipped); a line that is not a JSON object
    raises :class:`DataFormatError` with the file and line number."""
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as e:
                raise malformed(path, f"line {i}", "one JSON object per line", str(e)) from None
            if not isinstance(rec, dict):
                raise malformed(path, f"line {i}", "a JSON object", type(rec).__name__)
            out.append(rec)
    return out


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """All arrays of an ``.npz`` file, read with ``allow_pickle=False`` (never unpickles).

    Raises:
        DataFormatError: for a truncated or corrupt archive, naming the file.
    """
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError) as e:
        if isinstance(e, ValueError) and "allow_pickle" in str(e):
            raise malformed(
                path, None, "plain numeric/string arrays", "an object array (needs unpickling)"
            ) from None
        raise malformed(path, None, "a complete .npz archive", f"{type(e).__name__}: {e}") from None
