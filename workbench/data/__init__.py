"""Datasets as :class:`MultimodalDataset`, a registry, and one module per dataset family.

>>> from workbench import data
>>> data.available()                       # names of every registered dataset
>>> train = data.load("synthetic", "train")
"""

# Each family module registers its datasets on import.
from . import (  # noqa: F401
    affect,
    av_digits,
    easy_vqa,
    multibench,
    multiview,
    mvlearn_data,
    synthetic,
    vision_language,
)
from ._real import DataFormatError
from .base import DataCard, MultimodalBatch, MultimodalDataset, Task, collate, read_card
from .registry import SPLITS, available, load, load_splits, register, spec

__all__ = [
    "SPLITS",
    "DataCard",
    "DataFormatError",
    "MultimodalBatch",
    "MultimodalDataset",
    "Task",
    "available",
    "collate",
    "load",
    "load_splits",
    "read_card",
    "register",
    "spec",
]
