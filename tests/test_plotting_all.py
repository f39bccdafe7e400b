"""Every figure function exported by :mod:`workbench.plotting` renders on a small seeded sample
without overlapping text (issue #21).

``SAMPLES`` holds one sample call per exported function: inputs shaped as the function's
docstring describes (tidy frames with the labels the experiments really produce, tiny OT
problems solved by :mod:`workbench.ot`; nothing trains). A newly exported function without a
sample fails :func:`test_every_exported_figure_function_has_a_sample` and its own
parametrised case, so every future figure is covered. Functions that return a plotly figure
(``PLOTLY``) or a pandas Styler (``STYLERS``) are checked for their type instead. A matplotlib
figure also fails when a text reaches beyond the figure's edges (cut off in a saved file).
``ALLOWED_OVERLAPS`` lists the only tolerated overlaps, each with its reason. Titles and
arguments follow the notebooks' calls.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from figure_checks import overlapping_texts, texts_outside  # noqa: E402

from workbench import plotting  # noqa: E402


def exported_figure_functions() -> list[str]:
    """The public names of ``workbench.plotting`` (its ``__init__`` re-exports) that are functions."""
    return sorted(
        name
        for name, obj in vars(plotting).items()
        if not name.startswith("_") and inspect.isfunction(obj)
    )


PLOTLY = {"arena_dashboard"}
"""Functions that return a ``plotly.graph_objects.Figure`` (text layout is the browser's)."""

STYLERS = {"results_table"}
"""Functions that return a pandas ``Styler`` (an HTML table, no figure)."""


ALLOWED_OVERLAPS: dict[str, tuple[Callable[[tuple[str, str]], bool], str]] = {}
"""``name -> (pair allowed?, reason)``; empty: no figure needs an exception today."""

SAMPLES: dict[str, Callable[[], object]] = {}


def sample(name: str):
    """Register the sample call of the exported function ``name``."""

    def register(fn):
        SAMPLES[name] = fn
        return fn

    return register


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------- arena

_ARENA_METHODS = {"Late Fusion": 0.20, "Concat Fusion": 0.18, "MLA": 0.12, "RAML": 0.08, "QMF": 0.1}


def _arena_frame() -> pd.DataFrame:
    """An arena frame (``run_arena``'s columns) with every corruption family, two datasets."""
    rng = _rng(0)
    families = {
        "noise": [0.25, 0.5, 1.0, 2.0, 3.0],
        "gaussian_noise": [0.08, 0.12, 0.18, 0.26, 0.38],
        "missing": [0.1, 0.3, 0.5, 0.7],
        "missing_pattern": [0.5],
        "unaligned": [1.0],
    }
    rows = []
    for d in ("av_digits", "mfeat"):
        for method, slope in _ARENA_METHODS.items():
            for seed in (0, 1, 2):
                base = 0.9 + 0.01 * rng.normal()
                rows.append(
                    dict(
                        dataset=d,
                        method=method,
                        condition="normal",
                        modality="",
                        level=0.0,
                        seed=seed,
                        value=base,
                    )
                )
                for fam, levels in families.items():
                    for m in ("image", "audio"):
                        for lv in levels:
                            value = base - slope * lv + 0.01 * rng.normal()
                            rows.append(
                                dict(
                                    dataset=d,
                                    method=method,
                                    condition=fam,
                                    modality=m,
                                    level=lv,
                                    seed=seed,
                                    value=value,
                                )
                            )
    return pd.DataFrame(rows).assign(metric="accuracy", detail="")


@sample("arena_curves")
def _():
    return plotting.arena_curves(_arena_frame(), "av_digits")


@sample("arena_curve_grid")
def _():
    return plotting.arena_curve_grid(_arena_frame())


@sample("arena_dashboard")
def _():
    return plotting.arena_dashboard(_arena_frame())


@sample("leaderboard_heatmap")
def _():
    return plotting.leaderboard_heatmap(_arena_frame())


# ----------------------------------------------------------------------------- claims


@sample("claims_forest")
def _():
    ids = [
        "raml.best_average",
        "raml.single_modality",
        "raml.full_modality",
        "raml.adaptive_vs_identical",
        "raml.best_under_noise",
        "raml.best_under_both",
    ]
    rng = _rng(1)
    rows = []
    for d in ("av_digits", "mfeat"):
        for i, id_ in enumerate(ids):
            mean, se = rng.normal(0.02, 0.1), abs(rng.normal(0.005, 0.003))
            if i == 2 and d == "mfeat":
                mean = se = float("nan")  # a claim the profile did not judge
            verdict = (
                "holds" if mean - 2 * se > 0 else "fails" if mean + 2 * se < 0 else "not clearly"
            )
            rows.append(dict(dataset=d, id=id_, diff_mean=mean, diff_se=se, verdict=verdict))
    return plotting.claims_forest(
        pd.DataFrame(rows), title="RAML: paper claims on av_digits, mfeat"
    )


# ----------------------------------------------------------------------------- curves


def _robustness_frame() -> pd.DataFrame:
    rng = _rng(2)
    rows = [
        dict(method=m, level=lv, seed=s, value=0.9 - k * 0.05 * lv + 0.01 * rng.normal())
        for k, m in enumerate(["Late Fusion", "RAML (full-modality)", "MLA"])
        for lv in (0.0, 0.25, 0.5, 1.0, 2.0, 3.0)
        for s in (0, 1, 2)
    ]
    return pd.DataFrame(rows).assign(metric="accuracy")


@sample("robustness_curve")
def _():
    return plotting.robustness_curve(
        _robustness_frame(), xlabel="noise amplitude", title="Gaussian noise σ on the image"
    )


@sample("training_curves")
def _():
    epochs = np.arange(1, 31)
    history = pd.DataFrame(
        {"epoch": epochs, "train_loss": 2.0 / epochs, "val_accuracy": 1 - 0.5 / np.sqrt(epochs)}
    )
    return plotting.training_curves(history, best_epoch=24)


@sample("results_table")
def _():
    table = _robustness_frame().pivot_table(index="method", columns="level", values="value")
    return plotting.results_table(table, caption="accuracy against noise", highlight="max")


# ----------------------------------------------------------------------------- mla

_MLA_METHODS = ["Sum", "Concat", "Late Fusion", "FiLM", "BiGated", "OGM-GE", "QMF", "MLA"]


@sample("unimodal_bars")
def _():
    rng = _rng(3)
    rows = [
        dict(method=m, modality=mod, seed=s, value=0.6 + 0.3 * rng.random())
        for m in _MLA_METHODS
        for mod in ("image", "audio", "multi")
        for s in (0, 1, 2)
    ]
    return plotting.unimodal_bars(pd.DataFrame(rows))


@sample("missing_rate_curves")
def _():
    rng = _rng(4)
    rows = []
    for m in ("Late Fusion", "MLA", "CRA", "MMIN", "TATE"):
        for rate in (10, 30, 50, 70):
            for s in (0, 1, 2):
                rows.append(
                    dict(
                        method=m,
                        modality="multi",
                        level=f"missing_rate={rate}",
                        seed=s,
                        value=0.9 - rate / 200 + 0.01 * rng.normal(),
                        missing_rate_realised=rate / 100 + 0.004,
                    )
                )
    return plotting.missing_rate_curves(pd.DataFrame(rows))


@sample("modality_gap_plot")
def _():
    from workbench.experiments.mla import ModalityGap

    rng = _rng(5)
    gaps = {}
    for name, shift in (("Concat", 0.6), ("MLA", 0.2)):
        pts = np.r_[rng.normal(-shift, 0.2, (40, 2)), rng.normal(shift, 0.2, (40, 2))]
        modality = np.array(["image"] * 40 + ["audio"] * 40)
        centroids = np.stack([pts[:40].mean(0), pts[40:].mean(0)])
        gaps[name] = ModalityGap(
            distance=float(np.linalg.norm(centroids[0] - centroids[1])),
            centroids=centroids,
            points=pts,
            modality=modality,
            y=rng.integers(0, 10, 80),
        )
    return plotting.modality_gap_plot(gaps)


@sample("projector_spectrum")
def _():
    rng = _rng(6)
    history = [
        dict(step=t, eigenvalues=np.sort(rng.random(16)) ** (1 + t / 5), update_norm=1 / (1 + t))
        for t in range(0, 200, 10)
    ]
    return plotting.projector_spectrum(history)


# ----------------------------------------------------------------------------- ot


def _points(n: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=g)
    rot = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    return X, X @ rot.T + 0.05 * torch.randn(n, 2, generator=g)


def _codes():
    g = torch.Generator().manual_seed(1)
    return [torch.randn(12, 2, generator=g), torch.randn(12, 2, generator=g) + 1.0]


@sample("plot_plan")
def _():
    from workbench import ot

    X, Y = _points()
    plan = ot.ipot(ot.squared_euclidean_cost(X, Y))
    return plotting.plot_plan(plan, title=f"IPOT plan, <C,T> = {float(plan.value):.4f}")


@sample("plot_matching")
def _():
    from workbench import ot

    X, Y = _points()
    plan = ot.exact(ot.squared_euclidean_cost(X, Y))
    return plotting.plot_matching(X, Y, plan, top=6, title="exact OT (network simplex)")


@sample("plot_ipot_convergence")
def _():
    from workbench import ot

    X, Y = _points()
    curves = ot.ipot_error_curve(
        ot.squared_euclidean_cost(X, Y), iterations=(1, 2, 5, 10, 20), betas=(0.5, 1.0)
    )
    return plotting.plot_ipot_convergence(curves)


@sample("plot_barycenter")
def _():
    from workbench import ot

    codes = _codes()
    bary = ot.fgw_barycenter(codes, 6, n_outer=3)
    return plotting.plot_barycenter(codes, bary, names=["image", "audio"])


@sample("plot_fgw_matchings")
def _():
    from workbench import ot

    X, Y = _points()
    return plotting.plot_fgw_matchings(X, Y, ot.fgw_matchings(X, Y))


@sample("plot_mixing")
def _():
    from workbench import ot

    codes = _codes()
    bary = ot.fgw_barycenter(codes, 6, n_outer=3)
    mix = ot.stochastic_mix(codes, bary.plans, masks="binary")
    weighted = ot.stochastic_mix(codes, bary.plans, masks="weighted")
    return plotting.plot_mixing(codes, bary, mix, weighted, names=["image", "audio"])


# ----------------------------------------------------------------------------- otm


def _labelled_codes(n: int = 40, seed: int = 8):
    rng = _rng(seed)
    labels = np.repeat(np.arange(4), n // 4)
    return rng.normal(labels[:, None], 0.3, (n, 8)), labels


@sample("codes_scatter")
def _():
    codes, labels = _labelled_codes()
    return plotting.codes_scatter(codes, labels, title="latent codes (PCA)")


@sample("tsne")
def _():
    codes, labels = _labelled_codes()
    return plotting.tsne(codes, labels, title="aligned latent codes")


@sample("tsne_pair")
def _():
    codes, labels = _labelled_codes()
    fused, fused_labels = _labelled_codes(seed=9)
    return plotting.tsne_pair(codes, labels, fused, fused_labels)


@sample("noise_curves")
def _():
    rng = _rng(10)
    rows = [
        dict(method=m, energy_ratio=r, seed=s, value=0.8 - k * 0.1 * r + 0.01 * rng.normal())
        for k, m in enumerate(["k-means", "MWAE", "MWAE+OTM"])
        for r in (0.0, 0.1, 0.5, 1.0, 2.0)
        for s in (0, 1, 2)
    ]
    return plotting.noise_curves(pd.DataFrame(rows))


# ----------------------------------------------------------------------------- raml


def _omega(n: int = 8, m: int = 2, d: int = 32, seed: int = 12) -> np.ndarray:
    return _rng(seed).dirichlet(np.ones(m), size=(n, d)).transpose(0, 2, 1)


@sample("weight_heatmap")
def _():
    return plotting.weight_heatmap(_omega(), ["image", "audio"], title="ω per sample (clean)")


@sample("weight_heatmaps")
def _():
    grids = {
        "noise": {f"σ={s:g}": _omega(seed=k) for k, s in enumerate((0.0, 0.18, 0.38))},
        "mask": {f"p={p:g}": _omega(seed=5 + k) for k, p in enumerate((0.0, 0.15, 0.25))},
    }
    return plotting.weight_heatmaps(grids, ["image", "audio"])


@sample("lambda_curve")
def _():
    rng = _rng(13)
    rows = [
        dict(parameter=p, **{"lambda": lam}, seed=s, value=0.85 + 0.01 * rng.normal())
        for p in ("lambda_u", "lambda_d")
        for lam in (0.01, 0.1, 0.5, 1.0, 2.0)
        for s in (0, 1, 2)
    ]
    title = "Fig. 4 right: average WA against λ1 (lambda_u) and λ2 (lambda_d, on L^D / D)"
    return plotting.lambda_curve(pd.DataFrame(rows).assign(metric="wa"), title=title)


@sample("advantage_plot")
def _():
    rng = _rng(14)
    tests = ["complete", "one modality missing", "m0 noisy (σ=1)", "m0 noisy (σ=2)"]
    rows = [
        dict(
            knob="redundancy",
            value=v,
            test=t,
            mean=0.05 * v + 0.01 * rng.normal(),
            std=0.01,
            se=0.006,
            n=3,
            method="RAML",
            baseline=b,
        )
        for b in ("Concat Fusion", "Identical")
        for v in (0.0, 0.25, 0.5, 0.75, 1.0)
        for t in tests
    ]
    from workbench.experiments.raml import ADVANTAGE_PLOT  # the notebook's call (04_raml)

    return plotting.advantage_plot(pd.DataFrame(rows), **ADVANTAGE_PLOT, xlabel="redundancy ρ")


# ----------------------------------------------------------------------------- wma


def _wma_grid() -> pd.DataFrame:
    """``run_grid``'s rows on a paper-sized α×β grid (Tables 3-6), three test cases."""
    rng = _rng(15)
    alphas = [0.1, 0.2, 1.0, 5.0]
    betas = [0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0]
    rows = []
    for cond in ("normal", "noise/text", "missing/image"):
        for s in (0, 1):
            rows.append(
                dict(
                    regime="baseline",
                    alpha=0.0,
                    beta=0.0,
                    condition=cond,
                    seed=s,
                    value=0.71 + 0.01 * rng.normal(),
                )
            )
            rows.append(
                dict(
                    regime="minimize OT",
                    alpha=1.0,
                    beta=0.0,
                    condition=cond,
                    seed=s,
                    value=0.70 + 0.01 * rng.normal(),
                )
            )
            for a in alphas:
                for b in betas:
                    rows.append(
                        dict(
                            regime="WMA",
                            alpha=a,
                            beta=b,
                            condition=cond,
                            seed=s,
                            value=0.715 + 0.003 * rng.normal(),
                        )
                    )
    return pd.DataFrame(rows).assign(metric="accuracy")


@sample("alpha_beta_heatmaps")
def _():
    from workbench.experiments.wma import paper_grid

    return plotting.alpha_beta_heatmaps(paper_grid("Hateful Memes"))  # the published Tables 3-6


@sample("beta_curve")
def _():
    return plotting.beta_curve(_wma_grid())


# ----------------------------------------------------------------------------- mechanism


def _wma_advantage() -> pd.DataFrame:
    """:func:`workbench.experiments.wma.noise_advantage`'s frame (one paired difference a seed)."""
    rng = _rng(16)
    rows = [
        dict(dataset="synthetic", against=o, noisy=m, amplitude=a, seed=s, wma=0.8, other=0.78,
             difference=0.01 * a / 12 + 0.005 * rng.normal())
        for o in ("baseline", "minimize OT")
        for m in ("m0", "m1")
        for a in (0.0, 0.5, 1.0, 3.0, 6.0, 12.0)
        for s in (0, 1, 2)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def _otm_advantage() -> pd.DataFrame:
    """:func:`workbench.experiments.otm.mechanism_advantage`'s frame."""
    rng = _rng(11)
    rows = [
        dict(shared=k, comparison=f"MWAE+OTM − {b}", mean=0.1 * k + 0.01 * rng.normal(),
             se=0.01, n=3)
        for b in ("MWAE", "k-means")
        for k in (0.0, 0.25, 0.5, 0.75, 1.0)
    ]  # fmt: skip
    return pd.DataFrame(rows)


_MECHANISM = {"wma": _wma_advantage, "otm": _otm_advantage}
"""Advantage frames of the papers whose ``ADVANTAGE_PLOT`` the ``advantage_plot`` sample (RAML's)
does not use: WMA's per-seed values on a symlog knob, OTM's single panel."""


# ----------------------------------------------------------------------------- checks


def _figure(out):
    """The matplotlib Figure behind what a figure function returned."""
    from matplotlib.artist import Artist
    from matplotlib.figure import Figure

    if isinstance(out, Figure):
        return out
    if isinstance(out, Artist) and out.figure is not None:  # Axes, AxesImage, ...
        return out.figure
    items = list(np.ravel(np.asarray(out, dtype=object))) if not isinstance(out, str) else []
    figures = {id(_figure(x)): _figure(x) for x in items}
    if len(figures) != 1:
        raise AssertionError(f"expected artists of one matplotlib figure, got {type(out).__name__}")
    return next(iter(figures.values()))


@pytest.fixture(autouse=True)
def _close():
    yield
    plt.close("all")


def test_every_exported_figure_function_has_a_sample():
    exported = set(exported_figure_functions())
    missing = sorted(exported - set(SAMPLES))
    assert not missing, (
        f"workbench.plotting exports {missing} without a sample input; add a @sample(...) call "
        "to tests/test_plotting_all.py so the figure is checked for overlapping text."
    )
    stale = sorted(set(SAMPLES) - exported)
    assert not stale, f"samples for functions workbench.plotting no longer exports: {stale}"
    assert (PLOTLY | STYLERS | set(ALLOWED_OVERLAPS)) <= exported


def test_a_new_figure_function_without_a_sample_fails(monkeypatch):
    def new_figure(df, ax=None):
        return ax

    monkeypatch.setattr(plotting, "new_figure", new_figure, raising=False)
    assert "new_figure" in exported_figure_functions()
    with pytest.raises(AssertionError, match="new_figure"):
        test_every_exported_figure_function_has_a_sample()
    with pytest.raises(pytest.fail.Exception, match="new_figure"):
        test_figure_renders_without_overlapping_text("new_figure")


def test_the_check_sees_overlaps_and_figures_of_every_shape():
    fig, ax = plt.subplots(figsize=(2, 2))
    ax.set_xticks(range(5), ["a long tick label"] * 5)
    assert overlapping_texts(fig)
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.set_xticks(range(5), list("abcde"))
    ax.twinx().plot(range(5))  # the twin's hidden x axis repeats the tick labels: not an overlap
    assert overlapping_texts(fig) == []
    assert texts_outside(fig) == []
    fig.text(0.98, 0.5, "a note running off the figure")
    assert texts_outside(fig) == ["a note running off the figure"]
    assert _figure(ax) is fig and _figure([ax]) is fig and _figure(np.array([[ax]])) is fig
    assert _figure(ax.imshow(np.eye(2))) is fig
    with pytest.raises(AssertionError, match="one matplotlib figure"):
        _figure([ax, plt.subplots()[1]])


@pytest.mark.parametrize("name", exported_figure_functions())
def test_figure_renders_without_overlapping_text(name):
    if name not in SAMPLES:
        pytest.fail(f"no sample input for workbench.plotting.{name}; add one to SAMPLES.")
    out = SAMPLES[name]()
    if name in PLOTLY:
        import plotly.graph_objects as go

        assert isinstance(out, go.Figure), f"{name} should return a plotly Figure"
        assert out.data, f"{name} drew no trace"
        return
    if name in STYLERS:
        from pandas.io.formats.style import Styler

        assert isinstance(out, Styler), f"{name} should return a pandas Styler"
        assert "<table" in out.to_html()
        return
    fig = _figure(out)
    bad = overlapping_texts(fig)
    if name in ALLOWED_OVERLAPS:
        allowed, _reason = ALLOWED_OVERLAPS[name]
        bad = [pair for pair in bad if not allowed(pair)]
    assert bad == [], f"{name}: overlapping text elements {bad}"
    cut = texts_outside(fig, draw=False)  # overlapping_texts just drew it
    assert cut == [], f"{name}: text beyond the figure's edges (cut off when saved) {cut}"


@pytest.mark.parametrize("paper", sorted(_MECHANISM))
def test_every_papers_advantage_plot_is_readable(paper):
    import importlib

    options = importlib.import_module(f"workbench.experiments.{paper}").ADVANTAGE_PLOT
    fig = _figure(plotting.advantage_plot(_MECHANISM[paper](), **options))
    assert overlapping_texts(fig) == [], f"{paper}: overlapping text elements"
    assert texts_outside(fig, draw=False) == [], f"{paper}: text beyond the figure's edges"
