"""Robustness curves, training curves, result tables, and the quickstart panel."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from workbench import data  # noqa: E402
from workbench.models.fusion import ConcatFusion, FusionConfig  # noqa: E402
from workbench.plotting import results_table, robustness_curve, training_curves  # noqa: E402
from workbench.widgets import robustness_panel  # noqa: E402
from workbench.widgets.quickstart import score_under  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def frame():
    rows = []
    for method, drop in (("a", 0.1), ("b", 0.2)):
        for level in (0.0, 0.5, 1.0):
            for seed, jitter in ((0, -0.02), (1, 0.02)):
                rows.append(
                    {
                        "method": method,
                        "level": level,
                        "seed": seed,
                        "metric": "accuracy",
                        "value": 0.9 - drop * level + jitter,
                    }
                )
    return pd.DataFrame(rows)


def test_robustness_curve_draws_mean_and_band():
    fig, ax = plt.subplots()
    out = robustness_curve(frame(), ax=ax)
    assert out is ax
    lines = ax.get_lines()
    assert [ln.get_label() for ln in lines] == ["a", "b"]
    np.testing.assert_allclose(lines[1].get_ydata(), [0.9, 0.8, 0.7])
    assert len(ax.collections) == 2  # one std band per line
    assert ax.get_ylabel() == "accuracy"
    with pytest.raises(ValueError, match="columns"):
        robustness_curve(frame(), x="amplitude")


def test_training_curves_two_axes():
    history = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.5, 0.4],
            "val_accuracy": [0.6, 0.8, 0.7],
            "lr": 1e-3,
        }
    )
    ax = training_curves(history, best_epoch=2)
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [1.0, 0.5, 0.4])
    np.testing.assert_allclose(ax.right_ax_.get_lines()[0].get_ydata(), [0.6, 0.8, 0.7])
    assert ax.right_ax_.get_ylabel() == "val_accuracy"
    with pytest.raises(ValueError, match="epoch"):
        training_curves(pd.DataFrame())


def test_results_table_styler():
    df = pd.DataFrame({"x": [0.12345, 0.5], "y": ["0.1 ± 0.0", "0.2 ± 0.1"]}, index=["m", "n"])
    styler = results_table(df, caption="cap", highlight="max")
    html = styler.to_html()
    assert "0.123" in html and "cap" in html and "font-weight: bold" in html
    assert results_table(styler) is styler
    with pytest.raises(ValueError, match="DataFrame"):
        results_table([1, 2])


def test_robustness_panel_runs_headless_with_defaults():
    splits = data.load_splits("synthetic", n_samples=120, seed=0)
    torch.manual_seed(0)
    model = ConcatFusion(FusionConfig.for_dataset(splits["train"])).eval()
    panel = robustness_panel({"concat": model}, splits["test"])
    assert set(panel.result) == {"concat"}
    values = panel.controls
    assert values["noise_amplitude"].value == 0.0 and values["missing_rate"].value == 0.0
    assert bytes(panel.children[2].value).startswith(b"\x89PNG")  # the bar chart
    assert panel.result == score_under({"concat": model}, splits["test"], "m0")
    # moving a slider re-evaluates with the new setting
    values["missing_rate"].value = 1.0
    values["modality"].value = "m1"
    assert panel.result == score_under({"concat": model}, splits["test"], "m1", missing_rate=1.0)
    with pytest.raises(ValueError, match="modalities"):
        robustness_panel(model, splits["test"], modalities=["zz"])
