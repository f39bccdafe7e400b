"""The data contract: ``Task``, ``MultimodalBatch``, ``MultimodalDataset``, ``collate`` and
data cards.

Every dataset in the workbench, embedded or loaded from ``data_root``, is a
:class:`MultimodalDataset`. A :class:`torch.utils.data.DataLoader` with :func:`collate` turns it
into :class:`MultimodalBatch` objects, which is what corruptions, models and the Trainer see.

A missing modality is ``present=False`` and zeros, as in the papers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "TASK_KINDS",
    "DataCard",
    "MultimodalBatch",
    "MultimodalDataset",
    "Task",
    "check_finite",
    "collate",
    "data_cards_dir",
    "read_card",
    "unalign",
]

TASK_KINDS = ("binary", "multiclass", "multilabel", "regression")


@dataclass(frozen=True)
class Task:
    """What is predicted and how it is scored.

    Attributes:
        kind: ``"binary"``, ``"multiclass"``, ``"multilabel"`` or ``"regression"``.
        n_outputs: Number of model outputs (classes, labels, or regression targets; 1 for binary).
        metric: The papers' metric for this dataset, a name in :mod:`workbench.metrics`
            (``"accuracy"``, ``"auroc"``, ``"f1_micro"``, ``"mae"``, ...).
    """

    kind: Literal["binary", "multiclass", "multilabel", "regression"]
    n_outputs: int
    metric: str = "accuracy"

    def __post_init__(self) -> None:
        if self.kind not in TASK_KINDS:
            raise ValueError(f"Task.kind={self.kind!r} is not a task kind; expected one of {TASK_KINDS}.")
        if int(self.n_outputs) < 1:
            raise ValueError(f"Task.n_outputs={self.n_outputs} must be >= 1.")


@dataclass
class MultimodalBatch:
    """A batch of multimodal samples.

    Attributes:
        inputs: modality -> tensor with batch size ``B`` first: features ``[B, D]``, token
            features ``[B, L, D]``, images ``[B, C, H, W]`` or token ids ``[B, L]``.
        present: ``bool [B, M]``, column ``j`` is ``modalities[j]``. A modality that is not present
            holds zeros in ``inputs``.
        y: targets, ``[B]`` class ids (long), ``[B, K]`` multi-hot or ``[B]``/``[B, K]`` floats.
        modalities: names of the modalities, in the dataset's order (the order of ``present``).
        lengths: modality -> ``long [B]`` true lengths of padded sequences (absent for
            fixed-size modalities). ``mask(m)`` derives the padding mask.
        index: ``long [B]`` indices of the samples in their dataset (for bookkeeping).
    """

    inputs: dict[str, Tensor]
    present: Tensor
    y: Tensor
    modalities: tuple[str, ...] = ()
    lengths: dict[str, Tensor] = field(default_factory=dict)
    index: Tensor | None = None

    def __post_init__(self) -> None:
        if not self.modalities:
            self.modalities = tuple(self.inputs)
        self.modalities = tuple(self.modalities)
        unknown = set(self.inputs) - set(self.modalities)
        if unknown:
            raise ValueError(
                f"MultimodalBatch.inputs has modalities {sorted(unknown)} that are not in "
                f"modalities={self.modalities}; pass the dataset's modality order."
            )
        sizes = {m: int(x.shape[0]) for m, x in self.inputs.items()}
        sizes["present"] = int(self.present.shape[0])
        sizes["y"] = int(self.y.shape[0])
        if len(set(sizes.values())) > 1:
            raise ValueError(
                f"MultimodalBatch parts disagree in batch size: {sizes}; every modality, "
                "`present` and `y` must have the same first dimension."
            )
        if self.present.dtype != torch.bool or self.present.ndim != 2:
            raise ValueError(
                f"MultimodalBatch.present must be a bool tensor [B, M]; got dtype "
                f"{self.present.dtype} and shape {tuple(self.present.shape)}."
            )
        if self.present.shape[1] != len(self.modalities):
            raise ValueError(
                f"MultimodalBatch.present has {self.present.shape[1]} columns but there are "
                f"{len(self.modalities)} modalities {self.modalities}."
            )

    def __len__(self) -> int:
        return int(self.y.shape[0])

    @property
    def batch_size(self) -> int:
        return len(self)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """``{modality: shape of its inputs}``, in the dataset's modality order.

        >>> batch.shapes()  # doctest: +SKIP
        {'image': (4, 1, 28, 28), 'audio': (4, 20, 13)}
        """
        return {m: tuple(self.inputs[m].shape) for m in self.modalities if m in self.inputs}

    def column(self, modality: str) -> int:
        """Column of ``modality`` in ``present``; raises a clear error for an unknown name."""
        try:
            return self.modalities.index(modality)
        except ValueError:
            raise ValueError(
                f"Unknown modality {modality!r}; this batch has modalities {self.modalities}."
            ) from None

    def mask(self, modality: str) -> Tensor | None:
        """``bool [B, L]`` padding mask (True = real token) of a sequence modality, else None."""
        if modality not in self.lengths:
            return None
        lengths = self.lengths[modality]
        L = self.inputs[modality].shape[1]
        return torch.arange(L, device=lengths.device)[None, :] < lengths[:, None]

    def to(self, device: torch.device | str) -> MultimodalBatch:
        """A copy of the batch on ``device``."""
        return dataclasses.replace(
            self,
            inputs={m: x.to(device) for m, x in self.inputs.items()},
            present=self.present.to(device),
            y=self.y.to(device),
            lengths={m: v.to(device) for m, v in self.lengths.items()},
            index=None if self.index is None else self.index.to(device),
        )

    def replace(self, **changes: Any) -> MultimodalBatch:
        """A new batch with some fields replaced (the original is never mutated)."""
        return dataclasses.replace(self, **changes)

    def select(self, rows: Tensor) -> MultimodalBatch:
        """The sub-batch of ``rows`` (indices or a boolean mask)."""
        return dataclasses.replace(
            self,
            inputs={m: x[rows] for m, x in self.inputs.items()},
            present=self.present[rows],
            y=self.y[rows],
            lengths={m: v[rows] for m, v in self.lengths.items()},
            index=None if self.index is None else self.index[rows],
        )


def check_finite(name: str, x: Tensor | np.ndarray) -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or inf, naming ``name`` and the first bad index."""
    t = torch.as_tensor(x)
    if t.is_floating_point() and not torch.isfinite(t).all():
        bad = torch.nonzero(~torch.isfinite(t))[0].tolist()
        raise ValueError(
            f"{name} contains NaN or inf (first at index {bad}); clean or impute the data "
            "before building a dataset."
        )


# ----------------------------------------------------------------------------- data cards


def data_cards_dir() -> Path:
    """The folder holding the ``<name>.yaml`` data cards: ``workbench/data/cards/``, shipped
    inside the package (so a wheel has them); ``data_cards/`` at the project root is a link to
    it, the user's view of the same files."""
    return Path(__file__).resolve().parent / "cards"


@dataclass(frozen=True)
class DataCard:
    """A parsed ``data_cards/<name>.yaml``. ``fields`` keeps every key of the file."""

    name: str
    fields: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.fields[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def path(self) -> Path:
        return data_cards_dir() / f"{self.name}.yaml"

    def summary(self) -> str:
        """One line: name, modalities, task and source."""
        mods = self.fields.get("modalities", {})
        mod_names = ", ".join(mods) if isinstance(mods, Mapping) else str(mods)
        task = self.fields.get("task", {})
        kind = task.get("kind", "?") if isinstance(task, Mapping) else task
        return f"{self.name}: [{mod_names}] {kind} — {self.fields.get('source', '')}".strip()


def read_card(name: str) -> DataCard:
    """Read ``data_cards/<name>.yaml``; a dataset without a card gets an empty card."""
    import yaml

    path = data_cards_dir() / f"{name}.yaml"
    if not path.exists():
        return DataCard(name=name, fields={})
    with path.open() as f:
        content = yaml.safe_load(f) or {}
    if not isinstance(content, Mapping):
        raise ValueError(f"Data card {path} must hold a YAML mapping; got {type(content).__name__}.")
    return DataCard(name=name, fields=dict(content))


# ----------------------------------------------------------------------------- datasets


class MultimodalDataset(torch.utils.data.Dataset):
    """A dataset of aligned multimodal samples held as tensors.

    Each item is a dict ``{"inputs": {m: tensor}, "present": bool[M], "y": tensor,
    "index": int}`` which :func:`collate` stacks into a :class:`MultimodalBatch`. Variable-length
    sequence modalities are given as a list of ``[L_i, D]`` tensors and are padded by
    :func:`collate`.

    Args:
        name: Registry name of the dataset (also the data card's name).
        inputs: modality -> ``[N, ...]`` tensor, or a list of ``N`` tensors ``[L_i, D]`` for a
            variable-length sequence modality. The dict order is the modality order.
        y: ``[N]`` or ``[N, K]`` targets.
        task: What is predicted and the papers' metric.
        present: optional ``bool [N, M]``; default all True.
        split: ``"train"``, ``"validation"`` or ``"test"`` (free text for custom splits).
        card: the data card; read from ``data_cards/<name>.yaml`` when omitted.
        meta: free-form information (label names, the pairing seed, ...).
        sequences: names of the list-valued modalities that are variable-length sequences
            (padded by :func:`collate`, with ``lengths``). Default ``None``: every list-valued
            modality. A list-valued modality not named here must hold tensors of one shape and
            is stacked like a tensor (a memory-saving way to share rows, e.g. one image tensor
            referenced by many questions).

    Raises:
        ValueError: when modalities disagree in length with ``y``, or hold NaN/inf.
    """

    def __init__(
        self,
        name: str,
        inputs: Mapping[str, Tensor | Sequence[Tensor]],
        y: Tensor,
        task: Task,
        *,
        present: Tensor | None = None,
        split: str = "train",
        card: DataCard | None = None,
        meta: Mapping[str, Any] | None = None,
        sequences: Sequence[str] | None = None,
    ) -> None:
        if not inputs:
            raise ValueError(f"Dataset {name!r} has no modalities; pass at least one in `inputs`.")
        self.name = name
        self.split = split
        self.task = task
        self.y = torch.as_tensor(y)
        n = int(self.y.shape[0])
        self.inputs: dict[str, Tensor | list[Tensor]] = {}
        for m, x in inputs.items():
            if isinstance(x, (list, tuple)):
                seq = [torch.as_tensor(s) for s in x]
                for s in seq:
                    check_finite(f"{name}[{split}] modality {m!r}", s)
                self.inputs[m] = seq
                size = len(seq)
            else:
                t = torch.as_tensor(x)
                check_finite(f"{name}[{split}] modality {m!r}", t)
                self.inputs[m] = t
                size = int(t.shape[0])
            if size != n:
                raise ValueError(
                    f"Dataset {name!r} [{split}]: modality {m!r} has {size} samples but y has {n}; "
                    "every modality must have one row per sample."
                )
        check_finite(f"{name}[{split}] targets y", self.y)
        self.modalities: tuple[str, ...] = tuple(self.inputs)
        if present is None:
            present = torch.ones(n, len(self.modalities), dtype=torch.bool)
        present = torch.as_tensor(present, dtype=torch.bool)
        if tuple(present.shape) != (n, len(self.modalities)):
            raise ValueError(
                f"Dataset {name!r}: present has shape {tuple(present.shape)}, expected "
                f"({n}, {len(self.modalities)})."
            )
        self.present = present
        self._sequence = {
            m: isinstance(x, list) and (sequences is None or m in sequences) for m, x in self.inputs.items()
        }
        for m, x in self.inputs.items():
            if isinstance(x, list) and not self._sequence[m] and len({tuple(s.shape) for s in x}) > 1:
                raise ValueError(
                    f"Dataset {name!r}: list modality {m!r} is not in `sequences` but its items differ "
                    "in shape; name it in `sequences` or give items of one shape."
                )
        self.card = card if card is not None else read_card(name)
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def __getitem__(self, i: int) -> dict[str, Any]:
        return {
            "inputs": {m: x[i] for m, x in self.inputs.items()},
            "present": self.present[i],
            "y": self.y[i],
            "index": int(i),
            "modalities": self.modalities,
            "sequence": self._sequence,
        }

    def __repr__(self) -> str:
        shapes = {m: self.modality_shape(m) for m in self.modalities}
        return (
            f"MultimodalDataset(name={self.name!r}, split={self.split!r}, n={len(self)}, "
            f"modalities={shapes}, task={self.task})"
        )

    def is_sequence(self, modality: str) -> bool:
        """True for a variable-length modality stored as a list of ``[L_i, D]`` tensors."""
        return self._sequence[self._check(modality)]

    def modality_shape(self, modality: str) -> tuple[int, ...]:
        """Shape of one sample of ``modality`` (``-1`` for a variable length)."""
        x = self.inputs[self._check(modality)]
        if isinstance(x, list) and not self._sequence[modality]:
            return tuple(x[0].shape) if x else ()
        if isinstance(x, list):
            return (-1, *tuple(x[0].shape[1:])) if x else (-1,)
        return tuple(x.shape[1:])

    def _check(self, modality: str) -> str:
        if modality not in self.inputs:
            raise ValueError(
                f"Unknown modality {modality!r} for dataset {self.name!r}; "
                f"expected one of {self.modalities}."
            )
        return modality

    def replace(self, **changes: Any) -> MultimodalDataset:
        """A new dataset with some of ``inputs``, ``y``, ``present``, ``split``, ``meta`` replaced.

        Everything else (task, card, which list modalities are sequences) carries over; the
        original is never mutated. Used by dataset-level corruptions (unalignment, missing data).
        """
        unknown = set(changes) - {"inputs", "y", "present", "split", "meta"}
        if unknown:
            raise ValueError(f"MultimodalDataset.replace got unknown fields {sorted(unknown)}.")
        return MultimodalDataset(
            self.name,
            changes.get("inputs", self.inputs),
            changes.get("y", self.y),
            self.task,
            present=changes.get("present", self.present),
            split=changes.get("split", self.split),
            card=self.card,
            meta=changes.get("meta", self.meta),
            sequences=tuple(m for m, s in self._sequence.items() if s),
        )

    def subset(self, indices: Sequence[int] | Tensor, split: str | None = None) -> MultimodalDataset:
        """A new dataset holding the rows ``indices`` (used to make splits)."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        inputs = {
            m: [x[int(i)] for i in idx] if isinstance(x, list) else x[idx]
            for m, x in self.inputs.items()
        }
        return self.replace(inputs=inputs, y=self.y[idx], present=self.present[idx], split=split or self.split)

    def full_batch(self) -> MultimodalBatch:
        """The whole dataset as one batch (small datasets, evaluation)."""
        return collate([self[i] for i in range(len(self))])

    def loader(
        self,
        batch_size: int = 64,
        *,
        shuffle: bool = False,
        generator: torch.Generator | None = None,
        drop_last: bool = False,
    ) -> torch.utils.data.DataLoader:
        """A DataLoader yielding :class:`MultimodalBatch`; shuffling needs an explicit generator."""
        if shuffle and generator is None:
            raise ValueError("loader(shuffle=True) needs an explicit torch.Generator for reproducibility.")
        return torch.utils.data.DataLoader(
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=generator,
            drop_last=drop_last,
            collate_fn=collate,
        )


def _pad(seqs: Sequence[Tensor]) -> tuple[Tensor, Tensor]:
    lengths = torch.tensor([int(s.shape[0]) for s in seqs], dtype=torch.long)
    L = int(lengths.max()) if len(seqs) else 0
    out = seqs[0].new_zeros((len(seqs), L, *seqs[0].shape[1:]))
    for i, s in enumerate(seqs):
        out[i, : s.shape[0]] = s
    return out, lengths


def collate(items: Sequence[Mapping[str, Any]]) -> MultimodalBatch:
    """Stack dataset items into a :class:`MultimodalBatch`.

    Fixed-size modalities are stacked; a modality whose items differ in their first dimension
    (a variable-length sequence ``[L_i, D]``) is zero-padded to the longest and its true
    lengths go to ``batch.lengths`` (``batch.mask(m)`` gives the padding mask).

    Raises:
        ValueError: for an empty list or items whose modalities differ.
    """
    if not items:
        raise ValueError("collate() got an empty list of items; a batch needs at least one sample.")
    first = items[0]
    modalities = tuple(first.get("modalities") or first["inputs"].keys())
    inputs: dict[str, Tensor] = {}
    lengths: dict[str, Tensor] = {}
    for m in modalities:
        try:
            xs = [torch.as_tensor(it["inputs"][m]) for it in items]
        except KeyError:
            raise ValueError(f"collate(): an item lacks modality {m!r}; all items need {modalities}.") from None
        shapes = {tuple(x.shape) for x in xs}
        is_sequence = bool(first.get("sequence", {}).get(m))
        if len(shapes) == 1 and not is_sequence:
            inputs[m] = torch.stack(xs)
        else:
            tails = {tuple(x.shape[1:]) for x in xs}
            if len(tails) > 1:
                raise ValueError(
                    f"collate(): modality {m!r} has items of incompatible shapes {sorted(shapes)}; "
                    "only the first (sequence) dimension may vary."
                )
            inputs[m], lengths[m] = _pad(xs)
    present = torch.stack([torch.as_tensor(it["present"], dtype=torch.bool) for it in items])
    y = torch.stack([torch.as_tensor(it["y"]) for it in items])
    index = torch.tensor([int(it.get("index", -1)) for it in items], dtype=torch.long)
    return MultimodalBatch(inputs=inputs, present=present, y=y, modalities=modalities, lengths=lengths, index=index)


def unalign(
    dataset: MultimodalDataset,
    modalities: Sequence[str] | None = None,
    *,
    generator: torch.Generator,
) -> MultimodalDataset:
    """An unaligned copy of a split: each named modality's rows permuted independently (OTM).

    The dataset-level form of :class:`Unalign`: one permutation per modality over the whole
    split, so no sample of the result has its modalities from the same original sample
    (except by chance). Apply it to the training split only, as OTM does.

    Args:
        dataset: the split to unalign (not modified).
        modalities: modalities to permute; default all but the first (labels stay with it).
        generator: the explicit random generator.

    Returns:
        a new :class:`MultimodalDataset`; ``meta["unaligned_permutations"]`` maps each permuted
        modality to its permutation (row ``i`` of modality ``m`` came from row ``perm[i]``).
    """

    mods = tuple(modalities) if modalities is not None else dataset.modalities[1:]
    for m in mods:
        if m not in dataset.modalities:
            raise ValueError(
                f"unalign: unknown modality {m!r}; {dataset.name!r} has {list(dataset.modalities)}."
            )
    n = len(dataset)
    inputs: dict[str, Any] = dict(dataset.inputs)
    present = dataset.present.clone()
    perms = {}
    for m in mods:
        perm = torch.randperm(n, generator=generator)
        x = dataset.inputs[m]
        inputs[m] = [x[int(i)] for i in perm] if isinstance(x, list) else x[perm]
        present[:, dataset.modalities.index(m)] = dataset.present[perm, dataset.modalities.index(m)]
        perms[m] = perm
    return dataset.replace(
        inputs=inputs, present=present, meta={**dataset.meta, "unaligned_permutations": perms}
    )
