"""Metrics used by the four papers, by name.

``compute(name, y, scores, task)`` is what the Trainer and the evaluation call: ``y`` are the
targets and ``scores`` the model's probabilities (classification) or predictions
(regression), both numpy arrays or tensors.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn import metrics as skm

from .data.base import Task

__all__ = ["HIGHER_IS_BETTER", "accuracy", "compute", "higher_is_better", "mae"]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _labels(scores: np.ndarray, task: Task, threshold: float = 0.5) -> np.ndarray:
    if task.kind == "multiclass":
        return scores.argmax(axis=-1)
    if task.kind in ("binary", "multilabel"):
        return (scores >= threshold).astype(int)
    return scores


def accuracy(y, scores, task: Task) -> float:
    """Fraction of correct predictions (multi-label: exact-match ratio)."""
    y, s = _np(y), _np(scores)
    return float(skm.accuracy_score(y.astype(int), _labels(s, task)))


def mae(y, scores, task: Task | None = None) -> float:
    """Mean absolute error."""
    return float(skm.mean_absolute_error(_np(y).reshape(-1), _np(scores).reshape(-1)))


_METRICS = {
    "accuracy": accuracy,
    "mae": mae,
}

HIGHER_IS_BETTER = {"mae": False}


def higher_is_better(name: str) -> bool:
    """False for error metrics (MAE), True otherwise."""
    return HIGHER_IS_BETTER.get(name, True)


def compute(name: str, y, scores, task: Task) -> float:
    """Compute the metric ``name`` of ``scores`` against ``y`` for ``task``."""
    if name not in _METRICS:
        raise ValueError(f"Unknown metric {name!r}; available metrics are {sorted(_METRICS)}.")
    return _METRICS[name](y, scores, task)
