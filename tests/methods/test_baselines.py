"""Tests of the MLA paper's baselines (workbench.methods.baselines, workbench.models.fusion).

QMF has its own file, test_qmf.py."""

import pytest
import torch

from workbench.data.synthetic import make_synthetic
from workbench.evaluation import evaluate
from workbench.methods.baselines import (
    METHODS,
    OGMGE,
    OGMGEOptions,
    build_method,
    ogm_coefficients,
)
from workbench.models.fusion import FusionConfig
from workbench.training import Trainer, TrainerConfig


@pytest.fixture(scope="module")
def splits():
    return make_synthetic(360, dims=(8, 5), signal=(2.5, 1.5), seed=5)


@pytest.mark.parametrize("name", METHODS)
def test_each_method_trains_and_beats_chance(splits, name):
    model = build_method(name, splits["train"], seed=0, embed_dim=16, hidden=(16,))
    cfg = TrainerConfig(
        max_epochs=6, lr=5e-3, batch_size=32, progress=False, patience=None, device="cpu"
    )
    model = Trainer(cfg).fit(model, splits["train"], splits["validation"])
    assert evaluate(model, splits["test"]) > 0.5  # 4 balanced classes: chance is 0.25


def test_same_encoders_for_every_method(splits):
    shapes = {
        name: [
            tuple(p.shape)
            for p in build_method(name, splits["train"], embed_dim=16).encoders.parameters()
        ]
        for name in METHODS
    }
    assert len({tuple(v) for v in shapes.values()}) == 1


def test_build_method_is_seeded_and_leaves_global_rng(splits):
    state = torch.random.get_rng_state()
    a = build_method("Concat", splits["train"], seed=1)
    b = build_method("Concat", splits["train"], seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    with pytest.raises(ValueError, match="Unknown method"):
        build_method("Nope", splits["train"])


def test_ogm_coefficients_slow_down_only_the_dominant_modality():
    k = ogm_coefficients(torch.tensor([30.0, 10.0]), alpha=0.5)
    assert k[1] == 1.0 and k[0] < 1.0
    assert torch.allclose(k[0], 1 - torch.tanh(torch.tensor(0.5 * 2.0)))
    assert torch.equal(ogm_coefficients(torch.tensor([5.0, 5.0, 5.0]), 1.0), torch.ones(3))


def test_ogm_ge_noise_reaches_every_encoder_parameter(splits):
    config = FusionConfig.for_dataset(splits["train"], embed_dim=8, hidden=(8,), dropout=0.0)
    batch = splits["train"].full_batch()
    plain = build_method("Concat", config, seed=0)
    plain.loss(plain(batch), batch)[0].backward()
    model = OGMGE(config, OGMGEOptions(alpha=0.0, ge=True))  # alpha=0: k=1, only the noise acts
    model.load_state_dict(plain.state_dict())
    model.training_step(batch, torch.optim.SGD(model.parameters(), lr=0.0))
    for (name, p), q in zip(model.encoders.named_parameters(), plain.encoders.parameters()):
        assert not torch.allclose(p.grad, q.grad), name  # biases and weights alike
    assert torch.allclose(
        model.head.weight.grad, plain.head.weight.grad
    )  # the head is not modulated
