"""MLA: multimodal learning with alternating unimodal adaptation (the MLA paper).

- Alternating unimodal learning (Eq. 1-2): iteration ``t`` trains only modality
  ``m_t = t mod M`` through its encoder ``h_{m_t}`` and the shared head ``g``; the other
  encoders get no gradient (``None``, so no optimiser, momentum or weight decay touches them).
- Head gradient modification, HGM (Eq. 3-4): a recursive-least-squares projector ``P`` built
  from the mean encoded feature of each step multiplies the head's gradient, so the head's
  update is (nearly) orthogonal to the features of the previously trained modality. The head
  ``y = W h + b`` is treated as ``[W b] [h; 1]``: ``P`` acts on the augmented ``[h; 1]``, so the
  weight and the bias are projected consistently.
- Test-time dynamic fusion, DF (Eq. 5-7): per-sample entropy of each modality's softmax,
  weights ``lambda_m = softmax_m(max_v e_v - e_m)`` over the present modalities.

The experiment of the notebook ``03_mla`` (protocols, profiles, the paper-vs-workbench table)
is :mod:`workbench.experiments.mla`; build MLA and its baselines with
``workbench.methods.build("MLA", train, ...)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..data.base import MultimodalBatch
from ..models.base import Method, Output, task_loss
from ..models.encoders import make_encoders
from ..models.fusion import FusionConfig, shared_encoders

__all__ = [
    "MLA",
    "MLAConfig",
    "dynamic_fusion",
    "entropy_weights",
    "project_gradient",
    "reference_rls_update",
    "rls_update",
]


# ----------------------------------------------------------------------------- Eq. 3-4


def rls_update(P: Tensor, h: Tensor, alpha: float) -> Tensor:
    r"""One recursive-least-squares step of the projector (Eq. 3 of the MLA paper).

    .. math:: q = \frac{P h}{\alpha + h^\top P h}, \qquad P \leftarrow P - q\, h^\top P.

    (The paper prints ``P_t`` in ``q_t``'s numerator; it must be ``P_{t-1}``, as in OWM.)
    ``P`` stays symmetric positive semi-definite, and ``P h`` shrinks by the factor
    ``alpha / (alpha + h^T P h)``: small ``alpha`` makes ``P`` nearly orthogonal to ``h``.

    Args:
        P: ``[s, s]`` symmetric PSD projector.
        h: ``[s]`` feature (the mean encoded feature of the step, augmented with a 1).
        alpha: regulariser ``alpha > 0``.

    Returns:
        the updated ``[s, s]`` projector (symmetrised against round-off).
    """
    Ph = P @ h
    q = Ph / (alpha + h @ Ph)
    P = P - torch.outer(q, Ph)  # q h^T P = q (P h)^T for a symmetric P
    return 0.5 * (P + P.T)


def reference_rls_update(P: Tensor, h: Tensor, alpha: float) -> Tensor:
    """The projector update as written in the authors' public code (a named option only).

    The code divides by ``alpha + k r`` where ``k = P h`` is a column and ``r = h^T`` a row, an
    outer product (an ``[s, s]`` matrix, divided element-wise) where the paper's scalar
    ``h^T P h`` belongs, then rescales ``P`` to unit Frobenius norm. Kept so the two can be
    compared; :func:`rls_update` is the paper's Eq. 3.
    """
    k = (P @ h)[:, None]
    P = P - (k @ k.T) / (alpha + k @ h[None, :])
    return P / torch.linalg.matrix_norm(P).clamp_min(1e-12)


def project_gradient(
    weight_grad: Tensor, bias_grad: Tensor | None, P: Tensor
) -> tuple[Tensor, Tensor | None]:
    """Apply the projector to a linear head's gradient (Eq. 4 of the MLA paper).

    The head ``y = W h + b`` has parameters ``[W b]`` acting on ``[h; 1]``; the modified
    gradient is ``[grad_W grad_b] P`` (``P`` symmetric), so ``[dW db] [x; 1] = 0`` for any ``x``
    in ``P``'s null space.

    Args:
        weight_grad: ``[K, s]``.
        bias_grad: ``[K]`` or ``None`` (a head without bias; then ``P`` is ``[s, s]``).
        P: ``[s + 1, s + 1]`` (with bias) or ``[s, s]``.

    Returns:
        the projected ``(weight_grad, bias_grad)``.
    """
    if bias_grad is None:
        return weight_grad @ P, None
    G = torch.cat([weight_grad, bias_grad[:, None]], dim=1) @ P
    return G[:, :-1].contiguous(), G[:, -1].contiguous()


# ----------------------------------------------------------------------------- Eq. 5-7


def entropy_weights(logits: Tensor, present: Tensor | None = None) -> Tensor:
    r"""Modality importance ``lambda_{m,r}`` of test-time dynamic fusion (Eq. 6-7).

    .. math:: e_{m,r} = -p_{m,r}^\top \log p_{m,r}, \quad
              \lambda_{m,r} = \frac{\exp(\max_v e_{v,r} - e_{m,r})}{\sum_v \exp(\max_v e_{v,r} - e_{v,r})}

    The entropy is over the classes of each sample (the authors' code takes it over the batch
    dimension; here a sample's weights never depend on its batch). Missing modalities get
    weight 0 and are left out of the max and the normalisation.

    Args:
        logits: ``[B, M, K]`` unimodal logits.
        present: ``bool [B, M]`` (default: all present).

    Returns:
        ``[B, M]`` weights, each row summing to 1 (all zeros for a sample with no modality).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    e = -(logp.exp() * logp).sum(-1)  # [B, M]
    if present is None:
        present = torch.ones(e.shape, dtype=torch.bool, device=e.device)
    e_max = e.masked_fill(~present, -torch.inf).amax(dim=1, keepdim=True)
    score = (e_max - e).masked_fill(~present, -torch.inf)
    w = torch.softmax(score, dim=1)
    return torch.nan_to_num(w, nan=0.0).to(logits.dtype)


def dynamic_fusion(logits: Tensor, present: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Entropy-weighted fusion of unimodal logits (Eq. 5): ``y_hat_r = sum_m lambda_{m,r} f_m``.

    Args:
        logits: ``[B, M, K]``; present: ``bool [B, M]``.

    Returns:
        ``(y_hat [B, K], weights [B, M])``.
    """
    w = entropy_weights(logits, present)
    return (w.unsqueeze(-1) * logits).sum(1), w


# ----------------------------------------------------------------------------- the method


@dataclass(frozen=True)
class MLAConfig:
    """Settings of MLA.

    Attributes:
        fusion: encoders and sizes (the same ``FusionConfig`` as the baselines).
        hgm: head gradient modification (Eq. 3-4) on/off (Table 3 ablation).
        dynamic_fusion: entropy-weighted test-time fusion (Eq. 5-7) on/off; off = the mean of
            the present modalities' logits (Table 3 ablation).
        alpha: the RLS regulariser ``alpha`` of Eq. 3.
        projector: ``"shared"`` (the paper's single ``P_t``, updated every iteration with the
            current modality's mean feature, then applied, Algorithm 1 lines 5-6) or
            ``"per_modality"`` (one ``P_m`` per modality, updated with its own features; a step
            of modality ``m`` is projected with the other modalities' projectors only, so the
            head still learns freely along the current modality's features).
        hgm_variant: ``"paper"`` (Eq. 3, weight and bias projected) or ``"reference"`` (the
            authors' code's update, :func:`reference_rls_update`, on the weight only). The
            public code's projection never runs (a parameter-name check never matches), so
            ``hgm=False`` is what that code effectively trains.
        alternate: ``"batch"`` (Eq. 1: one modality per iteration, each batch trains one
            modality) or ``"within_batch"`` (the authors' code: every batch trains each modality
            in turn, one optimiser step per modality; ``t`` still counts unimodal steps).
    """

    fusion: FusionConfig
    hgm: bool = True
    dynamic_fusion: bool = True
    alpha: float = 1.0
    projector: str = "shared"
    hgm_variant: str = "paper"
    alternate: str = "batch"

    def __post_init__(self) -> None:
        if self.alpha <= 0:
            raise ValueError(f"MLAConfig.alpha must be > 0; got {self.alpha}.")
        for name, value, allowed in (
            ("projector", self.projector, ("shared", "per_modality")),
            ("hgm_variant", self.hgm_variant, ("paper", "reference")),
            ("alternate", self.alternate, ("batch", "within_batch")),
        ):
            if value not in allowed:
                raise ValueError(f"MLAConfig.{name}={value!r}; expected one of {allowed}.")
        if self.fusion.task.kind != "multiclass":
            raise ValueError(
                f"MLA's dynamic fusion uses softmax entropies: it needs a multiclass task, got {self.fusion.task.kind!r}."
            )


class MLA(Method):
    """MLA: modality encoders ``h_m``, one shared linear head ``g``, alternating unimodal steps.

    ``predict`` returns the fused logits (Eq. 5) and ``extras["unimodal"]`` (``[B, M, K]``, the
    ``f_m = g(h_m)``) and ``extras["weights"]`` (``[B, M]``, the ``lambda_m``).

    Buffers: ``step`` (the iteration ``t``) and ``projector`` (``[1 or M, s+1, s+1]``, ``P``).
    ``encoders``: shared encoders (one per modality, ``config.fusion.embed_dim`` wide) to use
    instead of building them from ``config.fusion``.
    """

    def __init__(self, config: MLAConfig, encoders: nn.ModuleDict | None = None) -> None:
        super().__init__()
        self.config = config
        self.task = config.fusion.task
        self.modalities = tuple(config.fusion.in_dims)
        s = config.fusion.embed_dim
        self.encoders = (
            make_encoders(config.fusion)
            if encoders is None
            else shared_encoders(encoders, self.modalities, "MLA")
        )
        self.head = nn.Linear(s, self.task.n_outputs)
        n_p = 1 if config.projector == "shared" else len(self.modalities)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("projector", torch.eye(s + 1).repeat(n_p, 1, 1))

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        return {m: self.encoders[m](batch.inputs[m], batch.mask(m)) for m in self.modalities}

    def unimodal(self, embeddings: Mapping[str, Tensor]) -> Tensor:
        """``[B, M, K]`` unimodal logits ``f_m = g(h_m)`` through the shared head."""
        return torch.stack([self.head(embeddings[m]) for m in self.modalities], dim=1)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        uni = self.unimodal(embeddings)
        if self.config.dynamic_fusion:
            y_hat, w = dynamic_fusion(uni, present)
        else:
            w = present.to(uni.dtype)
            w = w / w.sum(1, keepdim=True).clamp_min(1.0)
            y_hat = (w.unsqueeze(-1) * uni).sum(1)
        return Output(y_hat, {"unimodal": uni, "weights": w})

    def modality_at(self, t: int) -> str:
        """The modality trained at iteration ``t``: ``m_t = t mod M`` (Eq. 1)."""
        return self.modalities[int(t) % len(self.modalities)]

    def training_step(
        self, batch: MultimodalBatch, optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        """One (``"batch"``) or ``M`` (``"within_batch"``) alternating unimodal steps on ``batch``."""
        n = 1 if self.config.alternate == "batch" else len(self.modalities)
        logs: dict[str, float] = {}
        for _ in range(n):
            logs.update(self._unimodal_step(batch, optimizer))
        return logs

    def _unimodal_step(
        self, batch: MultimodalBatch, optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        t = int(self.step)
        j = t % len(self.modalities)
        m = self.modalities[j]
        self.step += 1
        optimizer.zero_grad(set_to_none=True)
        rows = batch.present[:, j]
        if not bool(rows.any()):  # no sample has this modality: nothing to learn this iteration
            return {}
        sub = batch.select(rows) if not bool(rows.all()) else batch
        h = self.encoders[m](sub.inputs[m], sub.mask(m))
        loss = task_loss(self.head(h), sub.y, self.task)
        loss.backward()  # gradients reach h_m and g only: the other encoders keep grad=None
        if self.config.hgm:
            self._modify_head_gradient(h.detach(), j, first=(t == 0))
        optimizer.step()
        return {f"loss_{m}": float(loss.detach()), "loss": float(loss.detach())}

    @torch.no_grad()
    def _modify_head_gradient(self, h: Tensor, j: int, first: bool) -> None:
        """Eq. 3 (update ``P`` with the mean feature) then Eq. 4 (``grad <- grad P``, ``t > 0``)."""
        c = self.config
        h_bar = torch.cat([h.mean(0), h.new_ones(1)]).to(self.projector.dtype)
        k = 0 if c.projector == "shared" else j
        if c.hgm_variant == "paper":
            self.projector[k] = rls_update(self.projector[k], h_bar, c.alpha)
        else:
            self.projector[k] = reference_rls_update(self.projector[k], h_bar, c.alpha)
        if first or self.head.weight.grad is None:
            return  # Eq. 4: the first iteration uses the plain gradient
        if c.projector == "shared":
            P = self.projector[0]
        else:
            P = torch.eye(self.projector.shape[-1], device=h.device, dtype=self.projector.dtype)
            for i in range(len(self.modalities)):
                if i != j:
                    P = P @ self.projector[i]
        gW, gb = self.head.weight.grad, self.head.bias.grad
        if c.hgm_variant == "paper":
            new_w, new_b = project_gradient(gW.to(P.dtype), gb.to(P.dtype), P)
            self.head.weight.grad.copy_(new_w)
            self.head.bias.grad.copy_(new_b)
        else:  # the code projects the weight only, with P^T and the non-augmented block
            self.head.weight.grad.copy_(gW @ P[:-1, :-1].T)
