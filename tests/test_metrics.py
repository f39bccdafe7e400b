"""Every metric against a hand-computed case."""

import numpy as np
import pytest
import torch

from workbench import metrics as M
from workbench.data.base import Task

MULTICLASS = Task("multiclass", 3, "accuracy")
BINARY = Task("binary", 1, "auroc")
MULTILABEL = Task("multilabel", 3, "f1_micro")
REGRESSION = Task("regression", 1, "mae")


def onehot(ids, k=3):
    return np.eye(k)[np.asarray(ids)]


def test_accuracy_multiclass_binary_multilabel():
    assert M.compute("accuracy", [0, 1, 2, 2], onehot([0, 1, 1, 2]), MULTICLASS) == pytest.approx(
        0.75
    )
    assert M.compute(
        "accuracy_pct", [0, 1, 2, 2], onehot([0, 1, 1, 2]), MULTICLASS
    ) == pytest.approx(75.0)
    assert M.compute("accuracy", [0, 1, 1], [0.2, 0.7, 0.4], BINARY) == pytest.approx(2 / 3)
    # multi-label accuracy is the exact-match ratio: only the first row has every label right
    y = [[1, 0, 1], [0, 1, 0]]
    assert M.compute(
        "accuracy", y, [[0.9, 0.1, 0.8], [0.1, 0.9, 0.7]], MULTILABEL
    ) == pytest.approx(0.5)


def test_accuracy_accepts_tensors():
    y, s = torch.tensor([0, 1, 2]), torch.tensor(onehot([0, 1, 0]))
    assert M.compute("accuracy", y, s, MULTICLASS) == pytest.approx(2 / 3)


def test_auroc_binary_by_pair_counting():
    # positives 0.8, 0.4; negatives 0.6, 0.1: pairs (pos > neg) = (0.8>0.6, 0.8>0.1, 0.4>0.1) = 3 of 4
    assert M.compute("auroc", [1, 0, 1, 0], [0.8, 0.6, 0.4, 0.1], BINARY) == pytest.approx(0.75)
    # a [N, 2] probability matrix uses the second column
    s2 = np.array([[0.2, 0.8], [0.4, 0.6], [0.6, 0.4], [0.9, 0.1]])
    assert M.compute("auroc", [1, 0, 1, 0], s2, BINARY) == pytest.approx(0.75)


def test_auroc_macro_multilabel_and_multiclass():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    s = np.array([[0.9, 0.2], [0.3, 0.6], [0.4, 0.1], [0.5, 0.3]])
    # label 0: pos {0.9, 0.4} vs neg {0.3, 0.5}: 3 of 4 pairs; label 1: pos {0.6, 0.1} vs neg {0.2, 0.3}: 2 of 4
    task = Task("multilabel", 2, "auroc")
    assert M.compute("auroc", y, s, task) == pytest.approx((0.75 + 0.5) / 2)
    assert M.compute("auroc_macro", y, s, task) == pytest.approx((0.75 + 0.5) / 2)
    # perfectly separating multiclass scores give 1
    assert M.compute(
        "auroc", [0, 1, 2, 1], onehot([0, 1, 2, 1]) * 0.8 + 0.1, MULTICLASS
    ) == pytest.approx(1.0)


def test_auroc_single_class_raises():
    with pytest.raises(ValueError, match="single class"):
        M.compute("auroc", [1, 1, 1], [0.2, 0.3, 0.4], BINARY)


def test_f1_averages_multilabel():
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0]])
    s = np.array([[0.9, 0.6, 0.2], [0.1, 0.7, 0.3], [0.8, 0.2, 0.9]])
    # predictions at 0.5: [[1,1,0],[0,1,0],[1,0,1]]
    # label 0: tp 2 fp 0 fn 0 -> f1 1; label 1: tp 1 fp 1 fn 1 -> 0.5; label 2: tp 0 fp 1 fn 1 -> 0
    assert M.compute("f1_macro", y, s, MULTILABEL) == pytest.approx(0.5)
    # micro: tp 3, fp 2, fn 2 -> 2*3 / (2*3 + 2 + 2)
    assert M.compute("f1_micro", y, s, MULTILABEL) == pytest.approx(6 / 10)
    # weighted by support (2, 2, 1): (2*1 + 2*0.5 + 1*0) / 5
    assert M.compute("f1_weighted", y, s, MULTILABEL) == pytest.approx(3 / 5)
    # samples: per-row f1 = 2tp / (2tp + fp + fn): row 0 tp1 fp1 fn1 -> 1/2, row 1 -> 1, row 2 -> 1/2
    assert M.compute("f1_samples", y, s, MULTILABEL) == pytest.approx((0.5 + 1 + 0.5) / 3)


def test_f1_threshold_and_binary():
    y, s = [1, 0, 1, 1], [0.6, 0.4, 0.3, 0.9]
    # at 0.5: tp 2, fp 0, fn 1 -> 4/5; at 0.35: tp 2, fp 1, fn 1 -> 4/6
    assert M.compute("f1", y, s, BINARY) == pytest.approx(4 / 5)
    assert M.compute("f1", y, s, BINARY, threshold=0.35) == pytest.approx(4 / 6)
    with pytest.raises(ValueError, match="multi-label"):
        M.compute("f1_samples", [0, 1, 2], onehot([0, 1, 2]), MULTICLASS)


def test_mae():
    assert M.compute("mae", [1.0, 2.0, 3.0], [1.5, 2.0, 1.0], REGRESSION) == pytest.approx(
        (0.5 + 0 + 2) / 3
    )
    assert not M.higher_is_better("mae") and M.higher_is_better("accuracy")


def test_mse_against_numpy(rng):
    y, y_hat = rng.normal(size=50), rng.normal(size=50)
    assert M.compute("mse", y, y_hat, REGRESSION) == pytest.approx(np.mean((y - y_hat) ** 2))
    assert M.compute("mse", torch.as_tensor(y), torch.as_tensor(y_hat), REGRESSION) == (
        pytest.approx(np.mean((y - y_hat) ** 2))
    )
    assert M.compute("mse", [1.0, 2.0, 3.0], [1.5, 2.0, 1.0], REGRESSION) == pytest.approx(
        (0.25 + 0 + 4) / 3
    )
    assert not M.higher_is_better("mse")
    assert "mse" in M.available()


def test_mse_multi_output_averages_over_outputs(rng):
    y, y_hat = rng.normal(size=(40, 3)), rng.normal(size=(40, 3))
    y_hat[:, 2] += 2.0  # one output much worse: it weighs 1/3, like the others
    task = Task("regression", 3, "mse")
    per_output = ((y - y_hat) ** 2).mean(axis=0)
    assert M.compute("mse", y, y_hat, task) == pytest.approx(per_output.mean())
    windows = rng.normal(size=(6, 8, 2))  # [N, L, 2] targets, as MuJoCo Push windows
    assert M.compute("mse", windows, windows + 0.5, Task("regression", 2, "mse")) == (
        pytest.approx(0.25)
    )
    with pytest.raises(ValueError, match="values"):
        M.compute("mse", y, y_hat[:10], task)


def test_wa_ua_imbalanced():
    # classes 0 (4 samples, all right) and 1 (2 samples, one right)
    y = [0, 0, 0, 0, 1, 1]
    s = onehot([0, 0, 0, 0, 1, 0], 2)
    task = Task("multiclass", 2, "wa")
    assert M.compute("wa", y, s, task) == pytest.approx(5 / 6)
    assert M.compute("ua", y, s, task) == pytest.approx((1 + 0.5) / 2)


def test_wa_ua_multilabel_average_over_labels():
    y = np.array([[1, 0], [0, 0], [1, 1], [0, 0]])
    s = np.array([[0.9, 0.9], [0.2, 0.1], [0.1, 0.8], [0.3, 0.2]])
    # label 0 preds [1,0,0,0]: acc 3/4, recalls pos 1/2 neg 1 -> 3/4; label 1 preds [1,0,1,0]: acc 3/4, pos 1 neg 2/3
    task = Task("multilabel", 2, "wa")
    assert M.compute("wa", y, s, task) == pytest.approx(3 / 4)
    assert M.compute("ua", y, s, task) == pytest.approx((3 / 4 + (1 + 2 / 3) / 2) / 2)


def test_clustering_purity_hungarian():
    true = [0, 0, 0, 1, 1, 2]
    pred = [1, 1, 0, 0, 0, 0]
    # cluster 1 = {0,0}: max 2; cluster 0 = {0,1,1,2}: max 2 -> purity 4/6
    assert M.purity(true, pred) == pytest.approx(4 / 6)
    # best one-to-one matching: cluster 1 -> class 0 (2), cluster 0 -> class 1 (2)
    assert M.hungarian_accuracy(true, pred) == pytest.approx(4 / 6)
    # many small clusters make purity 1 but Hungarian accuracy cannot exceed the matched share
    singletons = list(range(6))
    assert M.purity(true, singletons) == 1.0
    assert M.hungarian_accuracy(true, singletons) == pytest.approx(3 / 6)


def test_clustering_label_permutation_invariance_nmi_ari():
    true = np.array([0, 0, 1, 1, 2, 2])
    relabelled = np.array([2, 2, 0, 0, 1, 1])
    assert M.normalized_mutual_info(true, relabelled) == pytest.approx(1.0)
    assert M.adjusted_rand_index(true, relabelled) == pytest.approx(1.0)
    assert M.hungarian_accuracy(true, relabelled) == 1.0
    # ARI by hand for true [0,0,1,1] vs pred [0,1,0,1]: index 0, expected 2/6*... -> -0.5
    assert M.adjusted_rand_index([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(-0.5)
    # NMI is 0 for independent labellings
    assert M.normalized_mutual_info([0, 0, 1, 1], [0, 1, 0, 1]) == pytest.approx(0.0, abs=1e-12)


def test_clustering_through_compute_with_soft_assignments():
    true = [0, 0, 1, 1]
    soft = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]])
    assert M.compute("purity", true, soft, MULTICLASS) == pytest.approx(3 / 4)
    assert M.compute("hungarian_accuracy", true, soft, MULTICLASS) == pytest.approx(3 / 4)


def test_unknown_metric_and_wrong_task():
    with pytest.raises(ValueError, match="Unknown metric 'auc'"):
        M.compute("auc", [0, 1], [0.1, 0.9], BINARY)
    with pytest.raises(ValueError, match="regression"):
        M.compute("accuracy", [0.1, 0.2], [0.1, 0.2], REGRESSION)
    with pytest.raises(ValueError, match="entries"):
        M.purity([0, 1, 1], [0, 1])
