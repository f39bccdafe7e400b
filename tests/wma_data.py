"""Tiny token datasets and a tiny one-tower transformer for the WMA tests."""

import torch

from workbench.data.base import MultimodalDataset, Task
from workbench.models.transformer import OneTowerTransformer, TransformerConfig


def token_dataset(generator, n=16, modalities=("text", "image"), n_classes=3, split="train"):
    y = torch.randint(0, n_classes, (n,), generator=generator)
    inputs = {}
    for k, m in enumerate(modalities):
        if k == 0:  # a variable-length modality
            inputs[m] = [
                torch.randn(
                    int(torch.randint(2, 6, (1,), generator=generator)), 6, generator=generator
                )
                for _ in range(n)
            ]
        else:
            inputs[m] = torch.randn(n, 3 + k, 5, generator=generator)
    return MultimodalDataset(
        "tokens", inputs, y, Task("multiclass", n_classes, "accuracy"), split=split
    )


def backbone(ds):
    torch.manual_seed(0)
    return OneTowerTransformer(
        TransformerConfig.for_dataset(ds, d_model=16, n_heads=4, dropout=0.0)
    )
