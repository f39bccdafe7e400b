"""The Trainer: determinism, selection on validation, early stopping, the checkpoint cache."""

import pandas as pd
import pytest
import torch
from torch import nn

from workbench import data
from workbench.data.base import MultimodalDataset, Task
from workbench.models.base import Method, Output
from workbench.models.fusion import ConcatFusion, FusionConfig
from workbench.training import Trainer, TrainerConfig, fit_seeds, resolve_device

TASK = Task("multiclass", 2, "accuracy")


@pytest.fixture(scope="module")
def splits():
    return data.load_splits("synthetic", n_samples=240, seed=3)


def make_model(train, seed=0):
    torch.manual_seed(seed)
    return ConcatFusion(FusionConfig.for_dataset(train, embed_dim=16, hidden=(16,), dropout=0.2))


def quiet(**kw):
    return TrainerConfig(progress=False, device="cpu", **kw)


def test_same_seed_same_numbers(splits, tmp_path):
    train, val = splits["train"], splits["validation"]
    runs = []
    for _ in range(2):
        t = Trainer(quiet(max_epochs=4, seed=7, batch_size=32))
        model = t.fit(make_model(train), train, val)
        runs.append((t.history_.drop(columns="seconds"), model.state_dict()))
    pd.testing.assert_frame_equal(runs[0][0], runs[1][0])
    for k in runs[0][1]:
        torch.testing.assert_close(runs[0][1][k], runs[1][1][k], rtol=0, atol=0)
    # a different seed changes the run (shuffling and dropout)
    t = Trainer(quiet(max_epochs=4, seed=8, batch_size=32))
    t.fit(make_model(train), train, val)
    assert not t.history_["train_loss"].equals(runs[0][0]["train_loss"])


class ScriptedMethod(Method):
    """A stub whose validation accuracy at epoch ``e`` is ``script[e - 1]`` exactly.

    ``embed`` passes the targets through; ``predict`` answers correctly for the samples whose
    index is below ``script[e - 1] * 100`` and wrongly for the others. One optimiser step per
    epoch (batch size >= training size) advances the ``epoch`` buffer, which is part of the
    state dict, so the restored weights tell which epoch was selected.
    """

    def __init__(self, script):
        super().__init__()
        self.task = TASK
        self.modalities = ("a",)
        self.script = list(script)
        self.w = nn.Parameter(torch.zeros(1))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))

    def embed(self, batch):
        return {"y": batch.y, "index": batch.index}

    def predict(self, embeddings, present):
        e = int(self.epoch)
        frac = self.script[min(max(e, 1), len(self.script)) - 1]
        y = embeddings["y"].long()
        correct = embeddings["index"] < round(frac * 100)
        guess = torch.where(correct, y, 1 - y)
        return Output(torch.nn.functional.one_hot(guess, 2).float() * 5 + self.w)

    def training_step(self, batch, optimizer):
        logs = super().training_step(batch, optimizer)
        self.epoch += 1
        return logs


def scripted_splits():
    y = torch.arange(100) % 2
    return tuple(
        MultimodalDataset("scripted", {"a": torch.zeros(100, 1)}, y, TASK, split=split)
        for split in ("train", "validation", "test")
    )


def test_selects_on_validation_and_stops_early(monkeypatch):
    train, val, _ = scripted_splits()
    script = [0.5, 0.9, 0.7, 0.6, 0.6, 0.95, 0.99, 0.99]
    seen = set()
    original = MultimodalDataset.__getitem__

    def spy(self, i):
        seen.add(self.split)
        return original(self, i)

    monkeypatch.setattr(MultimodalDataset, "__getitem__", spy)
    t = Trainer(quiet(max_epochs=8, patience=3, batch_size=100))
    model = t.fit(ScriptedMethod(script), train, val)
    # validation peaks at epoch 2; three epochs without improvement stop the run at epoch 5,
    # before the later (higher) epochs are ever reached
    assert t.best_epoch_ == 2
    assert t.best_score_ == pytest.approx(0.9)
    assert t.stopped_early_
    assert t.history_["epoch"].tolist() == [1, 2, 3, 4, 5]
    assert t.history_["val_accuracy"].tolist() == pytest.approx(script[:5])
    assert int(model.epoch) == 2  # the weights of the selected epoch are restored
    assert not model.training
    assert seen == {"train", "validation"}  # the test split is never touched


def test_without_patience_runs_to_the_end_and_keeps_the_best():
    train, val, _ = scripted_splits()
    t = Trainer(quiet(max_epochs=8, patience=None, batch_size=100))
    model = t.fit(ScriptedMethod([0.5, 0.9, 0.7, 0.6, 0.6, 0.95, 0.99, 0.8]), train, val)
    assert len(t.history_) == 8 and not t.stopped_early_
    assert t.best_epoch_ == 7 and int(model.epoch) == 7


def test_cache_reuses_weights_and_a_changed_config_misses(splits, tmp_path):
    train, val = splits["train"], splits["validation"]
    config = quiet(max_epochs=3, seed=1, batch_size=32)
    first = Trainer(config, cache=True, cache_dir=tmp_path)
    trained = first.fit(make_model(train), train, val)
    assert not first.from_cache_
    assert len(list(tmp_path.glob("*.pt"))) == 1

    second = Trainer(config, cache=True, cache_dir=tmp_path)
    fresh = make_model(train)  # same initial weights
    reloaded = second.fit(fresh, train, val)
    assert second.from_cache_
    assert second.best_epoch_ == first.best_epoch_
    pd.testing.assert_frame_equal(second.history_, first.history_)
    for k, v in trained.state_dict().items():
        torch.testing.assert_close(reloaded.state_dict()[k], v, rtol=0, atol=0)

    changed = Trainer(
        quiet(max_epochs=3, seed=1, batch_size=32, lr=5e-4), cache=True, cache_dir=tmp_path
    )
    changed.fit(make_model(train), train, val)
    assert not changed.from_cache_
    other_init = Trainer(config, cache=True, cache_dir=tmp_path)
    other_init.fit(make_model(train, seed=99), train, val)
    assert not other_init.from_cache_
    assert len(list(tmp_path.glob("*.pt"))) == 3


def test_linear_schedule_warms_up_then_decays(splits):
    train, val = splits["train"], splits["validation"]
    t = Trainer(
        quiet(
            max_epochs=6,
            schedule="linear",
            warmup_ratio=0.34,
            batch_size=48,
            patience=None,
            lr=1e-2,
        )
    )
    t.fit(make_model(train), train, val)
    lr = t.history_["lr"].tolist()
    peak = lr.index(max(lr))
    assert 0 < peak < len(lr) - 1
    assert all(a <= b for a, b in zip(lr[:peak], lr[1 : peak + 1]))
    assert all(a >= b for a, b in zip(lr[peak:], lr[peak + 1 :]))
    assert max(lr) <= 1e-2


def test_bad_config_and_device():
    with pytest.raises(ValueError, match="optimizer"):
        TrainerConfig(optimizer="lbfgs")
    with pytest.raises(ValueError, match="schedule"):
        TrainerConfig(schedule="cosine")
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_cache_key_sees_unaligned_rows(splits):
    """Permuting one modality's rows (an unaligned split) must not hit the aligned checkpoint."""
    train, val = splits["train"], splits["validation"]
    model = ConcatFusion(FusionConfig.for_dataset(train))
    trainer = Trainer(TrainerConfig(max_epochs=1, progress=False))
    m = train.modalities[1]
    perm = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))
    inputs = {k: (x[perm] if k == m else x) for k, x in train.inputs.items()}
    unaligned = MultimodalDataset(train.name, inputs, train.y, train.task, split=train.split)
    assert trainer.cache_key(model, train, val) != trainer.cache_key(model, unaligned, val)
    same = MultimodalDataset(train.name, dict(train.inputs), train.y, train.task, split=train.split)
    assert trainer.cache_key(model, train, val) == trainer.cache_key(model, same, val)


def test_cache_key_does_not_depend_on_the_thread_count(generator):
    """The same run started with another torch.set_num_threads must hit the same checkpoint
    (sums of a large split differ in their last digits with the threads' reduction order)."""
    n, d = 2048, 1024  # large enough for a multi-threaded reduction
    x = torch.randn(n, d, generator=generator) * 1e3
    ds = MultimodalDataset(
        "big", {"a": x, "b": x[:, :8].clone()}, torch.arange(n) % 2, Task("binary", 1, "auroc")
    )
    model = ConcatFusion(FusionConfig.for_dataset(ds))
    trainer = Trainer(TrainerConfig(max_epochs=1, progress=False))
    threads = torch.get_num_threads()
    try:
        keys = set()
        for k in (1, 2, 3, 4):
            torch.set_num_threads(k)
            keys.add(trainer.cache_key(model, ds, ds))
    finally:
        torch.set_num_threads(threads)
    assert len(keys) == 1
    other = ds.replace(
        inputs={
            **ds.inputs,
            "a": x.clone().index_put_((torch.tensor([5]), torch.tensor([7])), torch.tensor(0.5)),
        }
    )
    assert trainer.cache_key(model, other, ds) != trainer.cache_key(model, ds, ds)  # one value


def test_fit_seeds_by_name_matches_the_seeded_hand_built_models(splits, tmp_path):
    """The registry's seeded build gives the initial weights of ``torch.manual_seed(s)`` then
    the constructor, so ``fit_seeds`` trains the very models a loop over seeds would."""
    train, validation = splits["train"], splits["validation"]
    options = {"encoder": "mlp", "embed_dim": 16, "hidden": (16,), "dropout": 0.2}
    lines = []
    models, trainers = fit_seeds(
        "Concat", train, validation, (0, 1), method_options=options, log=lines.append,
        max_epochs=2, progress=False, device="cpu",
    )
    assert list(models) == [0, 1] and list(trainers) == [0, 1]
    for s in (0, 1):
        assert trainers[s].config.seed == s
        by_hand = Trainer(quiet(max_epochs=2, seed=s)).fit(make_model(train, s), train, validation)
        got, want = models[s].state_dict(), by_hand.state_dict()
        assert all(torch.equal(got[k], want[k]) for k in want)
        assert lines[s].startswith(f"seed {s}: best epoch ") and "from cache: False" in lines[s]


def test_fit_seeds_with_a_builder_and_its_errors(splits):
    train, validation = splits["train"], splits["validation"]
    built = []

    def build(s):
        built.append(s)
        return make_model(train, s)

    models, _ = fit_seeds(build, train, validation, [3], max_epochs=1, progress=False, device="cpu")
    assert built == [3] and list(models) == [3]
    with pytest.raises(TypeError, match="seeds"):
        fit_seeds(build, train, validation, [0], seed=1)
    with pytest.raises(TypeError, match="method_options"):
        fit_seeds(build, train, validation, [0], method_options={"embed_dim": 8})


def test_progress_lines_go_to_the_workbench_logger(caplog, monkeypatch):
    import logging

    from workbench.training import _Progress
    from workbench.util import logger, show_progress

    monkeypatch.setenv("PAPERMILL_EXECUTION", "1")  # no tqdm bar: plain lines
    with caplog.at_level(logging.INFO, logger="workbench"):
        bar = _Progress(2, True, "fit")
        bar.update(1, {"loss": 0.5})
        bar.close()
        silent = _Progress(2, False, "quiet")
        silent.update(1, {"loss": 0.25})
    assert [r.getMessage() for r in caplog.records if r.name == "workbench"] == [
        "[fit] epoch 1: loss=0.5"
    ]
    before = list(logger.handlers)
    show_progress()
    show_progress()
    assert len(logger.handlers) <= max(1, len(before))
