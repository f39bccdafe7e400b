"""The RAML panel: move the image noise σ and the masking p, watch the fusion weights shift (Fig. 5)."""

from __future__ import annotations

import numpy as np
import torch

from ..data.base import MultimodalDataset
from ._live import View, figure, live_panel

__all__ = ["weight_panel"]


def weight_panel(
    model,
    dataset: MultimodalDataset,
    image: str | None,
    sequence: str | None,
    *,
    seed: int = 0,
    max_samples: int = 8,
    max_sigma: float = 0.5,
    max_p: float = 0.5,
):
    """Sliders for Gaussian noise σ on ``image`` and masking p on ``sequence``; shows RAML's
    element-wise weights ω (Eq. 4) as a heatmap and the mean weight of each modality.

    Args:
        model: a trained :class:`~workbench.methods.raml.RAML`.
        dataset: the samples shown (the first ``max_samples``).
        image: modality receiving ``GaussianNoise(sigma)`` (``None``: no σ slider effect).
        sequence: modality receiving ``WordMask(p)`` (``None``: no p slider effect).
        seed: seed of the corruption draws.

    Returns:
        A :func:`~workbench.widgets._live.live_panel`, evaluated once with σ = p = 0 when built
        (runs headless); ``panel.result`` holds ``{modality: mean weight}``.
    """
    import ipywidgets as widgets

    from .. import corruptions as C
    from ..methods.raml import element_weights
    from ..plotting.raml import weight_heatmap

    def render(sigma: float, p: float) -> View:
        corr = []
        if image is not None and sigma > 0:
            corr.append(C.GaussianNoise(modality=image, sigma=float(sigma)))
        if sequence is not None and p > 0:
            corr.append(C.WordMask(modality=sequence, p=float(p)))
        w = element_weights(
            model,
            dataset,
            corr,
            generator=torch.Generator().manual_seed(seed),
            max_samples=max_samples,
        )
        means = {m: float(np.mean(w[:, j])) for j, m in enumerate(model.modalities)}
        text = f"σ={sigma:g}, p={p:g}: mean weight " + ", ".join(
            f"{m} {v:.3f}" for m, v in means.items()
        )
        fig, ax = figure(7, 3)
        weight_heatmap(
            w, model.modalities, ax=ax, max_samples=max_samples, title=f"ω at σ={sigma:g}, p={p:g}"
        )
        return View(means, text, fig)

    return live_panel(
        render,
        {
            "sigma": widgets.FloatSlider(
                value=0.0, min=0.0, max=float(max_sigma), step=0.02, description="σ (image)"
            ),
            "p": widgets.FloatSlider(
                value=0.0, min=0.0, max=float(max_p), step=0.05, description="p (mask)"
            ),
        },
    )
