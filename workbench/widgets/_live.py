"""The one way the panels are built: controls, an HTML line and a PNG, updated by ``observe``.

``ipywidgets.interactive`` draws into an ``Output`` widget, which headless nbclient/papermill
runs emulate with extra kernel messages; a run was seen to hang on such a cell
(jupyter/nbclient#312). The panels therefore never use ``Output`` (nor ``interactive``): each
is :func:`live_panel` around a ``render`` function that returns a :class:`View`, and a change of
any control re-renders the view into plain ``HTML`` and ``Image`` widgets.
"""

from __future__ import annotations

import html as _html
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["View", "figure", "figure_png", "live_panel"]


@dataclass
class View:
    """What a panel shows for one setting of its controls.

    Attributes:
        result: the value kept in ``panel.result`` (scores, a table, solver results).
        text: plain text (escaped; newlines kept) shown above the figure.
        figure: a :class:`matplotlib.figure.Figure` (from :func:`figure`), shown as a PNG.
        table: a DataFrame shown as an HTML table under the text.
    """

    result: Any = None
    text: str = ""
    figure: Any = None
    table: Any = None


def figure(width: float, height: float, ncols: int = 1):
    """A :class:`~matplotlib.figure.Figure` outside pyplot (nothing is auto-displayed by the
    inline backend) and its axes: ``(fig, ax)`` or ``(fig, [ax, ...])`` when ``ncols > 1``."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=90)
    axes = fig.subplots(1, ncols)
    return fig, axes


def figure_png(fig) -> bytes:
    """The PNG bytes of a figure (tight layout)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def live_panel(
    render: Callable[..., View],
    controls: Mapping[str, Any],
    *,
    rows: Sequence[Any] = (),
):
    """Controls over a view re-rendered whenever one of them changes.

    Args:
        render: ``render(**{name: control.value}) -> View``.
        controls: ``name -> ipywidgets`` control (slider, dropdown, checkbox, ...).
        rows: extra widgets placed under the controls (e.g. a button row).

    Returns:
        An ``ipywidgets.VBox``, rendered once with the controls' initial values when built (so
        it works headless, where widgets keep their defaults). ``panel.controls`` holds the
        controls, ``panel.result`` the last ``View.result`` and ``panel.refresh()`` re-renders.
    """
    import ipywidgets as widgets

    controls = dict(controls)
    text = widgets.HTML()
    image = widgets.Image(format="png", layout=widgets.Layout(align_self="flex-start"))
    bar = widgets.HBox(list(controls.values()), layout=widgets.Layout(flex_flow="row wrap"))
    panel = widgets.VBox([bar, *rows, text, image])
    panel.controls = controls
    panel.result = None

    def refresh(_change=None) -> None:
        view = render(**{name: c.value for name, c in controls.items()})
        body = _html.escape(view.text).replace("\n", "<br>")
        parts = [f"<p>{body}</p>"] if view.text else []
        if view.table is not None:
            parts.append(view.table.to_html())
        text.value = "".join(parts)
        if view.figure is not None:
            image.value = figure_png(view.figure)
            image.layout.display = ""
        else:
            image.layout.display = "none"
        panel.result = view.result

    for control in controls.values():
        control.observe(refresh, names="value")
    panel.refresh = refresh
    refresh()
    return panel
