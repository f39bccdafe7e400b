"""The WMA panel: pick (α, β) from the swept grid, move noise amplitude and missing rate, and
see the baseline, "minimize OT" and the chosen WMA model re-evaluated live."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..data.base import MultimodalDataset
from ..methods.base import Method
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
            button for the point typed in the "new α"/"new β" boxes (e.g. one outside the grid) (e.g. ``functools.partial(fit_wma, ...)``);
            the button is hidden when ``None``.
        seed: corruption seed (every model sees the same corruption).
        metric: metric name (default: the dataset's).
        max_amplitude: upper end of the amplitude slider.

    Returns:
        An ``ipywidgets.VBox``; it is evaluated once with its defaults when built (headless
        under papermill), and ``panel.result`` holds the last ``{name: value}``.
    """
    import ipywidgets as widgets
    from IPython.display import display

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
    w_alpha = widgets.SelectionSlider(options=alphas, value=a0, description="α")
    w_beta = widgets.SelectionSlider(options=betas, value=b0, description="β")
    w_mod = widgets.Dropdown(options=list(dataset.modalities), description="modality")
    w_amp = widgets.FloatSlider(
        value=0.0, min=0.0, max=max_amplitude, step=0.25, description="noise amp."
    )
    w_rate = widgets.FloatSlider(value=0.0, min=0.0, max=1.0, step=0.05, description="missing rate")
    out = widgets.Output()
    show = {"display": "" if train_point else "none"}
    w_new_alpha = widgets.FloatText(value=a0, description="new α", layout=show)
    w_new_beta = widgets.FloatText(value=b0, description="new β", layout=show)
    button = widgets.Button(description="train this point", layout=show)
    panel = widgets.VBox(
        [
            widgets.HBox([w_alpha, w_beta]),
            widgets.HBox([w_new_alpha, w_new_beta, button]),
            widgets.HBox([w_mod, w_amp, w_rate]),
            out,
        ]
    )
    panel.result = {}

    def refresh(*_):
        key = (w_alpha.value, w_beta.value)
        chosen = {}
        if (0.0, 0.0) in models:
            chosen["baseline"] = models[(0.0, 0.0)]
        if (1.0, 0.0) in models:
            chosen["minimize OT"] = models[(1.0, 0.0)]
        if key in models:
            chosen[f"WMA α={key[0]:g} β={key[1]:g}"] = models[key]
        scores = score_under(
            chosen, dataset, w_mod.value, w_amp.value, w_rate.value, metric=metric, seed=seed
        )
        panel.result = scores
        out.clear_output(wait=True)
        with out:
            name = metric or dataset.task.metric
            if key not in models:
                print(
                    f"(α={key[0]:g}, β={key[1]:g}) is not trained: enter it under 'new α/β' and train it."
                )
            for k, v in scores.items():
                print(f"{k:>24s}  {name} = {v:.4f}")

    def train(_):
        key = (float(w_new_alpha.value), float(w_new_beta.value))
        with out:
            print(f"training α={key[0]:g} β={key[1]:g} ...")
        models[key] = train_point(*key)
        w_alpha.options = sorted(set(w_alpha.options) | {key[0]})
        w_beta.options = sorted(set(w_beta.options) | {key[1]})
        w_alpha.value, w_beta.value = key
        refresh()

    for w in (w_alpha, w_beta, w_mod, w_amp, w_rate):
        w.observe(refresh, names="value")
    button.on_click(train)
    refresh()
    display(panel)
    return panel
