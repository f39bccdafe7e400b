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

:func:`single_modality_scores` is the Table 4 protocol (a probe per modality on frozen codes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from ..data.base import MultimodalBatch, MultimodalDataset, Task
from ..models.base import Method, Output, task_loss
from ..models.encoders import mlp
from .otm import Mixer, OTMConfig

__all__ = [
    "FUSIONS",
    "FUSION_LABELS",
    "FusionOTMConfig",
    "OTMFusion",
    "SequenceEncoder",
    "single_modality_scores",
    "summary",
    "supervised_experiment",
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
        alpha: FGW trade-off (paper convention, Wasserstein weight).
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
            seed=self.seed,
        )


class SequenceEncoder(nn.Module):
    """Masked mean and standard deviation over time, then an MLP: ``[B, L, D]`` -> ``[B, d]``."""

    def __init__(self, feature_dim: int, hidden: int, out: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, out)
        )

    @staticmethod
    def pool(x: Tensor, mask: Tensor | None) -> Tensor:
        """``[B, L, D]`` (+ ``bool [B, L]``) -> ``[B, 2D]`` masked mean and std."""
        if mask is None:
            mask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        w = mask.unsqueeze(-1).to(x.dtype)
        n = w.sum(1).clamp_min(1.0)
        mean = (x * w).sum(1) / n
        var = (((x - mean.unsqueeze(1)) ** 2) * w).sum(1) / n
        return torch.cat([mean, var.clamp_min(0).sqrt()], -1)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        return self.mlp(self.pool(x.float(), mask))


class OTMFusion(Method):
    """A fusion model ``encoders + fusion + head``, optionally trained with the OT mixer.

    Args:
        modalities: modality names in the dataset's order.
        input_dims: modality -> flattened input size (frame size for sequences).
        sequence: modality -> whether it is a variable-length sequence ``[B, L, D]``.
        task: the dataset's task.
        config: :class:`FusionOTMConfig`.
    """

    def __init__(
        self,
        modalities: tuple[str, ...],
        input_dims: dict[str, int],
        sequence: dict[str, bool],
        task: Task,
        config: FusionOTMConfig | None = None,
    ) -> None:
        super().__init__()
        c = self.config = config or FusionOTMConfig()
        self.task = task
        self.modalities = tuple(modalities)
        self.sequence = dict(sequence)
        self.input_dims = dict(input_dims)
        d, h, k = c.latent_dim, c.hidden_dim, task.n_outputs
        self.encoders = nn.ModuleDict(
            {
                m: SequenceEncoder(input_dims[m], h, d)
                if sequence[m]
                else mlp(input_dims[m], h, d)
                for m in self.modalities
            }
        )
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
        cls, dataset: MultimodalDataset, config: FusionOTMConfig | None = None
    ) -> OTMFusion:
        """Build with ``dataset``'s modalities, input sizes and task."""
        dims, seq = {}, {}
        for m in dataset.modalities:
            seq[m] = dataset.is_sequence(m)
            shape = dataset.modality_shape(m)
            dims[m] = int(shape[-1]) if seq[m] else int(np.prod(shape))
        return cls(dataset.modalities, dims, seq, dataset.task, config)

    # -------------------------------------------------------------- two stages
    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Each agent encodes its modality: modality -> ``[B, d]``."""
        out = {}
        for m in self.modalities:
            x = batch.inputs[m]
            if self.sequence[m]:
                out[m] = self.encoders[m](x, batch.mask(m))
            else:
                out[m] = self.encoders[m](x.reshape(x.shape[0], -1).float())
        return out

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
            return SequenceEncoder.pool(x.float(), batch.mask(m))
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
        logs["loss"] = float(loss.detach())
        return loss, logs


@torch.no_grad()
def _codes(
    model: OTMFusion, dataset: MultimodalDataset, modality: str, batch_size: int = 512
) -> np.ndarray:
    model.eval()
    device = next(model.parameters()).device
    out = []
    for batch in dataset.loader(batch_size):
        out.append(model.embed(batch.to(device))[modality].cpu())
    return torch.cat(out).numpy()


def single_modality_scores(
    model: OTMFusion, train: MultimodalDataset, test: MultimodalDataset, *, seed: int = 0
) -> dict[str, float]:
    """Table 4 protocol: a probe per modality on the frozen codes of that modality only.

    For each modality ``m`` a logistic regression (ridge regression for regression tasks) is fitted
    on the training codes ``Z_m`` and scored on the test codes with the dataset's metric.

    Returns:
        modality -> test score (accuracy for classification, MAE for regression).
    """
    from sklearn.linear_model import LogisticRegression, Ridge

    from .. import metrics as M

    out = {}
    y_tr, y_te = train.y.numpy(), test.y.numpy()
    for m in model.modalities:
        z_tr, z_te = _codes(model, train, m), _codes(model, test, m)
        mu, sd = z_tr.mean(0), z_tr.std(0) + 1e-8
        z_tr, z_te = (z_tr - mu) / sd, (z_te - mu) / sd
        if test.task.kind == "regression":
            pred = Ridge(alpha=1.0).fit(z_tr, y_tr).predict(z_te)
            out[m] = M.mae(y_te, pred)
        else:
            clf = LogisticRegression(max_iter=500, random_state=seed).fit(z_tr, y_tr.reshape(-1))
            out[m] = float((clf.predict(z_te) == y_te.reshape(-1)).mean())
    return out


def supervised_experiment(
    splits: dict[str, MultimodalDataset],
    *,
    fusions: tuple[str, ...] = ("late",),
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4),
    otm_weight: float = 1.0,
    config: FusionOTMConfig | None = None,
    trainer_config=None,
    noise_levels: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5),
    cache: bool = True,
) -> pd.DataFrame:
    """Tables 3-5 protocol: each fusion with and without OTM, clean, single-modality and noisy.

    Models are trained with the :class:`~workbench.training.Trainer` (selection on the
    validation split) and evaluated on the test split: clean (Table 3), one modality at a time
    through a probe on its frozen codes (Table 4, :func:`single_modality_scores`), and with
    :class:`~workbench.corruptions.EnergyNoise` on every modality at each energy ratio
    (Table 5, Figs. 3-4).

    Args:
        splits: ``{"train", "validation", "test"}`` datasets.
        fusions: names in :data:`FUSIONS`.
        seeds: training seeds.
        otm_weight: the ``beta`` of the "+ OTM" models.
        config: base :class:`FusionOTMConfig` (``fusion``/``otm_weight``/``seed`` are set here).
        trainer_config: :class:`~workbench.training.TrainerConfig` (``seed`` is set here).
        noise_levels: noise energy ratios.
        cache: re-use trained weights (checkpoint cache keyed by the config).

    Returns:
        tidy frame ``dataset, fusion, method, otm, seed, condition, modality, energy_ratio,
        metric, value``.
    """
    from ..corruptions import EnergyNoise
    from ..evaluation import evaluate
    from ..training import Trainer, TrainerConfig

    train, validation, test = splits["train"], splits["validation"], splits["test"]
    base = config or FusionOTMConfig()
    tc = trainer_config or TrainerConfig(progress=False)
    metric = test.task.metric
    rows = []
    for fusion in fusions:
        for with_otm in (False, True):
            method = FUSION_LABELS[fusion] + (" + OTM" if with_otm else "")
            for seed in seeds:
                cfg = replace(
                    base, fusion=fusion, otm_weight=otm_weight if with_otm else 0.0, seed=seed
                )
                torch.manual_seed(seed)
                model = OTMFusion.for_dataset(train, cfg)
                model = Trainer(replace(tc, seed=seed), cache=cache).fit(model, train, validation)
                common = {
                    "dataset": test.name,
                    "fusion": fusion,
                    "method": method,
                    "otm": with_otm,
                    "seed": seed,
                    "metric": metric,
                }
                rows.append(
                    {
                        **common,
                        "condition": "normal",
                        "modality": "",
                        "energy_ratio": 0.0,
                        "value": evaluate(model, test),
                    }
                )
                for m, v in single_modality_scores(model, train, test, seed=seed).items():
                    rows.append(
                        {
                            **common,
                            "condition": "single_modality",
                            "modality": m,
                            "energy_ratio": 0.0,
                            "value": v,
                        }
                    )
                for level in noise_levels:
                    noise = [EnergyNoise(modality=m, energy_ratio=level) for m in test.modalities]
                    value = evaluate(
                        model,
                        test,
                        corruptions=noise,
                        generator=torch.Generator().manual_seed(seed),
                    )
                    rows.append(
                        {
                            **common,
                            "condition": "noise",
                            "modality": "multi",
                            "energy_ratio": level,
                            "value": value,
                        }
                    )
    return pd.DataFrame(rows)


def summary(
    frame: pd.DataFrame, index=("dataset", "method"), columns=("condition", "modality")
) -> pd.DataFrame:
    """``mean ± std`` over seeds, pivoted (a view of :func:`supervised_experiment`'s frame)."""
    g = (
        frame.groupby(list(index) + list(columns), sort=False)["value"]
        .agg(["mean", "std"])
        .reset_index()
    )
    g["cell"] = [f"{m:.3f} ± {0.0 if np.isnan(s) else s:.3f}" for m, s in zip(g["mean"], g["std"])]
    return g.pivot_table(
        index=list(index), columns=list(columns), values="cell", aggfunc="first", sort=False
    )
