"""Figures: every function takes data or a result, accepts ``ax=None`` (or returns a plotly
figure) and returns what it drew. Nothing here solves, trains or calls ``plt.show()``.

One submodule per family of figures; the public names are re-exported here.
"""

from .arena import (  # noqa: F401
    arena_curve_grid,
    arena_curves,
    arena_dashboard,
    leaderboard_heatmap,
)
from .claims import VERDICT_COLOURS, claims_forest  # noqa: F401
from .curves import results_table, robustness_curve, training_curves  # noqa: F401
from .mechanism import advantage_plot  # noqa: F401
from .mla import (  # noqa: F401
    missing_rate_curves,
    modality_gap_plot,
    projector_spectrum,
    unimodal_bars,
)
from .ot import (  # noqa: F401
    plot_barycenter,
    plot_fgw_matchings,
    plot_ipot_convergence,
    plot_matching,
    plot_mixing,
    plot_plan,
)
from .otm import (  # noqa: F401
    codes_scatter,
    noise_curves,
    tsne,
    tsne_pair,
)
from .raml import lambda_curve, weight_heatmap, weight_heatmaps  # noqa: F401
from .wma import alpha_beta_heatmaps, beta_curve  # noqa: F401
