"""OTM: multi-head Wasserstein autoencoder with an optimal-transport latent mixer.

The OTM paper (Gong, Yue and Xu, "An Optimal Transport-based Latent Mixer for Robust Multi-modal
Learning") trains one Wasserstein autoencoder per modality (an *agent*) and mixes the agents'
latent codes on a *server* with a stochastic fused Gromov-Wasserstein barycenter:

- :class:`Agent`: the encoder ``f_m`` and decoder ``g_m`` of one modality (and, supervised, the
  local predictor ``h_m``). A modality's raw data never leaves its agent: only latent codes do.
- :class:`Mixer`: the server. It receives latent codes only, solves the FGW barycenter
  (Eq. 1-2, Algorithms 1-2, :func:`workbench.ot.fgw_barycenter`) and mixes the pushforwards with
  random binary masks (Eq. 3, :func:`workbench.ot.stochastic_mix`).
- :class:`MWAE`: agents + mixer, with the losses of Eq. 4-6 (reconstruction,
  ``||Z_m - tilde Z_m||^2`` and the GW clustering regulariser of Eq. 6 as the ``R`` of Eq. 4);
  an MMD prior term (WAE-MMD, Tolstikhin et al. 2018) is a named option, off by default.
- :func:`encode_views` and :func:`fused_codes`: the agents' codes and the server's mix of
  given views.

The label-free training loop, the clustering protocol (Tables 2 and 10) and their scores live in
:mod:`workbench.experiments.otm`.

``variant="reference_code"`` switches on the cheap differences of the authors' public code
(see :class:`OTMConfig`; read: ``redLinmumu/OTM``, files ``mwae/mwae_bm.py`` and
``mwae/utils/get_distance.py``).

Two conventions for the FGW trade-off ``alpha`` exist: the paper's Eq. 2 gives ``alpha`` to the
Wasserstein (feature) term, the authors' code (and POT) to the Gromov-Wasserstein term. The
values of the paper's appendix Table 6 were tuned with the code, so they are in the code's
convention: :func:`paper_alpha` converts them (``1 - alpha``) for ``variant="paper"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..data.base import MultimodalDataset
from ..models.encoders import mlp

__all__ = [
    "MWAE",
    "Agent",
    "MixOutput",
    "Mixer",
    "OTMConfig",
    "encode_views",
    "fused_codes",
    "mmd_penalty",
    "paper_alpha",
    "to_config_alpha",
]

Variant = Literal["paper", "reference_code"]

REFERENCE_MASK_CONCENTRATION = 0.5
"""Dirichlet concentration of the authors' soft masks (``Dirichlet(0.5 * ones(M))`` in
``mixer_ot`` of ``mwae/utils/get_distance.py``)."""


def paper_alpha(reference_alpha: float) -> float:
    """The paper's ``alpha`` (weight of the Wasserstein term, Eq. 2) of a value given in the
    authors' code's convention (weight of the GW term, as in POT), e.g. appendix Table 6's:
    ``1 - alpha``."""
    a = float(reference_alpha)
    if not 0.0 <= a <= 1.0:
        raise ValueError(f"paper_alpha: alpha={a} must lie in [0, 1].")
    return 1.0 - a


def to_config_alpha(alpha: float, convention: str, variant: str) -> float:
    """The ``OTMConfig.alpha`` of ``variant`` for a value written in ``convention``.

    ``OTMConfig.alpha`` is read in the paper's convention (Wasserstein weight) by
    ``variant="paper"`` and in the authors' code's (GW weight) by ``variant="reference_code"``,
    so a value is converted (``1 - alpha``) exactly when the two differ.

    Args:
        alpha: the value, in ``[0, 1]``.
        convention: ``"paper"`` (Eq. 2) or ``"reference_code"`` (the code's and appendix
            Table 6's).
        variant: the :class:`OTMConfig` variant that will read it.
    """
    for name, v in (("convention", convention), ("variant", variant)):
        if v not in ("paper", "reference_code"):
            raise ValueError(
                f"to_config_alpha: {name}={v!r}; expected 'paper' or 'reference_code'."
            )
    return float(alpha) if convention == variant else paper_alpha(alpha)


@dataclass(frozen=True)
class OTMConfig:
    """Settings of the multi-head WAE and its mixer.

    Attributes:
        latent_dim: dimension ``d`` of the shared latent space.
        hidden_dim: width of the two-layer MLP encoders/decoders (the paper's backbone).
        alpha: FGW trade-off. With ``variant="paper"`` in the paper's convention: ``alpha``
            weights the Wasserstein term, ``1 - alpha`` the Gromov-Wasserstein term (Eq. 2);
            with ``variant="reference_code"`` in the code's (``alpha`` weights the GW term).
            Appendix Table 6's values are in the code's convention (:func:`to_config_alpha`).
        mixer: ``"stochastic"`` (Eq. 3, random binary masks), ``"weighted"`` (OTM(WB): the
            classic weighted barycenter ``sum_m lambda_m T_m Z_m``, Table 10) or ``"none"``
            (MWAE without OTM).
        otm_weight: weight of ``||Z_m - tilde Z_m||^2`` (Eq. 5; Eq. 7 in the supervised case;
            appendix Table 6's "OTM weight").
        reconstruction_weight: weight of ``||X_m - g_m(Z_m)||^2`` (Eq. 4-5; Table 6's
            "Construction weight").
        cluster_weight: the ``lambda`` of Eq. 4, weight of its regulariser ``R``, the GW
            clustering regulariser of Eq. 6 on the fused codes ``tilde Z_B``. Default 1, as in
            the authors' code (``loss_cluster`` enters unweighted). It needs the mixer (``tilde
            Z_B``) and ``n_clusters``: without ``n_clusters`` (no clustering task, e.g. the
            supervised fusions) Eq. 6 is not formed; 0 switches it off.
        n_clusters: number of clusters ``C`` of Eq. 6 (the clustering protocol sets it to the
            dataset's number of classes).
        mmd_weight: weight of an optional MMD term between each ``Z_m`` and ``N(0, I)``
            (:func:`mmd_penalty`). Not in the OTM paper (Eq. 4-6) nor in the authors' code:
            it is the latent regulariser of WAE-MMD (Tolstikhin et al. 2018, the WAE the paper
            builds on). Default 0 (off).
        mask_concentration: Dirichlet concentration of the soft masks of
            ``variant="reference_code"`` (the authors' code: 0.5).
        n_barycenter: barycenter size ``N_B``; ``None`` uses the batch size.
        barycenter_iters: outer iterations of Algorithm 2.
        fgw_iters: conditional-gradient iterations of Algorithm 1.
        cluster_iters: conditional-gradient iterations of the GW problem of Eq. 6.
        barycenter_init: initial barycenter codes: ``"modality"`` (random codes of the first
            modality; the paper initialises ``Z`` randomly) or ``"kmeans"`` (k-means centres of
            all codes, slower).
        variant: ``"paper"`` or ``"reference_code"``. The latter (authors' repository) (i) gives
            ``alpha`` to the GW term instead of the Wasserstein term, (ii) uses
            Dirichlet(``mask_concentration`` = 0.5) soft masks instead of binary masks, and
            (iii) reconstructs each modality from the mixed
            code, ``||X_m - g_m(tilde Z_m)||^2``, instead of Eq. 5's latent penalty. Its other
            differences (unscaled barycenter, line-search formula, an extra Wasserstein term
            between adjacent views, model selection on training labels) are not reproduced:
            the first two belong to :mod:`workbench.ot`, the last is never done here.
        seed: seed of the mixer's masks and the WAE prior samples.
    """

    latent_dim: int = 16
    hidden_dim: int = 128
    alpha: float = 0.5
    mixer: Literal["stochastic", "weighted", "none"] = "stochastic"
    otm_weight: float = 1.0
    reconstruction_weight: float = 1.0
    cluster_weight: float = 1.0
    n_clusters: int | None = None
    mmd_weight: float = 0.0
    mask_concentration: float = REFERENCE_MASK_CONCENTRATION
    n_barycenter: int | None = None
    barycenter_iters: int = 5
    fgw_iters: int = 10
    cluster_iters: int = 20
    barycenter_init: Literal["modality", "kmeans"] = "modality"
    variant: Variant = "paper"
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(
                f"OTMConfig.alpha={self.alpha} must lie in [0, 1] (paper convention, Eq. 2)."
            )
        if self.mixer not in ("stochastic", "weighted", "none"):
            raise ValueError(
                f"OTMConfig.mixer={self.mixer!r}; expected 'stochastic', 'weighted' or 'none'."
            )
        if self.variant not in ("paper", "reference_code"):
            raise ValueError(
                f"OTMConfig.variant={self.variant!r}; expected 'paper' or 'reference_code'."
            )
        if self.n_clusters is not None and int(self.n_clusters) < 1:
            raise ValueError(
                f"OTMConfig.n_clusters={self.n_clusters} must be >= 1 (the C of Eq. 6)."
            )
        if self.cluster_weight < 0 or self.mmd_weight < 0:
            raise ValueError("OTMConfig: cluster_weight and mmd_weight must be >= 0.")
        if not self.mask_concentration > 0:
            raise ValueError("OTMConfig.mask_concentration must be > 0.")
        if self.latent_dim < 1 or self.hidden_dim < 1:
            raise ValueError("OTMConfig: latent_dim and hidden_dim must be >= 1.")

    @property
    def fgw_alpha(self) -> float:
        """The Wasserstein weight handed to :func:`workbench.ot.fgw` (paper convention).

        The reference code's ``alpha`` weights the GW term, so its value maps to ``1 - alpha``.
        """
        return self.alpha if self.variant == "paper" else 1.0 - self.alpha

    @property
    def clusters_fused(self) -> bool:
        """Whether the GW clustering regulariser of Eq. 6 is part of the loss."""
        return self.mixer != "none" and self.cluster_weight > 0 and self.n_clusters is not None


class Agent(nn.Module):
    """One agent: the WAE head ``(f_m, g_m)`` of one modality, optionally a predictor ``h_m``.

    The agent is the only place that sees the modality's raw samples; it hands latent codes to
    the server and receives mixed codes back.

    Args:
        input_dim: ``D_m``, the flattened feature dimension of the modality.
        config: the shared :class:`OTMConfig`.
        n_outputs: outputs of the local predictor ``h_m`` (Eq. 7); ``None`` for no predictor.
    """

    def __init__(self, input_dim: int, config: OTMConfig, n_outputs: int | None = None) -> None:
        super().__init__()
        self.input_dim = int(input_dim)
        self.encoder = mlp(self.input_dim, config.hidden_dim, config.latent_dim)
        self.decoder = mlp(config.latent_dim, config.hidden_dim, self.input_dim)
        self.predictor = nn.Linear(config.latent_dim, n_outputs) if n_outputs else None

    def encode(self, x: Tensor) -> Tensor:
        """``Z_m = f_m(X_m)``: ``[N, D_m]`` (or ``[N, *shape]``, flattened) -> ``[N, d]``."""
        return self.encoder(x.reshape(x.shape[0], -1).float())

    def decode(self, z: Tensor) -> Tensor:
        """``hat X_m = g_m(Z)``: ``[N, d]`` -> ``[N, D_m]``."""
        return self.decoder(z)

    def reconstruction_loss(self, x: Tensor, z: Tensor) -> Tensor:
        """``||X_m - g_m(Z)||_F^2 / N`` (first term of Eq. 5)."""
        x = x.reshape(x.shape[0], -1).float()
        return ((x - self.decode(z)) ** 2).sum(-1).mean()


@dataclass(frozen=True)
class MixOutput:
    """What the server sends back.

    Attributes:
        fused: ``tilde Z_B``, ``[N_B, d]`` (differentiable in the codes, plans held constant).
        augmented: modality -> ``tilde Z_m = T_m^T tilde Z_B`` ``[N_m, d]`` (Eq. 3).
        plans: modality -> ``T_m`` ``[N_B, N_m]`` (no gradient).
        masks: ``[M, N_B, d]`` masks (binary in the paper; constant ``lambda_m`` for WB).
        objective: the barycenter objective of Eq. 1 at the returned plans.
        history: the barycenter objective after each outer iteration.
        converged: whether Algorithm 2 met its stopping rule (relative objective change) before
            its iteration cap ``barycenter_iters``.
        n_iters: outer iterations run.
    """

    fused: Tensor
    augmented: dict[str, Tensor]
    plans: dict[str, Tensor]
    masks: Tensor
    objective: float
    history: tuple[float, ...] = ()
    converged: bool = True
    n_iters: int = 0


def _ot():
    """``workbench.ot``, with a clear error when the OTM solvers are not available."""
    from .. import ot

    missing = [f for f in ("fgw_barycenter", "stochastic_mix") if not hasattr(ot, f)]
    if missing:
        raise ImportError(
            f"workbench.ot does not provide {missing} (Algorithm 2 and Eq. 3 of the OTM paper); "
            "the OTM mixer needs them. Update workbench/ot/."
        )
    return ot


class Mixer(nn.Module):
    """The server: FGW barycenter of the agents' latent codes and stochastic mixing (Eq. 1-3).

    It has no parameters and only ever receives latent codes ``{m: Z_m [N_m, d]}``. The plans
    ``T_m`` are solved on detached codes (Algorithm 1 is not differentiated); the pushforwards
    ``T_m Z_m`` stay differentiable in ``Z_m``, so gradients with respect to the codes (never
    data) can go back to the agents.

    Args:
        config: the shared :class:`OTMConfig` (``alpha``, ``mixer``, ``n_barycenter``, ...).
    """

    def __init__(self, config: OTMConfig) -> None:
        super().__init__()
        self.config = config

    def forward(self, latents: Mapping[str, Tensor], generator: torch.Generator) -> MixOutput:
        """Mix ``latents`` (modality -> ``[N_m, d]``); ``generator`` draws the masks and init."""
        c = self.config
        names = tuple(latents)
        codes = [latents[m] for m in names]
        d = codes[0].shape[-1]
        for m, z in zip(names, codes):
            if z.ndim != 2 or z.shape[-1] != d:
                raise ValueError(
                    f"Mixer: latent codes of {m!r} have shape {tuple(z.shape)}; every agent must send "
                    f"[N_m, {d}] latent codes."
                )
        ot = _ot()
        n_b = c.n_barycenter or max(int(z.shape[0]) for z in codes)
        bary = ot.fgw_barycenter(
            [z.detach() for z in codes],
            n_b,
            alpha=c.fgw_alpha,
            generator=generator,
            n_outer=c.barycenter_iters,
            fgw_max_iter=c.fgw_iters,
            init=c.barycenter_init,
        )
        plans = tuple(p.detach() for p in bary.plans)
        if c.mixer == "weighted":
            masks = "weighted"  # OTM(WB), Table 10: M_m = lambda_m
        elif c.variant == "reference_code":
            masks = (
                "dirichlet"  # authors' code: soft Dirichlet masks instead of Eq. 3's binary masks
            )
        else:
            masks = "binary"
        mix = ot.stochastic_mix(
            codes, plans, masks=masks, concentration=c.mask_concentration, generator=generator
        )
        return MixOutput(
            fused=mix.fused,
            augmented=dict(zip(names, mix.augmented)),
            plans=dict(zip(names, plans)),
            masks=mix.masks,
            objective=float(bary.objective),
            history=tuple(bary.history),
            converged=bool(bary.converged),
            n_iters=int(bary.n_iters),
        )


def mmd_penalty(z: Tensor, generator: torch.Generator) -> Tensor:
    """WAE-MMD latent regulariser (Tolstikhin et al. 2018): MMD between ``z`` and ``N(0, I)``.

    Not part of the OTM paper's objective (Eq. 4-6) nor of its authors' code; offered as
    :attr:`OTMConfig.mmd_weight` (off by default).

    Uses the inverse multiquadratic kernel ``k(x, y) = C / (C + ||x - y||^2)`` with ``C = 2d``,
    the unbiased estimator, and prior samples drawn on the CPU from ``generator``.

    Args:
        z: ``[N, d]`` codes (``N >= 2``).
        generator: draws the prior samples.

    Returns:
        scalar tensor.
    """
    n, d = z.shape
    if n < 2:
        return z.new_zeros(())
    prior = torch.randn(n, d, generator=generator).to(z)
    scale = 2.0 * d

    def k(a: Tensor, b: Tensor) -> Tensor:
        return scale / (scale + torch.cdist(a, b) ** 2)

    off = 1.0 - torch.eye(n, device=z.device, dtype=z.dtype)
    kzz = (k(z, z) * off).sum() / (n * (n - 1))
    kpp = (k(prior, prior) * off).sum() / (n * (n - 1))
    return kzz + kpp - 2.0 * k(z, prior).mean()


class MWAE(nn.Module):
    """Multi-head Wasserstein autoencoder, with the OT mixer unless ``config.mixer == "none"``.

    Args:
        input_dims: modality -> flattened feature dimension ``D_m`` (the modality order).
        config: :class:`OTMConfig`.
        n_outputs: outputs of the per-agent predictors ``h_m`` (supervised Eq. 7), or ``None``.
    """

    def __init__(
        self,
        input_dims: Mapping[str, int],
        config: OTMConfig | None = None,
        n_outputs: int | None = None,
    ):
        super().__init__()
        if len(input_dims) < 1:
            raise ValueError("MWAE needs at least one modality in input_dims.")
        self.config = config or OTMConfig()
        self.modalities = tuple(input_dims)
        self.agents = nn.ModuleDict(
            {m: Agent(d, self.config, n_outputs) for m, d in input_dims.items()}
        )
        self.mixer = Mixer(self.config)
        self.generator = torch.Generator().manual_seed(self.config.seed)

    @classmethod
    def for_dataset(cls, dataset: MultimodalDataset, config: OTMConfig | None = None, **kw) -> MWAE:
        """Build with the input dimensions of ``dataset``'s (fixed-size) modalities."""
        dims = {}
        for m in dataset.modalities:
            if dataset.is_sequence(m):
                raise ValueError(
                    f"MWAE: modality {m!r} of {dataset.name!r} is a variable-length sequence; the "
                    "MLP agents need fixed-size inputs (pool it first or drop it with `modalities=`)."
                )
            dims[m] = int(np.prod(dataset.modality_shape(m)))
        return cls(dims, config, **kw)

    def encode(self, views: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Each agent encodes its own view: modality -> ``[N_m, d]``."""
        return {m: self.agents[m].encode(x) for m, x in views.items()}

    def loss_terms(
        self, views: Mapping[str, Tensor]
    ) -> tuple[Tensor, dict[str, float], MixOutput | None]:
        """The training objective on one batch of (possibly unaligned) views.

        ``L = sum_m [w_rec ||X_m - g_m(Z_m)||^2 + w_otm ||Z_m - tilde Z_m||^2]
        + lambda GW(tilde Z_B, I_C)``: Eq. 5 (the mixing reconstruction loss) plus Eq. 4's
        regulariser ``lambda R`` with ``R`` the GW clustering regulariser of Eq. 6
        (``lambda = cluster_weight``, formed when ``n_clusters`` is set and the mixer is on);
        per-sample means. ``mmd_weight > 0`` adds ``w_mmd MMD(Z_m, N(0, I))`` per modality (an
        option outside the paper, see :func:`mmd_penalty`). The logs carry
        ``barycenter_converged`` (1.0 / 0.0: Algorithm 2 stopped by its rule, not its cap) and,
        with Eq. 6, ``gw_cluster_converged``.

        Args:
            views: modality -> ``[N_m, D_m]``; the ``N_m`` may differ and rows need not be
                aligned across modalities.

        Returns:
            ``(loss, logs, mix)``; ``mix`` is ``None`` without a mixer.
        """
        c = self.config
        unknown = set(views) - set(self.modalities)
        if unknown:
            raise ValueError(
                f"MWAE.loss_terms got unknown modalities {sorted(unknown)}; expected {self.modalities}."
            )
        latents = self.encode(views)  # the only thing agents hand to the server
        mix = (
            self.mixer(latents, self.generator)
            if c.mixer != "none" and (c.otm_weight > 0 or c.clusters_fused)
            else None
        )
        total = 0.0
        logs: dict[str, float] = {}
        for m, x in views.items():
            agent, z = self.agents[m], latents[m]
            rec = agent.reconstruction_loss(x, z)
            term = c.reconstruction_weight * rec
            if c.mmd_weight > 0:
                mmd = mmd_penalty(z, self.generator)
                term = term + c.mmd_weight * mmd
                logs[f"mmd_{m}"] = float(mmd.detach())
            if mix is not None and c.otm_weight > 0:
                z_mix = mix.augmented[m]
                if c.variant == "reference_code":
                    # authors' code: reconstruct X_m from the pushed-forward mix instead of Eq. 5's
                    # latent penalty ||Z_m - tilde Z_m||^2.
                    penalty = agent.reconstruction_loss(x, z_mix)
                else:
                    penalty = ((z - z_mix) ** 2).sum(-1).mean()
                term = term + c.otm_weight * penalty
                logs[f"mix_{m}"] = float(penalty.detach())
            logs[f"rec_{m}"] = float(rec.detach())
            total = total + term
        if mix is not None and c.clusters_fused:
            from .. import ot

            if not hasattr(ot, "gw_cluster_loss"):
                raise ImportError(
                    "workbench.ot.gw_cluster_loss (Eq. 6 of the OTM paper) is not available."
                )
            res = ot.gw_cluster_loss(mix.fused, int(c.n_clusters), max_iter=c.cluster_iters)
            value = res.value
            total = total + c.cluster_weight * value.reshape(())
            logs["gw_cluster"] = float(value.detach())
            logs["gw_cluster_converged"] = float(bool(res.converged))
        if mix is not None:
            logs["barycenter"] = mix.objective
            logs["barycenter_converged"] = float(mix.converged)
        logs["loss"] = float(total.detach())
        return total, logs, mix


@torch.no_grad()
def encode_views(model: MWAE, views: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Latent codes ``{m: Z_m [N, d]}`` of (aligned) evaluation views, on the CPU."""
    model.eval()
    device = next(model.parameters()).device
    return {
        m: z.cpu() for m, z in model.encode({m: x.to(device) for m, x in views.items()}).items()
    }


@torch.no_grad()
def fused_codes(model: MWAE, views: Mapping[str, Tensor], *, seed: int = 0) -> MixOutput:
    """The server's mixed codes ``tilde Z_B`` for ``views`` (Fig. 2 of the OTM paper)."""
    model.eval()
    device = next(model.parameters()).device
    latents = model.encode({m: x.to(device) for m, x in views.items()})
    return model.mixer(latents, torch.Generator().manual_seed(seed))
