"""``synthetic``: a latent-factor multimodal generator whose ground truth is known.

Each sample has a class ``y``. Modality ``m`` sees the class through a latent vector

.. math:: z_m = s_m \\, \\mu_y + \\varepsilon_m, \\qquad x_m = \\tanh(W_m z_m) + \\eta_m,

where ``mu_y`` is a class prototype shared by all modalities (redundant information), ``s_m``
the modality's signal strength (``imbalance``), and ``W_m`` a fixed random projection into the
modality's feature space. Everything is drawn from one seeded generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import MultimodalDataset, Task
from .registry import register

__all__ = ["make_synthetic", "split_indices"]


def split_indices(
    n: int, fractions: Sequence[float] = (0.6, 0.2, 0.2), *, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Random train/validation/test index sets of sizes given by ``fractions``."""
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
        raise ValueError(f"split fractions must be three positive numbers summing to 1; got {fractions}.")
    perm = torch.randperm(n, generator=generator)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return {
        "train": perm[:n_train].sort().values,
        "validation": perm[n_train : n_train + n_val].sort().values,
        "test": perm[n_train + n_val :].sort().values,
    }


def make_synthetic(
    n_samples: int = 1500,
    *,
    dims: Sequence[int] = (32, 16),
    modalities: Sequence[str] | None = None,
    n_classes: int = 4,
    latent_dim: int = 8,
    signal: Sequence[float] | None = None,
    noise: float = 1.0,
    seed: int = 0,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
) -> dict[str, MultimodalDataset]:
    """Generate the ``synthetic`` dataset.

    Args:
        n_samples: total number of samples over the three splits.
        dims: feature dimension of each modality.
        modalities: names of the modalities (default ``m0, m1, ...``).
        n_classes: number of classes (a multiclass task scored by accuracy).
        latent_dim: dimension of the class prototypes.
        signal: per-modality signal strength ``s_m`` (modality imbalance); default all 1.
        noise: standard deviation of the latent noise ``epsilon_m``.
        seed: seed of the generator (data and split).
        fractions: train/validation/test fractions.

    Returns:
        ``{"train", "validation", "test"}`` -> :class:`MultimodalDataset`.
    """
    names = tuple(modalities) if modalities is not None else tuple(f"m{i}" for i in range(len(dims)))
    if len(names) != len(dims):
        raise ValueError(f"synthetic: {len(names)} modality names for {len(dims)} dims; give one name per dim.")
    strengths = tuple(signal) if signal is not None else (1.0,) * len(dims)
    if len(strengths) != len(dims):
        raise ValueError(f"synthetic: signal has {len(strengths)} entries, expected {len(dims)} (one per modality).")
    if n_classes < 2 or n_samples < 10:
        raise ValueError("synthetic: need n_classes >= 2 and n_samples >= 10.")
    g = torch.Generator().manual_seed(int(seed))
    prototypes = torch.randn(n_classes, latent_dim, generator=g) * 1.5
    y = torch.randint(0, n_classes, (n_samples,), generator=g)
    inputs = {}
    for name, d, s in zip(names, dims, strengths):
        W = torch.randn(latent_dim, d, generator=g) / latent_dim**0.5
        z = s * prototypes[y] + noise * torch.randn(n_samples, latent_dim, generator=g)
        inputs[name] = torch.tanh(z @ W) + 0.1 * torch.randn(n_samples, d, generator=g)
    full = MultimodalDataset(
        "synthetic",
        inputs,
        y,
        Task("multiclass", n_classes, "accuracy"),
        meta={"seed": seed, "signal": strengths, "noise": noise},
    )
    return {split: full.subset(idx, split) for split, idx in split_indices(n_samples, fractions, generator=g).items()}


@register("synthetic", embedded=True, description="Latent-factor multimodal generator with known ground truth")
def _build(root=None, **options) -> dict[str, MultimodalDataset]:
    return make_synthetic(**options)
