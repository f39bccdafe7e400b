"""Training-scheme baselines of the MLA paper.

- :class:`OGMGE`: on-the-fly gradient modulation with generalisation enhancement
  (Peng et al., CVPR 2022) on the concatenation model.
- :class:`QMF`: quality-aware multimodal fusion (Zhang et al., ICML 2023) on the late-fusion
  model: energy-based uncertainty-aware weights and a history-based rank regulariser.

Every method the MLA paper compares (``"Sum"``, ``"Concat"``, ``"Late Fusion"``, ``"FiLM"``,
``"BiGated"``, ``"OGM-GE"``, ``"QMF"``, ``"MLA"``) is built by
``workbench.methods.build(name, train, seed=..., embed_dim=..., ...)`` from one
:class:`~workbench.models.fusion.FusionConfig`, so every method gets the same encoders (as in
the paper, Sec. 3.1.1); ``workbench.methods.available(paper="mla")`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.base import MultimodalBatch
from ..models.base import Method, Output, task_loss
from ..models.fusion import ConcatFusion, FusionConfig, LateFusion

__all__ = [
    "OGMGE",
    "QMF",
    "OGMGEOptions",
    "QMFOptions",
    "energy_confidence",
    "energy_score",
    "ogm_coefficients",
    "rank_loss",
]


def _require_multiclass(method: Method) -> None:
    if method.task.kind != "multiclass":
        raise ValueError(
            f"{type(method).__name__} is defined for multiclass tasks (softmax scores); "
            f"got a {method.task.kind!r} task."
        )


# ----------------------------------------------------------------------------- OGM-GE


@dataclass(frozen=True)
class OGMGEOptions:
    """Settings of OGM-GE.

    Attributes:
        alpha: modulation strength ``alpha`` of Eq. 10 (the OGM-GE code requires it on the
            command line; the MLA code's default is 0.3, 0.5 is here).
        rule: ``"paper"`` (Eq. 10 of Peng et al., 2022: ``k = 1 - tanh(alpha * rho)`` when
            ``rho > 1``, else 1; also what both authors' codes compute,
            ``1 - tanh(alpha * relu(ratio))``) or ``"shifted"`` (``1 - tanh(alpha * relu(rho - 1))``,
            this workbench's former rule, continuous at ``rho = 1``; a named option only).
        ge: add the generalisation-enhancement Gaussian noise ``N(0, std(grad)^2)`` (OGM-GE;
            without it this is OGM).
        noise_on: which encoder parameters are modulated (and get the GE noise): ``"all"``
            (every parameter of the modality's encoder, the encoder ``phi^u`` that Eq. 10-11
            of the OGM-GE paper modulate) or ``"conv"`` (only 4-D convolution weights, what the
            authors' public code does; on MLP encoders it modulates nothing).
        start_epoch, end_epoch: modulation runs in epochs ``start_epoch <= e <= end_epoch``
            (``--modulation_starts 0 --modulation_ends 50`` of the OGM-GE code); outside them
            the encoders get plain gradients. Epochs are counted from the samples seen
            (``n_train`` per epoch).
        n_train: the training split's size (set by ``workbench.methods.build``); ``None``: every
            step counts as epoch 0.
        seed: seed of the GE noise generator.
    """

    alpha: float = 0.5
    rule: str = "paper"
    ge: bool = True
    noise_on: str = "all"
    start_epoch: int = 0
    end_epoch: int = 50
    n_train: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.noise_on not in ("all", "conv"):
            raise ValueError(f"OGMGEOptions.noise_on={self.noise_on!r}; expected 'all' or 'conv'.")
        if self.rule not in ("paper", "shifted"):
            raise ValueError(f"OGMGEOptions.rule={self.rule!r}; expected 'paper' or 'shifted'.")


def ogm_coefficients(scores: Tensor, alpha: float, rule: str = "paper") -> Tensor:
    r"""Modulation coefficients of OGM-GE (Eq. 9-10 of Peng et al., CVPR 2022).

    .. math:: \rho_m = \frac{s_m}{\operatorname{mean}_{k \ne m} s_k}, \qquad
              k_m = \begin{cases} 1 - \tanh(\alpha \rho_m) & \rho_m > 1 \\ 1 & \text{else}
              \end{cases}

    (Eq. 10; with two modalities ``rho_a = s_a / s_v``, the paper's ratio; the OGM-GE paper has
    two modalities only, and for three the MLA code divides by the *sum* of the others' scores
    and modulates one modality at most). The dominant
    modality has its encoder gradients scaled down, the others keep ``k_m = 1``. Note the jump at
    ``rho = 1``: ``k`` falls from 1 to ``1 - tanh(alpha)``. ``rule="shifted"`` gives the former
    ``1 - tanh(alpha * relu(rho_m - 1))`` (continuous; e.g. 0.755 instead of the paper's 0.365 at
    ``alpha = 0.5, rho = 1.5``).

    Args:
        scores: ``[M]`` summed softmax score of the true class per modality, ``s_m``.
        alpha: modulation strength.
        rule: ``"paper"`` or ``"shifted"``.

    Returns:
        ``[M]`` coefficients in ``(0, 1]``.
    """
    M = scores.shape[0]
    others = (scores.sum() - scores) / max(1, M - 1)
    ratio = scores / others.clamp_min(1e-12)
    if rule == "shifted":
        return 1.0 - torch.tanh(alpha * F.relu(ratio - 1.0))
    if rule != "paper":
        raise ValueError(f"ogm_coefficients: rule={rule!r}; expected 'paper' or 'shifted'.")
    return torch.where(ratio > 1.0, 1.0 - torch.tanh(alpha * ratio), torch.ones_like(ratio))


class OGMGE(ConcatFusion):
    """OGM-GE on the concatenation model (App. A.2 of the MLA paper).

    Each step: the joint cross-entropy is back-propagated; the unimodal scores
    ``s_m = sum_i softmax(W_m h_{m,i} + b / M)[y_i]`` (the head's columns of modality ``m``,
    Eq. 9) give the coefficients of :func:`ogm_coefficients` (Eq. 10); during the modulation
    epochs (``start_epoch <= e <= end_epoch``) every parameter of encoder ``m`` (``noise_on``) has
    its gradient multiplied by ``k_m`` and, with GE, ``N(0, std(grad)^2)`` noise added (Eq. 11
    and Sec. 3.3). The head is never modulated. Authors' code read: ``main.py`` of
    GeWu-Lab/OGM-GE_CVPR2022 (``train_epoch``) and of the MLA repository.
    """

    def __init__(
        self,
        config: FusionConfig,
        options: OGMGEOptions | None = None,
        encoders: nn.ModuleDict | None = None,
    ) -> None:
        super().__init__(config, encoders)
        _require_multiclass(self)
        self.options = options or OGMGEOptions()
        self._noise = torch.Generator().manual_seed(int(self.options.seed))
        self.samples_seen = 0  # training samples seen (the epoch count of the modulation window)

    @property
    def epoch(self) -> int:
        """The current training epoch, counted from the samples seen (``n_train`` per epoch)."""
        n = self.options.n_train
        return self.samples_seen // int(n) if n else 0

    def extra_repr(self) -> str:
        return repr(self.options)

    def training_step(
        self, batch: MultimodalBatch, optimizer: torch.optim.Optimizer
    ) -> dict[str, float]:
        optimizer.zero_grad(set_to_none=True)
        embeddings = self.embed(batch)
        output = self.predict(embeddings, batch.present)
        loss, logs = self.loss(output, batch)
        loss.backward()
        d = self.config.embed_dim
        W, b = self.head.weight.detach(), self.head.bias.detach()
        y = batch.y.long()
        scores = []
        for j, m in enumerate(self.modalities):
            h = embeddings[m].detach() * batch.present[:, j : j + 1]
            out = h @ W[:, j * d : (j + 1) * d].T + b / len(self.modalities)
            scores.append(torch.softmax(out, -1).gather(1, y[:, None]).sum())
        coeffs = ogm_coefficients(torch.stack(scores), self.options.alpha, self.options.rule)
        o = self.options
        active = o.start_epoch <= self.epoch <= o.end_epoch
        self.samples_seen += int(batch.y.shape[0])
        logs["modulated"] = float(active)
        for j, m in enumerate(self.modalities):
            k = float(coeffs[j])
            logs[f"coeff_{m}"] = k
            if not active:
                continue
            for p in self.encoders[m].parameters():
                if p.grad is None or (o.noise_on == "conv" and p.grad.ndim != 4):
                    continue
                std = float(p.grad.std()) if p.grad.numel() > 1 else 0.0  # of the plain gradient
                p.grad.mul_(k)
                if o.ge:
                    noise = torch.randn(p.grad.shape, generator=self._noise) * (std + 1e-8)
                    p.grad.add_(noise.to(p.grad.device, p.grad.dtype))
        optimizer.step()
        return logs


# ----------------------------------------------------------------------------- QMF
#
# Zhang et al., "Provable Dynamic Fusion for Low-Quality Multimodal Data", ICML 2023
# (arXiv:2306.02050), method section. Authors' code: github.com/QingyangZhang/QMF, files
# ``src/models/late_fusion.py`` (= ``text-image-classification/src/models/late_fusion.py``,
# class ``MultimodalLateFusionClf``), ``text-image-classification/train_qmf.py`` (functions
# ``rank_loss``, ``model_forward``), ``text-image-classification/src/utils/utils.py`` (class
# ``History``) and ``RGBD-scene-recognition/{models/QMF.py, train_QMF_nyud2.py,
# utils/crl_utils.py}``.


@dataclass(frozen=True)
class QMFOptions:
    """Settings of QMF.

    Attributes:
        temperature: ``T`` of the energy score ``E(x; T) = -T log sum_k exp(f_k(x) / T)``
            (Eq. 13). The authors' code uses ``T = 1`` (``log(sum(exp(logits)))``).
        alpha, beta: the uncertainty-aware weight ``w^m = alpha * E(x^m) + beta`` (Eq. 9), with
            ``alpha < 0`` so that a more uncertain (higher-energy) modality weighs less. The
            authors' code uses ``alpha = -0.1, beta = 0``: ``energy / 10`` with
            ``energy = logsumexp`` in ``late_fusion.py``, ``-0.1 * energy`` with
            ``energy = -logsumexp`` in ``RGBD-scene-recognition/models/QMF.py``.
        rank_weight: ``lambda`` of the overall loss ``CE(f) + sum_m CE(f^m) + lambda L_reg``.
            ``train_QMF_nyud2.py`` uses ``--lamb 0.1``; the text-image ``train_qmf.py`` adds
            the rank loss unweighted (``lambda = 1``).
        variant: ``"paper"`` or ``"reference_code"``. The latter reproduces the text-image code's
            :func:`rank_loss` and ``History``: the margin enters with the opposite sign
            (``max(0, g (w_i - w_j) - |kappa_i - kappa_j|)``: ``nn.MarginRankingLoss`` with target
            ``-g`` and ``w_j + margin / g``, a sign flip of CRL's code that was not carried to
            the margin), ``kappa`` is the *cumulative* sum of a sample's losses min-max
            normalised over the samples (``History.correctness_normalize``), and the
            history is updated with the current step before the rank loss is computed.
        detach_weights: fuse with ``w.detach()``, so the fused loss does not train the weights
            (``late_fusion.py``); ``False`` lets it (``RGBD-scene-recognition/models/QMF.py``). The
            rank regulariser always sees the undetached weights, as in both.
    """

    temperature: float = 1.0
    alpha: float = -0.1
    beta: float = 0.0
    rank_weight: float = 0.1
    variant: Literal["paper", "reference_code"] = "paper"
    detach_weights: bool = True

    def __post_init__(self) -> None:
        if self.variant not in ("paper", "reference_code"):
            raise ValueError(
                f"QMFOptions.variant={self.variant!r}; expected 'paper' or 'reference_code'."
            )
        if self.temperature <= 0:
            raise ValueError(f"QMFOptions.temperature must be positive; got {self.temperature}.")


def energy_score(logits: Tensor, temperature: float = 1.0) -> Tensor:
    """Energy ``E(x; T) = -T log sum_k exp(f_k(x) / T)`` of QMF (Eq. 13); ``[..., K] -> [...]``."""
    return -temperature * torch.logsumexp(logits / temperature, dim=-1)


def energy_confidence(
    logits: Tensor, temperature: float = 1.0, alpha: float = -0.1, beta: float = 0.0
) -> Tensor:
    """Uncertainty-aware weight ``w = alpha * E(x; T) + beta`` of QMF (Eq. 9).

    ``[..., K]`` logits to ``[...]`` weights. With the defaults (the authors' code) this is
    ``logsumexp(logits) / 10``.
    """
    return alpha * energy_score(logits, temperature) + beta


def rank_loss(
    confidence: Tensor, history: Tensor, variant: Literal["paper", "reference_code"] = "paper"
) -> Tensor:
    r"""History-based rank regulariser of QMF (Eq. 15-16).

    Pairs each sample ``i`` with ``j = i + 1`` (a roll of the batch, as the authors' code does)
    and averages over the pairs whose histories are both known:

    .. math::
        L_{reg} = \max\big(0,\ g(\kappa_i, \kappa_j)\,(w_i - w_j) + |\kappa_i - \kappa_j|\big),
        \qquad g = \operatorname{sign}(\kappa_i - \kappa_j),

    so a sample with the higher historical loss ``kappa`` must have the weight lower by at least
    the difference of histories (``kappa_i >= kappa_j <=> w_i <= w_j``, Eq. 15). Pairs with equal
    histories add 0. ``variant="reference_code"`` subtracts the margin instead (see
    :class:`QMFOptions`).

    Args:
        confidence: ``[B]`` weights ``w`` (differentiable).
        history: ``[B]`` historical losses ``kappa``, NaN for samples never seen.
        variant: ``"paper"`` or ``"reference_code"``.

    Returns:
        scalar loss (0 when no pair counts).
    """
    if confidence.shape[0] < 2:
        return confidence.new_zeros(())
    history = history.to(confidence.device, confidence.dtype)
    diff = history - torch.roll(history, -1)
    known = torch.isfinite(diff)
    if not known.any():
        return confidence.new_zeros(())
    g, margin = torch.sign(diff[known]), diff[known].abs()
    if variant == "reference_code":
        margin = -margin
    w_diff = (confidence - torch.roll(confidence, -1))[known]
    return F.relu(g * w_diff + margin).mean()  # ties: g = 0 and margin = 0


class QMF(LateFusion):
    """Quality-aware multimodal fusion (Zhang et al., 2023) in the late-fusion setting.

    Fused logits ``f(x) = sum_m w^m f^m(x^m)`` with the uncertainty-aware weights
    ``w^m = alpha E(x^m; T) + beta`` (Eq. 9, 13; detached by default, zero for missing
    modalities). Overall loss: ``CE(f) + sum_m CE(f^m) + rank_weight * sum_m L_reg^m``, where
    ``L_reg^m`` is :func:`rank_loss` on modality ``m``'s weights against the history
    ``kappa_i^m`` of its unimodal losses: the mean of sample ``i``'s cross-entropies over the
    epochs seen so far (Eq. 14), looked up by the ``index`` of each sample in its dataset and
    updated after every step.

    Equation numbers are the paper's as a third-party review quotes them (the PDF was not
    available to check them); the code references were read in the authors' repository.
    """

    def __init__(
        self,
        config: FusionConfig,
        options: QMFOptions | None = None,
        encoders: nn.ModuleDict | None = None,
    ) -> None:
        super().__init__(config, encoders)
        _require_multiclass(self)
        self.options = options or QMFOptions()
        self._history_sum = torch.zeros(0, len(self.modalities))
        self._history_count = torch.zeros(0, len(self.modalities))

    def extra_repr(self) -> str:
        return repr(self.options)

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        uni = self.unimodal(embeddings)
        o = self.options
        conf = energy_confidence(uni, o.temperature, o.alpha, o.beta)  # [B, M]
        w = (conf.detach() if o.detach_weights else conf) * present.to(conf.dtype)
        y_hat = (uni * w.unsqueeze(-1)).sum(1)
        return Output(y_hat, {"unimodal": uni, "confidence": conf})

    def history(self, index: Tensor) -> Tensor:
        """``[B, M]`` mean unimodal losses ``kappa`` of samples ``index`` (Eq. 14); NaN: unseen."""
        idx = index.cpu()
        out = torch.full((idx.shape[0], len(self.modalities)), float("nan"))
        known = (idx >= 0) & (idx < self._history_sum.shape[0])
        if known.any():
            s, n = self._history_sum[idx[known]], self._history_count[idx[known]]
            out[known] = torch.where(n > 0, s / n.clamp_min(1), torch.full_like(s, float("nan")))
        return out

    def reference_code_history(self, index: Tensor) -> Tensor:
        """``[B, M]`` history of the authors' code: cumulative losses, min-max normalised.

        ``History.correctness_normalize``: ``(s_i - min s) / (max s - min s)`` per modality, with
        ``s`` the per-sample sums of losses over the indices stored so far (0 for those not yet
        seen); NaN for indices beyond them.
        """
        idx = index.cpu()
        out = torch.full((idx.shape[0], len(self.modalities)), float("nan"))
        known = (idx >= 0) & (idx < self._history_sum.shape[0])
        if known.any():
            s = self._history_sum
            lo, hi = s.min(0).values, s.max(0).values
            out[known] = (s[idx[known]] - lo) / (hi - lo)  # 0/0 = NaN: no pair counts
        return out

    def _record(self, index: Tensor, losses: Tensor, present: Tensor) -> None:
        idx = index.cpu()
        keep = idx >= 0
        if not keep.any():
            return
        n = int(idx[keep].max()) + 1
        if n > self._history_sum.shape[0]:
            grow = n - self._history_sum.shape[0]
            self._history_sum = torch.cat(
                [self._history_sum, torch.zeros(grow, len(self.modalities))]
            )
            self._history_count = torch.cat(
                [self._history_count, torch.zeros(grow, len(self.modalities))]
            )
        p = present.cpu().float()[keep]
        self._history_sum.index_put_((idx[keep],), losses.detach().cpu()[keep] * p, accumulate=True)
        self._history_count.index_put_((idx[keep],), p, accumulate=True)

    def loss(self, output: Output, batch: MultimodalBatch) -> tuple[Tensor, dict[str, float]]:
        fused = task_loss(output.y_hat, batch.y, self.task)
        uni_loss, logs = super().loss(output, batch)
        present = output.extras.get("present", batch.present)
        total = fused + uni_loss
        o = self.options
        if self.training and batch.index is not None and o.rank_weight > 0:
            uni, conf = output.extras["unimodal"], output.extras["confidence"]
            per_sample = torch.stack(
                [
                    F.cross_entropy(uni[:, j], batch.y.long(), reduction="none")
                    for j in range(len(self.modalities))
                ],
                1,
            )
            if o.variant == "reference_code":  # train_qmf.py: History update, then rank loss
                self._record(batch.index, per_sample, present)
                hist = self.reference_code_history(batch.index)
            else:  # Eq. 14: the epochs before this step
                hist = self.history(batch.index)
                self._record(batch.index, per_sample, present)
            reg = conf.new_zeros(())
            for j in range(len(self.modalities)):
                rows = present[:, j]
                if rows.sum() > 1:
                    reg = reg + rank_loss(conf[rows, j], hist[rows.cpu(), j], o.variant)
            total = total + o.rank_weight * reg
            logs["rank"] = float(reg.detach())
        logs.update(loss=float(total.detach()), loss_fused=float(fused.detach()))
        return total, logs
