"""Metrics used by the four papers, by name.

``compute(name, y, scores, task)`` is what the Trainer and the evaluation call: ``y`` are the
targets and ``scores`` the model's probabilities (classification) or predictions
(regression), both numpy arrays or tensors:

- multiclass: ``y`` ``[N]`` class ids, ``scores`` ``[N, K]`` probabilities (or logits);
- binary: ``y`` ``[N]`` in {0, 1}, ``scores`` ``[N]`` (or ``[N, 1]``) probabilities of class 1;
- multilabel: ``y`` ``[N, K]`` multi-hot, ``scores`` ``[N, K]`` probabilities;
- regression: ``y`` and ``scores`` ``[N]`` or ``[N, K]`` real values.

Names (see :func:`available`): ``accuracy``, ``accuracy_pct`` (MLA prints percentages),
``auroc`` / ``auroc_macro`` / ``auroc_micro``, ``f1`` (binary F1 for binary tasks, macro
otherwise, as the ViLT missing-modality line of work that WMA follows reports MM-IMDb),
``f1_binary``, ``f1_micro``, ``f1_macro``, ``f1_weighted``, ``f1_samples`` (multi-label),
``mae``, ``mse``, ``wa`` / ``ua`` (weighted = plain accuracy, unweighted = mean per-class recall, as
RAML and MLA use them for IEMOCAP/MOSEI), and the clustering scores ``purity``,
``hungarian_accuracy``, ``nmi``, ``ari`` (``scores`` are cluster ids ``[N]`` or soft
assignments ``[N, K]``).

scikit-learn computes everything it has; only purity and Hungarian accuracy are written here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn import metrics as skm

from .data.base import Task

__all__ = [
    "HIGHER_IS_BETTER",
    "accuracy",
    "adjusted_rand_index",
    "auroc",
    "available",
    "compute",
    "f1",
    "higher_is_better",
    "hungarian_accuracy",
    "labels_from_scores",
    "mae",
    "mse",
    "normalized_mutual_info",
    "purity",
    "unweighted_accuracy",
    "weighted_accuracy",
]


def _np(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def _binary_scores(scores: np.ndarray) -> np.ndarray:
    """``[N]`` scores of class 1 from ``[N]``, ``[N, 1]`` or ``[N, 2]`` scores."""
    if scores.ndim == 2 and scores.shape[1] == 2:
        return scores[:, 1]
    return scores.reshape(-1)


def labels_from_scores(scores, task: Task, threshold: float = 0.5) -> np.ndarray:
    """Hard predictions: argmax (multiclass), ``scores >= threshold`` (binary, multi-label).

    Args:
        scores: ``[N, K]`` (multiclass, multi-label) or ``[N]`` (binary) scores.
        task: the task.
        threshold: decision threshold on probabilities (binary, multi-label).

    Returns:
        ``[N]`` class ids, or ``[N, K]`` 0/1 for multi-label; regression scores unchanged.
    """
    s = _np(scores)
    if task.kind == "multiclass":
        return s.argmax(axis=-1)
    if task.kind == "binary":
        return (_binary_scores(s) >= threshold).astype(int)
    if task.kind == "multilabel":
        return (s >= threshold).astype(int)
    return s


def _targets(y, task: Task) -> np.ndarray:
    y = _np(y)
    if task.kind == "binary":
        return y.reshape(-1).astype(int)
    if task.kind in ("multiclass", "multilabel"):
        return y.astype(int)
    return y


def _classification(task: Task, name: str) -> None:
    if task.kind == "regression":
        raise ValueError(
            f"Metric {name!r} needs a classification task; got a regression task (use 'mae' or 'mse')."
        )


def accuracy(y, scores, task: Task, threshold: float = 0.5) -> float:
    """Fraction of correct predictions; multi-label: exact-match ratio (all labels right)."""
    _classification(task, "accuracy")
    return float(skm.accuracy_score(_targets(y, task), labels_from_scores(scores, task, threshold)))


def accuracy_pct(y, scores, task: Task, threshold: float = 0.5) -> float:
    """:func:`accuracy` in percent (as MLA prints it)."""
    return 100.0 * accuracy(y, scores, task, threshold)


def auroc(y, scores, task: Task, average: str = "macro") -> float:
    """Area under the ROC curve.

    Binary: the usual AUROC of the class-1 scores. Multiclass: one-vs-rest, averaged
    (``"macro"``; ``"weighted"`` by support). Multi-label: per label, averaged
    (``"macro"``, ``"micro"``, ``"weighted"``).

    Raises:
        ValueError: when only one class is present in ``y`` (AUROC is undefined).
    """
    _classification(task, "auroc")
    t, s = _targets(y, task), _np(scores).astype(float)
    if task.kind == "binary":
        if len(np.unique(t)) < 2:
            raise ValueError(
                "AUROC is undefined when y holds a single class; evaluate on more samples."
            )
        return float(skm.roc_auc_score(t, _binary_scores(s)))
    if task.kind == "multiclass":
        if average == "micro":
            raise ValueError(
                "Multiclass AUROC supports average='macro' or 'weighted', not 'micro'."
            )
        labels = np.arange(s.shape[1])
        p = np.clip(s, 0, None)
        p = p / p.sum(axis=1, keepdims=True).clip(min=1e-12)
        if len(np.unique(t)) < s.shape[1]:
            # Classes absent from y: average over the classes that occur (one-vs-rest).
            present = np.unique(t)
            onehot = (t[:, None] == labels[None, :]).astype(int)
            return float(skm.roc_auc_score(onehot[:, present], p[:, present], average=average))
        return float(skm.roc_auc_score(t, p, multi_class="ovr", average=average, labels=labels))
    return float(skm.roc_auc_score(t, s, average=average))


def f1(y, scores, task: Task, average: str | None = None, threshold: float = 0.5) -> float:
    """F1 score at ``threshold`` (binary, multi-label) or of the argmax (multiclass).

    Args:
        average: ``"binary"``, ``"micro"``, ``"macro"``, ``"weighted"`` or ``"samples"``
            (multi-label only). Default: ``"binary"`` for binary tasks, ``"macro"`` otherwise.
        threshold: decision threshold on probabilities.
    """
    _classification(task, "f1")
    if average is None:
        average = "binary" if task.kind == "binary" else "macro"
    if average == "samples" and task.kind != "multilabel":
        raise ValueError(f"f1 average='samples' needs a multi-label task; got {task.kind!r}.")
    t, p = _targets(y, task), labels_from_scores(scores, task, threshold)
    return float(skm.f1_score(t, p, average=average, zero_division=0))


def mae(y, scores, task: Task | None = None) -> float:
    """Mean absolute error ``mean |y - y_hat|``."""
    return float(skm.mean_absolute_error(_np(y).reshape(-1), _np(scores).reshape(-1)))


def mse(y, scores, task: Task | None = None) -> float:
    """Mean squared error ``mean (y - y_hat)^2``, averaged over samples and outputs.

    With ``[N, K]`` targets this is the mean over the K outputs of each output's MSE
    (scikit-learn's ``multioutput="uniform_average"``); every output has N entries, so it equals
    the mean over all entries.
    """
    t, s = _np(y).reshape(-1), _np(scores).reshape(-1)
    if t.shape != s.shape:
        raise ValueError(f"y has {t.size} values but scores has {s.size}.")
    return float(skm.mean_squared_error(t, s))


def weighted_accuracy(y, scores, task: Task, threshold: float = 0.5) -> float:
    """WA: plain accuracy; multi-label: per-label binary accuracy averaged over labels."""
    _classification(task, "wa")
    t, p = _targets(y, task), labels_from_scores(scores, task, threshold)
    if task.kind == "multilabel":
        return float((t == p).mean())
    return float(skm.accuracy_score(t, p))


def unweighted_accuracy(y, scores, task: Task, threshold: float = 0.5) -> float:
    """UA: mean per-class recall (balanced accuracy); multi-label: averaged over labels."""
    _classification(task, "ua")
    t, p = _targets(y, task), labels_from_scores(scores, task, threshold)
    if task.kind == "multilabel":
        return float(
            np.mean([skm.balanced_accuracy_score(t[:, k], p[:, k]) for k in range(t.shape[1])])
        )
    return float(skm.balanced_accuracy_score(t, p))


# ----------------------------------------------------------------------------- clustering


def _cluster_ids(labels) -> np.ndarray:
    a = _np(labels)
    if a.ndim == 2:
        a = a.argmax(axis=1)
    if a.ndim != 1:
        raise ValueError(
            f"Cluster labels must be [N] ids or [N, K] soft assignments; got shape {a.shape}."
        )
    return a


def _contingency(labels_true, labels_pred) -> np.ndarray:
    t, p = _cluster_ids(labels_true), _cluster_ids(labels_pred)
    if t.shape != p.shape:
        raise ValueError(f"labels_true has {t.shape[0]} entries but labels_pred has {p.shape[0]}.")
    return skm.cluster.contingency_matrix(t, p)  # [n_classes, n_clusters]


def purity(labels_true, labels_pred) -> float:
    r"""Clustering purity :math:`\frac{1}{N}\sum_k \max_j |c_k \cap t_j|` (the OTM paper's metric).

    Args:
        labels_true: ``[N]`` class ids.
        labels_pred: ``[N]`` cluster ids (or ``[N, K]`` soft assignments).
    """
    c = _contingency(labels_true, labels_pred)
    return float(c.max(axis=0).sum() / c.sum())


def hungarian_accuracy(labels_true, labels_pred) -> float:
    """Clustering accuracy under the best one-to-one cluster-to-class matching (Hungarian)."""
    c = _contingency(labels_true, labels_pred)
    rows, cols = linear_sum_assignment(-c)
    return float(c[rows, cols].sum() / c.sum())


def normalized_mutual_info(labels_true, labels_pred) -> float:
    """Normalised mutual information (arithmetic normalisation, scikit-learn's default)."""
    return float(
        skm.normalized_mutual_info_score(_cluster_ids(labels_true), _cluster_ids(labels_pred))
    )


def adjusted_rand_index(labels_true, labels_pred) -> float:
    """Adjusted Rand index."""
    return float(skm.adjusted_rand_score(_cluster_ids(labels_true), _cluster_ids(labels_pred)))


def _clustering(fn: Callable) -> Callable:
    return lambda y, scores, task=None, **_: fn(y, scores)


_METRICS: dict[str, Callable] = {
    "accuracy": accuracy,
    "accuracy_pct": accuracy_pct,
    "auroc": auroc,
    "auroc_macro": lambda y, s, task, **kw: auroc(y, s, task, average="macro"),
    "auroc_micro": lambda y, s, task, **kw: auroc(y, s, task, average="micro"),
    "f1": f1,
    "f1_binary": lambda y, s, task, **kw: f1(y, s, task, average="binary", **kw),
    "f1_micro": lambda y, s, task, **kw: f1(y, s, task, average="micro", **kw),
    "f1_macro": lambda y, s, task, **kw: f1(y, s, task, average="macro", **kw),
    "f1_weighted": lambda y, s, task, **kw: f1(y, s, task, average="weighted", **kw),
    "f1_samples": lambda y, s, task, **kw: f1(y, s, task, average="samples", **kw),
    "mae": lambda y, s, task=None, **kw: mae(y, s, task),
    "mse": lambda y, s, task=None, **kw: mse(y, s, task),
    "wa": weighted_accuracy,
    "ua": unweighted_accuracy,
    "purity": _clustering(purity),
    "hungarian_accuracy": _clustering(hungarian_accuracy),
    "nmi": _clustering(normalized_mutual_info),
    "ari": _clustering(adjusted_rand_index),
}

HIGHER_IS_BETTER = {"mae": False, "mse": False}


def available() -> list[str]:
    """Names accepted by :func:`compute`."""
    return sorted(_METRICS)


def higher_is_better(name: str) -> bool:
    """False for error metrics (MAE, MSE), True otherwise."""
    return HIGHER_IS_BETTER.get(name, True)


def compute(name: str, y, scores, task: Task, **options) -> float:
    """Compute the metric ``name`` of ``scores`` against ``y`` for ``task``.

    Args:
        name: a name from :func:`available`.
        y: targets (see the module docstring for shapes).
        scores: probabilities, predictions or cluster assignments.
        task: the dataset's task.
        **options: passed to the metric, e.g. ``threshold=0.5`` for F1 / accuracy.

    Raises:
        ValueError: unknown metric name, or a metric that does not fit the task.
    """
    if name not in _METRICS:
        raise ValueError(f"Unknown metric {name!r}; available metrics are {available()}.")
    return _METRICS[name](y, scores, task, **options)
