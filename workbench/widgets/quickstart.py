"""The quickstart panel: noise amplitude and missing rate sliders over trained models."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from ..corruptions import MissingModality, UniformNoise
from ..data.base import MultimodalDataset
from ..evaluation import evaluate
from ..models.base import Method
from ._live import figure_png

__all__ = ["robustness_panel", "score_under"]


def score_under(
    models: Mapping[str, Method],
    dataset: MultimodalDataset,
    modality: str,
    noise_amplitude: float = 0.0,
    missing_rate: float = 0.0,
    *,
    metric: str | None = None,
    seed: int = 0,
    level: str = "embedding",
) -> dict[str, float]:
    """The metric of each model with uniform noise and a missing rate on one modality.

    Noise (``UniformNoise``, Sec. 4.1 of the WMA paper) is applied first, then the modality
    is dropped for ``missing_rate`` of the samples (``MissingModality``); both are drawn from
    ``torch.Generator().manual_seed(seed)``, so every model sees the same corruption.

    Returns:
        ``{method name: metric value}``.
    """
    conditions = []
    if noise_amplitude > 0:
        conditions.append(UniformNoise(modality, float(noise_amplitude), level=level))
    if missing_rate > 0:
        conditions.append(MissingModality(modality, float(missing_rate), level=level))
    return {
        name: evaluate(
            model, dataset, metric, conditions, generator=torch.Generator().manual_seed(int(seed))
        )
        for name, model in models.items()
    }


def _bar_png(scores: Mapping[str, float], clean: Mapping[str, float], metric: str) -> bytes:
    """A small bar chart (PNG bytes) of the corrupted scores with the clean scores marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.4 + 1.0 * len(scores), 2.4), dpi=90)
    ax = fig.add_subplot()
    names = list(scores)
    ax.bar(names, [scores[n] for n in names], color="C0", label="corrupted")
    ax.scatter(
        names, [clean[n] for n in names], color="k", marker="_", s=400, label="clean", zorder=3
    )
    ax.set_ylabel(metric)
    ax.legend(fontsize="x-small", loc="lower right")
    return figure_png(fig)


def robustness_panel(
    models,
    dataset: MultimodalDataset,
    modalities: Sequence[str] | None = None,
    seed: int = 0,
    *,
    metric: str | None = None,
    max_amplitude: float = 5.0,
    level: str = "embedding",
):
    """Sliders for noise amplitude and missing rate (and a modality menu) that re-evaluate
    trained models live and show the metric as text and a bar chart next to the clean score.

    The panel is built from plain ipywidgets (controls, an ``HTML`` line and an ``Image``)
    updated by ``observe`` callbacks rather than ``interactive``: ``interactive`` draws into
    an ``Output`` widget, which headless nbclient/papermill runs emulate with extra messages
    and which was seen to hang a papermill run.

    Args:
        models: a trained :class:`~workbench.models.base.Method` or a mapping name -> Method.
        dataset: the evaluation split.
        modalities: modalities offered in the menu (default: all of the dataset's).
        seed: corruption seed.
        metric: metric name (default: the dataset's).
        max_amplitude: upper end of the amplitude slider.
        level: ``"embedding"`` (WMA's setting) or ``"input"``.

    Returns:
        An ``ipywidgets.VBox``, evaluated once with the defaults (no noise, no missing data)
        when built, so it runs headless. ``panel.controls`` maps ``"modality"``,
        ``"noise_amplitude"``, ``"missing_rate"`` to their widgets and ``panel.result`` holds the
        last ``{method: value}``.
    """
    import ipywidgets as widgets

    if isinstance(models, Method):
        models = {type(models).__name__: models}
    if not isinstance(models, Mapping) or not models:
        raise ValueError(
            "robustness_panel(models=...) expects a Method or a non-empty mapping name -> Method."
        )
    modalities = tuple(modalities or dataset.modalities)
    unknown = [m for m in modalities if m not in dataset.modalities]
    if unknown:
        raise ValueError(
            f"robustness_panel(): unknown modalities {unknown}; "
            f"dataset {dataset.name!r} has {dataset.modalities}."
        )
    metric = metric or dataset.task.metric
    clean = score_under(models, dataset, modalities[0], metric=metric, seed=seed, level=level)

    controls = {
        "modality": widgets.Dropdown(
            options=list(modalities), value=modalities[0], description="modality"
        ),
        "noise_amplitude": widgets.FloatSlider(
            value=0.0, min=0.0, max=float(max_amplitude), step=0.25, description="noise"
        ),
        "missing_rate": widgets.FloatSlider(
            value=0.0, min=0.0, max=1.0, step=0.05, description="missing"
        ),
    }
    text = widgets.HTML()
    image = widgets.Image(
        format="png", layout=widgets.Layout(align_self="flex-start")
    )  # natural size
    panel = widgets.VBox([widgets.HBox(list(controls.values())), text, image])
    panel.controls = controls

    def refresh(_change=None) -> None:
        modality = controls["modality"].value
        amplitude, rate = controls["noise_amplitude"].value, controls["missing_rate"].value
        scores = score_under(
            models, dataset, modality, amplitude, rate, metric=metric, seed=seed, level=level
        )
        values = ", ".join(f"<b>{k}</b>: {v:.3f} (clean {clean[k]:.3f})" for k, v in scores.items())
        text.value = (
            f"{metric} with noise {amplitude:g} and missing rate {rate:g} on {modality!r}: {values}"
        )
        image.value = _bar_png(scores, clean, metric)
        panel.result = scores

    for control in controls.values():
        control.observe(refresh, names="value")
    refresh()
    return panel
