"""The OTM panel: move the FGW trade-off alpha, switch the random masks on/off and add noise,
and see the server's fused codes and their clustering quality recomputed live."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import numpy as np
import torch
from torch import Tensor

from ._live import View, figure, live_panel

__all__ = ["otm_panel"]


def otm_panel(
    model,
    views: Mapping[str, Tensor],
    y,
    *,
    label_modality: str | None = None,
    seed: int = 0,
    n_points: int = 300,
):
    """FGW ``alpha`` slider, mask on/off checkbox and noise-level slider for a trained MWAE.

    On each change the (aligned) ``views`` get Gaussian noise with energy ``level`` times the
    data energy (:class:`~workbench.corruptions.EnergyNoise`) on every modality, the agents
    encode them, the server mixes the codes with the chosen ``alpha`` and masks (binary masks
    of Eq. 3 when on, the weighted barycenter WB when off), and the panel shows the fused codes
    (PCA) coloured by the labels carried from ``label_modality`` with the purity, Hungarian
    accuracy and NMI of k-means on the fused codes.

    Args:
        model: a trained :class:`~workbench.methods.otm.MWAE`.
        views: modality -> ``[N, D_m]`` aligned evaluation views.
        y: ``[N]`` labels (only for colours and scores).
        label_modality: modality whose labels colour the fused codes (default: the last).
        seed: seed of the noise, the masks and k-means.
        n_points: at most this many samples are used (speed).

    Returns:
        A :func:`~workbench.widgets._live.live_panel` (already run once with the defaults);
        ``panel.result`` holds the last clustering scores.
    """
    import ipywidgets as W

    from ..corruptions import EnergyNoise
    from ..data.base import MultimodalBatch
    from ..experiments.otm import clustering_scores, fused_labels
    from ..methods.clustering import cluster_codes
    from ..methods.otm import Mixer, encode_views
    from ..plotting import codes_scatter

    names = tuple(views)
    label_modality = label_modality or names[-1]
    n = min(n_points, len(next(iter(views.values()))))
    idx = torch.randperm(
        len(next(iter(views.values()))), generator=torch.Generator().manual_seed(seed)
    )[:n]
    base = {m: torch.as_tensor(x)[idx].float() for m, x in views.items()}
    y = torch.as_tensor(np.asarray(y))[idx]
    n_classes = int(len(torch.unique(y)))

    def render(alpha: float, masks: bool, level: float) -> View:
        batch = MultimodalBatch(
            inputs=dict(base),
            present=torch.ones(n, len(names), dtype=torch.bool),
            y=y,
            modalities=names,
        )
        g = torch.Generator().manual_seed(seed)
        for m in names:
            batch = EnergyNoise(modality=m, energy_ratio=level)(batch, g)
        codes = encode_views(model, batch.inputs)
        config = dataclasses.replace(
            model.config, alpha=alpha, mixer="stochastic" if masks else "weighted"
        )
        mix = Mixer(config)(codes, torch.Generator().manual_seed(seed))
        labels = fused_labels(mix, y, label_modality)
        scores = clustering_scores(labels, cluster_codes(mix.fused, n_classes, seed=seed))
        fig, ax = figure(4.5, 4)
        title = (
            f"α={alpha:.2f}, masks {'on' if masks else 'off (WB)'}, noise {level:.2f}\n"
            + ", ".join(f"{k[:6]} {v:.2f}" for k, v in scores.items() if k != "ari")
        )
        codes_scatter(mix.fused, labels, ax, title=title)
        text = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
        return View(scores, text, fig)

    return live_panel(
        render,
        {
            "alpha": W.FloatSlider(
                value=float(model.config.alpha), min=0.0, max=1.0, step=0.05, description="FGW α"
            ),
            "masks": W.Checkbox(value=True, description="random masks"),
            "level": W.FloatSlider(
                value=0.0, min=0.0, max=0.5, step=0.05, description="noise level"
            ),
        },
    )
