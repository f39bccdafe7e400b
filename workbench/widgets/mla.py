"""The MLA panel: missing rate and noise amplitude on one modality, every trained model
(MLA and its baselines) re-evaluated live; bars show the accuracy of each."""

from __future__ import annotations

from collections.abc import Mapping

from ..data.base import MultimodalDataset
from ..models.base import Method
from ._live import View, figure, live_panel
from .quickstart import score_under

__all__ = ["mla_panel"]


def mla_panel(
    models: Mapping[str, Method],
    dataset: MultimodalDataset,
    *,
    modality: str | None = None,
    seed: int = 0,
    metric: str | None = None,
    max_amplitude: float = 3.0,
):
    """Missing-rate and noise-amplitude sliders over trained models.

    Noise (uniform, amplitude in embedding units) and missing samples act on the embeddings of
    the chosen modality (:func:`~workbench.widgets.quickstart.score_under`), drawn from one
    seeded generator so every model sees the same corruption.

    Args:
        models: ``{method name: trained model}``.
        dataset: the evaluation split.
        modality: the initial modality (default: the dataset's first).
        seed: corruption seed.
        metric: metric name (default: the dataset's).
        max_amplitude: upper end of the amplitude slider.

    Returns:
        A :func:`~workbench.widgets._live.live_panel`; it runs once with its defaults when
        built (headless under papermill) and ``panel.result`` holds the last ``{name: value}``.
    """
    import ipywidgets as widgets

    if not models:
        raise ValueError("mla_panel(): models is empty; pass {name: trained model}.")
    models = dict(models)
    name = metric or dataset.task.metric

    def render(modality: str, missing_rate: float, noise_amplitude: float) -> View:
        scores = score_under(
            models, dataset, modality, noise_amplitude, missing_rate, metric=metric, seed=seed
        )
        fig, ax = figure(6, 2.8)
        ax.bar(list(scores), list(scores.values()), color="tab:blue")
        ax.set_ylim(0, 1)
        ax.set_ylabel(name)
        ax.set_title(f"{modality}: missing {missing_rate:.0%}, noise amplitude {noise_amplitude:g}")
        ax.tick_params(axis="x", rotation=30)
        text = f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
        return View(scores, text, fig)

    return live_panel(
        render,
        {
            "modality": widgets.Dropdown(
                options=list(dataset.modalities),
                value=modality or dataset.modalities[0],
                description="modality",
            ),
            "missing_rate": widgets.FloatSlider(
                value=0.0, min=0.0, max=1.0, step=0.05, description="missing rate"
            ),
            "noise_amplitude": widgets.FloatSlider(
                value=0.0, min=0.0, max=max_amplitude, step=0.25, description="noise amp."
            ),
        },
    )
