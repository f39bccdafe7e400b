"""The robustness grid: shape, known answers, shared corruption draws, tables, references."""

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from workbench.corruptions import Clean, MissingModality, UniformNoise
from workbench.data.base import MultimodalDataset, Task
from workbench.evaluation import (
    COLUMNS,
    describe_condition,
    embedding_scale,
    paper_vs_workbench,
    predict,
    relative_to_clean,
    robustness,
    summarize,
    table,
    table_numeric,
)
from workbench.models.base import Method, Output
from workbench.reference import PAPERS, level_value, load_reference

K = 3
TASK = Task("multiclass", K, "accuracy")


class OnlyA(Method):
    """Predicts the class from modality ``a`` alone (identity), ignoring ``b``.

    ``a`` holds the one-hot class, so clean accuracy is 1; a missing ``a`` gives zero logits,
    hence the constant prediction ``argmax(0) = 0``.
    """

    def __init__(self, scale=1.0):
        super().__init__()
        self.task = TASK
        self.modalities = ("a", "b")
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def embed(self, batch):
        return {"a": batch.inputs["a"] * self.scale, "b": batch.inputs["b"]}

    def predict(self, embeddings, present):
        return Output(embeddings["a"] * present[:, :1].float())


@pytest.fixture
def dataset(generator):
    n = 120
    y = torch.arange(n) % K
    a = torch.nn.functional.one_hot(y, K).float()
    b = torch.randn(n, 5, generator=generator)
    return MultimodalDataset("known", {"a": a, "b": b}, y, TASK, split="test")


def test_grid_shape_and_columns(dataset):
    models = {"only_a": OnlyA(), "only_a_x2": OnlyA(2.0)}
    conditions = [Clean(), UniformNoise("b", 1.0), MissingModality("a", 0.5)]
    df = robustness(models, dataset, conditions, metrics=["accuracy", "f1_macro"], seeds=(0, 1, 2))
    assert len(df) == 2 * 3 * 2 * 3
    assert list(df.columns[: len(COLUMNS)]) == list(COLUMNS)
    key = ["method", "dataset", "condition", "modality", "level", "metric", "seed"]
    assert not df.duplicated(key).any()
    assert set(df["condition"]) == {"normal", "noise", "missing"}
    assert set(df.loc[df.condition == "noise", "level"]) == {1.0}
    assert set(df.loc[df.condition == "missing", "modality"]) == {"a"}
    assert (df["dataset"] == "known").all()


def test_known_answers(dataset):
    conditions = [
        Clean(),
        UniformNoise("b", 3.0),
        UniformNoise("b", 3.0, level="input"),
        MissingModality("a", 1.0),
    ]
    df = robustness(OnlyA(), dataset, conditions, seeds=(0, 1))
    acc = df.set_index(["condition", "seed"])["value"]
    assert (df.loc[df.condition == "normal", "value"] == 1.0).all()
    # noise on the ignored modality changes nothing
    assert (df.loc[df.condition == "noise", "value"] == 1.0).all()
    # without `a` every prediction is class 0: accuracy = share of class 0
    share0 = float((dataset.y == 0).float().mean())
    assert acc.loc[("missing", 0)] == pytest.approx(share0)
    pred = predict(
        OnlyA(), dataset, [MissingModality("a", 1.0)], generator=torch.Generator().manual_seed(0)
    )
    assert np.allclose(pred.scores, pred.scores[0])  # constant predictions
    assert not pred.present[:, 0].any() and pred.present[:, 1].all()


def test_partial_missing_matches_closed_form(dataset):
    corruption = MissingModality("a", 0.4, level="input")
    df = robustness(OnlyA(), dataset, [corruption], seeds=(3,))
    pred = predict(OnlyA(), dataset, [corruption], generator=torch.Generator().manual_seed(3))
    # right when `a` is kept, or when it is dropped and the class happens to be 0
    expected = np.mean(pred.present[:, 0] | (pred.y == 0))
    assert df["value"].item() == pytest.approx(expected)
    assert 0.2 < 1 - pred.present[:, 0].mean() < 0.6


def test_methods_see_the_same_missing_samples(dataset):
    conditions = [MissingModality("a", 0.5)]
    presents = []
    for model in (OnlyA(), OnlyA(3.0)):
        p = predict(model, dataset, conditions, generator=torch.Generator().manual_seed(11))
        presents.append(p.present)
    assert np.array_equal(*presents)
    df = robustness({"x1": OnlyA(), "x3": OnlyA(3.0)}, dataset, conditions, seeds=(11,))
    assert df.loc[df.method == "x1", "value"].item() == df.loc[df.method == "x3", "value"].item()
    other = robustness(OnlyA(), dataset, conditions, seeds=(12,))
    p12 = predict(OnlyA(), dataset, conditions, generator=torch.Generator().manual_seed(12))
    assert not np.array_equal(presents[0], p12.present)
    assert other["seed"].item() == 12


def test_models_per_training_seed_and_labelled_conditions(dataset):
    df = robustness(
        {"only_a": {0: OnlyA(), 1: OnlyA(2.0)}},
        dataset,
        {"both": [UniformNoise("b", 0.5), MissingModality("a", 0.5)], "clean": None},
        seeds=(5, 6, 7),
    )
    assert sorted(df["seed"].unique()) == [0, 1]  # the training seeds, not `seeds`
    assert set(df["condition"]) == {"both", "clean"}
    both = df[df.condition == "both"].iloc[0]
    assert both["modality"] == "b+a" and both["level"] == 0.5


def test_describe_composed_condition():
    info = describe_condition([UniformNoise("b", 0.5), MissingModality("a", 0.25)])
    assert (
        info["condition"] == "noise+missing" and info["modality"] == "b+a" and info["level"] == 0.5
    )
    assert describe_condition(None)["condition"] == "normal"
    assert describe_condition([Clean()])["level"] == 0.0


def test_bad_arguments(dataset):
    with pytest.raises(ValueError, match="'c'"):
        robustness(OnlyA(), dataset, [UniformNoise("c", 1.0)])
    with pytest.raises(ValueError, match="Unknown metric"):
        robustness(OnlyA(), dataset, [Clean()], metrics=["auc"])
    with pytest.raises(ValueError, match="Method"):
        robustness({}, dataset, [Clean()])


def tidy(values, method="m", condition="noise"):
    return pd.DataFrame(
        [
            {
                "method": method,
                "condition": condition,
                "modality": "a",
                "level": lv,
                "metric": "accuracy",
                "seed": s,
                "value": v,
            }
            for (lv, s), v in values.items()
        ]
    )


def test_table_mean_std_strings_and_numbers():
    df = pd.concat(
        [
            tidy({(0.5, 0): 0.8, (0.5, 1): 0.6, (1.0, 0): 0.5, (1.0, 1): 0.5}),
            tidy({(0.5, 0): 0.9}, method="n"),
        ]
    )
    num = table_numeric(df, rows="method", columns="level")
    assert num[("mean", 0.5)].loc["m"] == pytest.approx(0.7)
    assert num[("std", 0.5)].loc["m"] == pytest.approx(np.std([0.8, 0.6], ddof=1))
    assert num[("std", 0.5)].loc["n"] == 0.0  # one seed: std 0
    strings = table(df, rows="method", columns="level", fmt="{:.2f}")
    assert strings.loc["m", 0.5] == "0.70 ± 0.14"
    assert strings.loc["n", 1.0] == ""  # not evaluated
    # severities sorted, text levels in order of appearance
    shuffled = pd.concat(
        [tidy({(1.0, 0): 0.5}), tidy({(0.25, 0): 0.7}, condition="missing"), tidy({(0.5, 0): 0.6})]
    )
    assert list(table(shuffled, columns="level").columns) == [0.25, 0.5, 1.0]
    assert list(table(shuffled, columns=["condition", "level"]).columns) == [
        ("noise", 0.5),
        ("noise", 1.0),
        ("missing", 0.25),
    ]
    s = summarize(df, ["method", "level"])
    assert s.loc[(s.method == "m") & (s.level == 1.0), "n"].item() == 2


def test_paper_vs_workbench_join_and_retention():
    ours = pd.concat(
        [
            tidy({(0.0, 0): 0.8, (0.0, 1): 0.8}, condition="normal"),
            tidy({(3.0, 0): 0.6, (3.0, 1): 0.4}),
        ]
    )
    paper = pd.DataFrame(
        {
            "method": ["m", "m", "m"],
            "condition": ["normal", "noise", "missing"],
            "metric": "accuracy",
            "level": [0.0, 3.0, 0.5],
            "value": [0.9, 0.45, 0.7],
            "std": [np.nan, 0.01, np.nan],
        }
    )
    out = paper_vs_workbench(paper, ours, on=["method", "condition", "metric"])
    noise = out[out.condition == "noise"].iloc[0]
    assert noise["paper"] == 0.45 and noise["paper_std"] == 0.01
    assert noise["workbench"] == pytest.approx(0.5) and noise["n_workbench"] == 2
    assert noise["difference"] == pytest.approx(0.05)
    assert np.isnan(
        out[out.condition == "missing"]["workbench"].item()
    )  # left join keeps the paper row
    rel = relative_to_clean(ours)
    assert rel.loc[rel.condition == "noise", "retention"].tolist() == pytest.approx([0.75, 0.5])
    assert (rel.loc[rel.condition == "normal", "retention"] == 1).all()
    with pytest.raises(ValueError, match="lacks"):
        paper_vs_workbench(paper, ours, on=["dataset"])


def test_load_reference_and_levels():
    for paper in PAPERS:
        df = load_reference(paper)
        assert len(df) > 50 and df["value"].dtype.kind == "f" and df["value"].notna().all()
        assert {"table", "method", "condition", "modality", "level", "metric"} <= set(df.columns)
    wma = load_reference("wma")
    row = wma.query(
        "table == '1' and dataset == 'Hateful Memes' and method == 'ViLT' and condition == 'normal'"
    )
    assert row["value"].item() == pytest.approx(float(row["value_text"].item()))
    assert level_value("amplitude=3") == 3.0
    assert level_value("missing_rate=50") == 0.5
    assert level_value("sigma=0.18;p=0.1", key="p") == 0.1
    assert level_value("") == 0.0
    with pytest.raises(ValueError, match="Unknown paper"):
        load_reference("clip")
    with pytest.raises(ValueError, match="no key"):
        level_value("amplitude=3", key="sigma")


def test_embedding_scale_counts_real_tokens_of_present_samples_only():
    """RMS over real tokens of present samples: padding (zeros) and missing samples (here
    large values) are left out, so the closed forms hold exactly."""
    n = 6
    y = torch.arange(n) % K
    a = torch.nn.functional.one_hot(y, K).float()
    a[0] = 50.0  # sample 0 has no `a`: its values must not count
    b = [torch.full((1 + i % 3, 2), 2.0) for i in range(n)]  # variable length, zero-padded
    present = torch.ones(n, 2, dtype=torch.bool)
    present[0, 0] = False
    ds = MultimodalDataset("known", {"a": a, "b": b}, y, TASK, present=present, split="test")
    df = embedding_scale({"m": {7: OnlyA(scale=2.0)}}, ds, noise_amplitude=3.0, batch_size=4)
    got = df.set_index("modality")
    assert list(df["seed"]) == [7, 7] and list(df["method"]) == ["m", "m"]
    np.testing.assert_allclose(got.loc["a", "embedding_rms"], 2.0 / np.sqrt(K), rtol=1e-6)
    np.testing.assert_allclose(got.loc["b", "embedding_rms"], 2.0, rtol=1e-6)
    np.testing.assert_allclose(got["noise_rms"], np.sqrt(3.0), rtol=1e-6)
    np.testing.assert_allclose(
        got["noise_to_signal"], got["noise_rms"] / got["embedding_rms"], rtol=1e-6
    )
