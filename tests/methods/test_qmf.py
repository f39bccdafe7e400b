"""QMF (Zhang et al., ICML 2023) against hand computations on tiny seeded inputs.

The "hand" values are computed element by element with :mod:`math` from the formulas of the
paper (energy Eq. 13, weight Eq. 9, history Eq. 14, regulariser Eq. 15-16) and of the authors'
code (``train_qmf.py: rank_loss`` with ``nn.MarginRankingLoss``, ``History``), not with the
functions under test.
"""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from workbench import methods
from workbench.data.synthetic import make_synthetic
from workbench.methods.baselines import (
    QMF,
    QMFOptions,
    energy_confidence,
    energy_score,
    rank_loss,
)
from workbench.models.fusion import FusionConfig

NAN = float("nan")


@pytest.fixture(scope="module")
def splits():
    return make_synthetic(120, dims=(6, 4), signal=(2.0, 1.0), seed=3)


def _energy(row: list[float], t: float) -> float:
    return -t * math.log(sum(math.exp(v / t) for v in row))


def _pair_loss(w_i, w_j, k_i, k_j, sign: float) -> float:
    g = (k_i > k_j) - (k_i < k_j)
    return max(0.0, g * (w_i - w_j) + sign * abs(k_i - k_j))


def _hand_rank_loss(w: list[float], kappa: list[float], sign: float = 1.0) -> float:
    """Mean over the rolled pairs (i, i + 1) whose histories are both known."""
    n = len(w)
    terms = [
        _pair_loss(w[i], w[(i + 1) % n], kappa[i], kappa[(i + 1) % n], sign)
        for i in range(n)
        if not (math.isnan(kappa[i]) or math.isnan(kappa[(i + 1) % n]))
    ]
    return sum(terms) / len(terms) if terms else 0.0


# ----------------------------------------------------------------------------- weights


@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_energy_and_weight_by_hand(generator, temperature):
    logits = torch.randn(4, 3, generator=generator, dtype=torch.float64) * 3
    energy = energy_score(logits, temperature)
    weight = energy_confidence(logits, temperature, alpha=-0.1, beta=0.2)
    for row, e, w in zip(logits.tolist(), energy.tolist(), weight.tolist()):
        assert e == pytest.approx(_energy(row, temperature), rel=1e-12)
        assert w == pytest.approx(-0.1 * _energy(row, temperature) + 0.2, rel=1e-12)


def test_default_weight_is_the_authors_logsumexp_over_ten(generator):
    """late_fusion.py: ``txt_conf = log(sum(exp(txt_out))) / 10``."""
    logits = torch.randn(5, 4, generator=generator, dtype=torch.float64)
    expected = [math.log(sum(math.exp(v) for v in row)) / 10 for row in logits.tolist()]
    assert energy_confidence(logits).tolist() == pytest.approx(expected, rel=1e-12)
    assert energy_confidence(torch.randn(2, 3, 4, generator=generator)).shape == (2, 3)


def test_more_uncertain_logits_weigh_less():
    confident, flat = torch.tensor([6.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 0.0])
    assert energy_score(confident) < energy_score(flat)  # lower energy: less uncertain
    assert energy_confidence(confident) > energy_confidence(flat)  # alpha < 0


# ----------------------------------------------------------------------------- regulariser

W = [1.5, 0.1, 0.2, 0.5]
KAPPA = [2.0, 0.8, 0.4, NAN]  # sample 3 never seen: pairs (2, 3) and (3, 0) do not count


def test_rank_loss_paper_by_hand():
    w = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    loss = rank_loss(w, torch.tensor(KAPPA, dtype=torch.float64))
    # pair (0, 1): g = +1, max(0, 1.4 + 1.2) = 2.6; pair (1, 2): g = +1, max(0, -0.1 + 0.4) = 0.3
    assert loss.item() == pytest.approx((2.6 + 0.3) / 2)  # raw margins, not rescaled
    assert loss.item() == pytest.approx(_hand_rank_loss(W, KAPPA))
    loss.backward()  # both hinges active: d/dw = (e_0 - e_1 + e_1 - e_2) / 2
    assert w.grad.tolist() == pytest.approx([0.5, 0.0, -0.5, 0.0])


def test_rank_loss_reference_code_by_hand():
    loss = rank_loss(torch.tensor(W), torch.tensor(KAPPA), variant="reference_code")
    # pair (0, 1): max(0, 1.4 - 1.2) = 0.2; pair (1, 2): max(0, -0.1 - 0.4) = 0
    assert float(loss) == pytest.approx((0.2 + 0.0) / 2)
    assert float(loss) == pytest.approx(_hand_rank_loss(W, KAPPA, sign=-1.0))


def test_rank_loss_ties_unseen_and_tiny_batches():
    w = torch.tensor([0.3, 0.0, 0.7])
    assert float(rank_loss(w, torch.tensor([0.5, 0.5, 0.5]))) == 0.0  # all ties: g = 0
    # a tie is a zero term of the mean: (0 + max(0, -0.1 + 0.6) + max(0, 0.7 + 0.6)) / 3
    tied = rank_loss(torch.tensor([0.9, 0.1, 0.2]), torch.tensor([1.0, 1.0, 0.4]))
    assert float(tied) == pytest.approx((0.0 + 0.5 + 1.3) / 3)
    assert float(rank_loss(w, torch.tensor([NAN, 0.5, NAN]))) == 0.0  # no known pair
    assert float(rank_loss(w[:1], torch.tensor([1.0]))) == 0.0
    ordered = rank_loss(torch.tensor([-5.0, 0.0]), torch.tensor([2.0, 0.0]))  # margin kept
    assert float(ordered) == 0.0


def test_reference_code_variant_equals_the_authors_margin_ranking_loss(generator):
    """``train_qmf.py: rank_loss``: target ``g``, ``w_j + margin / g`` (g = 0 -> 1), and
    ``nn.MarginRankingLoss(margin=0)(w_i, w_j + ..., -g)``, mean over the batch."""
    w = torch.randn(7, generator=generator, dtype=torch.float64)
    kappa = torch.rand(7, generator=generator, dtype=torch.float64)
    kappa[3] = kappa[4]  # one tie
    w2, k2 = torch.roll(w, -1), torch.roll(kappa, -1)
    g = torch.sign(kappa - k2)
    g_nonzero = torch.where(g == 0, torch.ones_like(g), g)
    authors = torch.nn.MarginRankingLoss(margin=0.0)(w, w2 + (kappa - k2).abs() / g_nonzero, -g)
    assert float(rank_loss(w, kappa, "reference_code")) == pytest.approx(float(authors))
    assert float(rank_loss(w, kappa)) == pytest.approx(_hand_rank_loss(w.tolist(), kappa.tolist()))


# ----------------------------------------------------------------------------- model


def _model(splits, **options) -> tuple[QMF, object]:
    config = FusionConfig.for_dataset(splits["train"], embed_dim=8, hidden=(8,), dropout=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = QMF(config, QMFOptions(**options))
    batch = splits["train"].full_batch().select(torch.arange(6))
    return model, batch


def _hand_weight(f: list[float], alpha: float) -> float:
    """``w = alpha * E(x; T = 1) + 0``."""
    return alpha * _energy(f, 1.0)


def _hand_fused_logits(uni: list, alpha: float) -> list[list[float]]:
    """``sum_m w^m f^m``; ``uni`` is ``[B][M][K]``."""
    out = []
    for per_modality in uni:
        w = [_hand_weight(f, alpha) for f in per_modality]
        k = len(per_modality[0])
        out.append([sum(w[m] * per_modality[m][c] for m in range(len(w))) for c in range(k)])
    return out


def _hand_ce(logits: list[float], y: int) -> float:
    return math.log(sum(math.exp(v) for v in logits)) - logits[y]


@pytest.mark.parametrize("variant", ["paper", "reference_code"])
def test_qmf_loss_by_hand(splits, variant):
    """Two steps at lr = 0 fill the history; the third loss is checked term by term."""
    alpha = -10.0  # weights spread enough for the hinges of both variants to be active
    model, batch = _model(splits, variant=variant, rank_weight=0.3, alpha=alpha)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    model.train()
    for _ in range(2):
        model.training_step(batch, opt)
    out = model(batch)
    loss, logs = model.loss(out, batch)

    uni = out.extras["unimodal"].detach().double()  # [B, M, K]
    y = batch.y.long().tolist()
    n, m_count, k = uni.shape
    assert out.y_hat.shape == (n, k)
    fused = _hand_fused_logits(uni.tolist(), alpha)
    assert out.y_hat.detach().double().tolist() == [
        pytest.approx(r, rel=1e-5, abs=1e-6) for r in fused
    ]
    ce = [[_hand_ce(uni[i, m].tolist(), y[i]) for m in range(m_count)] for i in range(n)]
    fused_ce = sum(_hand_ce(fused[i], y[i]) for i in range(n)) / n
    uni_ce = sum(sum(ce[i][m] for i in range(n)) / n for m in range(m_count))
    w = [[_hand_weight(uni[i, m].tolist(), alpha) for m in range(m_count)] for i in range(n)]
    reg = 0.0
    for m in range(m_count):
        if variant == "paper":  # Eq. 14: mean over the two earlier (identical, lr = 0) steps
            kappa, sign = [ce[i][m] for i in range(n)], 1.0
        else:  # History: 3 cumulative losses (this step included), min-max over the samples
            s = [3 * ce[i][m] for i in range(n)]
            kappa, sign = [(v - min(s)) / (max(s) - min(s)) for v in s], -1.0
        reg += _hand_rank_loss([w[i][m] for i in range(n)], kappa, sign)
    assert loss.item() == pytest.approx(fused_ce + uni_ce + 0.3 * reg, rel=1e-5)
    assert logs["rank"] == pytest.approx(reg, rel=1e-5) and reg > 0
    if variant == "paper":
        assert model.history(batch.index)[:, 0].tolist() == pytest.approx(
            [ce[i][0] for i in range(n)], rel=1e-5
        )  # three identical steps recorded: the mean is this step's loss


def test_history_is_the_mean_over_epochs_and_excludes_missing(splits):
    model, batch = _model(splits)
    present = batch.present.clone()
    present[:2, 1] = False  # modality 1 missing for samples 0, 1
    batch = dataclasses.replace(batch, present=present)
    model._record(batch.index, torch.tensor([[1.0, 2.0]] * 6), present)
    model._record(batch.index, torch.tensor([[3.0, 6.0]] * 6), present)
    h = model.history(batch.index)
    assert h[:, 0].tolist() == [2.0] * 6  # (1 + 3) / 2
    assert h[2:, 1].tolist() == [4.0] * 4 and torch.isnan(h[:2, 1]).all()
    assert torch.isnan(model.history(torch.tensor([500]))).all()  # never seen


def test_weights_are_detached_from_the_fused_loss_unless_asked(splits):
    for detach in (True, False):
        model, batch = _model(splits, detach_weights=detach)
        out = model(batch)
        fused = F.cross_entropy(out.y_hat, batch.y.long())
        (grad,) = torch.autograd.grad(fused, out.extras["confidence"], allow_unused=True)
        assert (grad is None) == detach


def test_missing_modality_gets_zero_weight_and_eval_records_nothing(splits):
    model, batch = _model(splits)
    model.eval()
    present = batch.present.clone()
    present[:, 1] = False
    out = model.predict(model.embed(batch), present)
    uni, conf = out.extras["unimodal"], out.extras["confidence"]
    assert torch.allclose(out.y_hat, conf[:, :1] * uni[:, 0])
    model.loss(model(batch), batch)
    assert model._history_sum.shape[0] == 0  # no rank loss, no history outside training


def test_options_are_validated_and_reach_the_model(splits):
    with pytest.raises(ValueError, match="variant"):
        QMFOptions(variant="nope")
    with pytest.raises(ValueError, match="temperature"):
        QMFOptions(temperature=0.0)
    model = methods.build("QMF", splits["train"], embed_dim=8, variant="reference_code")
    assert model.options.variant == "reference_code" and model.options.alpha == -0.1
