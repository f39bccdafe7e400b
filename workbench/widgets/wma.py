"""The WMA panel: pick (α, β) from the swept grid, move noise amplitude and missing rate, and
see the baseline, "minimize OT" and the chosen WMA model re-evaluated live."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..data.base import MultimodalDataset
from ..models.base import Method
from ._live import View, figure, live_panel
from .quickstart import score_under

__all__ = ["wma_panel"]


def wma_panel(
    models: Mapping[tuple[float, float], Method],
    dataset: MultimodalDataset,
    *,
    alpha: float | None = None,
    beta: float | None = None,
    train_point: Callable[[float, float], Method] | None = None,
    seed: int = 0,
    metric: str | None = None,
    max_amplitude: float = 5.0,
):
    """α/β menus over the trained grid, noise and missing-rate sliders, live evaluation.

    Args:
        models: ``(alpha, beta) -> trained model``; ``(0, 0)`` is the baseline and ``(1, 0)``
            "minimize OT" (both shown next to the chosen point when present).
        dataset: the evaluation split.
        alpha, beta: the initial point (default: the first WMA point of ``models``).
        train_point: optional ``(alpha, beta) -> model`` called by the "train this point"
            button for the point typed in the "new α"/"new β" boxes (e.g. one outside the grid;
            :func:`workbench.experiments.wma.point_trainer`); the button is hidden when ``None``.
        seed: corruption seed (every model sees the same corruption).
        metric: metric name (default: the dataset's).
        max_amplitude: upper end of the amplitude slider.

    Returns:
        A :func:`~workbench.widgets._live.live_panel` (display it as a cell's last value); it is
        evaluated once with its defaults when built (headless under papermill), and
        ``panel.result`` holds the last ``{name: value}``.
    """
    import ipywidgets as widgets

    models = dict(models)
    points = sorted(k for k in models if k[0] > 0 and k[1] > 0)
    if not points:
        raise ValueError(
            "wma_panel(): models has no WMA point (alpha > 0, beta > 0); pass the trained grid."
        )
    alphas = sorted({a for a, _ in points})
    betas = sorted({b for _, b in points})
    a0 = alpha if alpha in alphas else points[0][0]
    b0 = beta if beta in betas else points[0][1]
    name = metric or dataset.task.metric
    controls = {
        "alpha": widgets.SelectionSlider(options=alphas, value=a0, description="α"),
        "beta": widgets.SelectionSlider(options=betas, value=b0, description="β"),
        "modality": widgets.Dropdown(options=list(dataset.modalities), description="modality"),
        "amplitude": widgets.FloatSlider(
            value=0.0, min=0.0, max=max_amplitude, step=0.25, description="noise amp."
        ),
        "rate": widgets.FloatSlider(
            value=0.0, min=0.0, max=1.0, step=0.05, description="missing rate"
        ),
    }
    show = {"display": "" if train_point else "none"}
    new_alpha = widgets.FloatText(value=a0, description="new α", layout=show)
    new_beta = widgets.FloatText(value=b0, description="new β", layout=show)
    button = widgets.Button(description="train this point", layout=show)
    status = widgets.HTML()

    def render(alpha, beta, modality, amplitude, rate) -> View:
        key = (alpha, beta)
        chosen = {}
        if (0.0, 0.0) in models:
            chosen["baseline"] = models[(0.0, 0.0)]
        if (1.0, 0.0) in models:
            chosen["minimize OT"] = models[(1.0, 0.0)]
        if key in models:
            chosen[f"WMA α={key[0]:g} β={key[1]:g}"] = models[key]
        scores = score_under(chosen, dataset, modality, amplitude, rate, metric=metric, seed=seed)
        lines = [f"{k}: {name} = {v:.4f}" for k, v in scores.items()]
        if key not in models:
            lines.insert(
                0,
                f"(α={key[0]:g}, β={key[1]:g}) is not trained: enter it under 'new α/β' and train it.",
            )
        fig, ax = figure(1.6 + 1.2 * len(scores), 2.6)
        ax.bar(list(scores), list(scores.values()), color="C0")
        ax.set_ylabel(name)
        ax.set_title(f"{modality}: noise {amplitude:g}, missing {rate:.0%}", fontsize=9)
        ax.tick_params(axis="x", labelsize=8)
        return View(scores, "\n".join(lines), fig)

    panel = live_panel(render, controls, rows=[widgets.HBox([new_alpha, new_beta, button]), status])

    def train(_):
        key = (float(new_alpha.value), float(new_beta.value))
        status.value = f"training α={key[0]:g} β={key[1]:g} ..."
        models[key] = train_point(*key)
        status.value = f"trained α={key[0]:g} β={key[1]:g}"
        controls["alpha"].options = sorted(set(controls["alpha"].options) | {key[0]})
        controls["beta"].options = sorted(set(controls["beta"].options) | {key[1]})
        controls["alpha"].value, controls["beta"].value = key
        panel.refresh()

    button.on_click(train)
    return panel
