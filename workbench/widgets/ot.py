"""The panel of notebook 01: move IPOT's beta and iterations and FGW's alpha, see the plans."""

from __future__ import annotations

from ._live import View, figure, live_panel

__all__ = ["ot_panel"]


def ot_panel(X, Y, *, beta: float = 0.5, n_outer: int = 50, alpha: float = 0.5):
    """Sliders for IPOT's ``beta`` and ``n_outer`` and FGW's ``alpha`` on two small point sets.

    Left: the IPOT plan as matching lines; middle: its heatmap with the relative error to the
    exact plan; right: the FGW plan for ``alpha`` (1 = pure Wasserstein, 0 = pure GW; OTM
    convention). Solving is done by :mod:`workbench.ot`, drawing by :mod:`workbench.plotting`.

    Args:
        X: Source points ``[n, d]`` (d >= 2; the first two coordinates are drawn).
        Y: Target points ``[m, d]``.
        beta, n_outer, alpha: Initial slider values.

    Returns:
        A :func:`~workbench.widgets._live.live_panel`; it runs once with its defaults when built
        (works headless under papermill); ``panel.result`` holds the last ``{"ipot", "fgw"}``
        results.
    """
    import ipywidgets as widgets

    from workbench.ot import euclidean_cost, exact, fgw, ipot, squared_euclidean_cost
    from workbench.plotting.ot import plot_matching, plot_plan

    C = squared_euclidean_cost(X, Y)
    ref = float(exact(C).value)
    A, B = euclidean_cost(X, X), euclidean_cost(Y, Y)

    def render(beta: float, n_outer: int, alpha: float) -> View:
        res = ipot(C, beta=beta, n_outer=n_outer)
        res_fgw = fgw(C, A, B, alpha=alpha)
        fig, axes = figure(13, 3.8, ncols=3)
        plot_matching(X, Y, res, ax=axes[0], title=f"IPOT matching (beta={beta:g}, {n_outer} its)")
        err = abs(float(res.value) - ref) / max(abs(ref), 1e-300)
        plot_plan(res, ax=axes[1], title=f"IPOT plan, rel. error {100 * err:.2f}%")
        plot_plan(res_fgw, ax=axes[2], title=f"FGW plan (alpha={alpha:g})")
        text = (
            f"IPOT cost {float(res.value):.4f} (exact {ref:.4f}, rel. error {100 * err:.2f}%); "
            f"FGW value {float(res_fgw.value):.4f} at alpha={alpha:g}"
        )
        return View({"ipot": res, "fgw": res_fgw}, text, fig)

    return live_panel(
        render,
        {
            "beta": widgets.FloatLogSlider(
                value=beta, base=10, min=-2, max=1, step=0.1, description="β"
            ),
            "n_outer": widgets.IntSlider(
                value=n_outer, min=1, max=200, step=1, description="iterations"
            ),
            "alpha": widgets.FloatSlider(value=alpha, min=0.0, max=1.0, step=0.05, description="α"),
        },
    )
