"""MLA: multimodal learning with alternating unimodal adaptation (the MLA paper).

- Alternating unimodal learning (Eq. 1-2): iteration ``t`` trains only modality
  ``m_t = t mod M`` through its encoder ``h_{m_t}`` and the shared head ``g``; the other
  encoders get no gradient (``None``, so no optimiser, momentum or weight decay touches them).
- Head gradient modification, HGM (Eq. 3-4): a recursive-least-squares projector ``P`` built
  from the mean encoded feature of each step multiplies the head's gradient, so the head's
  update is (nearly) orthogonal to the features of the previously trained modality. The head
  ``y = W h + b`` is treated as ``[W b] [h; 1]``: ``P`` acts on the augmented ``[h; 1]``, so the
  weight and the bias are projected consistently. ``P`` is rescaled to a largest eigenvalue of 1
  after each update (:func:`rescale_projector`; Eq. 3 alone drives ``P`` to 0 when the mean
  features drift, and the head stops learning); ``MLA.hgm_history`` records its spectrum and the
  head's update norm. Eq. 4 is an SGD step: under Adam the projection does not hold (a warning).
- Test-time dynamic fusion, DF (Eq. 5-7): per-sample entropy of each modality's softmax,
  weights ``lambda_m = softmax_m(max_v e_v - e_m)`` over the present modalities.

The experiment of the notebook ``03_mla`` (protocols, profiles, the paper-vs-workbench table)
is :mod:`workbench.experiments.mla`; build MLA and its baselines with
``workbench.methods.build("MLA", train, ...)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from ..data.base import MultimodalBatch
from ..models.base import Method, Output, task_loss
from ..models.encoders import make_encoders
from ..models.fusion import FusionConfig, shared_encoders

__all__ = [
    "HGMOptimizerWarning",
    "MLA",
    "MLAConfig",
    "dynamic_fusion",
    "entropy_weights",
    "project_gradient",
    "reference_rls_update",
    "rescale_projector",
    "rls_update",
]


# ----------------------------------------------------------------------------- Eq. 3-4


class HGMOptimizerWarning(UserWarning):
    """Head gradient modification (Eq. 4, an SGD step) run under an adaptive optimiser."""


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


def rescale_projector(P: Tensor, scale: str) -> Tensor:
    """Rescale the projector after its Eq. 3 update (``MLAConfig.scale``).

    - ``"none"``: Eq. 3 as printed. ``P``'s eigenvalues along every mean feature seen shrink
      like ``1 / (1 + n |h|^2 / alpha)`` after ``n`` such steps, so when the mean features drift
      through many directions ``P -> 0`` and the head stops learning.
    - ``"max"``: ``P / lambda_max(P)``: ``P = I`` stays ``I`` (the paper's plain step at the start),
      a direction never constrained keeps the full step, and only the *relative* constraint
      survives, so ``P`` cannot vanish. The authors' code rescales ``P`` too (to unit Frobenius
      norm after every update, ``GSPlugin.before_update`` in ``utils/utils.py``).
    - ``"frobenius"``: ``P / ||P||_F``, exactly the authors' code (which divides the head's step by
      up to ``sqrt(s + 1)`` at the start, when ``P = I``).

    Rescaling never changes ``P``'s eigenvectors nor its null space: the update stays orthogonal
    to the same features (Eq. 4's direction); only its length changes.
    """
    if scale == "none":
        return P
    if scale == "max":
        return P / torch.linalg.eigvalsh(P).amax().clamp_min(1e-12)
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
        alpha: the RLS regulariser ``alpha`` of Eq. 3 (the paper gives no value; the authors'
            code decays it within each epoch from 0.1 to 0.01, OWM uses 1e-5 ... 1e-1 per layer;
            a smaller ``alpha`` constrains harder, so ``P`` collapses sooner).
        scale: how ``P`` is rescaled after each Eq. 3 update (:func:`rescale_projector`):
            ``"max"`` (default: unit largest eigenvalue, so ``P`` cannot vanish and the head
            keeps learning), ``"none"`` (Eq. 3 as printed) or ``"frobenius"`` (the authors'
            code). Measured on ``av_digits`` with the full profile (SGD, about 1,550 steps,
            128-wide encoders): 4 of P's 129 eigenvalues fall below 0.1 with ``"none"`` and
            ``"max"`` alike (the mean features stay in a few directions there) and the head's
            update is about a third of the unprojected one; with drifting features ``"none"``
            collapses (tests/methods/test_mla.py). ``P`` is never reset, a single ``P`` covers the head's weight and bias (the
            head is one layer, so "per-layer ``P``" as in OWM is this one ``P``).
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
        record_every: record ``P``'s spectrum and the head's update norm every this many
            unimodal steps in :attr:`MLA.hgm_history` (0: never).

    HGM is defined for SGD (Eq. 4 is ``phi <- phi - gamma P grad``; with momentum the velocity
    is a sum of projected gradients, so it stays in ``P``'s range while ``P`` changes slowly).
    Adam and AdamW divide each coordinate by its own running scale, which turns the projected
    step out of ``P``'s range: :meth:`MLA.training_step` warns (``HGMOptimizerWarning``) once
    per model when HGM runs under any optimiser but :class:`torch.optim.SGD`.
    """

    fusion: FusionConfig
    hgm: bool = True
    dynamic_fusion: bool = True
    alpha: float = 1.0
    projector: str = "shared"
    hgm_variant: str = "paper"
    alternate: str = "batch"
    scale: str = "max"
    record_every: int = 1

    def __post_init__(self) -> None:
        if self.alpha <= 0:
            raise ValueError(f"MLAConfig.alpha must be > 0; got {self.alpha}.")
        for name, value, allowed in (
            ("projector", self.projector, ("shared", "per_modality")),
            ("hgm_variant", self.hgm_variant, ("paper", "reference")),
            ("alternate", self.alternate, ("batch", "within_batch")),
            ("scale", self.scale, ("max", "none", "frobenius")),
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
        self._warned = False
        self.hgm_history: list[dict[str, Any]] = []
        """Every ``config.record_every`` unimodal steps: ``step``, ``modality``,
        ``update_norm`` (Frobenius norm of the head's actual update ``[dW db]`` of that step)
        and ``eigenvalues`` (ascending, of the projector that step used; ``None`` at ``t = 0``
        or with HGM off). Not saved with the weights: a model loaded from a checkpoint has an
        empty history."""

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
        if self.config.hgm and not self._warned and not isinstance(optimizer, torch.optim.SGD):
            self._warned = True
            warnings.warn(
                f"MLA's head gradient modification (Eq. 4) is an SGD step; under "
                f"{type(optimizer).__name__} the per-coordinate scaling turns the projected update "
                "out of P's range, so HGM is not the paper's. Use optimizer='sgd' to judge HGM.",
                HGMOptimizerWarning,
                stacklevel=2,
            )
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
        P = None
        if self.config.hgm:
            P = self._modify_head_gradient(h.detach(), j, first=(t == 0))
        every = self.config.record_every
        record = every > 0 and t % every == 0
        if record:
            before = torch.cat([self.head.weight.detach(), self.head.bias.detach()[:, None]], 1)
            before = before.clone()
        optimizer.step()
        if record:
            after = torch.cat([self.head.weight.detach(), self.head.bias.detach()[:, None]], 1)
            self.hgm_history.append(
                {
                    "step": t,
                    "modality": m,
                    "update_norm": float(torch.linalg.matrix_norm(after - before)),
                    "eigenvalues": (
                        # singular values = eigenvalues of the symmetric PSD P (ascending)
                        torch.linalg.svdvals(P.double()).flip(0).cpu().numpy()
                        if P is not None
                        else None
                    ),
                }
            )
        return {f"loss_{m}": float(loss.detach()), "loss": float(loss.detach())}

    @torch.no_grad()
    def _modify_head_gradient(self, h: Tensor, j: int, first: bool) -> Tensor | None:
        """Eq. 3 (update ``P`` with the mean feature) then Eq. 4 (``grad <- grad P``, ``t > 0``)."""
        c = self.config
        h_bar = torch.cat([h.mean(0), h.new_ones(1)]).to(self.projector.dtype)
        k = 0 if c.projector == "shared" else j
        if c.hgm_variant == "paper":
            P_k = rls_update(self.projector[k], h_bar, c.alpha)
        else:  # the reference update already rescales to unit Frobenius norm
            P_k = reference_rls_update(self.projector[k], h_bar, c.alpha)
        self.projector[k] = rescale_projector(P_k, c.scale) if c.hgm_variant == "paper" else P_k
        if first or self.head.weight.grad is None:
            return None  # Eq. 4: the first iteration uses the plain gradient
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
        return P
