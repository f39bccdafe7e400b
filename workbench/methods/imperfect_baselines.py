"""The baselines of the RAML paper's comparison (Sec. IV-B), on the same encoders as RAML.

Each class docstring starts with one line naming the paper it follows and what differs:

- :class:`Concat` ("Concat Fusion") and :class:`Augmentation` (the RAML paper, Sec. IV-B);
- :class:`TMC` (Han et al., ICLR 2021) and :class:`ETMC` (Han et al., TPAMI 2023);
- :class:`MD` (Han et al., "Multimodal dynamics", CVPR 2022);
- :class:`MVAE` (Wu & Goodman, NeurIPS 2018) and :class:`MMVAE` (Shi et al., NeurIPS 2019);
- :class:`CRA` (Tran et al., CVPR 2017) and :class:`MMIN` (Zhao et al., ACL 2021);
- :class:`TATE` (Zeng et al., SIGIR 2022) and :class:`CPMNet` (Zhang et al., NeurIPS 2019).

Missing modalities follow the RAML protocol for every baseline: "if one modality is missing,
the corresponding unimodal data is replaced by zero" (Sec. III-A). The **input** of a missing
modality is zeroed and goes through its encoder like any input (:meth:`_ImperfectBase.embed`),
so a missing modality's embedding is f_m(0), not zero; methods whose paper uses the missing
indicator (MVAE and MMVAE's experts, TMC's vacuous opinion, TATE's tag, CPM-Net's
reconstruction) use ``present`` on top. Every baseline except Concat trains with the
missing-pattern augmentation (all 2^M - 1 patterns of every sample) by default, as the RAML
paper describes for its experiments; a pattern's embeddings are those of the full sample where
a modality is kept and those of a zero input where it is dropped, which equals encoding the
zero-filled input (each f_m sees x_m only) at the cost of two encoder passes.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.base import MultimodalBatch, MultimodalDataset, Task
from ..models.base import Method, Output, task_loss
from ..models.encoders import ModalitySpec, mlp, modality_specs
from .raml import RAMLFamilyMethod, missing_patterns

__all__ = [
    "BASELINES",
    "CRA",
    "ETMC",
    "MD",
    "MMIN",
    "MMVAE",
    "MVAE",
    "TATE",
    "TMC",
    "Augmentation",
    "CPMNet",
    "Concat",
    "ImperfectConfig",
    "ResidualAE",
    "cpm_structured_loss",
    "dempster_combine",
    "dirichlet_loss",
    "moe_iwae_bound",
]


@dataclass(frozen=True)
class ImperfectConfig:
    """Settings shared by the baselines.

    Attributes:
        modalities: modality -> :class:`ModalitySpec` (use :meth:`for_dataset`).
        task: the dataset's task.
        embed_dim: output size of each encoder f_m (and latent size of the VAEs and CPM-Net).
        hidden_dim: width inside the encoders and heads.
        pattern_augmentation: train on all 2^M - 1 missing patterns (None: the method's default,
            False for Concat and True for the others).
        sequence_encoder: ``"lstm"`` or ``"cnn"``.
        dropout: dropout inside the encoders.
        kl_weight: β, the weight of the KL terms of MVAE and MMVAE (the prior term of MMVAE's
            importance weights).
        recon_weight: weight of the reconstruction / imagination terms (MVAE, MMVAE, MMIN, CRA,
            TATE, CPM-Net).
        anneal_epochs: epochs over which TMC/ETMC's KL weight grows linearly to 1
            (``min(1, epoch / anneal_epochs)``, TMC's code: 50).
        gate_weight: weight of MD's l1 penalty on its input gates (MD's code: 1, on the mean gate).
        tcp_detach: MD's confidence regresses on a detached TCP (the paper's target); False
            lets the TCP target back-propagate into the TCP classifier, as MD's code does.
        n_importance: K, importance samples per expert of MMVAE's IWAE bound.
        ae_layers: widths of each MMIN/CRA autoencoder block's encoder (MMIN's IEMOCAP script:
            256, 128, 64); the decoder mirrors them.
        ae_blocks: autoencoder blocks of MMIN/CRA's cascaded residual autoencoder (MMIN: 5).
        cycle_weight: weight of MMIN's backward (cycle) term (MMIN's script: 2, imagination 4).
        pretrain_epochs: epochs in which MMIN/CRA first train their encoders as a full-modality
            fusion model, whose frozen copy then gives the imagination targets.
    """

    modalities: Mapping[str, ModalitySpec]
    task: Task
    embed_dim: int = 128
    hidden_dim: int = 128
    pattern_augmentation: bool | None = None
    sequence_encoder: str = "lstm"
    dropout: float = 0.0
    kl_weight: float = 1e-2
    recon_weight: float = 1.0
    anneal_epochs: int = 50
    gate_weight: float = 1.0
    tcp_detach: bool = True
    n_importance: int = 4
    ae_layers: tuple[int, ...] = (256, 128, 64)
    ae_blocks: int = 5
    cycle_weight: float = 0.5
    pretrain_epochs: int = 5

    @classmethod
    def for_dataset(cls, dataset: MultimodalDataset, **kwargs) -> ImperfectConfig:
        """The config of ``dataset``'s modalities and task, with ``kwargs`` overriding defaults."""
        kwargs.setdefault("task", dataset.task)
        if "ae_layers" in kwargs:
            kwargs["ae_layers"] = tuple(int(w) for w in kwargs["ae_layers"])
        return cls(modalities=modality_specs(dataset), **kwargs)


def _recon_target(batch: MultimodalBatch, m: str) -> Tensor:
    """What the VAEs and CPM-Net reconstruct: the flattened input, or the mean over real steps
    of a sequence."""
    x = batch.inputs[m].float()
    mask = batch.mask(m)
    if mask is not None:
        w = mask.to(x.dtype).unsqueeze(-1)
        return (x * w).sum(1) / w.sum(1).clamp_min(1.0)
    return x.flatten(1)


def _zero_missing(x: Tensor, keep: Tensor) -> Tensor:
    """``x`` with the rows where ``keep`` (bool ``[B]``) is False set to zero."""
    return x.masked_fill(~keep.view(-1, *([1] * (x.ndim - 1))), 0)


class _ImperfectBase(RAMLFamilyMethod):
    """Encoders f_m (output ``embed_dim``) on zero-filled inputs + the missing-pattern
    augmentation + an epoch counter; subclasses define ``predict`` and ``objective``.

    ``epoch`` (a buffer, so a checkpoint restores it) counts the training epochs: it grows by
    one at the first :meth:`training_step` after each ``train()`` call, which the Trainer makes
    at the start of every epoch (1 during the first epoch).

    Args:
        config: the baseline's settings.
        encoders: shared encoders with output ``embed_dim`` to use instead of building them
            (:class:`~workbench.methods.raml.RAMLFamilyMethod`).
    """

    augment_default = True
    needs_targets = False

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, out_dim=config.embed_dim, encoders=encoders)
        c = config
        self.augment = (
            self.augment_default if c.pattern_augmentation is None else bool(c.pattern_augmentation)
        )
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self._epoch_started = True

    # ------------------------------------------------------------------ epochs
    def train(self, mode: bool = True):
        if mode:
            self._epoch_started = True
        return super().train(mode)

    def training_step(self, batch: MultimodalBatch, optimizer: torch.optim.Optimizer):
        if self._epoch_started:
            self._epoch_started = False
            self.epoch += 1
            self.on_epoch_start(int(self.epoch))
        return super().training_step(batch, optimizer)

    def on_epoch_start(self, epoch: int) -> None:
        """Called at the first training step of every epoch (``epoch`` counts from 1)."""

    # ------------------------------------------------------------------ stages
    def encode(self, m: str, x: Tensor, mask: Tensor | None) -> Tensor:
        """f_m of one modality's (zero-filled) input, ``[B, embed_dim]``."""
        return F.relu(self.encoders[m](x, mask))

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """``{m: f_m(x_m)}`` with the input of a missing modality (``present`` False) zeroed."""
        return {
            m: self.encode(m, _zero_missing(batch.inputs[m], batch.present[:, j]), batch.mask(m))
            for j, m in enumerate(self.modalities)
        }

    def _stack(self, embeddings: Mapping[str, Tensor]) -> Tensor:
        """``[B, M, E]`` embeddings in modality order."""
        return torch.stack([embeddings[m] for m in self.modalities], dim=1)

    def _out(self, y_hat: Tensor, z: Tensor, **extras: Tensor) -> Output:
        if self.task.kind == "binary" and y_hat.ndim == 2 and y_hat.shape[-1] == 1:
            y_hat = y_hat.squeeze(-1)
        return Output(y_hat, {"features": z, **extras})

    # ------------------------------------------------------------------ losses
    def objective(
        self,
        output: Output,
        y: Tensor,
        present: Tensor,
        targets: dict[str, Tensor],
        observed: Tensor,
        rows: Tensor,
        batch: MultimodalBatch,
    ) -> tuple[Tensor, dict[str, float]]:
        """The method's loss on (possibly pattern-augmented) rows.

        Args:
            output: ``predict`` on the rows.
            y: targets of the rows.
            present: ``bool [R, M]`` presence used by ``predict`` (the pattern).
            targets: modality -> ``[R, d]`` reconstruction targets of the full sample.
            observed: ``bool [R, M]`` presence in the data (what can be reconstructed).
            rows: ``[R]`` the batch row of each row.
            batch: the batch as given.
        """
        loss = task_loss(output.y_hat, y, self.task)
        return loss, {}

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        present = output.extras.get("present", batch.present)
        targets = (
            {m: _recon_target(batch, m) for m in self.modalities} if self.needs_targets else {}
        )
        if self.training and self.augment:
            z = output.extras["features"]  # [B, M, E]: f_m(x_m), f_m(0) where missing
            z0 = self._stack(self.embed(batch.replace(present=torch.zeros_like(batch.present))))
            patterns = missing_patterns(len(self.modalities)).to(present.device)
            delta = patterns[:, None, :] & present[None]
            valid = delta.any(-1)
            rows = torch.arange(len(batch), device=present.device)[None].expand(len(patterns), -1)[
                valid
            ]
            pat = delta[valid]
            emb = {
                m: torch.where(pat[:, j : j + 1], z[rows, j], z0[rows, j])
                for j, m in enumerate(self.modalities)
            }
            out = self.predict(emb, pat)
            loss, logs = self.objective(
                out,
                batch.y[rows],
                pat,
                {m: t[rows] for m, t in targets.items()},
                present[rows],
                rows,
                batch,
            )
        else:
            rows = torch.arange(len(batch), device=present.device)
            loss, logs = self.objective(output, batch.y, present, targets, present, rows, batch)
        logs = {"loss": float(loss.detach()), **logs}
        return loss, logs


# ----------------------------------------------------------------------------- concat


class Concat(_ImperfectBase):
    """Concat Fusion (RAML paper, Sec. IV-B): ``head([z_1; ...; z_M])`` on zero-filled inputs, trained on full-modality samples."""

    augment_default = False

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        self.head = mlp(
            config.embed_dim * len(self.modalities), config.hidden_dim, config.task.n_outputs
        )

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings)
        return self._out(self.head(z.flatten(1)), z)


class Augmentation(Concat):
    """Augmentation (RAML paper, Sec. IV-B): Concat Fusion trained with all 2^M - 1 missing patterns of every sample."""

    augment_default = True


# ----------------------------------------------------------------------------- evidential


def dempster_combine(b1: Tensor, u1: Tensor, b2: Tensor, u2: Tensor) -> tuple[Tensor, Tensor]:
    """Reduced Dempster's rule of two subjective opinions (Eq. 3-4 of the TMC paper).

    Args:
        b1, b2: beliefs ``[B, K]``; u1, u2: uncertainties ``[B, 1]`` (Σ b + u = 1).

    Returns:
        ``(b, u)`` with b = (b1 b2 + b1 u2 + b2 u1) / (1 - C), u = u1 u2 / (1 - C),
        C = Σ_{i≠j} b1_i b2_j. A vacuous opinion (b = 0, u = 1) leaves the other unchanged.
    """
    conflict = b1.sum(-1, keepdim=True) * b2.sum(-1, keepdim=True) - (b1 * b2).sum(-1, keepdim=True)
    scale = (1 - conflict).clamp_min(1e-8)
    return (b1 * b2 + b1 * u2 + b2 * u1) / scale, u1 * u2 / scale


def _opinion(alpha: Tensor) -> tuple[Tensor, Tensor]:
    S = alpha.sum(-1, keepdim=True)
    K = alpha.shape[-1]
    return (alpha - 1) / S, K / S


def _alpha_from_opinion(b: Tensor, u: Tensor) -> Tensor:
    S = b.shape[-1] / u.clamp_min(1e-8)
    return b * S + 1


def dirichlet_loss(alpha: Tensor, y: Tensor, kl_weight: float | Tensor) -> Tensor:
    """TMC's loss of one Dirichlet opinion: the expected cross-entropy plus the KL of the
    misleading evidence to the uniform Dirichlet (Eq. 5-7 of the TMC paper), mean over rows.

    Args:
        alpha: ``[B, K]`` Dirichlet parameters (> 0).
        y: ``[B]`` class ids.
        kl_weight: annealing coefficient of the KL term.
    """
    K = alpha.shape[-1]
    onehot = F.one_hot(y.long(), K).to(alpha.dtype)
    S = alpha.sum(-1, keepdim=True)
    ace = (onehot * (torch.digamma(S) - torch.digamma(alpha))).sum(-1)
    a = onehot + (1 - onehot) * alpha
    Sa = a.sum(-1)
    kl = (
        torch.lgamma(Sa)
        - torch.lgamma(torch.tensor(float(K), device=alpha.device))
        - torch.lgamma(a).sum(-1)
        + ((a - 1) * (torch.digamma(a) - torch.digamma(Sa).unsqueeze(-1))).sum(-1)
    )
    return (ace + kl_weight * kl).mean()


class TMC(_ImperfectBase):
    """TMC (Han et al., ICLR 2021, and its code): differs only in that a missing modality is a vacuous opinion (b = 0, u = 1).

    Per-modality Dirichlet evidence (softplus) combined by the reduced Dempster's rule; the
    loss is :func:`dirichlet_loss` of every view and of the combination, the KL term annealed as
    in TMC's code: weight ``min(1, epoch / anneal_epochs)``, epochs counted from 1 (50 epochs in
    the code). The prediction is the expected class probability α / S of the combined opinion
    (``y_hat = log α``). Multiclass only.
    """

    pseudo_view = False

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        if config.task.kind != "multiclass":
            raise ValueError(
                f"{type(self).__name__} needs a multiclass task; got {config.task.kind!r}."
            )
        K = config.task.n_outputs
        self.evidence = nn.ModuleDict(
            {m: mlp(config.embed_dim, config.hidden_dim, K) for m in self.modalities}
        )
        if self.pseudo_view:
            self.pseudo = mlp(config.embed_dim * len(self.modalities), config.hidden_dim, K)

    def kl_coefficient(self) -> float:
        """The annealed KL weight of the current epoch, ``min(1, epoch / anneal_epochs)``."""
        return min(1.0, max(1, int(self.epoch)) / max(1, self.config.anneal_epochs))

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings)
        alphas = [F.softplus(self.evidence[m](z[:, j])) + 1 for j, m in enumerate(self.modalities)]
        if self.pseudo_view:
            alphas.append(F.softplus(self.pseudo(z.flatten(1))) + 1)
        views = torch.stack(alphas, dim=1)  # [B, V, K]
        view_present = torch.cat(
            [present, present.new_ones(present.shape[0], len(alphas) - len(self.modalities))], 1
        )
        b, u = _opinion(views[:, 0])
        keep = view_present[:, :1].to(b.dtype)
        b, u = b * keep, u * keep + (1 - keep)
        for v in range(1, views.shape[1]):
            bv, uv = _opinion(views[:, v])
            kv = view_present[:, v : v + 1].to(b.dtype)
            b, u = dempster_combine(b, u, bv * kv, uv * kv + (1 - kv))
        alpha = _alpha_from_opinion(b, u)
        return self._out(alpha.log(), z, views=views, view_present=view_present, alpha=alpha)

    def objective(self, output, y, present, targets, observed, rows, batch):
        coef = self.kl_coefficient()
        loss = dirichlet_loss(output.extras["alpha"], y, coef)
        views, vp = output.extras["views"], output.extras["view_present"]
        for v in range(views.shape[1]):
            keep = vp[:, v]
            if keep.any():
                loss = loss + dirichlet_loss(views[keep, v], y[keep], coef)
        return loss, {"kl_coefficient": coef}


class ETMC(TMC):
    """ETMC (Han et al., TPAMI 2023): TMC plus a pseudo-view whose evidence comes from the concatenated embeddings; as TMC otherwise."""

    pseudo_view = True


# ----------------------------------------------------------------------------- MD


class _InputGate(nn.Module):
    """MD's feature-informativeness gate on one modality's input: ``w = sigmoid(W x + b)``,
    ``x * w``; per frame (on the feature axis) for a sequence, on the flattened input otherwise."""

    def __init__(self, spec: ModalitySpec) -> None:
        super().__init__()
        self.sequence = spec.sequence
        d = int(spec.shape[-1]) if spec.sequence else int(torch.Size(spec.shape).numel())
        self.linear = nn.Linear(d, d)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = x.float()
        if self.sequence:
            w = torch.sigmoid(self.linear(x))
            return x * w, w
        flat = x.flatten(1)
        w = torch.sigmoid(self.linear(flat))
        return (flat * w).reshape(x.shape), w


class MD(_ImperfectBase):
    """MD (Han et al., CVPR 2022, and its code model.py): differs in that the TCP target is detached by default (``tcp_detach=False``: the code's back-propagating target).

    Per modality: an input gate w_m = sigmoid(W_m x_m + b_m) (the feature informativeness
    encoder) on the raw input, the encoder f_m on x_m ⊙ w_m, a TCP classifier and a linear TCP
    confidence c_m on the encoded feature; the fused prediction is ``head([c_1 h_1; ...])``.
    Loss: CE of the fusion + Σ_m [CE of the TCP classifier + (c_m - TCP_m)^2 +
    ``gate_weight`` · mean(w_m)] (the code's l1 of the non-negative gates). Multiclass only.
    """

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        if config.task.kind != "multiclass":
            raise ValueError(f"MD needs a multiclass task; got {config.task.kind!r}.")
        E, H, K = config.embed_dim, config.hidden_dim, config.task.n_outputs
        self.gates = nn.ModuleDict({m: _InputGate(s) for m, s in config.modalities.items()})
        self.classifiers = nn.ModuleDict({m: nn.Linear(E, K) for m in self.modalities})
        self.confidence = nn.ModuleDict({m: nn.Linear(E, 1) for m in self.modalities})
        self.head = mlp(E * len(self.modalities), H, K)
        self._gate_values: dict[str, Tensor] = {}

    def encode(self, m: str, x: Tensor, mask: Tensor | None) -> Tensor:
        gated, w = self.gates[m](x)
        if mask is not None:  # padded frames carry no gate
            w = w * mask.unsqueeze(-1).to(w.dtype)
        self._gate_values[m] = w
        return F.relu(self.encoders[m](gated, mask))

    def forward(self, batch, corruptions=(), generator=None) -> Output:
        out = super().forward(batch, corruptions, generator)
        gate_l1 = torch.stack([w.flatten(1).mean(1) for w in self._gate_values.values()], 1)
        out.extras["gate_l1"] = gate_l1  # [B, M] mean gate of each modality
        return out

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings)
        logits, conf, parts = [], [], []
        for j, m in enumerate(self.modalities):
            c = self.confidence[m](z[:, j])
            logits.append(self.classifiers[m](z[:, j]))
            conf.append(c)
            parts.append(z[:, j] * c)
        y_hat = self.head(torch.cat(parts, dim=-1))
        return self._out(y_hat, z, unimodal=torch.stack(logits, 1), confidence=torch.cat(conf, 1))

    def objective(self, output, y, present, targets, observed, rows, batch):
        loss = task_loss(output.y_hat, y, self.task)
        uni, conf = output.extras["unimodal"], output.extras["confidence"]
        for j in range(len(self.modalities)):
            loss = loss + task_loss(uni[:, j], y, self.task)
            tcp = torch.softmax(uni[:, j], -1).gather(1, y.long()[:, None]).squeeze(1)
            if self.config.tcp_detach:
                tcp = tcp.detach()
            loss = loss + F.mse_loss(conf[:, j], tcp)
        return loss, {}

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        loss, logs = super().loss(output, batch)
        gates = output.extras["gate_l1"]  # the gates of the inputs as given
        keep = output.extras.get("present", batch.present)
        gate = (gates * keep.to(gates.dtype)).sum(0) / keep.sum(0).clamp_min(1).to(gates.dtype)
        loss = loss + self.config.gate_weight * gate.sum()
        logs["loss"] = float(loss.detach())
        logs["gate_mean"] = float(gate.mean().detach())
        return loss, logs


# ----------------------------------------------------------------------------- VAEs


def _kl_std_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


def _log_normal(z: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; μ, diag(exp(logvar))), summed over the last axis."""
    return -0.5 * ((z - mu).pow(2) / logvar.exp() + logvar + math.log(2 * math.pi)).sum(-1)


class _VAEBase(_ImperfectBase):
    needs_targets = True

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        E, H = config.embed_dim, config.hidden_dim
        self.mu_heads = nn.ModuleDict({m: nn.Linear(E, E) for m in self.modalities})
        self.logvar_heads = nn.ModuleDict({m: nn.Linear(E, E) for m in self.modalities})
        dims = {
            m: s.shape[-1] if s.sequence else int(torch.Size(s.shape).numel())
            for m, s in config.modalities.items()
        }
        self.decoders = nn.ModuleDict({m: mlp(E, H, d) for m, d in dims.items()})
        self.classifier = mlp(E, H, config.task.n_outputs)

    def experts(self, z: Tensor) -> tuple[Tensor, Tensor]:
        mu = torch.stack([self.mu_heads[m](z[:, j]) for j, m in enumerate(self.modalities)], 1)
        logvar = torch.stack(
            [self.logvar_heads[m](z[:, j]) for j, m in enumerate(self.modalities)], 1
        ).clamp(-8, 8)
        return mu, logvar

    def _sample(self, mu: Tensor, logvar: Tensor) -> Tensor:
        return mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu

    def log_likelihood(self, latent: Tensor, targets: dict[str, Tensor], keep: Tensor) -> Tensor:
        """Σ over the kept modalities n of log p(x_n | z) = -``recon_weight`` · mean_d (x_n -
        dec_n(z))^2 (a Gaussian decoder, constants dropped). ``latent [..., R, E]``, ``keep
        bool [R, M]``; returns ``[..., R]``."""
        out = latent.new_zeros(latent.shape[:-1])
        for j, m in enumerate(self.modalities):
            err = (self.decoders[m](latent) - targets[m]).pow(2).mean(-1)
            out = out - self.config.recon_weight * err * keep[:, j].to(err.dtype)
        return out


class MVAE(_VAEBase):
    """MVAE (Wu & Goodman, NeurIPS 2018): differs in that every subset ELBO is used (the paper sub-samples k random subsets beside the joint and unimodal terms; equal for M = 2) and a classifier on the PoE latent stands in for the label modality.

    Joint posterior: the product of the prior expert N(0, I) and the Gaussian experts of the
    modalities in the pattern. Each pattern row is one ELBO term of that subset: the decoders
    reconstruct the modalities of the subset only (flattened input, or the mean frame of a
    sequence), β = ``kl_weight``; the classifier reads a sample of the PoE latent (its mean at
    test time), as the RAML paper uses MVAE for the downstream task.
    """

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings)
        mu_m, logvar_m = self.experts(z)
        prec = present.unsqueeze(-1).to(z.dtype) * (-logvar_m).exp()
        T = 1 + prec.sum(1)
        mu = (prec * mu_m).sum(1) / T
        logvar = -T.log()
        latent = self._sample(mu, logvar)
        return self._out(self.classifier(latent), z, mu=mu, logvar=logvar, latent=latent)

    def objective(self, output, y, present, targets, observed, rows, batch):
        e = output.extras
        loglik = self.log_likelihood(e["latent"], targets, present & observed)
        kl = _kl_std_normal(e["mu"], e["logvar"])
        elbo = loglik - self.config.kl_weight * kl
        loss = task_loss(output.y_hat, y, self.task) - elbo.mean()
        return loss, {"elbo": float(elbo.mean().detach())}


def moe_iwae_bound(
    z: Tensor, mu: Tensor, logvar: Tensor, loglik: Tensor, present: Tensor, beta: float = 1.0
) -> Tensor:
    """MMVAE's stratified IWAE bound with a mixture-of-experts posterior (Eq. 3-4 of Shi et al.).

    .. math:: \\mathcal L = \\frac1{|P|} \\sum_{m \\in P} \\log \\frac1K \\sum_k
              \\frac{p(x_P | z_m^k)\\, p(z_m^k)^\\beta}{q(z_m^k | x_P)^\\beta}, \\quad
              q(z | x_P) = \\frac1{|P|} \\sum_{m' \\in P} q_{m'}(z | x_{m'}),

    with z_m^k ~ q_m, P the present modalities and p(z) = N(0, I) (β = 1 is the bound).

    Args:
        z: ``[K, R, M, E]`` samples, ``z[:, :, m]`` drawn from expert m.
        mu, logvar: ``[R, M, E]`` the experts' Gaussians.
        loglik: ``[K, R, M]`` log p(x_P | z_m^k).
        present: ``bool [R, M]``.
        beta: weight of the prior and posterior terms.

    Returns:
        ``[R]`` the bound per row.
    """
    log_q_each = _log_normal(z.unsqueeze(-2), mu[None, :, None], logvar[None, :, None])
    pm = present[None, :, None, :]  # [1, R, 1, M'] mixture components
    n = present.sum(-1).clamp_min(1).to(z.dtype)  # [R]
    log_q = torch.logsumexp(log_q_each.masked_fill(~pm, -math.inf), -1) - n.log()[None, :, None]
    log_p = _log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    log_w = loglik + beta * (log_p - log_q)  # [K, R, M]
    iwae = torch.logsumexp(log_w, 0) - math.log(z.shape[0])  # [R, M]
    return (iwae * present.to(iwae.dtype)).sum(-1) / n


class MMVAE(_VAEBase):
    """MMVAE (Shi et al., NeurIPS 2019): follows its mixture-of-experts IWAE bound (:func:`moe_iwae_bound`, K = ``n_importance``); differs in β = ``kl_weight`` (the paper: 1), Gaussian decoders and a classifier on the experts' latents.

    Each present modality's expert draws K samples, each sample decodes every modality of the
    pattern; the loss is minus the bound plus the classifier's cross-entropy on the samples.
    The prediction averages the classifier's probabilities over the present experts' means
    (``y_hat`` holds log-probabilities).
    """

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings)
        mu_m, logvar_m = self.experts(z)
        logits = self.classifier(mu_m)  # [B, M, K]
        w = present.to(z.dtype) / present.sum(1, keepdim=True).clamp_min(1).to(z.dtype)
        if self.task.kind == "multiclass":
            y_hat = (torch.softmax(logits, -1) * w.unsqueeze(-1)).sum(1).clamp_min(1e-8).log()
        else:
            y_hat = (logits * w.unsqueeze(-1)).sum(1)
        return self._out(y_hat, z, mu=mu_m, logvar=logvar_m)

    def objective(self, output, y, present, targets, observed, rows, batch):
        e = output.extras
        mu, logvar = e["mu"], e["logvar"]
        K = max(1, int(self.config.n_importance)) if self.training else 1
        eps = torch.randn((K, *mu.shape), device=mu.device, dtype=mu.dtype)
        z = mu + eps * (0.5 * logvar).exp() if self.training else mu.expand(K, *mu.shape)
        keep = present & observed
        loglik = torch.stack(
            [self.log_likelihood(z[:, :, j], targets, keep) for j in range(len(self.modalities))],
            -1,
        )  # [K, R, M]
        bound = moe_iwae_bound(z, mu, logvar, loglik, present, self.config.kl_weight)
        logits = self.classifier(z)  # [K, R, M, C]
        pm = present.to(mu.dtype)
        if self.task.kind == "multiclass":
            ce = (
                F.cross_entropy(
                    logits.flatten(0, 2),
                    y.long()[None, :, None].expand(K, -1, len(self.modalities)).flatten(),
                    reduction="none",
                )
                .view(K, -1, len(self.modalities))
                .mean(0)
            )
        else:
            ce = torch.stack(
                [
                    task_loss(logits[:, :, j].mean(0), y, self.task)
                    for j in range(len(self.modalities))
                ]
            )[None].expand(len(y), -1)
        ce = (ce * pm).sum(-1) / pm.sum(-1).clamp_min(1)
        loss = (ce - bound).mean()
        return loss, {"bound": float(bound.mean().detach())}


# ----------------------------------------------------------------------------- MMIN / CRA


class ResidualAE(nn.Module):
    """MMIN's cascaded residual autoencoder (its ``models/networks/autoencoder.py``).

    Block i: ``x_i = x_{i-1} + out_{i-1}`` (``out_0 = 0``), ``code_i = enc_i(x_i)``,
    ``out_i = dec_i(code_i)``; the output is ``transition(x_n + out_n)`` and the codes of all
    blocks are concatenated. Each encoder is ``dim -> layers[0] -> ... -> layers[-1]``
    (LeakyReLU between, none after the last), each decoder mirrors it (ReLU between).

    Args:
        dim: input (and output) size.
        layers: encoder widths, e.g. ``(256, 128, 64)``.
        n_blocks: autoencoder blocks (5 in MMIN's IEMOCAP setting).
    """

    def __init__(self, dim: int, layers: tuple[int, ...], n_blocks: int) -> None:
        super().__init__()
        self.transition = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for _ in range(n_blocks):
            widths = [dim, *layers]
            enc: list[nn.Module] = []
            for a, b in zip(widths[:-1], widths[1:]):
                enc += [nn.Linear(a, b), nn.LeakyReLU()]
            self.encoders.append(nn.Sequential(*enc[:-1]))
            back = widths[::-1]
            dec: list[nn.Module] = []
            for a, b in zip(back[:-1], back[1:]):
                dec += [nn.Linear(a, b), nn.ReLU()]
            self.decoders.append(nn.Sequential(*dec[:-1]))
        self.code_dim = int(layers[-1]) * n_blocks

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        out = torch.zeros_like(x)
        codes = []
        for enc, dec in zip(self.encoders, self.decoders):
            x = x + out
            code = enc(x)
            out = dec(code)
            codes.append(code)
        return self.transition(x + out), torch.cat(codes, -1)


class MMIN(_ImperfectBase):
    """MMIN (Zhao et al., ACL 2021, and its code mmin_model.py): differs in that its full-modality pre-training runs as the first ``pretrain_epochs`` epochs of the same fit, not as a separate run.

    Epochs 1..``pretrain_epochs``: the encoders and a fusion classifier on their concatenation
    are trained on the samples as given (MMIN's "utt_fusion" teacher) while the prediction
    stays MMIN's (untrained) classifier, so that, as in MMIN's separate runs, selection on
    validation never picks the teacher (with early stopping, keep ``pretrain_epochs`` below
    the patience). Then a frozen copy of the encoders becomes the teacher and the encoders go on from the
    pre-trained weights (as MMIN initialises them). From then on the zero-filled concatenated
    embedding x is mapped by a forward :class:`ResidualAE` (``ae_blocks`` blocks of
    ``ae_layers``) to the imagination x̂, trained towards the teacher's embedding of the
    **missing** modalities' inputs (the present ones zeroed, MMIN's ``*_reverse`` inputs,
    ``recon_weight``); a backward ResidualAE maps x̂ back to x (detached, ``cycle_weight``);
    the classifier reads the concatenated codes of the forward autoencoder.
    ``pretrain_epochs=0`` uses the jointly trained encoders (detached) as the teacher instead.
    """

    cycle = True

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        c = config
        dim = c.embed_dim * len(self.modalities)
        layers = tuple(int(w) for w in c.ae_layers)
        self.forward_ae = ResidualAE(dim, layers, c.ae_blocks)
        if self.cycle:
            self.backward_ae = ResidualAE(dim, layers, c.ae_blocks)
        self.head = mlp(self.forward_ae.code_dim, c.hidden_dim, c.task.n_outputs)
        self.fusion_head = mlp(dim, c.hidden_dim, c.task.n_outputs)
        self.teacher = copy.deepcopy(self.encoders)
        self.teacher.requires_grad_(False)

    @property
    def pretraining(self) -> bool:
        """Whether the current epoch is one of the full-modality pre-training epochs."""
        return 0 < int(self.epoch) <= self.config.pretrain_epochs

    def on_epoch_start(self, epoch: int) -> None:
        if epoch == self.config.pretrain_epochs + 1:
            self.teacher.load_state_dict(self.encoders.state_dict())

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings)
        x = z.flatten(1)
        imagined, codes = self.forward_ae(x)
        extras = {"imagined": imagined}
        if self.pretraining:
            extras["fusion_logits"] = self.fusion_head(x)
        return self._out(self.head(codes), z, **extras)

    @torch.no_grad()
    def _teacher_targets(self, batch: MultimodalBatch, rows: Tensor, kept: Tensor) -> Tensor:
        """``[R, M * E]``: the teacher's embedding of each row's missing modalities' inputs
        (present in the data, dropped by the pattern ``kept``), zero inputs elsewhere."""
        teacher = self.teacher if self.config.pretrain_epochs > 0 else self.encoders
        was = teacher.training
        teacher.eval()
        full, zero = [], []
        for j, m in enumerate(self.modalities):
            x, mask = _zero_missing(batch.inputs[m], batch.present[:, j]), batch.mask(m)
            full.append(F.relu(teacher[m](x, mask)))
            zero.append(F.relu(teacher[m](torch.zeros_like(x), mask)))
        teacher.train(was)
        full_t, zero_t = torch.stack(full, 1)[rows], torch.stack(zero, 1)[rows]
        dropped = batch.present[rows] & ~kept
        return torch.where(dropped.unsqueeze(-1), full_t, zero_t).flatten(1)

    def objective(self, output, y, present, targets, observed, rows, batch):
        if self.pretraining:
            as_given = (present == observed).all(1)
            logits = output.extras["fusion_logits"][as_given]
            return task_loss(logits, y[as_given], self.task), {}
        loss = task_loss(output.y_hat, y, self.task)
        imagined = output.extras["imagined"]
        target = self._teacher_targets(batch, rows, present)
        imagination = F.mse_loss(imagined, target)
        loss = loss + self.config.recon_weight * imagination
        logs = {"imagination": float(imagination.detach())}
        if self.cycle:
            back, _ = self.backward_ae(imagined)
            cycle = F.mse_loss(back, output.extras["features"].flatten(1).detach())
            loss = loss + self.config.cycle_weight * cycle
            logs["cycle"] = float(cycle.detach())
        return loss, logs


class CRA(MMIN):
    """CRA (Tran et al., CVPR 2017) as MMIN's paper runs it: MMIN without the backward (cycle) autoencoder; differs from Tran et al. in imagining encoder embeddings, not raw inputs."""

    cycle = False


# ----------------------------------------------------------------------------- TATE


def _symmetric_kl(p_logits: Tensor, q_logits: Tensor) -> Tensor:
    """KL(p || q) + KL(q || p) of the softmaxes over the last axis, mean over that axis (as
    TATE's code), summed over tokens and averaged over rows."""
    p, q = torch.log_softmax(p_logits, -1), torch.log_softmax(q_logits, -1)
    kl_pq = (p.exp() * (p - q)).mean(-1)
    kl_qp = (q.exp() * (q - p)).mean(-1)
    return (kl_pq + kl_qp).sum(-1).mean()


class TATE(_ImperfectBase):
    """TATE (Zeng et al., SIGIR 2022, and its code network.py): differs in that the forward loss's target is this model's own encoder output on the complete sample (detached), not a separately pre-trained network's, and in one Transformer layer each for encoder and decoder.

    Common space projection, two by two: one matrix W_mn per pair of modalities; modality m
    gives the tokens W_mn z_m for every pair it belongs to. Tag encoding: every token gets the
    missing tag ``[no modality missing, 1 - δ_1, ..., 1 - δ_M]`` appended. A Transformer encoder
    layer maps the tokens; a Transformer decoder layer maps its output back to the tokens. An
    attention pooling of the encoder output feeds the classifier (a linear map to
    ``embed_dim``, then to the classes). Loss (the code's weights): CE + 0.1 · forward loss
    (symmetric KL between the softmaxes of the encoder output and of the complete sample's) +
    0.1 · backward loss (symmetric KL between decoder output and tokens) + 0.1 · tag loss (the
    l1 error between the tag and the sigmoid of the pooled output's last tag-size elements).
    """

    loss_weight = 0.1

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        E, M = config.embed_dim, len(self.modalities)
        self.pairs = [(a, b) for a in range(M) for b in range(a + 1, M)]
        self.project = nn.ModuleList([nn.Linear(E, E, bias=False) for _ in self.pairs])
        self.tag_dim = M + 1
        d = E + self.tag_dim
        heads = next(h for h in (4, 2, 1) if d % h == 0)

        def layer() -> nn.Module:
            return nn.TransformerEncoderLayer(
                d, heads, dim_feedforward=4 * d, dropout=config.dropout, batch_first=True
            )

        self.encoder = layer()
        self.decoder = layer()
        self.att_m = nn.Linear(d, d)
        self.att_r = nn.Linear(d, 1, bias=False)
        self.to_embed = nn.Linear(d, E, bias=False)
        self.classifier = nn.Linear(E, config.task.n_outputs)

    def tag(self, present: Tensor) -> Tensor:
        """The missing tag ``[all present, 1 - δ_1, ..., 1 - δ_M]``, ``[B, M + 1]``."""
        p = present.to(torch.get_default_dtype())
        return torch.cat([p.prod(-1, keepdim=True), 1 - p], -1)

    def tokens(self, z: Tensor, present: Tensor) -> Tensor:
        """``[B, T, E + M + 1]``: the two-by-two common-space projections with the tag."""
        toks = []
        for k, (a, b) in enumerate(self.pairs):
            toks += [self.project[k](z[:, a]), self.project[k](z[:, b])]
        t = torch.stack(toks, 1)
        tag = self.tag(present).to(t.dtype)[:, None].expand(-1, t.shape[1], -1)
        return torch.cat([t, tag], -1)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings)
        tokens = self.tokens(z, present)
        encoded = self.encoder(tokens)
        att = torch.softmax(self.att_r(torch.tanh(self.att_m(encoded))), 1)
        pooled = (att * encoded).sum(1)
        y_hat = self.classifier(self.to_embed(pooled))
        return self._out(y_hat, z, tokens=tokens, encoded=encoded, pooled=pooled)

    def objective(self, output, y, present, targets, observed, rows, batch):
        e = output.extras
        loss = task_loss(output.y_hat, y, self.task)
        with torch.no_grad():
            z_full = self._stack(self.embed(batch))[rows]
            complete = self.encoder(self.tokens(z_full, observed))
        forward = _symmetric_kl(e["encoded"], complete)
        backward = _symmetric_kl(self.decoder(e["encoded"]), e["tokens"])
        tag = self.tag(present).to(e["pooled"].dtype) - torch.sigmoid(
            e["pooled"][:, -self.tag_dim :]
        )
        tag_loss = tag.abs().mean()
        loss = loss + self.loss_weight * (forward + backward + tag_loss)
        return loss, {"forward": float(forward.detach()), "backward": float(backward.detach())}


# ----------------------------------------------------------------------------- CPM-Net


def cpm_structured_loss(h: Tensor, y: Tensor, means: Tensor) -> Tensor:
    """CPM-Net's classification loss (Eq. 6 of Zhang et al., with F(h, h') = h^T h').

    .. math:: \\ell_n = \\max_{c} \\big(\\Delta(y_n, c) + \\bar F_c(h_n) - \\bar F_{y_n}(h_n)\\big),
              \\quad \\bar F_c(h) = h^T \\bar h_c,

    where :math:`\\bar h_c` is the mean latent representation of class c (the expectation over
    T(c) of the paper) and Δ the 0-1 loss.

    Args:
        h: ``[R, E]`` latent representations; y: ``[R]`` class ids; means: ``[C, E]``.

    Returns:
        the mean of ℓ_n over rows (≥ 0).
    """
    scores = h @ means.T
    margin = 1.0 - F.one_hot(y.long(), means.shape[0]).to(h.dtype)
    true = scores.gather(1, y.long()[:, None])
    return (margin + scores - true).amax(1).mean()


class CPMNet(_ImperfectBase):
    """CPM-Net (Zhang et al., NeurIPS 2019): differs in that an encoder network infers the latent h from the zero-filled embeddings and the tag (the paper optimises a free h per sample, also at test time) and class sets T(c) are batch means in training, running means at test.

    The degradation networks g_m reconstruct each modality of the pattern (flattened input,
    or the mean frame of a sequence) from h, weight ``recon_weight``; the classification loss
    is :func:`cpm_structured_loss`; the prediction is ``argmax_c h^T h̄_c`` over the running
    class means (``y_hat`` holds the compatibilities). Multiclass only.
    """

    needs_targets = True

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        if config.task.kind != "multiclass":
            raise ValueError(f"CPM-Net needs a multiclass task; got {config.task.kind!r}.")
        E, H, M, K = (
            config.embed_dim,
            config.hidden_dim,
            len(self.modalities),
            config.task.n_outputs,
        )
        self.latent = mlp(E * M + M, H, E)
        dims = {
            m: s.shape[-1] if s.sequence else int(torch.Size(s.shape).numel())
            for m, s in config.modalities.items()
        }
        self.degradation = nn.ModuleDict({m: mlp(E, H, d) for m, d in dims.items()})
        self.register_buffer("class_means", torch.zeros(K, E))
        self.momentum = 0.9

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings)
        h = self.latent(torch.cat([z.flatten(1), present.to(z.dtype)], 1))
        return self._out(h @ self.class_means.T, z, h=h)

    def objective(self, output, y, present, targets, observed, rows, batch):
        h = output.extras["h"]
        K = self.class_means.shape[0]
        onehot = F.one_hot(y.long(), K).to(h.dtype)
        count = onehot.sum(0)
        batch_means = (onehot.T @ h) / count.clamp_min(1).unsqueeze(-1)
        seen = count > 0
        means = torch.where(seen.unsqueeze(-1), batch_means, self.class_means)
        loss = cpm_structured_loss(h, y, means)
        keep = (present & observed).to(h.dtype)
        recon = h.new_zeros(h.shape[0])
        for j, m in enumerate(self.modalities):
            err = (self.degradation[m](h) - targets[m]).pow(2).mean(-1)
            recon = recon + err * keep[:, j]
        loss = loss + self.config.recon_weight * recon.mean()
        if self.training:
            with torch.no_grad():
                fresh = self.class_means.abs().sum(-1) == 0
                mixed = self.momentum * self.class_means + (1 - self.momentum) * batch_means
                update = torch.where(fresh.unsqueeze(-1), batch_means, mixed)
                self.class_means.copy_(torch.where(seen.unsqueeze(-1), update, self.class_means))
        return loss, {"recon": float(recon.mean().detach())}


BASELINES: dict[str, type[Method]] = {
    "Concat Fusion": Concat,
    "Augmentation": Augmentation,
    "MVAE": MVAE,
    "MMVAE": MMVAE,
    "CRA": CRA,
    "MMIN": MMIN,
    "TATE": TATE,
    "TMC": TMC,
    "MD": MD,
    "ETMC": ETMC,
    "CPM-Net": CPMNet,
}
"""The paper's method names (as printed in its tables) -> baseline class (CPM-Net is a
baseline of the MLA paper's Table 2, on the same encoders)."""
