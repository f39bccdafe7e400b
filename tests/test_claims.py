"""The claims engine: three-valued verdicts from per-seed paired differences, for every kind,
and the paper side computed from reference rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.claims import (
    Claim,
    evaluate,
    paired_differences,
    summarise_verdicts,
    verdict,
    verdict_summary,
)


def _results(gaps: dict[str, float], noise: float, seeds=(0, 1, 2, 3), base=0.7, rng_seed=0):
    """Tidy rows: method B at ``base``; every other method at ``base + gap`` plus seeded noise,
    on two datasets (both get the same gap)."""
    rng = np.random.default_rng(rng_seed)
    rows = []
    for s in seeds:
        for ds in ("d1", "d2"):
            rows.append({"method": "B", "seed": s, "dataset": ds, "value": base})
            for m, g in gaps.items():
                rows.append(
                    {
                        "method": m,
                        "seed": s,
                        "dataset": ds,
                        "value": base + g + noise * rng.normal(),
                    }
                )
    return pd.DataFrame(rows)


def _ref(rows):
    cols = [
        "paper",
        "table",
        "dataset",
        "method",
        "condition",
        "modality",
        "level",
        "metric",
        "value",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["higher_is_better"] = True
    return {"mla": df}


REF = _ref(
    [
        ["mla", "1", "X", "A", "normal", "multi", "", "acc", 80.0],
        ["mla", "1", "X", "B", "normal", "multi", "", "acc", 75.0],
        ["mla", "1", "X", "C", "normal", "multi", "", "acc", 78.0],
        ["mla", "1", "Y", "A", "normal", "multi", "", "acc", 60.0],
        ["mla", "1", "Y", "B", "normal", "multi", "", "acc", 61.0],
        ["mla", "1", "Y", "C", "normal", "multi", "", "acc", 59.0],
        ["mla", "2", "X", "A", "missing", "multi", "missing_rate=10", "acc", 70.0],
        ["mla", "2", "X", "A", "missing", "multi", "missing_rate=50", "acc", 60.0],
        ["mla", "2", "X", "A", "missing", "multi", "missing_rate=30", "acc", 65.0],
    ]
)


def test_verdict_rule_and_single_seed():
    assert verdict([0.05, 0.06, 0.04]) == "holds"
    assert verdict([-0.05, -0.06, -0.04]) == "fails"
    assert verdict([0.05, -0.06, 0.01]) == "not clearly"
    # one seed is at most "not clearly", whatever its size
    assert verdict([0.5]) == "not clearly"
    assert verdict([-0.5]) == "not clearly"
    # the margin moves the bar: +0.05 ± small holds at margin 0.01, fails at margin 0.1
    d = [0.05, 0.051, 0.049]
    assert verdict(d, margin=0.01) == "holds"
    assert verdict(d, margin=0.1) == "fails"
    # exactly at 2 standard errors: not beyond, so not clearly
    x = np.array([1.0, 3.0])  # mean 2, se 1
    assert verdict(x, z=2.0) == "not clearly"
    assert verdict(x, z=1.9) == "holds"


@pytest.mark.parametrize(
    ("gap", "noise", "expected"),
    [(0.05, 0.002, "holds"), (-0.05, 0.002, "fails"), (0.001, 0.05, "not clearly")],
)
def test_ordering_three_verdicts(gap, noise, expected):
    claim = Claim("t.order", "A beats B", "mla", "ordering", "A", ("B",), table="1",
                  reference={"table": "1"})  # fmt: skip
    out = evaluate([claim], _results({"A": gap}, noise), reference=REF)
    assert out.loc[0, "verdict"] == expected
    assert out.loc[0, "n_seeds"] == 4
    assert np.isclose(out.loc[0, "diff_mean"], gap, atol=4 * noise + 1e-9)


def test_single_seed_is_at_most_not_clearly():
    claim = Claim("t.order", "A beats B", "mla", "ordering", "A", ("B",))
    out = evaluate([claim], _results({"A": 0.2}, 0.0, seeds=(0,)), reference=REF)
    assert out.loc[0, "verdict"] == "not clearly"


@pytest.mark.parametrize(
    ("gap", "margin", "expected"),
    [(0.05, 0.02, "holds"), (0.05, 0.10, "fails"), (0.05, 0.05, "not clearly")],
)
def test_gap_three_verdicts(gap, margin, expected):
    claim = Claim("t.gap", "A beats B by a margin", "mla", "gap", "A", ("B",), margin=margin)
    out = evaluate([claim], _results({"A": gap}, 0.003), reference=REF)
    assert out.loc[0, "verdict"] == expected


@pytest.mark.parametrize(
    ("gaps", "expected"),
    [
        ({"A": 0.10, "C": 0.05}, "holds"),  # A beats B and C clearly
        ({"A": 0.05, "C": 0.10}, "fails"),  # C beats A clearly
        ({"A": 0.10, "C": 0.0995}, "not clearly"),  # A and C tie within noise
    ],
)
def test_best_of_three_verdicts(gaps, expected):
    claim = Claim("t.best", "A is best", "mla", "best_of", "A", table="1",
                  reference={"table": "1"})  # fmt: skip
    out = evaluate([claim], _results(gaps, 0.003), reference=REF)
    assert out.loc[0, "verdict"] == expected


def _curve(slopes: dict[int, float], noise: float):
    rng = np.random.default_rng(1)
    rows = []
    for s in range(4):
        for i, x in enumerate((0.1, 0.3, 0.5)):
            v = 0.9 + slopes[s % len(slopes)] * i + noise * rng.normal()
            rows.append({"method": "A", "seed": s, "rate": x, "value": v})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("slopes", "noise", "expected"),
    [
        ({0: -0.1}, 0.002, "holds"),
        ({0: 0.1}, 0.002, "fails"),
        ({0: -0.1, 1: 0.1}, 0.002, "not clearly"),
    ],
)
def test_monotone_three_verdicts(slopes, noise, expected):
    claim = Claim("t.mono", "A falls with the rate", "mla", "monotone", "A", along="rate",
                  table="2", reference={"table": "2"})  # fmt: skip
    out = evaluate([claim], _curve(slopes, noise), reference=REF)
    assert out.loc[0, "verdict"] == expected
    # the paper side orders the levels numerically (10 < 30 < 50) and finds them decreasing
    assert out.loc[0, "paper_verdict"] == "holds"
    assert "1/1" in out.loc[0, "paper_evidence"]


def test_lower_is_better_flips_the_sign():
    claim = Claim("t.err", "A has the lower error", "mla", "ordering", "A", ("B",),
                  higher_is_better=False)  # fmt: skip
    out = evaluate([claim], _results({"A": -0.05}, 0.002), reference=REF)
    assert out.loc[0, "verdict"] == "holds"


def test_paper_side_is_computed_from_reference_rows():
    claim = Claim("t.order", "A beats B", "mla", "ordering", "A", ("B",), table="1",
                  reference={"table": "1"})  # fmt: skip
    out = evaluate([claim], _results({"A": 0.05}, 0.002), reference=REF)
    # cells: X 80-75=+5, Y 60-61=-1 -> ahead in 1/2, mean +2
    assert out.loc[0, "paper_verdict"] == "not clearly"
    assert "ahead in 1/2" in out.loc[0, "paper_evidence"]
    assert "+2" in out.loc[0, "paper_evidence"]
    best = Claim("t.best", "A is best", "mla", "best_of", "A", table="1",
                 reference={"table": "1", "dataset": "X"})  # fmt: skip
    out = evaluate([best], _results({"A": 0.05}, 0.002), reference=REF)
    assert out.loc[0, "paper_verdict"] == "holds"  # X: 80 > max(75, 78)
    figure = Claim("t.fig", "A's gap is larger", "mla", "ordering", "A", ("B",), source="Fig. 3")
    out = evaluate([figure], _results({"A": 0.05}, 0.002), reference=REF)
    assert out.loc[0, "paper_evidence"] == "not tabulated (Fig. 3)"


def test_paper_names_and_filters_reach_the_reference():
    claim = Claim("t.names", "MLA beats Concat", "mla", "ordering", "A", ("B",),
                  reference={"table": "1"}, paper_method="C", paper_against=("B",))  # fmt: skip
    out = evaluate([claim], _results({"A": 0.05}, 0.002), reference=REF)
    # C - B: X +3, Y -2
    assert "ahead in 1/2" in out.loc[0, "paper_evidence"]


def test_where_selects_and_pair_on_pairs_cells():
    df = _results({"A": 0.05}, 0.002)
    # A ran an extra, much easier dataset that B did not: without pairing by dataset the
    # per-seed means are not comparable; with pair_on only shared cells count
    extra = pd.DataFrame({"method": "A", "seed": range(4), "dataset": "d3", "value": 0.2})
    df = pd.concat([df, extra], ignore_index=True)
    d = paired_differences(df, "A", "B", pair_on=("dataset",))
    assert np.allclose(d.to_numpy(), 0.05, atol=0.01)
    sel = Claim(
        "t.where", "A beats B on d1", "mla", "ordering", "A", ("B",), where={"dataset": "d1"}
    )
    assert evaluate([sel], df, reference=REF).loc[0, "verdict"] == "holds"


def test_missing_methods_frames_and_columns():
    claim = Claim("t.order", "A beats B", "mla", "ordering", "A", ("Z",))
    out = evaluate([claim], _results({"A": 0.05}, 0.002), reference=REF)
    assert out.loc[0, "verdict"] == "not clearly" and "not run" in out.loc[0, "workbench"]
    other = Claim("t.frame", "A beats B", "mla", "ordering", "A", ("B",), frame="ablation")
    out = evaluate([other], {"main": _results({"A": 0.05}, 0.002)}, reference=REF)
    assert out.loc[0, "verdict"] == "not clearly" and "ablation" in out.loc[0, "workbench"]
    bad = Claim("t.bad", "A beats B", "mla", "ordering", "A", ("B",), where={"nope": 1})
    with pytest.raises(ValueError, match="nope"):
        evaluate([bad], _results({"A": 0.05}, 0.002), reference=REF)
    with pytest.raises(ValueError, match="exactly one baseline"):
        Claim("t.x", "x", "mla", "ordering", "A", ("B", "C"))
    with pytest.raises(ValueError, match="kind"):
        Claim("t.x", "x", "mla", "better", "A", ("B",))


def test_summary_counts_and_profile_column():
    claims = [
        Claim("a", "A beats B", "mla", "ordering", "A", ("B",)),
        Claim("b", "B beats A", "mla", "ordering", "B", ("A",)),
    ]
    out = evaluate(claims, _results({"A": 0.05}, 0.002), reference=REF, profile="smoke")
    assert summarise_verdicts(out) == {"holds": 1, "not clearly": 0, "fails": 1}
    assert set(out["profile"]) == {"smoke"}


def test_verdict_summary_in_words():
    table = pd.DataFrame({"verdict": ["holds", "not clearly", "holds"]})
    assert verdict_summary(table) == "2 holds, 1 not clearly, 0 fails"
    assert verdict_summary(pd.DataFrame(columns=["verdict"])) == "0 holds, 0 not clearly, 0 fails"
