"""Tests of the MLA paper's baselines (workbench.methods.baselines, workbench.models.fusion).

QMF has its own file, test_qmf.py."""

import pytest
import torch

from workbench import methods
from workbench.data.synthetic import make_synthetic
from workbench.evaluation import evaluate
from workbench.methods.baselines import OGMGE, QMF, OGMGEOptions, ogm_coefficients
from workbench.models.encoders import make_encoders
from workbench.models.fusion import (
    BiGatedFusion,
    ConcatFusion,
    FiLMFusion,
    FusionConfig,
    LateFusion,
    SumFusion,
)
from workbench.training import Trainer, TrainerConfig

METHODS = methods.available(paper="mla")


@pytest.fixture(scope="module")
def splits():
    return make_synthetic(360, dims=(8, 5), signal=(2.5, 1.5), seed=5)


@pytest.mark.parametrize("name", METHODS)
def test_each_method_trains_and_beats_chance(splits, name):
    model = methods.build(name, splits["train"], seed=0, embed_dim=16, hidden=(16,))
    cfg = TrainerConfig(
        max_epochs=6, lr=5e-3, batch_size=32, progress=False, patience=None, device="cpu"
    )
    model = Trainer(cfg).fit(model, splits["train"], splits["validation"])
    assert evaluate(model, splits["test"]) > 0.5  # 4 balanced classes: chance is 0.25


def test_same_encoders_for_every_method(splits):
    shapes = {
        name: [
            tuple(p.shape)
            for p in methods.build(name, splits["train"], embed_dim=16).encoders.parameters()
        ]
        for name in METHODS
    }
    assert len({tuple(v) for v in shapes.values()}) == 1


def test_build_is_seeded_and_leaves_global_rng(splits):
    state = torch.random.get_rng_state()
    a = methods.build("Concat", splits["train"], seed=1)
    b = methods.build("Concat", splits["train"], seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="Unknown method"):
        methods.build("Nope", splits["train"])


@pytest.mark.parametrize(
    "cls",
    [SumFusion, ConcatFusion, LateFusion, FiLMFusion, BiGatedFusion, OGMGE, QMF],
    ids=lambda c: c.__name__,
)
def test_given_encoders_are_used_as_they_are(splits, cls):
    config = FusionConfig.for_dataset(splits["train"], embed_dim=8, hidden=(8,))
    shared = make_encoders(config)
    model = cls(config, encoders=shared)
    assert model.encoders is shared
    assert all(model.encoders[m] is shared[m] for m in model.modalities)
    batch = splits["train"].full_batch()
    assert model(batch).y_hat.shape[0] == len(batch.y)
    with pytest.raises(ValueError, match="no encoder for"):
        cls(config, encoders=torch.nn.ModuleDict({"m0": shared["m0"]}))


@pytest.mark.parametrize("name", METHODS)
def test_registry_passes_shared_encoders_to_every_method(splits, name):
    shared = make_encoders(FusionConfig.for_dataset(splits["train"], embed_dim=16))
    model = methods.build(name, splits["train"], encoders=shared, seed=0, embed_dim=16)
    assert model.encoders is shared


def test_ogm_coefficients_slow_down_only_the_dominant_modality():
    k = ogm_coefficients(torch.tensor([30.0, 10.0]), alpha=0.5)
    assert k[1] == 1.0 and k[0] < 1.0
    assert torch.allclose(k[0], 1 - torch.tanh(torch.tensor(0.5 * 3.0)))  # Eq. 10: tanh(alpha rho)
    assert torch.equal(ogm_coefficients(torch.tensor([5.0, 5.0, 5.0]), 1.0), torch.ones(3))


def test_ogm_coefficient_is_the_papers_eq_10():
    # alpha = 0.5, rho = 1.5 (hand computation): 1 - tanh(0.75) = 0.3649 (paper's Eq. 10);
    # the former rule 1 - tanh(0.5 * (1.5 - 1)) = 0.7551 stays as rule="shifted"
    k = ogm_coefficients(torch.tensor([1.5, 1.0]), alpha=0.5)
    assert abs(float(k[0]) - 0.3649) < 1e-4 and float(k[1]) == 1.0
    shifted = ogm_coefficients(torch.tensor([1.5, 1.0]), alpha=0.5, rule="shifted")
    assert abs(float(shifted[0]) - 0.7551) < 1e-4
    with pytest.raises(ValueError, match="rule"):
        OGMGEOptions(rule="nope")


def test_ogm_ge_modulates_only_within_its_epochs(splits):
    config = FusionConfig.for_dataset(splits["train"], embed_dim=8, hidden=(8,), dropout=0.0)
    batch = splits["train"].full_batch().select(torch.arange(32))
    model = OGMGE(config, OGMGEOptions(alpha=0.5, ge=False, start_epoch=0, end_epoch=0, n_train=32))
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    assert model.training_step(batch, opt)["modulated"] == 1.0  # epoch 0
    plain = ConcatFusion(config)
    plain.load_state_dict(model.state_dict())
    logs = model.training_step(batch, opt)  # epoch 1 > end_epoch: plain gradients
    assert logs["modulated"] == 0.0 and min(logs["coeff_m0"], logs["coeff_m1"]) < 1.0
    plain.loss(plain(batch), batch)[0].backward()
    for p, q in zip(model.encoders.parameters(), plain.encoders.parameters()):
        assert torch.allclose(p.grad, q.grad)
    built = methods.build("OGM-GE", splits["train"], seed=0, embed_dim=8, hidden=(8,))
    assert built.options.n_train == len(splits["train"]) and built.options.end_epoch == 50


def test_ogm_ge_noise_reaches_every_encoder_parameter(splits):
    config = FusionConfig.for_dataset(splits["train"], embed_dim=8, hidden=(8,), dropout=0.0)
    batch = splits["train"].full_batch()
    plain = methods.build(
        "Concat", splits["train"], seed=0, embed_dim=8, hidden=(8,), dropout=0.0, encoder="mlp"
    )
    plain.loss(plain(batch), batch)[0].backward()
    model = OGMGE(config, OGMGEOptions(alpha=0.0, ge=True))  # alpha=0: k=1, only the noise acts
    model.load_state_dict(plain.state_dict())
    model.training_step(batch, torch.optim.SGD(model.parameters(), lr=0.0))
    for (name, p), q in zip(model.encoders.named_parameters(), plain.encoders.parameters()):
        assert not torch.allclose(p.grad, q.grad), name  # biases and weights alike
    assert torch.allclose(
        model.head.weight.grad, plain.head.weight.grad
    )  # the head is not modulated
