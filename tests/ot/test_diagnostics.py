"""Solver diagnostics of notebook 01 (errors against exact OT, FGW across alpha) and their
figures."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from workbench import ot, plotting  # noqa: E402
from workbench.data.synthetic import point_clouds  # noqa: E402


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def _rotated(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=g, dtype=torch.float64) * torch.tensor(
        [3.0, 1.0], dtype=torch.float64
    )
    c, s = (
        torch.cos(torch.tensor(1.2, dtype=torch.float64)),
        torch.sin(torch.tensor(1.2, dtype=torch.float64)),
    )
    R = torch.stack([torch.stack([c, -s]), torch.stack([s, c])])
    return X, X @ R.T + 1.0


def test_solver_errors_rows_match_a_direct_computation():
    g = torch.Generator().manual_seed(0)
    C = ot.cosine_cost(torch.randn(2, 6, 8, generator=g), torch.randn(2, 9, 8, generator=g))
    rows = ot.solver_errors(C, sinkhorn_eps=(0.1, 0.01))
    assert [(r["solver"], r["epsilon"]) for r in rows] == [
        ("sinkhorn", 0.1),
        ("sinkhorn", 0.01),
        ("ipot", None),
    ]
    ref = ot.exact(C).value.double()
    want = float(((ot.sinkhorn(C, epsilon=0.1).value.double() - ref).abs() / ref).median())
    assert rows[0]["median_rel_error"] == pytest.approx(want)
    assert (
        rows[0]["median_rel_error"] > rows[1]["median_rel_error"]
    )  # Sinkhorn's bias shrinks with eps
    assert all(r["median_rel_error"] >= 0 for r in rows)
    assert len(ot.solver_errors(C, (), ipot=False)) == 0
    fewer = ot.solver_errors(C, (), ipot_options={"n_outer": 1})
    assert fewer[0]["median_rel_error"] > rows[-1]["median_rel_error"]


def test_fgw_matchings_gw_sees_through_a_rotation():
    X, Y = _rotated()
    out = ot.fgw_matchings(X, Y, alphas=(1.0, 0.5, 0.0))
    assert [(m["alpha"], m["kind"], m["n"]) for m in out] == [
        (1.0, "W", 8),
        (0.5, "FGW", 8),
        (0.0, "GW", 8),
    ]
    assert out[2]["correct"] == 8 and out[0]["correct"] < 8
    assert ot.fgw_matchings(X, Y[:5], alphas=(0.5,))[0]["correct"] is None
    assert ot.fgw_matchings(X, Y, alphas=(0.0,), truth=torch.arange(8).flip(0))[0]["correct"] == 0


def test_fgw_and_mixing_figures():
    X, Y = _rotated()
    fig = plotting.plot_fgw_matchings(X, Y, ot.fgw_matchings(X, Y))
    assert [ax.get_title() for ax in fig.axes[:3]][0].startswith("alpha=1.0 (W): ")
    codes = point_clouds(2, 20, generator=torch.Generator().manual_seed(0))
    bary = ot.fgw_barycenter(codes, 5, alpha=0.5, generator=torch.Generator().manual_seed(0))
    mix = ot.stochastic_mix(
        codes, bary.plans, masks="binary", generator=torch.Generator().manual_seed(0)
    )
    wb = ot.stochastic_mix(codes, bary.plans, masks="weighted")
    _, axes = plt.subplots(1, 3)
    fig = plotting.plot_mixing(codes, bary, mix, wb, axes=axes)
    assert "outer its" in axes[0].get_title() and "WB" in axes[2].get_title()
    with pytest.raises(ValueError, match="3 Axes"):
        plotting.plot_mixing(codes, bary, mix, wb, axes=axes[:2])
