"""Supervised fusions with and without the OT mixer (Tables 3-5 of the OTM paper).

MultiBench-style models ``encoders + fusion + head`` with five fusions:

- ``"late"``: concatenation of the modality codes, then an MLP head (MultiBench's late fusion);
- ``"tensor"``: tensor fusion (Zadeh et al. 2017), outer product of ``[p_m(z_m); 1]``;
- ``"low_rank_tensor"``: low-rank tensor fusion (Liu et al. 2018), ``sum_r prod_m W_m^r [z_m; 1]``;
- ``"mfm"``: MFM-style (Tsai et al. 2018): a shared discriminative factor from all codes plus
  per-modality decoders that reconstruct each modality from ``[factor, z_m]``;
- ``"multiplicative"``: multiplicative interactions, matrix form (Jayakumar et al. 2019),
  chained over the modalities.

With ``otm_weight > 0`` the training loss adds the OTM regulariser: each encoder (agent) hands
its latent codes to the :class:`~workbench.methods.otm.Mixer`, receives ``tilde Z_m``, and
adds ``||Z_m - tilde Z_m||^2`` (Eq. 5) and ``L_s(h_m(tilde Z_m), y) + L_s(h_m(Z_m), y)``
with a local predictor ``h_m`` (Eq. 7). Inference is unchanged.

The encoders are :func:`workbench.models.encoders.encoders_for` of the ``"otm"`` family (an MLP
per fixed-size modality, masked moments + MLP per sequence) unless shared ``encoders`` are
given. The Tables 3-5 protocol is :func:`workbench.experiments.otm.supervised_experiment`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from ..data.base import MultimodalBatch, MultimodalDataset, Task
from ..models.base import Method, Output, task_loss
from ..models.encoders import ModalitySpec, encoders_for, masked_moments, mlp
from .otm import Mixer, OTMConfig

__all__ = [
    "FUSIONS",
    "FUSION_LABELS",
    "FusionOTMConfig",
    "OTMFusion",
]

FUSIONS = ("late", "tensor", "low_rank_tensor", "mfm", "multiplicative")
FUSION_LABELS = {
    "late": "Late fusion",
    "tensor": "Tensor fusion",
    "low_rank_tensor": "LRTF",
    "mfm": "MFM",
    "multiplicative": "MI matrix",
}


@dataclass(frozen=True)
class FusionOTMConfig:
    """Settings of :class:`OTMFusion`.

    Attributes:
        fusion: one of :data:`FUSIONS`.
        latent_dim: per-modality code size ``d`` (shared, so codes can be mixed).
        hidden_dim: width of encoders and head.
        tensor_dim: per-modality projection size before the tensor product (``"tensor"``).
        rank: rank of the low-rank tensor fusion.
        mfm_weight: weight of the MFM reconstruction loss.
        otm_weight: weight ``beta`` of the OTM regulariser (0: without OTM).
        alpha: FGW trade-off, read as :attr:`~workbench.methods.otm.OTMConfig.alpha` is (paper
            convention, Wasserstein weight, for ``variant="paper"``; the code's, GW weight, for
            ``variant="reference_code"``).
        mixer: ``"stochastic"`` (Eq. 3) or ``"weighted"`` (OTM(WB)).
        barycenter_iters, fgw_iters: solver iterations of Algorithms 2 and 1.
        variant: ``"paper"`` or ``"reference_code"`` (see :class:`~workbench.methods.otm.OTMConfig`).
        seed: seed of the mixer's masks.
    """

    fusion: str = "late"
    latent_dim: int = 32
    hidden_dim: int = 128
    tensor_dim: int = 8
    rank: int = 4
    mfm_weight: float = 1.0
    otm_weight: float = 0.0
    alpha: float = 0.5
    mixer: Literal["stochastic", "weighted"] = "stochastic"
    barycenter_iters: int = 3
    fgw_iters: int = 10
    variant: Literal["paper", "reference_code"] = "paper"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.fusion not in FUSIONS:
            raise ValueError(f"FusionOTMConfig.fusion={self.fusion!r}; expected one of {FUSIONS}.")
        if self.otm_weight < 0:
            raise ValueError("FusionOTMConfig.otm_weight must be >= 0 (0 switches OTM off).")

    def otm_config(self) -> OTMConfig:
        """The mixer's settings as an :class:`OTMConfig`."""
        return OTMConfig(
            latent_dim=self.latent_dim,
            alpha=self.alpha,
            mixer=self.mixer,
            otm_weight=self.otm_weight,
            barycenter_iters=self.barycenter_iters,
            fgw_iters=self.fgw_iters,
            variant=self.variant,
            cluster_weight=0.0,  # supervised: the regulariser is Eq. 7, not Eq. 6
            seed=self.seed,
        )


class OTMFusion(Method):
    """A fusion model ``encoders + fusion + head``, optionally trained with the OT mixer.

    Args:
        modalities: modality names in the dataset's order.
        input_dims: modality -> flattened input size (frame size for sequences).
        sequence: modality -> whether it is a variable-length sequence ``[B, L, D]``.
        task: the dataset's task.
        config: :class:`FusionOTMConfig`.
        encoders: one encoder per modality, each ``(x, mask) -> [B, latent_dim]``, used instead
            of the model's own (e.g. the arena's shared encoders).
    """

    def __init__(
        self,
        modalities: tuple[str, ...],
        input_dims: dict[str, int],
        sequence: dict[str, bool],
        task: Task,
        config: FusionOTMConfig | None = None,
        encoders: nn.ModuleDict | None = None,
    ) -> None:
        super().__init__()
        c = self.config = config or FusionOTMConfig()
        self.task = task
        self.modalities = tuple(modalities)
        self.sequence = dict(sequence)
        self.input_dims = dict(input_dims)
        d, h, k = c.latent_dim, c.hidden_dim, task.n_outputs
        if encoders is None:
            specs = {
                m: ModalitySpec(
                    (-1, input_dims[m]) if sequence[m] else (input_dims[m],), sequence[m]
                )
                for m in self.modalities
            }
            encoders = encoders_for(specs, d, family="otm", hidden=(h,))
        elif set(encoders) != set(self.modalities):
            raise ValueError(
                f"OTMFusion: encoders for {sorted(encoders)}; expected one per modality "
                f"{list(self.modalities)}."
            )
        self.encoders = encoders
        M = len(self.modalities)
        if c.fusion == "late":
            self.fusion_head = mlp(M * d, h, k)
        elif c.fusion == "tensor":
            self.projections = nn.ModuleDict(
                {m: nn.Linear(d, c.tensor_dim) for m in self.modalities}
            )
            self.fusion_head = mlp((c.tensor_dim + 1) ** M, h, k)
        elif c.fusion == "low_rank_tensor":
            self.factors = nn.ParameterList(
                [
                    nn.Parameter(torch.randn(c.rank, d + 1, h) * (d + 1) ** -0.5)
                    for _ in self.modalities
                ]
            )
            self.fusion_head = nn.Sequential(nn.ReLU(), nn.Linear(h, k))
        elif c.fusion == "mfm":
            self.shared = mlp(M * d, h, d)
            self.fusion_head = mlp(d, h, k)
            self.decoders = nn.ModuleDict(
                {
                    m: mlp(2 * d, h, (2 if sequence[m] else 1) * input_dims[m])
                    for m in self.modalities
                }
            )
        else:  # multiplicative interactions, matrix form, chained
            self.mi_weight = nn.ModuleList([nn.Linear(d, d * d) for _ in self.modalities[1:]])
            self.mi_bias = nn.ModuleList([nn.Linear(d, d) for _ in self.modalities[1:]])
            self.fusion_head = mlp(d, h, k)
        # local predictors h_m of Eq. 7 and the server
        self.local_heads = nn.ModuleDict({m: nn.Linear(d, k) for m in self.modalities})
        self.mixer = Mixer(c.otm_config())
        self.generator = torch.Generator().manual_seed(c.seed)

    @classmethod
    def for_dataset(
        cls,
        dataset: MultimodalDataset,
        config: FusionOTMConfig | None = None,
        *,
        encoders: nn.ModuleDict | None = None,
    ) -> OTMFusion:
        """Build with ``dataset``'s modalities, input sizes and task (and shared ``encoders``)."""
        dims, seq = {}, {}
        for m in dataset.modalities:
            seq[m] = dataset.is_sequence(m)
            shape = dataset.modality_shape(m)
            dims[m] = int(shape[-1]) if seq[m] else int(np.prod(shape))
        return cls(dataset.modalities, dims, seq, dataset.task, config, encoders)

    # -------------------------------------------------------------- two stages
    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Each agent encodes its modality: modality -> ``[B, d]``."""
        return {
            m: self.encoders[m](batch.inputs[m], batch.mask(m) if self.sequence[m] else None)
            for m in self.modalities
        }

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        """Fuse the codes (zeros for missing modalities) and predict."""
        c = self.config
        z = [
            embeddings[m] * present[:, j : j + 1].to(embeddings[m].dtype)
            for j, m in enumerate(self.modalities)
        ]
        extras: dict[str, Tensor] = {f"z_{m}": zm for m, zm in zip(self.modalities, z)}
        if c.fusion == "late":
            y_hat = self.fusion_head(torch.cat(z, -1))
        elif c.fusion == "tensor":
            fused = None
            for m, zm in zip(self.modalities, z):
                p = self.projections[m](zm)
                p = torch.cat([p, torch.ones_like(p[:, :1])], -1)
                fused = p if fused is None else (fused.unsqueeze(-1) * p.unsqueeze(1)).flatten(1)
            y_hat = self.fusion_head(fused)
        elif c.fusion == "low_rank_tensor":
            prod = None
            for W, zm in zip(self.factors, z):
                f = torch.einsum("bi,rih->brh", torch.cat([zm, torch.ones_like(zm[:, :1])], -1), W)
                prod = f if prod is None else prod * f
            y_hat = self.fusion_head(prod.sum(1))
        elif c.fusion == "mfm":
            factor = self.shared(torch.cat(z, -1))
            extras["factor"] = factor
            y_hat = self.fusion_head(factor)
        else:
            h = z[0]
            for W, b, zm in zip(self.mi_weight, self.mi_bias, z[1:]):
                d = h.shape[-1]
                h = torch.bmm(h.unsqueeze(1), W(zm).view(-1, d, d)).squeeze(1) + b(zm)
            y_hat = self.fusion_head(h)
        return Output(y_hat, extras)

    # -------------------------------------------------------------- losses
    def _target(self, m: str, batch: MultimodalBatch) -> Tensor:
        x = batch.inputs[m]
        if self.sequence[m]:
            return masked_moments(x.float(), batch.mask(m))
        return x.reshape(x.shape[0], -1).float()

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        """Task loss (+ MFM reconstruction) (+ the OTM regulariser of Eq. 5 and 7 in training)."""
        c = self.config
        loss = task_loss(output.y_hat, batch.y, self.task)
        logs = {"task": float(loss.detach())}
        if c.fusion == "mfm":
            factor = output.extras["factor"]
            rec = sum(
                (
                    (
                        self.decoders[m](torch.cat([factor, output.extras[f"z_{m}"]], -1))
                        - self._target(m, batch)
                    )
                    ** 2
                ).mean()
                for m in self.modalities
            )
            loss = loss + c.mfm_weight * rec
            logs["mfm_rec"] = float(rec.detach())
        if c.otm_weight > 0 and self.training and len(batch) >= 2:
            latents = {
                m: output.extras[f"z_{m}"] for m in self.modalities
            }  # only codes go to the server
            mix = self.mixer(latents, self.generator)
            reg = 0.0
            for m in self.modalities:
                z, z_mix = latents[m], mix.augmented[m]
                head = self.local_heads[m]
                reg = reg + ((z - z_mix) ** 2).sum(-1).mean()  # Eq. 5, latent term
                reg = (
                    reg
                    + task_loss(head(z_mix), batch.y, self.task)
                    + task_loss(head(z), batch.y, self.task)
                )  # Eq. 7
            loss = loss + c.otm_weight * reg
            logs["otm"] = float(reg.detach())
            # 1.0 / 0.0 per batch: the Trainer's history keeps its epoch mean
            logs["barycenter_converged"] = float(mix.converged)
        logs["loss"] = float(loss.detach())
        return loss, logs
