"""The ``Method`` contract shared by every paper method and baseline.

A method is an ``nn.Module`` with two stages, ``embed`` (raw inputs -> per-modality embeddings)
and ``predict`` (embeddings + ``present`` -> :class:`Output`), so a corruption can act on the raw
inputs or on the embeddings (see :mod:`workbench.corruptions`). ``loss`` turns an output into a
scalar and a dict of logs; ``training_step`` is the hook the :class:`~workbench.training.Trainer`
calls: the default does one optimiser step on ``loss``; MLA overrides it with its alternating
unimodal steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..corruptions import apply_embedding_level, apply_input_level
from ..data.base import MultimodalBatch, Task

__all__ = ["Method", "Output", "scores_from_logits", "task_loss"]


@dataclass
class Output:
    """What ``predict`` returns.

    Attributes:
        y_hat: logits ``[B, K]`` (multiclass/multilabel), ``[B]`` or ``[B, 1]`` logit (binary) or
            predictions ``[B]``/``[B, K]`` (regression).
        extras: anything else a loss needs (unimodal logits, token features, mu/sigma, ...).
            ``forward`` adds ``"present"``: the presence after corruption.
    """

    y_hat: Tensor
    extras: dict[str, Tensor] = field(default_factory=dict)


def task_loss(y_hat: Tensor, y: Tensor, task: Task) -> Tensor:
    """The standard loss of ``task``: cross-entropy, binary/multi-label BCE, or L1 (regression)."""
    if task.kind == "multiclass":
        return F.cross_entropy(y_hat, y.long())
    if task.kind == "binary":
        return F.binary_cross_entropy_with_logits(y_hat.reshape(-1), y.reshape(-1).float())
    if task.kind == "multilabel":
        return F.binary_cross_entropy_with_logits(y_hat, y.float())
    return F.l1_loss(y_hat.reshape(y.shape), y.float())


def scores_from_logits(y_hat: Tensor, task: Task) -> Tensor:
    """Probabilities for classification tasks (softmax / sigmoid), predictions for regression."""
    if task.kind == "multiclass":
        return torch.softmax(y_hat, dim=-1)
    if task.kind in ("binary", "multilabel"):
        return torch.sigmoid(y_hat.reshape(-1) if task.kind == "binary" else y_hat)
    return y_hat


class Method(nn.Module):
    """Base class of every method and baseline.

    Subclasses set ``self.task`` and ``self.modalities`` and implement :meth:`embed` and
    :meth:`predict`; they may override :meth:`loss` and :meth:`training_step`.
    """

    task: Task
    modalities: tuple[str, ...]

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        raise NotImplementedError

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        raise NotImplementedError

    def forward(
        self,
        batch: MultimodalBatch,
        corruptions: Sequence = (),
        generator: torch.Generator | None = None,
    ) -> Output:
        """``predict(embed(batch))`` with input- and embedding-level corruptions in between."""
        if corruptions and generator is None:
            raise ValueError("Method.forward with corruptions needs an explicit torch.Generator.")
        batch = apply_input_level(corruptions, batch, generator)
        embeddings = self.embed(batch)
        present = batch.present
        embeddings, present = apply_embedding_level(corruptions, embeddings, present, batch.modalities, generator)
        output = self.predict(embeddings, present)
        output.extras.setdefault("present", present)
        return output

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        """Task loss of the fused prediction; returns ``(loss, logs)``."""
        loss = task_loss(output.y_hat, batch.y, self.task)
        return loss, {"loss": float(loss.detach())}

    def training_step(self, batch: MultimodalBatch, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """One optimisation step on ``batch`` (the Trainer's only hook into a method)."""
        optimizer.zero_grad(set_to_none=True)
        loss, logs = self.loss(self(batch), batch)
        loss.backward()
        optimizer.step()
        return logs

    def scores(self, output: Output) -> Tensor:
        """Probabilities or predictions used by the metrics."""
        return scores_from_logits(output.y_hat, self.task)
