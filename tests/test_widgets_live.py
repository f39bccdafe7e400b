"""The panels' common machinery: controls re-render an HTML line and a PNG, no Output widget."""

import pandas as pd
import pytest

ipywidgets = pytest.importorskip("ipywidgets")

from workbench.widgets._live import View, figure, live_panel  # noqa: E402


def test_live_panel_renders_once_then_on_every_change():
    calls = []

    def render(x, label):
        calls.append((x, label))
        fig, ax = figure(2, 2)
        ax.plot([0, x])
        return View({"x": x}, f"x = {x}\n<{label}>", fig, pd.DataFrame({"x": [x]}))

    panel = live_panel(
        render,
        {"x": ipywidgets.IntSlider(value=1), "label": ipywidgets.Text(value="a")},
        rows=[ipywidgets.Button(description="extra")],
    )
    assert calls == [(1, "a")] and panel.result == {"x": 1}
    bar, extra, text, image = panel.children
    assert extra.description == "extra"
    assert "x = 1<br>&lt;a&gt;" in text.value and "<table" in text.value  # escaped, newline kept
    assert bytes(image.value).startswith(b"\x89PNG")
    panel.controls["x"].value = 7
    assert calls[-1] == (7, "a") and panel.result == {"x": 7} and "x = 7" in text.value
    assert not any(isinstance(w, ipywidgets.Output) for w in (bar, extra, text, image))


def test_a_view_without_figure_hides_the_image():
    panel = live_panel(lambda x: View(x, "no plot"), {"x": ipywidgets.IntSlider(value=2)})
    assert panel.children[-1].layout.display == "none" and panel.result == 2


def _synthetic(n=24):
    from workbench.data import load

    return load("synthetic", "test").subset(range(n))


def test_mla_and_raml_panels_build_headless_and_react():
    import torch

    from workbench.methods.raml import RAML, RAMLConfig
    from workbench.models.fusion import ConcatFusion, FusionConfig
    from workbench.widgets import mla_panel, weight_panel

    ds = _synthetic()
    torch.manual_seed(0)
    concat = ConcatFusion(FusionConfig.for_dataset(ds)).eval()
    panel = mla_panel({"concat": concat}, ds)
    clean = dict(panel.result)
    panel.controls["missing_rate"].value = 1.0
    assert set(panel.result) == {"concat"} and panel.result != clean

    m0, m1 = ds.modalities[:2]
    raml = RAML(RAMLConfig.for_dataset(ds)).eval()
    panel = weight_panel(raml, ds, m0, None, max_samples=4)
    before = dict(panel.result)
    panel.controls["sigma"].value = 0.5
    assert set(panel.result) == set(raml.modalities) and panel.result != before
