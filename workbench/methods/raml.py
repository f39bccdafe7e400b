"""RAML: Redundancy-Adaptive Multimodal Learning for imperfect data (Chen et al.).

Each modality m has an encoder f_m and two heads giving a D-dimensional Gaussian
(Eq. 1 of the RAML paper)

.. math:: q(h_m | x_m) = \\mathcal N(\\mu_m, \\sigma_m^2), \\quad
          \\mu_m = g^\\mu_m(f_m(x_m)), \\quad \\sigma_m = g^\\sigma_m(f_m(x_m)).

One predictor f is shared by the unimodal samples (L^U, Eq. 2) and the fused embedding
(L^M, Eq. 5). The fusion (Eq. 4) is an element-wise precision-weighted mean of the present
modalities,

.. math:: h = \\sum_m \\omega_m \\odot \\mu_m, \\quad \\omega_m = \\delta_m (\\sigma / \\sigma_m)^2,
          \\quad 1/\\sigma^2 = \\sum_m \\delta_m / \\sigma_m^2,

and the sparsity loss (Eq. 3) is :math:`L^D = \\sum_m \\| (\\sigma/\\sigma_m)^2 \\odot \\mu_m \\|_1`.
The total loss is :math:`L = L^M + \\lambda_1 L^U + \\lambda_2 L^D` (Eq. 6); evaluation uses
f(h) only. Training augments every sample with all 2^M - 1 missing patterns (Sec. III-A).

Scale of λ2: the workbench divides L^D by D (``sparsity_reduction="mean"``, the default), so
L^D is the mean over the D elements of the l1 term, summed over the modalities, and does not
grow with D. The paper's sweep of λ2 over 0.2-1.6 (Fig. 4, right) then means what it says
at any D: the default λ2 = 1 equals a summed-l1 weight of 1/128 ≈ 0.008 at the paper's
D = 128 (the workbench's former default 0.01 with the sum). ``sparsity_reduction="sum"`` keeps
the literal l1 norm of Eq. 3, whose λ2 must then shrink like 1/D.

Stage split for the workbench: ``embed`` returns the encoder features f_m(x_m) (so an
embedding-level corruption acts before the heads and can move σ), ``predict`` applies the
heads, the fusion and f.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..corruptions import all_missing_patterns
from ..data.base import MultimodalBatch, MultimodalDataset, Task
from ..models.base import Method, Output, task_loss
from ..models.encoders import ModalitySpec, encoders_for, modality_specs

__all__ = [
    "WEIGHTINGS",
    "RAML",
    "RAMLConfig",
    "RAMLFamilyMethod",
    "EncoderSettings",
    "element_weights",
    "fusion_weights",
    "missing_patterns",
    "sparsity_loss",
]

WEIGHTINGS = ("adaptive", "identical", "fixed")


def missing_patterns(n_modalities: int) -> Tensor:
    """All 2^M - 1 non-empty presence patterns, ``bool [2^M - 1, M]`` (Sec. III-A).

    Rows are ordered by the number of present modalities, then lexicographically, e.g. for
    M = 2: ``[[T, F], [F, T], [T, T]]`` (the order of
    :func:`workbench.corruptions.all_missing_patterns`).
    """
    if n_modalities < 1:
        raise ValueError(f"missing_patterns needs at least one modality; got {n_modalities}.")
    names = [str(j) for j in range(n_modalities)]
    rows = [[m in kept for m in names] for kept in all_missing_patterns(names)]
    return torch.tensor(rows, dtype=torch.bool)


def fusion_weights(sigma: Tensor, present: Tensor) -> Tensor:
    """Element-wise fusion weights ω of Eq. (4) of the RAML paper.

    .. math:: \\omega_m = \\delta_m (\\sigma/\\sigma_m)^2, \\qquad
              1/\\sigma^2 = \\sum_m \\delta_m / \\sigma_m^2.

    Args:
        sigma: ``[..., M, D]`` positive standard deviations σ_m.
        present: ``bool [..., M]`` indicators δ_m.

    Returns:
        ``[..., M, D]`` weights: non-negative, zero for a missing modality, summing to one over
        the present modalities for every element (all zeros when no modality is present).
    """
    precision = present.unsqueeze(-1).to(sigma.dtype) * sigma.pow(-2)
    return precision / precision.sum(dim=-2, keepdim=True).clamp_min(torch.finfo(sigma.dtype).tiny)


def sparsity_loss(
    mu: Tensor, sigma: Tensor, present: Tensor | None = None, reduction: str = "mean"
) -> Tensor:
    """Per-sample sparsity loss L^D of Eq. (3) of the RAML paper.

    .. math:: L^D = \\sum_m \\| (\\sigma/\\sigma_m)^2 \\odot \\mu_m \\|_1, \\qquad
              1/\\sigma^2 = \\sum_m 1/\\sigma_m^2.

    Args:
        mu, sigma: ``[B, M, D]`` means and standard deviations.
        present: optional ``bool [B, M]``; the paper normalises over all modalities (full
            samples). A zero-filled missing modality is left out of the sum and the normaliser.
        reduction: ``"mean"`` (default: the l1 norm divided by D, so that λ2 does not scale
            with D and the paper's λ2 of 0.2-1.6 (Fig. 4) is a sensible weight) or ``"sum"``
            (the l1 norm of Eq. 3 as printed).

    Returns:
        ``[B]`` loss per sample.
    """
    if present is None:
        present = torch.ones(mu.shape[:-1], dtype=torch.bool, device=mu.device)
    w = fusion_weights(sigma, present)
    l1 = (w * mu).abs().sum(dim=(-2, -1))
    if reduction == "mean":
        return l1 / mu.shape[-1]
    if reduction != "sum":
        raise ValueError(f"sparsity_loss reduction={reduction!r}; expected 'sum' or 'mean'.")
    return l1


@dataclass(frozen=True)
class RAMLConfig:
    """Settings of RAML and of its ablations.

    Attributes:
        modalities: modality -> :class:`ModalitySpec` (use :meth:`for_dataset`).
        task: the dataset's task.
        embed_dim: D, the dimension of each Gaussian (128 in the paper).
        hidden_dim: width of the encoders f_m (their output size).
        lambda_u: λ1, weight of the unimodal loss L^U (Eq. 6).
        lambda_d: λ2, weight of the sparsity loss L^D (Eq. 6), on the D-normalised L^D of
            ``sparsity_reduction="mean"``: the paper's Fig. 4 sweeps 0.2-1.6.
        weighting: ``"adaptive"`` (Eq. 4), ``"identical"`` (equal weights over the present
            modalities, Table V) or ``"fixed"`` (learned element-wise weights that do not depend
            on the sample, Table V).
        shared_predictor: one predictor f for L^U and L^M (the paper); False gives each
            modality its own unimodal predictor (Fig. 4 left).
        pattern_augmentation: train on all 2^M - 1 missing patterns of every sample (Sec. III-A);
            False trains on the data as given (Table IV, full-modality training).
        sparsity_reduction: ``"mean"`` (default: the l1 norm of Eq. 3 divided by D, see the
            module docstring) or ``"sum"`` (the l1 norm as printed; λ2 then scales with 1/D).
        sequence_encoder: ``"lstm"`` (the paper) or ``"cnn"`` for sequence modalities.
        dropout: dropout inside the encoders.
        min_sigma: floor added to σ_m = softplus(g^σ_m(.)) for numerical safety.
    """

    modalities: Mapping[str, ModalitySpec]
    task: Task
    embed_dim: int = 128
    hidden_dim: int = 128
    lambda_u: float = 1.0
    lambda_d: float = 1.0
    weighting: str = "adaptive"
    shared_predictor: bool = True
    pattern_augmentation: bool = True
    sparsity_reduction: str = "mean"
    sequence_encoder: str = "lstm"
    dropout: float = 0.0
    min_sigma: float = 1e-3

    def __post_init__(self) -> None:
        if self.weighting not in WEIGHTINGS:
            raise ValueError(
                f"RAMLConfig.weighting={self.weighting!r}; expected one of {WEIGHTINGS}."
            )
        if self.sparsity_reduction not in ("sum", "mean"):
            raise ValueError(
                f"RAMLConfig.sparsity_reduction={self.sparsity_reduction!r}; expected 'sum' or 'mean'."
            )
        if self.lambda_u < 0 or self.lambda_d < 0:
            raise ValueError(
                f"RAMLConfig: lambda_u={self.lambda_u} and lambda_d={self.lambda_d} must be >= 0."
            )
        if not self.modalities:
            raise ValueError(
                "RAMLConfig.modalities is empty; build the config with RAMLConfig.for_dataset(dataset)."
            )

    @classmethod
    def for_dataset(cls, dataset: MultimodalDataset, **kwargs) -> RAMLConfig:
        """The config of ``dataset``'s modalities and task, with ``kwargs`` overriding defaults."""
        kwargs.setdefault("task", dataset.task)
        return cls(modalities=modality_specs(dataset), **kwargs)


def _logits(head: nn.Module, h: Tensor, task: Task) -> Tensor:
    out = head(h)
    return out.squeeze(-1) if task.kind == "binary" else out


class EncoderSettings(Protocol):
    """What :class:`RAMLFamilyMethod` reads from a config (:class:`RAMLConfig` or
    :class:`~workbench.methods.imperfect_baselines.ImperfectConfig`)."""

    modalities: Mapping[str, ModalitySpec]
    task: Task
    hidden_dim: int
    sequence_encoder: str
    dropout: float


class RAMLFamilyMethod(Method):
    """Base of RAML and of its baselines: the config, the task and one encoder f_m per modality.

    The encoders are the ``"raml"`` family of :func:`workbench.models.encoders.encoders_for`
    (two-layer MLPs on vectors, an LSTM or 1-d CNN with max-pooling over time on sequences, a
    two-layer CNN on images; Sec. IV-A of the RAML paper), built from ``config.modalities``,
    ``config.hidden_dim``, ``config.sequence_encoder`` and ``config.dropout``, unless shared
    encoders are given.

    Args:
        config: a :class:`RAMLConfig` or an
            :class:`~workbench.methods.imperfect_baselines.ImperfectConfig`.
        out_dim: output size of every encoder.
        encoders: one encoder per modality (output ``out_dim``) to use instead of building
            them, e.g. the arena's shared encoders; the very modules are used (not copied).
    """

    def __init__(
        self, config: EncoderSettings, out_dim: int, encoders: nn.ModuleDict | None = None
    ) -> None:
        super().__init__()
        self.config = config
        self.task = config.task
        self.modalities = tuple(config.modalities)
        if encoders is None:
            encoders = encoders_for(
                config.modalities,
                out_dim,
                family="raml",
                hidden=(config.hidden_dim,),
                sequence_encoder=config.sequence_encoder,
                dropout=config.dropout,
            )
        elif set(encoders) != set(self.modalities):
            raise ValueError(
                f"{type(self).__name__}: encoders for {sorted(encoders)} given; the dataset has "
                f"the modalities {list(self.modalities)}."
            )
        self.encoders = encoders


class RAML(RAMLFamilyMethod):
    """Redundancy-Adaptive Multimodal Learning (Algorithm 1 of the RAML paper).

    ``predict`` returns ``Output(y_hat=f(h), extras)`` with ``extras["mu"]``, ``["sigma"]``,
    ``["weights"]`` (ω, ``[B, M, D]``) and ``["h"]`` (``[B, D]``).

    Args:
        config: the settings (:meth:`RAMLConfig.for_dataset`).
        encoders: shared encoders f_m with output ``config.hidden_dim`` to use instead of
            building them (:class:`RAMLFamilyMethod`).

    Example:
        >>> model = RAML(RAMLConfig.for_dataset(train, lambda_u=1.0, lambda_d=1.0))
        >>> model = Trainer(TrainerConfig(max_epochs=30), cache=True).fit(model, train, validation)
    """

    def __init__(self, config: RAMLConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, out_dim=config.hidden_dim, encoders=encoders)
        c = config
        self.mu_heads = nn.ModuleDict(
            {m: nn.Linear(c.hidden_dim, c.embed_dim) for m in self.modalities}
        )
        self.sigma_heads = nn.ModuleDict(
            {m: nn.Linear(c.hidden_dim, c.embed_dim) for m in self.modalities}
        )
        self.predictor = nn.Linear(c.embed_dim, c.task.n_outputs)
        if not c.shared_predictor:
            self.unimodal_predictors = nn.ModuleDict(
                {m: nn.Linear(c.embed_dim, c.task.n_outputs) for m in self.modalities}
            )
        if c.weighting == "fixed":
            # log-precision per (modality, element), shared by all samples
            self.fixed_log_precision = nn.Parameter(torch.zeros(len(self.modalities), c.embed_dim))

    # ------------------------------------------------------------------ stages
    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Encoder features ``f_m(x_m)``: ``{m: [B, hidden_dim]}``."""
        return {m: self.encoders[m](batch.inputs[m], batch.mask(m)) for m in self.modalities}

    def gaussians(self, embeddings: Mapping[str, Tensor]) -> tuple[Tensor, Tensor]:
        """``(mu, sigma)``, each ``[B, M, D]``, from the encoder features (Eq. 1)."""
        mus, sigmas = [], []
        for m in self.modalities:
            z = F.relu(embeddings[m])
            mus.append(self.mu_heads[m](z))
            sigmas.append(F.softplus(self.sigma_heads[m](z)) + self.config.min_sigma)
        return torch.stack(mus, dim=1), torch.stack(sigmas, dim=1)

    def weights(self, sigma: Tensor, present: Tensor) -> Tensor:
        """Fusion weights ω ``[..., M, D]`` under the configured weighting (Eq. 4 / Table V)."""
        kind = self.config.weighting
        if kind == "adaptive":
            return fusion_weights(sigma, present)
        if kind == "identical":
            return fusion_weights(torch.ones_like(sigma), present)
        fixed = torch.exp(-0.5 * self.fixed_log_precision).expand_as(sigma)
        return fusion_weights(fixed, present)

    def fuse(self, mu: Tensor, sigma: Tensor, present: Tensor) -> tuple[Tensor, Tensor]:
        """``(h [..., D], ω [..., M, D])`` with h = Σ_m ω_m ⊙ μ_m (Eq. 4)."""
        w = self.weights(sigma, present)
        return (w * mu).sum(dim=-2), w

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        mu, sigma = self.gaussians(embeddings)
        h, w = self.fuse(mu, sigma, present)
        y_hat = _logits(self.predictor, h, self.task)
        return Output(y_hat, {"mu": mu, "sigma": sigma, "weights": w, "h": h})

    # ------------------------------------------------------------------ losses
    def unimodal_logits(self, mu: Tensor, sigma: Tensor) -> Tensor:
        """f(h_m) for each modality, ``[B, M, K]`` (``[B, M]`` binary), with reparameterised
        samples h_m = μ_m + ρ ⊙ σ_m, ρ ~ N(0, I), in training mode and h_m = μ_m in eval mode.

        The noise ρ is drawn like dropout (torch's RNG, seeded by the Trainer).
        """
        h = mu + torch.randn_like(mu) * sigma if self.training else mu
        if self.config.shared_predictor:
            return _logits(self.predictor, h, self.task)
        return torch.stack(
            [
                _logits(self.unimodal_predictors[m], h[:, j], self.task)
                for j, m in enumerate(self.modalities)
            ],
            dim=1,
        )

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        """L = L^M + λ1 L^U + λ2 L^D (Eq. 6), with the missing-pattern augmentation in training.

        - L^M (Eq. 5): in training with ``pattern_augmentation`` the mean over the 2^M - 1
          patterns δ ∧ present of the task loss of f(h_δ); otherwise the loss of ``y_hat``.
          Because each μ_m, σ_m depends on x_m only, fusing the full sample's Gaussians with δ
          equals feeding the zero-filled pattern, at the cost of one encoder pass.
        - L^U (Eq. 2): the sum over modalities of the loss of f(h_m), on the samples where m is
          present (a zero-filled modality has no label-relevant content).
        - L^D (Eq. 3): batch mean of :func:`sparsity_loss` over the present modalities.
        """
        c = self.config
        mu, sigma = output.extras["mu"], output.extras["sigma"]
        present = output.extras.get("present", batch.present)
        y = batch.y
        if self.training and c.pattern_augmentation:
            patterns = missing_patterns(len(self.modalities)).to(present.device)
            delta = patterns[:, None, :] & present[None]  # [P, B, M]
            valid = delta.any(-1)  # [P, B]
            h, _ = self.fuse(
                mu[None].expand(len(patterns), *mu.shape),
                sigma[None].expand(len(patterns), *sigma.shape),
                delta,
            )
            y_rep = y[None].expand(len(patterns), *y.shape)
            loss_m = task_loss(
                _logits(self.predictor, h[valid], self.task), y_rep[valid], self.task
            )
        else:
            loss_m = task_loss(output.y_hat, y, self.task)
        total = loss_m
        logs = {"loss_m": float(loss_m.detach())}
        if c.lambda_u > 0:
            uni = self.unimodal_logits(mu, sigma)
            loss_u = mu.new_zeros(())
            for j in range(len(self.modalities)):
                rows = present[:, j]
                if rows.any():
                    loss_u = loss_u + task_loss(uni[rows, j], y[rows], self.task)
            total = total + c.lambda_u * loss_u
            logs["loss_u"] = float(loss_u.detach())
        if c.lambda_d > 0:
            loss_d = sparsity_loss(mu, sigma, present, c.sparsity_reduction).mean()
            total = total + c.lambda_d * loss_d
            logs["loss_d"] = float(loss_d.detach())
        logs["loss"] = float(total.detach())
        return total, logs


@torch.no_grad()
def element_weights(
    model: RAML,
    dataset: MultimodalDataset,
    corruptions: Sequence = (),
    *,
    generator: torch.Generator | None = None,
    max_samples: int | None = 64,
    batch_size: int = 256,
) -> np.ndarray:
    """The element-wise fusion weights ω (Eq. 4) of ``model`` on ``dataset`` (Fig. 5).

    Args:
        model: a trained :class:`RAML`.
        dataset: samples to look at (the first ``max_samples``).
        corruptions: corruptions applied before ``embed``/``predict`` (e.g. Gaussian image
            noise, word masking).
        generator: drives the corruptions (required when there are any).
        max_samples: how many samples (``None``: all).
        batch_size: evaluation batch size.

    Returns:
        ``float [N, M, D]`` weights, modality order ``model.modalities``.
    """
    if corruptions and generator is None:
        raise ValueError("element_weights with corruptions needs an explicit torch.Generator.")
    if max_samples is not None:
        dataset = dataset.subset(range(min(max_samples, len(dataset))))
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    try:
        for batch in dataset.loader(batch_size):
            out.append(model(batch.to(device), corruptions, generator).extras["weights"].cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy()
