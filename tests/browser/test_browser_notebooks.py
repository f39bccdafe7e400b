"""The notebooks as a user meets them: JupyterLab in headless Chromium.

For each notebook: open it, Run All Cells, wait for the kernel to become idle, check that no
cell shows an error, move the panel's noise slider with the keyboard and check that the
numbers the panel shows change. Screenshots go to ``outputs/screenshots/``.
"""

from __future__ import annotations

import re
import time

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600), pytest.mark.xdist_group("browser")]

NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")

# (notebook, regex of the slider's description, what the slider is)
CASES = [
    pytest.param("00_quickstart.ipynb", r"^noise", "noise amplitude", id="00_quickstart"),
    pytest.param("04_raml.ipynb", r"^σ", "Gaussian noise σ on the image", id="04_raml"),
]


def numbers(text: str) -> list[float]:
    """The numbers written in ``text``, in order (``"m0"`` has none, ``"σ=0.5"`` has 0.5)."""
    return [float(x) for x in NUMBER.findall(text)]


def test_numbers_reads_values_not_names():
    assert numbers("accuracy on 'm0' with σ=0.5: concat: 0.803 (clean 0.967), -1e-3") == [
        0.5,
        0.803,
        0.967,
        -1e-3,
    ]


def _scroll_to_cell_of(locator) -> None:
    locator.evaluate("el => el.closest('.jp-Cell').scrollIntoView({block: 'start'})")


def _settled_text(notebook, panel, before: str, timeout_s: float = 90) -> str:
    """The panel's text once it differs from ``before``, the kernel is idle and it is stable."""
    deadline = time.monotonic() + timeout_s
    last, stable_since = None, None
    while time.monotonic() < deadline:
        text = notebook.panel_text(panel)
        idle = (notebook.state() or {}).get("kernel") == "idle"
        if text != before and text and idle:
            if text == last:
                if time.monotonic() - stable_since > 1.0:
                    return text
            else:
                last, stable_since = text, time.monotonic()
        else:
            last = None
        notebook.page.wait_for_timeout(200)
    notebook.fail(
        f"{notebook.name}: the panel's output did not change within {timeout_s:.0f} s after "
        f"moving the slider; it still reads:\n{before}"
    )


@pytest.mark.parametrize(("notebook_name", "label", "meaning"), CASES)
def test_notebook_runs_and_its_noise_slider_changes_the_output(
    open_notebook, screenshots_dir, notebook_name, label, meaning
):
    stem = notebook_name.removesuffix(".ipynb")
    failure_png = screenshots_dir / f"{stem}_failure.png"
    failure_png.unlink(missing_ok=True)
    notebook = open_notebook(notebook_name, screenshot=failure_png)

    state = notebook.run_all(screenshot=failure_png)
    if state["errors"]:
        notebook.fail(
            f"{notebook_name}: cells show errors:\n" + "\n".join(state["errors"]), failure_png
        )
    assert state["notRun"] == 0, f"{notebook_name}: {state['notRun']} code cells did not run"

    slider = notebook.slider(label)
    if slider.count() == 0:
        notebook.fail(
            f"{notebook_name}: no ipywidgets slider labelled {label!r} ({meaning}) was rendered. "
            "If the cell shows `interactive(children=...)` as text, JupyterLab lacks the widgets "
            "labextension (pip package jupyterlab_widgets, matching ipywidgets 8).",
            failure_png,
        )
    panel = notebook.panel(slider)
    _scroll_to_cell_of(panel)
    assert notebook.panel_plots(panel) > 0, f"{notebook_name}: the panel shows no plot"
    before = notebook.panel_text(panel)
    assert before, f"{notebook_name}: the panel shows no text to read values from"
    readouts_before = notebook.panel_readouts(panel)
    notebook.page.screenshot(path=str(screenshots_dir / f"{stem}.png"))

    # Move the slider as a keyboard user would: focus its handle, press End (its maximum).
    handle = slider.locator(".noUi-handle")
    start = handle.get_attribute("aria-valuenow")
    handle.focus()
    handle.press("End")
    if handle.get_attribute("aria-valuenow") == start:  # noUiSlider without Home/End keys
        for _ in range(8):
            handle.press("ArrowRight")
    moved = handle.get_attribute("aria-valuenow")
    assert float(moved) > float(start), f"{notebook_name}: the {meaning} slider did not move"

    after = _settled_text(notebook, panel, before)
    readouts = {
        float(x) for x in numbers(" ".join(readouts_before + notebook.panel_readouts(panel)))
    }
    shown_before = sorted(x for x in numbers(before) if x not in readouts)
    shown_after = sorted(x for x in numbers(after) if x not in readouts)
    assert shown_before, (
        f"{notebook_name}: the panel shows no value besides the slider's:\n{before}"
    )
    assert shown_after != shown_before, (
        f"{notebook_name}: moving the {meaning} slider from {start} to {moved} left the values "
        f"the panel shows unchanged:\nbefore: {before}\nafter:  {after}"
    )
    assert notebook.panel_plots(panel) > 0, f"{notebook_name}: the plot vanished"
    state = notebook.state()
    assert not state["errors"], (
        f"{notebook_name}: errors after moving the slider: {state['errors']}"
    )
    _scroll_to_cell_of(panel)
    notebook.page.screenshot(path=str(screenshots_dir / f"{stem}_moved.png"))


def test_a_cell_error_is_reported(open_notebook, lab_server):
    """The error check can fail: a notebook whose second cell raises shows that error, and
    Run All stops there."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
        nbformat.v4.new_code_cell("y = 2"),
    ]
    nbformat.write(nb, str(lab_server.root_dir / "zz_broken.ipynb"))
    state = open_notebook("zz_broken.ipynb").run_all()
    assert any("ValueError: broken on purpose" in e for e in state["errors"]), state
    assert state["notRun"] == 1, state
