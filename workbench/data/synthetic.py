r"""``synthetic``: a latent-factor multimodal generator whose ground truth is known.

Each sample has a class :math:`y \in \{0, \dots, K-1\}` and a *route* :math:`r` that says where
the label information lives, drawn with probabilities proportional to the knobs
``redundancy`` (:math:`\rho`), ``uniqueness`` (:math:`u_m`, one per modality) and ``synergy``
(:math:`\varsigma`):

.. math::

    P(r = \mathrm{red}) \propto \rho, \quad P(r = \mathrm{uni}_m) \propto u_m, \quad
    P(r = \mathrm{syn}) \propto \varsigma .

Modality :math:`m` sees a class index :math:`c_m` through a latent vector and a fixed random
projection :math:`W_m`:

.. math::

    z_m = s_m \, \mu_{c_m} + \sigma \varepsilon_m, \qquad
    x_m = \tanh(z_m W_m) + 0.1\, \eta_m,

with class prototypes :math:`\mu_k` shared by all modalities, per-modality signal strength
:math:`s_m` (``signal``: modality imbalance) and latent noise :math:`\sigma` (``noise``). The
route sets the :math:`c_m`:

- redundant: :math:`c_m = y` for every modality (any modality alone predicts :math:`y`);
- unique to :math:`m`: :math:`c_m = y`, every other modality gets an independent uniform
  class :math:`c_{m'} \sim U\{0..K-1\}` (only :math:`m` is informative);
- synergistic (modalities ``synergy_pair = (a, b)``): :math:`c_a = v`, :math:`c_b = (y - v)
  \bmod K` with :math:`v \sim U\{0..K-1\}` independent of :math:`y`, so each of the two alone
  is independent of :math:`y` and only the pair determines it (for :math:`K = 2` this is the
  XOR of two bits); other modalities get independent uniform classes.

Marginally every modality looks the same under every route (a prototype plus noise), so a
model cannot tell routes apart from one modality. The defaults (``redundancy=1``, no
uniqueness or synergy) reproduce the foundation's generator draw for draw.

``output="tokens"`` returns each modality as a token sequence ``[L, D]``:
:math:`x_{m,l} = \tanh((z_m + \sigma_{tok} \xi_{l}) W_m) + 0.1\, \eta_{m,l}`, with
``variable_length=True`` drawing :math:`L_i \sim U\{\lceil L/2 \rceil, \dots, L\}`.
``aligned=False`` permutes the rows of every modality but the first in the *training* split
(OTM's unaligned setting, :func:`workbench.corruptions.unalign`). Everything is drawn from one
seeded generator.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import MultimodalDataset, Task, unalign
from .registry import register

__all__ = ["make_synthetic", "point_clouds", "split_indices", "stratified_split_indices"]


def split_indices(
    n: int, fractions: Sequence[float] = (0.6, 0.2, 0.2), *, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Random train/validation/test index sets of sizes given by ``fractions``."""
    _check_fractions(fractions)
    perm = torch.randperm(n, generator=generator)
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return {
        "train": perm[:n_train].sort().values,
        "validation": perm[n_train : n_train + n_val].sort().values,
        "test": perm[n_train + n_val :].sort().values,
    }


def _check_fractions(fractions: Sequence[float]) -> None:
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-6 or min(fractions) <= 0:
        raise ValueError(
            f"split fractions must be three positive numbers summing to 1; got {fractions}."
        )


def stratified_split_indices(
    y: torch.Tensor, fractions: Sequence[float] = (0.6, 0.2, 0.2), *, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    """Train/validation/test index sets with (nearly) the class proportions of ``y`` in each.

    Each class is shuffled, its members get evenly spaced ranks in ``[0, 1)`` plus a random
    offset, and all samples are sorted by rank: consecutive chunks of the order are then
    stratified. Split sizes are exactly ``round(f * n)`` (test takes the rest).

    Args:
        y: ``[N]`` class ids.
        fractions: train/validation/test fractions.
        generator: the explicit random generator.
    """
    _check_fractions(fractions)
    y = torch.as_tensor(y).long()
    n = int(y.shape[0])
    rank = torch.empty(n, dtype=torch.float64)
    for c in torch.unique(y):
        members = torch.nonzero(y == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        offset = float(torch.rand((), generator=generator, dtype=torch.float64))
        rank[members] = (torch.arange(len(members), dtype=torch.float64) + offset) / len(members)
    order = torch.argsort(rank + 1e-9 * torch.rand(n, generator=generator, dtype=torch.float64))
    n_train = int(round(fractions[0] * n))
    n_val = int(round(fractions[1] * n))
    return {
        "train": order[:n_train].sort().values,
        "validation": order[n_train : n_train + n_val].sort().values,
        "test": order[n_train + n_val :].sort().values,
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
    redundancy: float = 1.0,
    uniqueness: Sequence[float] | float = 0.0,
    synergy: float = 0.0,
    synergy_pair: tuple[int, int] = (0, 1),
    output: str = "features",
    seq_len: int = 8,
    token_noise: float = 0.5,
    variable_length: bool = False,
    aligned: bool = True,
) -> dict[str, MultimodalDataset]:
    """Generate the ``synthetic`` dataset (the generative model is in the module docstring).

    Args:
        n_samples: total number of samples over the three splits.
        dims: feature dimension ``D_m`` of each modality.
        modalities: names of the modalities (default ``m0, m1, ...``).
        n_classes: number of classes ``K`` (a multiclass task scored by accuracy).
        latent_dim: dimension of the class prototypes.
        signal: per-modality signal strength ``s_m`` (modality imbalance); default all 1.
        noise: standard deviation ``sigma`` of the latent noise.
        seed: seed of the generator (data and split).
        fractions: train/validation/test fractions.
        redundancy: weight ``rho`` of the redundant route (label in every modality).
        uniqueness: weight ``u_m`` of the route "label only in modality m"; a float applies
            to every modality.
        synergy: weight of the synergistic route (label = modular sum of two modalities'
            classes; XOR for ``K = 2``).
        synergy_pair: indices of the two modalities of the synergistic route.
        output: ``"features"`` (``[N, D_m]``) or ``"tokens"`` (``[N, L, D_m]`` or, with
            ``variable_length``, lists of ``[L_i, D_m]``).
        seq_len: ``L`` for token output.
        token_noise: per-token latent noise ``sigma_tok`` for token output.
        variable_length: draw a length per sample (token output only).
        aligned: ``False`` permutes every modality but the first in the training split (OTM).

    Returns:
        ``{"train", "validation", "test"}`` -> :class:`MultimodalDataset`; ``meta["route"]``
        holds each sample's route (``0`` redundant, ``1 + m`` unique to ``m``, ``1 + M``
        synergistic).
    """
    names = (
        tuple(modalities) if modalities is not None else tuple(f"m{i}" for i in range(len(dims)))
    )
    M = len(dims)
    if len(names) != M:
        raise ValueError(
            f"synthetic: {len(names)} modality names for {M} dims; give one name per dim."
        )
    strengths = tuple(signal) if signal is not None else (1.0,) * M
    if len(strengths) != M:
        raise ValueError(
            f"synthetic: signal has {len(strengths)} entries, expected {M} (one per modality)."
        )
    if n_classes < 2 or n_samples < 10:
        raise ValueError("synthetic: need n_classes >= 2 and n_samples >= 10.")
    uniq = (
        (float(uniqueness),) * M
        if isinstance(uniqueness, (int, float))
        else tuple(map(float, uniqueness))
    )
    if len(uniq) != M:
        raise ValueError(
            f"synthetic: uniqueness has {len(uniq)} entries, expected {M} (one per modality)."
        )
    weights = torch.tensor([float(redundancy), *uniq, float(synergy)], dtype=torch.float64)
    if (weights < 0).any() or weights.sum() <= 0:
        raise ValueError(
            f"synthetic: redundancy/uniqueness/synergy must be >= 0 and not all zero; got {weights.tolist()}."
        )
    if synergy > 0 and (
        M < 2 or len(set(synergy_pair)) != 2 or not all(0 <= i < M for i in synergy_pair)
    ):
        raise ValueError(
            f"synthetic: synergy needs two distinct modality indices in [0, {M}); got {synergy_pair}."
        )
    if output not in ("features", "tokens"):
        raise ValueError(f"synthetic: output must be 'features' or 'tokens'; got {output!r}.")
    if variable_length and output != "tokens":
        raise ValueError("synthetic: variable_length=True needs output='tokens'.")

    g = torch.Generator().manual_seed(int(seed))
    prototypes = torch.randn(n_classes, latent_dim, generator=g) * 1.5
    y = torch.randint(0, n_classes, (n_samples,), generator=g)
    classes = y[:, None].repeat(1, M)  # c_m per sample
    route = torch.zeros(n_samples, dtype=torch.long)
    if float(weights[1:].sum()) > 0:  # extra draws only off the foundation's defaults
        route = torch.multinomial(weights.float(), n_samples, replacement=True, generator=g)
        random_classes = torch.randint(0, n_classes, (n_samples, M), generator=g)
        for m in range(M):
            unique_elsewhere = (route >= 1) & (route <= M) & (route != 1 + m)
            classes[unique_elsewhere, m] = random_classes[unique_elsewhere, m]
        syn = route == 1 + M
        if bool(syn.any()):
            a, b = synergy_pair
            v = torch.randint(0, n_classes, (n_samples,), generator=g)
            for m in range(M):
                classes[syn, m] = random_classes[syn, m]
            classes[syn, a] = v[syn]
            classes[syn, b] = (y[syn] - v[syn]) % n_classes
    inputs: dict[str, torch.Tensor | list[torch.Tensor]] = {}
    lengths = None
    if variable_length:
        lengths = torch.randint((seq_len + 1) // 2, seq_len + 1, (n_samples,), generator=g)
    for j, (name, d, s) in enumerate(zip(names, dims, strengths)):
        W = torch.randn(latent_dim, d, generator=g) / latent_dim**0.5
        z = s * prototypes[classes[:, j]] + noise * torch.randn(n_samples, latent_dim, generator=g)
        if output == "features":
            inputs[name] = torch.tanh(z @ W) + 0.1 * torch.randn(n_samples, d, generator=g)
            continue
        zt = z[:, None, :] + token_noise * torch.randn(n_samples, seq_len, latent_dim, generator=g)
        x = torch.tanh(zt @ W) + 0.1 * torch.randn(n_samples, seq_len, d, generator=g)
        inputs[name] = (
            [x[i, : int(lengths[i])] for i in range(n_samples)] if lengths is not None else x
        )
    full = MultimodalDataset(
        "synthetic",
        inputs,
        y,
        Task("multiclass", n_classes, "accuracy"),
        meta={
            "seed": seed,
            "signal": strengths,
            "noise": noise,
            "redundancy": float(redundancy),
            "uniqueness": uniq,
            "synergy": float(synergy),
            "output": output,
            "aligned": aligned,
            "route": route,
        },
    )
    splits = {}
    for split, idx in split_indices(n_samples, fractions, generator=g).items():
        part = full.subset(idx, split)
        part.meta = {**part.meta, "route": route[idx]}
        splits[split] = part
    if not aligned:
        splits["train"] = unalign(splits["train"], generator=g)
    return splits


def point_clouds(
    n_clouds: int = 3,
    n_points: int = 60,
    centres: Sequence[Sequence[float]] | torch.Tensor = ((0.0, 0.0), (4.0, 0.0), (2.0, 3.5)),
    *,
    spread: float = 0.5,
    shift: float = 0.3,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> list[torch.Tensor]:
    r"""Clustered point clouds standing in for the latent codes of ``n_clouds`` modalities.

    Cloud :math:`k` has ``n_points`` points :math:`z = c_{\ell} + \text{spread}\,\varepsilon +
    \text{shift}\,k` with a cluster :math:`\ell` drawn uniformly among ``centres`` per point,
    :math:`\varepsilon \sim \mathcal N(0, I)`: the clouds share their clusters, each offset a
    little, as modalities encoding the same classes would (``notebooks/01_optimal_transport``,
    the FGW barycenter and stochastic mixing of OTM).

    Draws, per cloud in order, the cluster labels then the noise from ``generator``.

    >>> clouds = point_clouds(3, 60, generator=torch.Generator().manual_seed(0))
    >>> [tuple(z.shape) for z in clouds]
    [(60, 2), (60, 2), (60, 2)]

    Args:
        n_clouds: number of clouds (modalities).
        n_points: points per cloud.
        centres: cluster centres ``[K, D]`` (``D`` is the dimension of the points).
        spread: standard deviation of the points around their centre.
        shift: offset added to every coordinate of cloud ``k``, times ``k``.
        generator: the random stream (default: torch's global one).
        dtype: the points' dtype.

    Returns:
        ``n_clouds`` tensors ``[n_points, D]``.
    """
    centres = torch.as_tensor(centres, dtype=dtype)
    if centres.ndim != 2 or len(centres) == 0:
        raise ValueError(f"point_clouds: centres must be [K, D] with K >= 1; got {tuple(centres.shape)}.")
    clouds = []
    for k in range(int(n_clouds)):
        labels = torch.randint(len(centres), (int(n_points),), generator=generator)
        noise = torch.randn(int(n_points), centres.shape[1], generator=generator, dtype=dtype)
        clouds.append(centres[labels] + spread * noise + shift * k)
    return clouds


@register(
    "synthetic",
    embedded=True,
    description="Latent-factor multimodal generator with known ground truth",
)
def _build(root=None, **options) -> dict[str, MultimodalDataset]:
    return make_synthetic(**options)
