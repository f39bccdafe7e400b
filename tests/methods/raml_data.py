"""Data and a check shared by the RAML and RAML-baseline tests (``from raml_data import ...``)."""

import torch

from workbench.data.base import MultimodalDataset, Task


def mixed_dataset(n=24, seed=0, *, vector=True):
    """3-class toy set of every encoder kind: ``image [1, 8, 8]``, a variable-length ``audio``
    sequence ``[L, 5]`` and, when ``vector``, ``vec [7]`` (drawn last, so the other inputs do
    not depend on it)."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    seqs = [
        torch.randn(int(torch.randint(2, 9, (1,), generator=g)), 5, generator=g) for _ in range(n)
    ]
    inputs = {"image": torch.randn(n, 1, 8, 8, generator=g), "audio": seqs}
    if vector:
        inputs["vec"] = torch.randn(n, 7, generator=g)
    return MultimodalDataset("toy", inputs, y, Task("multiclass", 3, "accuracy"))


def assert_missing_image_is_ignored(model, batch, generator):
    """With ``image`` (modality 0) marked missing in every sample, noise in its input leaves the
    prediction of ``model`` (in eval mode) unchanged."""
    present = batch.present.clone()
    present[:, 0] = False
    a = model(batch.replace(present=present)).y_hat
    noisy = dict(batch.inputs, image=torch.randn(batch.inputs["image"].shape, generator=generator))
    b = model(batch.replace(inputs=noisy, present=present)).y_hat
    torch.testing.assert_close(a, b)
