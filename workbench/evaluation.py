"""Evaluation: predictions under corruptions, and the robustness grid as a tidy DataFrame."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from . import metrics as M
from .data.base import MultimodalDataset
from .methods.base import Method

__all__ = ["Predictions", "evaluate", "predict"]


@dataclass(frozen=True)
class Predictions:
    """Targets, scores and presence of a whole dataset (numpy, on the CPU)."""

    y: np.ndarray
    scores: np.ndarray
    present: np.ndarray


@torch.no_grad()
def predict(
    model: Method,
    dataset: MultimodalDataset,
    corruptions: Sequence = (),
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> Predictions:
    """Run ``model`` in eval mode over ``dataset`` with ``corruptions`` applied.

    Args:
        model: a :class:`~workbench.methods.base.Method`.
        dataset: the data to predict.
        corruptions: corruptions applied at their level (input or embedding).
        generator: the generator driving the corruptions (required when there are any).
        batch_size: evaluation batch size; results do not depend on it for batch-independent
            models.
        device: where to run; default the model's device.

    Returns:
        :class:`Predictions` with the presence after corruption.
    """
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    ys, ss, ps = [], [], []
    try:
        for batch in dataset.loader(batch_size):
            batch = batch.to(device)
            out = model(batch, corruptions, generator)
            present = out.extras.get("present", batch.present)
            ys.append(batch.y.cpu())
            ss.append(model.scores(out).float().cpu())
            ps.append(present.cpu())
    finally:
        model.train(was_training)
    return Predictions(torch.cat(ys).numpy(), torch.cat(ss).numpy(), torch.cat(ps).numpy())


def evaluate(
    model: Method,
    dataset: MultimodalDataset,
    metric: str | None = None,
    corruptions: Sequence = (),
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
) -> float:
    """The ``metric`` (default: the dataset's) of ``model`` on ``dataset`` under ``corruptions``."""
    pred = predict(model, dataset, corruptions, generator=generator, batch_size=batch_size)
    return M.compute(metric or dataset.task.metric, pred.y, pred.scores, dataset.task)
