"""The baselines of the RAML paper's comparison (Sec. IV-B), on the same encoders as RAML.

- :class:`Concat` ("Concat Fusion"): concatenated embeddings, zeros for missing modalities,
  trained on the data as given (full modalities).
- :class:`Augmentation`: Concat trained with all 2^M - 1 missing patterns of every sample.
- :class:`TMC` (Han et al., ICLR 2021): Dirichlet evidence per modality, reduced Dempster's
  rule; :class:`ETMC` (TPAMI 2023) adds a pseudo-view from the concatenated embeddings.
- :class:`MD` (Multimodal Dynamics, CVPR 2022): feature informativeness gates and a
  true-class-probability (TCP) confidence weighting each modality.
- :class:`MVAE` (product of experts) and :class:`MMVAE` (mixture of experts): latent Gaussian
  experts with reconstruction and a classifier on the latent.
- :class:`MMIN` (missing modality imagination): a cascaded residual autoencoder imagines the
  full embedding from the zero-filled one, with a backward (cycle) autoencoder; :class:`CRA`
  is the same without the cycle term.

Every baseline except Concat trains with the missing-pattern augmentation by default, as the
RAML paper describes for its experiments. The augmentation is done on the encoder features
(zeros for a missing modality, masked by ``present``), which for these models equals feeding
zero-filled inputs, at the cost of one encoder pass. Simplifications with respect to the
original papers are listed in each class docstring.
"""

from __future__ import annotations

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
    "TMC",
    "Augmentation",
    "Concat",
    "ImperfectConfig",
    "dempster_combine",
    "dirichlet_loss",
]


@dataclass(frozen=True)
class ImperfectConfig:
    """Settings shared by the baselines.

    Attributes:
        modalities: modality -> :class:`ModalitySpec` (use :meth:`for_dataset`).
        task: the dataset's task.
        embed_dim: output size of each encoder f_m (and latent size of the VAEs).
        hidden_dim: width inside the encoders.
        pattern_augmentation: train on all 2^M - 1 missing patterns (None: the method's default,
            False for Concat and True for the others).
        sequence_encoder: ``"lstm"`` or ``"cnn"``.
        dropout: dropout inside the encoders.
        kl_weight: weight of the KL terms (MVAE, MMVAE) and the final KL weight of TMC/ETMC's
            annealed KL regulariser.
        recon_weight: weight of reconstruction / imagination terms (MVAE, MMVAE, MMIN, CRA).
        anneal_steps: optimisation steps over which TMC/ETMC's KL weight grows to ``kl_weight``.
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
    anneal_steps: int = 500

    @classmethod
    def for_dataset(cls, dataset: MultimodalDataset, **kwargs) -> ImperfectConfig:
        """The config of ``dataset``'s modalities and task, with ``kwargs`` overriding defaults."""
        kwargs.setdefault("task", dataset.task)
        return cls(modalities=modality_specs(dataset), **kwargs)


def _recon_target(batch: MultimodalBatch, m: str) -> Tensor:
    """What the VAEs reconstruct: the flattened input, or the mean over real steps of a sequence."""
    x = batch.inputs[m].float()
    mask = batch.mask(m)
    if mask is not None:
        w = mask.to(x.dtype).unsqueeze(-1)
        return (x * w).sum(1) / w.sum(1).clamp_min(1.0)
    return x.flatten(1)


class _ImperfectBase(RAMLFamilyMethod):
    """Encoders f_m (output ``embed_dim``) + the missing-pattern augmentation; subclasses define
    ``predict`` and ``objective``.

    Args:
        config: the baseline's settings.
        encoders: shared encoders with output ``embed_dim`` to use instead of building them
            (:class:`~workbench.methods.raml.RAMLFamilyMethod`).
    """

    augment_default = True

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, out_dim=config.embed_dim, encoders=encoders)
        c = config
        self.augment = (
            self.augment_default if c.pattern_augmentation is None else bool(c.pattern_augmentation)
        )

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        return {
            m: F.relu(self.encoders[m](batch.inputs[m], batch.mask(m))) for m in self.modalities
        }

    def _stack(self, embeddings: Mapping[str, Tensor], present: Tensor) -> Tensor:
        """``[B, M, E]`` embeddings with zeros where a modality is missing."""
        z = torch.stack([embeddings[m] for m in self.modalities], dim=1)
        return z * present.unsqueeze(-1).to(z.dtype)

    def _out(self, y_hat: Tensor, z: Tensor, **extras: Tensor) -> Output:
        if self.task.kind == "binary" and y_hat.ndim == 2 and y_hat.shape[-1] == 1:
            y_hat = y_hat.squeeze(-1)
        return Output(y_hat, {"features": z, **extras})

    def objective(
        self,
        output: Output,
        y: Tensor,
        present: Tensor,
        targets: dict[str, Tensor],
        observed: Tensor,
        full: Tensor,
    ) -> tuple[Tensor, dict[str, float]]:
        """The method's loss on (possibly pattern-augmented) rows.

        Args:
            output: ``predict`` on the rows.
            y: targets of the rows.
            present: ``bool [R, M]`` presence used by ``predict`` (the pattern).
            targets: modality -> ``[R, d]`` reconstruction targets of the full sample.
            observed: ``bool [R, M]`` presence in the data (what can be reconstructed).
            full: ``[R, M, E]`` encoder features of the sample as observed in the data.
        """
        loss = task_loss(output.y_hat, y, self.task)
        return loss, {}

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        present = output.extras.get("present", batch.present)
        targets = (
            {m: _recon_target(batch, m) for m in self.modalities} if self.needs_targets else {}
        )
        if self.training and self.augment:
            z = output.extras["features"]  # [B, M, E], zeros where missing in the data
            patterns = missing_patterns(len(self.modalities)).to(present.device)
            delta = patterns[:, None, :] & present[None]
            valid = delta.any(-1)
            rows = torch.arange(len(batch), device=present.device)[None].expand(len(patterns), -1)[
                valid
            ]
            pat = delta[valid]
            emb = {m: z[rows, j] for j, m in enumerate(self.modalities)}
            out = self.predict(emb, pat)
            loss, logs = self.objective(
                out,
                batch.y[rows],
                pat,
                {m: t[rows] for m, t in targets.items()},
                present[rows],
                z[rows],
            )
        else:
            loss, logs = self.objective(
                output, batch.y, present, targets, present, output.extras["features"]
            )
        logs = {"loss": float(loss.detach()), **logs}
        return loss, logs

    needs_targets = False


# ----------------------------------------------------------------------------- concat


class Concat(_ImperfectBase):
    """Concat Fusion: ``head([z_1; ...; z_M])`` with zeros for a missing modality, full-modality training."""

    augment_default = False

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        self.head = mlp(
            config.embed_dim * len(self.modalities), config.hidden_dim, config.task.n_outputs
        )

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings, present)
        return self._out(self.head(z.flatten(1)), z)


class Augmentation(Concat):
    """Concat Fusion trained with all 2^M - 1 missing patterns of every sample (Sec. IV-B)."""

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
    """Trusted Multi-view Classification: per-modality Dirichlet evidence combined by Dempster's rule.

    A missing modality is a vacuous opinion (b = 0, u = 1). The prediction is the expected
    class probability α / S of the combined opinion (``y_hat = log α``). Multiclass only.
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
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings, present)
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

    def objective(self, output, y, present, targets, observed, full):
        if self.training:
            self.steps += 1
        coef = self.config.kl_weight * min(
            1.0, float(self.steps) / max(1, self.config.anneal_steps)
        )
        loss = dirichlet_loss(output.extras["alpha"], y, coef)
        views, vp = output.extras["views"], output.extras["view_present"]
        for v in range(views.shape[1]):
            rows = vp[:, v]
            if rows.any():
                loss = loss + dirichlet_loss(views[rows, v], y[rows], coef)
        return loss, {}


class ETMC(TMC):
    """Enhanced TMC: TMC plus a pseudo-view whose evidence comes from the concatenated embeddings."""

    pseudo_view = True


# ----------------------------------------------------------------------------- MD


class MD(_ImperfectBase):
    """Multimodal Dynamics: gated features weighted by a TCP confidence, then concatenated.

    Per modality: an informativeness gate w_m = sigmoid(g_m(z_m)) with an l1 penalty, a
    unimodal classifier, and a confidence c_m regressed on the true-class probability of that
    classifier (detached). The fused prediction is ``head([c_1 w_1 z_1; ...])``.
    """

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        E, H, K = config.embed_dim, config.hidden_dim, config.task.n_outputs
        self.gates = nn.ModuleDict({m: nn.Linear(E, E) for m in self.modalities})
        self.classifiers = nn.ModuleDict({m: nn.Linear(E, K) for m in self.modalities})
        self.confidence = nn.ModuleDict({m: mlp(E, H, 1) for m in self.modalities})
        self.head = mlp(E * len(self.modalities), H, K)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings, present)
        gates, logits, conf, parts = [], [], [], []
        for j, m in enumerate(self.modalities):
            w = torch.sigmoid(self.gates[m](z[:, j]))
            zg = z[:, j] * w
            c = torch.sigmoid(self.confidence[m](zg)) * present[:, j : j + 1].to(z.dtype)
            gates.append(w)
            logits.append(self.classifiers[m](zg))
            conf.append(c)
            parts.append(zg * c)
        y_hat = self.head(torch.cat(parts, dim=-1))
        return self._out(
            y_hat,
            z,
            gates=torch.stack(gates, 1),
            unimodal=torch.stack(logits, 1),
            confidence=torch.cat(conf, 1),
        )

    def objective(self, output, y, present, targets, observed, full):
        loss = task_loss(output.y_hat, y, self.task)
        uni, conf = output.extras["unimodal"], output.extras["confidence"]
        for j in range(len(self.modalities)):
            rows = present[:, j]
            if not rows.any():
                continue
            loss = loss + task_loss(uni[rows, j], y[rows], self.task)
            if self.task.kind == "multiclass":
                tcp = (
                    torch.softmax(uni[rows, j], -1)
                    .gather(1, y[rows].long()[:, None])
                    .squeeze(1)
                    .detach()
                )
                loss = loss + F.mse_loss(conf[rows, j], tcp)
        loss = loss + 1e-4 * output.extras["gates"].abs().sum(-1).mean()
        return loss, {}


# ----------------------------------------------------------------------------- VAEs


def _kl_std_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1)


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

    def _recon(self, latent: Tensor, targets: dict[str, Tensor], observed: Tensor) -> Tensor:
        loss = latent.new_zeros(latent.shape[0])
        for j, m in enumerate(self.modalities):
            err = (self.decoders[m](latent) - targets[m]).pow(2).mean(-1)
            loss = loss + err * observed[:, j].to(err.dtype)
        return loss


class MVAE(_VAEBase):
    """Multimodal VAE with a product-of-experts posterior (Wu & Goodman, 2018).

    Joint posterior: the product of the prior N(0, I) and the present modalities' Gaussian
    experts. The classifier reads a sample of the joint latent (its mean at test time); the
    decoders reconstruct every observed modality (flattened input, or the mean frame of a
    sequence). The sub-sampled ELBO terms come from the missing-pattern augmentation.
    """

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings, present)
        mu_m, logvar_m = self.experts(z)
        prec = present.unsqueeze(-1).to(z.dtype) * (-logvar_m).exp()
        T = 1 + prec.sum(1)
        mu = (prec * mu_m).sum(1) / T
        logvar = -T.log()
        latent = self._sample(mu, logvar)
        return self._out(self.classifier(latent), z, mu=mu, logvar=logvar, latent=latent)

    def objective(self, output, y, present, targets, observed, full):
        e = output.extras
        recon = self._recon(e["latent"], targets, observed)
        kl = _kl_std_normal(e["mu"], e["logvar"])
        loss = (
            task_loss(output.y_hat, y, self.task)
            + (self.config.recon_weight * recon + self.config.kl_weight * kl).mean()
        )
        return loss, {"recon": float(recon.mean().detach())}


class MMVAE(_VAEBase):
    """Multimodal VAE with a mixture-of-experts posterior (Shi et al., 2019).

    Each present modality's expert is sampled and decodes every observed modality; the loss
    averages the experts' terms. The prediction averages the classifier's probabilities over
    the present experts' means (``y_hat`` holds log-probabilities).
    """

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings, present)
        mu_m, logvar_m = self.experts(z)
        latent = self._sample(mu_m, logvar_m)  # [B, M, E]
        logits = self.classifier(latent)  # [B, M, K]
        w = present.to(z.dtype) / present.sum(1, keepdim=True).clamp_min(1).to(z.dtype)
        if self.task.kind == "multiclass":
            y_hat = (torch.softmax(logits, -1) * w.unsqueeze(-1)).sum(1).clamp_min(1e-8).log()
        else:
            y_hat = (logits * w.unsqueeze(-1)).sum(1)
        return self._out(y_hat, z, mu=mu_m, logvar=logvar_m, latent=latent, unimodal=logits)

    def objective(self, output, y, present, targets, observed, full):
        e = output.extras
        total = e["latent"].new_zeros(y.shape[0])
        for j in range(len(self.modalities)):
            rows = present[:, j].to(total.dtype)
            logits = e["unimodal"][:, j]
            ce = (
                F.cross_entropy(logits, y.long(), reduction="none")
                if self.task.kind == "multiclass"
                else torch.stack(
                    [task_loss(logits[i : i + 1], y[i : i + 1], self.task) for i in range(len(y))]
                )
            )
            term = ce + self.config.recon_weight * self._recon(e["latent"][:, j], targets, observed)
            term = term + self.config.kl_weight * _kl_std_normal(e["mu"][:, j], e["logvar"][:, j])
            total = total + rows * term
        loss = (total / present.sum(1).clamp_min(1).to(total.dtype)).mean()
        return loss, {}


# ----------------------------------------------------------------------------- MMIN / CRA


class _ResidualAE(nn.Module):
    def __init__(self, dim: int, bottleneck: int) -> None:
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(dim, bottleneck), nn.ReLU())
        self.dec = nn.Linear(bottleneck, dim)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        code = self.enc(x)
        return self.dec(code), code


class _CascadedResidualAE(nn.Module):
    """x_k = x_{k-1} + AE_k(x_{k-1}) (Tran et al., 2017); returns the output and the codes."""

    def __init__(self, dim: int, bottleneck: int, n_blocks: int = 2) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([_ResidualAE(dim, bottleneck) for _ in range(n_blocks)])

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        codes = []
        for block in self.blocks:
            delta, code = block(x)
            x = x + delta
            codes.append(code)
        return x, torch.cat(codes, -1)


class MMIN(_ImperfectBase):
    """Missing Modality Imagination Network (Zhao et al., 2021), on the shared encoders.

    The zero-filled concatenated embedding is mapped by a forward cascaded residual autoencoder
    to an imagined full embedding, trained towards the full sample's embedding (detached); a
    backward autoencoder maps the imagination back to the zero-filled input (cycle
    consistency). The classifier reads the autoencoders' codes and the imagined embedding.
    Unlike MMIN, the target embeddings come from the jointly trained encoders, not from a
    separately pre-trained full-modality network.
    """

    cycle = True

    def __init__(self, config: ImperfectConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__(config, encoders)
        dim = config.embed_dim * len(self.modalities)
        bottleneck = max(8, config.hidden_dim // 2)
        self.forward_ae = _CascadedResidualAE(dim, bottleneck)
        if self.cycle:
            self.backward_ae = _CascadedResidualAE(dim, bottleneck)
        self.head = mlp(dim + 2 * bottleneck, config.hidden_dim, config.task.n_outputs)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        z = self._stack(embeddings, present)
        x = z.flatten(1)
        imagined, codes = self.forward_ae(x)
        return self._out(self.head(torch.cat([imagined, codes], -1)), z, imagined=imagined)

    def objective(self, output, y, present, targets, observed, full):
        loss = task_loss(output.y_hat, y, self.task)
        imagined = output.extras["imagined"]
        loss = loss + self.config.recon_weight * F.mse_loss(imagined, full.flatten(1).detach())
        if self.cycle:
            back, _ = self.backward_ae(imagined)
            zero_filled = output.extras["features"].flatten(1).detach()
            loss = loss + self.config.recon_weight * F.mse_loss(back, zero_filled)
        return loss, {}


class CRA(MMIN):
    """Cascaded residual autoencoder imputation (Tran et al., 2017): MMIN without the cycle term."""

    cycle = False


BASELINES: dict[str, type[Method]] = {
    "Concat Fusion": Concat,
    "Augmentation": Augmentation,
    "MVAE": MVAE,
    "MMVAE": MMVAE,
    "CRA": CRA,
    "MMIN": MMIN,
    "TMC": TMC,
    "MD": MD,
    "ETMC": ETMC,
}
"""The paper's method names (as printed in its tables) -> baseline class."""
