"""OT figures and the notebook-01 panel: they draw what they are given and build headless."""

import matplotlib

matplotlib.use("Agg")
import torch  # noqa: E402

from workbench import ot, plotting  # noqa: E402
from workbench.widgets import ot_panel  # noqa: E402


def test_plot_functions_return_axes():
    g = torch.Generator().manual_seed(0)
    X, Y = torch.randn(5, 2, generator=g), torch.randn(6, 2, generator=g)
    res = ot.ipot(ot.squared_euclidean_cost(X, Y))
    assert plotting.plot_plan(res) is not None
    assert plotting.plot_matching(X, Y, res, top=3) is not None
    assert plotting.plot_ipot_convergence({"beta=0.5": ([1, 2], [0.1, 0.01])}) is not None
    assert plotting.plot_barycenter([X, Y], X[:3]) is not None


def test_panel_builds_headless_with_defaults():
    g = torch.Generator().manual_seed(1)
    X, Y = torch.randn(6, 2, generator=g), torch.randn(7, 2, generator=g)
    panel = ot_panel(X, Y, n_outer=10)
    assert set(panel.result) == {"ipot", "fgw"}
