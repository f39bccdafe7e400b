"""Figure checks shared by the plotting tests: text elements must not overlap."""

from __future__ import annotations

import itertools


def _hidden_tick_labels(fig) -> set[int]:
    """Tick labels matplotlib keeps but does not draw (ticks outside the view limits)."""
    hidden = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
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
    bad = []
    for (a, ba), (b, bb) in itertools.combinations(texts, 2):
        dx = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        dy = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if dx > tolerance and dy > tolerance:
            bad.append((a.get_text(), b.get_text()))
    return bad
