"""Figure checks shared by the plotting tests: text elements must not overlap or leave the figure."""

from __future__ import annotations

import numpy as np


def _hidden_tick_labels(fig) -> set[int]:
    """Tick labels matplotlib keeps but does not draw (ticks outside the view limits, or
    on an axis that is not visible)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if not axis.get_visible():  # e.g. the shared x axis of a twinx() Axes
                ticks = [*axis.majorTicks, *axis.minorTicks]
                hidden.update(id(t) for tick in ticks for t in (tick.label1, tick.label2))
                hidden.update({id(axis.label), id(axis.offsetText)})
                continue
            drawn = {id(t) for t in axis._update_ticks()}  # the ticks the last draw showed
            for tick in [*axis.majorTicks, *axis.minorTicks]:
                if id(tick) not in drawn:
                    hidden.update({id(tick.label1), id(tick.label2)})
    return hidden


def _texts(fig):
    """Every drawn, non-empty text artist of ``fig`` with its window extent."""
    from matplotlib.text import Text

    renderer = fig.canvas.get_renderer()
    hidden = _hidden_tick_labels(fig)
    out = []
    for artist in fig.findobj(Text):
        if not artist.get_visible() or not artist.get_text().strip() or id(artist) in hidden:
            continue
        axes = artist.axes
        if axes is not None and not axes.get_visible():
            continue
        try:
            box = artist.get_window_extent(renderer)
        except (RuntimeError, ValueError):
            continue
        if box.width > 0 and box.height > 0:
            out.append((artist, box))
    return out


def overlapping_texts(fig, *, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of text elements of ``fig`` whose bounding boxes overlap by more than
    ``tolerance`` pixels in both directions (after the figure's layout is drawn)."""
    fig.canvas.draw()
    texts = _texts(fig)
    if len(texts) < 2:
        return []
    box = np.array([[b.x0, b.y0, b.x1, b.y1] for _, b in texts])
    dx = np.minimum.outer(box[:, 2], box[:, 2]) - np.maximum.outer(box[:, 0], box[:, 0])
    dy = np.minimum.outer(box[:, 3], box[:, 3]) - np.maximum.outer(box[:, 1], box[:, 1])
    i, j = np.nonzero(np.triu((dx > tolerance) & (dy > tolerance), k=1))
    return [(texts[a][0].get_text(), texts[b][0].get_text()) for a, b in zip(i, j)]


def texts_outside(fig, *, tolerance: float = 1.0, draw: bool = True) -> list[str]:
    """Text elements of ``fig`` that reach more than ``tolerance`` pixels beyond the figure's
    edges (cut off when the figure is saved without ``bbox_inches="tight"``). ``draw=False``
    skips the layout draw when the figure was just drawn (by :func:`overlapping_texts`)."""
    if draw:
        fig.canvas.draw()
    width, height = fig.bbox.width, fig.bbox.height
    return [
        artist.get_text()
        for artist, box in _texts(fig)
        if box.x0 < -tolerance
        or box.y0 < -tolerance
        or box.x1 > width + tolerance
        or box.y1 > height + tolerance
    ]
