"""The one claims engine: the papers' claims, checked against the workbench's tidy results.

A :class:`Claim` is declarative: which method is claimed better than which (or best of a set,
or monotone along a severity), where in the workbench's results and where in the paper's
published table (``workbench/reference/<paper>.csv``). :func:`evaluate` computes both sides:

- the **paper side** from the reference rows (never typed in): the paired differences of the
  printed numbers cell by cell (dataset, condition, modality, level), how many favour the claim;
- the **workbench side** from the per-seed paired differences: within each seed the selected
  rows of a method are averaged, the difference ``A - B`` is taken per seed (sign-flipped when
  lower is better), and its mean and standard error ``se = std / sqrt(n)`` decide a
  three-valued verdict (:func:`verdict`):

  ``holds``        mean - z·se > margin  (the advantage is beyond its noise and the margin)
  ``fails``        mean + z·se < margin  (the advantage is confidently below the margin)
  ``not clearly``  otherwise, and always with a single seed

with ``z = 2`` by default. ``best_of`` holds when it holds against every competitor and fails
when it fails against one; ``monotone`` compares each step of the curve (consecutive values of
``along``) the same way: it holds when every step holds, fails when one step fails.

>>> from workbench.claims import Claim, evaluate
>>> claim = Claim("raml.vs_concat", "RAML beats Concat Fusion on the pattern average", "raml",
...               "ordering", "RAML", ("Concat Fusion",), table="I",
...               reference={"table": "I", "modality": "average"})
>>> evaluate([claim], results)          # results: tidy frame with method, seed, value, ...
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .reference import level_value, load_reference

__all__ = [
    "KINDS",
    "VERDICTS",
    "Claim",
    "evaluate",
    "paired_differences",
    "summarise_verdicts",
    "verdict_summary",
    "verdict",
]

KINDS = ("ordering", "gap", "best_of", "monotone")
"""Claim kinds: ``ordering`` (A beats B), ``gap`` (A beats B by at least ``margin``),
``best_of`` (A beats every competitor), ``monotone`` (A's curve falls or rises along ``along``)."""
VERDICTS = ("holds", "not clearly", "fails")

_PAPER_KEYS = ("dataset", "condition", "modality", "level", "metric")


@dataclass(frozen=True)
class Claim:
    """One claim of a paper.

    Attributes:
        id: a unique short name (``"mla.best_multimodal"``).
        text: the claim in words.
        paper: ``"wma"``, ``"mla"``, ``"raml"`` or ``"otm"`` (the reference CSV read).
        kind: one of :data:`KINDS`.
        method: the workbench name of the method claimed better (or whose curve is claimed).
        against: ``ordering``/``gap``: the one baseline; ``best_of``: the competitors
            (empty: every other method in the selection); ``monotone``: unused.
        table: the paper's table (``""`` when figure-only).
        where: filter on the workbench results, ``column -> value`` or a list of values.
        frame: key of the results mapping given to :func:`evaluate`.
        reference: filter on the reference rows, ``column -> value`` or a list of values.
        paper_method, paper_against: the paper's names where they differ from the workbench's.
        margin: the advantage a ``gap`` claim states (workbench units); 0 for ``ordering``.
        higher_is_better: the metric's direction.
        along: ``monotone``: the numeric workbench column ordering the curve (the reference
            side orders by its ``level`` through :func:`workbench.reference.level_value`).
        direction: ``monotone``: ``"decreasing"`` or ``"increasing"``.
        source: where the paper makes the claim when it is not tabulated (e.g. ``"Fig. 3"``).
        pair_on: workbench columns that name a cell (e.g. ``("dataset", "condition")``): the
            difference is taken cell by cell, over the cells both methods ran, then averaged
            within each seed. Default: every selected row of a method is averaged per seed.
    """

    id: str
    text: str
    paper: str
    kind: str
    method: str
    against: tuple[str, ...] = ()
    table: str = ""
    where: Mapping[str, Any] = field(default_factory=dict)
    frame: str = "main"
    reference: Mapping[str, Any] = field(default_factory=dict)
    paper_method: str | None = None
    paper_against: tuple[str, ...] | None = None
    margin: float = 0.0
    higher_is_better: bool = True
    along: str | None = None
    direction: str = "decreasing"
    source: str = ""
    pair_on: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Claim {self.id!r}: kind {self.kind!r}; expected one of {KINDS}.")
        if isinstance(self.against, str):
            object.__setattr__(self, "against", (self.against,))
        object.__setattr__(self, "pair_on", tuple(self.pair_on))
        if isinstance(self.paper_against, str):
            object.__setattr__(self, "paper_against", (self.paper_against,))
        if self.kind in ("ordering", "gap") and len(self.against) != 1:
            raise ValueError(
                f"Claim {self.id!r}: an {self.kind} claim compares with exactly one baseline "
                f"(against=('Name',)), got {self.against!r}."
            )
        if self.kind == "monotone":
            if not self.along:
                raise ValueError(f"Claim {self.id!r}: a monotone claim needs along='<column>'.")
            if self.direction not in ("decreasing", "increasing"):
                raise ValueError(
                    f"Claim {self.id!r}: direction {self.direction!r}; use 'decreasing' or 'increasing'."
                )


def verdict(differences: Sequence[float] | np.ndarray, margin: float = 0.0, z: float = 2.0) -> str:
    """The three-valued verdict of per-seed paired differences (positive favours the claim).

    ``holds`` when ``mean - z·se > margin``, ``fails`` when ``mean + z·se < margin``, else
    ``not clearly``; fewer than two finite differences are always ``not clearly``.

    >>> verdict([0.05, 0.06, 0.04])
    'holds'
    >>> verdict([0.05])
    'not clearly'
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return "not clearly"
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size))
    if mean - z * se > margin:
        return "holds"
    if mean + z * se < margin:
        return "fails"
    return "not clearly"


def _select(frame: pd.DataFrame, where: Mapping[str, Any], what: str) -> pd.DataFrame:
    mask = pd.Series(True, index=frame.index)
    for column, wanted in where.items():
        if column not in frame.columns:
            raise ValueError(
                f"{what}: no column {column!r} to filter on; the frame has {list(frame.columns)}."
            )
        values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        mask &= frame[column].isin(values)
    return frame[mask]


def _per_seed(frame: pd.DataFrame, by: Sequence[str] = ()) -> pd.DataFrame:
    """Mean value per (method, *by, seed): columns methods, index (*by, seed)."""
    keys = ["method", *by, "seed"]
    means = frame.groupby(keys, dropna=False)["value"].mean()
    return means.unstack("method")


def paired_differences(
    results: pd.DataFrame,
    method: str,
    baseline: str,
    *,
    higher_is_better: bool = True,
    pair_on: Sequence[str] = (),
) -> pd.Series:
    """Per-seed ``method - baseline`` (sign-flipped when lower is better), seeds both ran.

    With ``pair_on`` the difference is taken per cell (the columns' values) over the cells both
    methods ran and averaged within each seed; without, every row of a method in a seed is
    averaged first.
    """
    wide = _per_seed(results, tuple(pair_on))
    for name in (method, baseline):
        if name not in wide.columns:
            return pd.Series(dtype=float)
    d = (wide[method] - wide[baseline]).dropna()
    if pair_on:
        d = d.groupby(level="seed").mean()
    return d if higher_is_better else -d


def _stats(d: Iterable[float]) -> tuple[float, float, int]:
    a = np.asarray(list(d), dtype=float)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return float("nan"), float("nan"), 0
    se = float(a.std(ddof=1) / math.sqrt(a.size)) if a.size > 1 else float("nan")
    return float(a.mean()), se, int(a.size)


def _combine(verdicts: Sequence[str]) -> str:
    if not verdicts:
        return "not clearly"
    if all(v == "holds" for v in verdicts):
        return "holds"
    if any(v == "fails" for v in verdicts):
        return "fails"
    return "not clearly"


def _fmt(x: float) -> str:
    return "nan" if not np.isfinite(x) else f"{x:+.4g}"


# ----------------------------------------------------------------------------- workbench side
def _workbench_side(claim: Claim, results: pd.DataFrame, z: float) -> dict[str, Any]:
    missing = {"method", "seed", "value"} - set(results.columns)
    if missing:
        raise ValueError(
            f"Claim {claim.id!r}: the results lack columns {sorted(missing)} "
            "(tidy results have method, seed, value, ...)."
        )
    sel = _select(results, claim.where, f"Claim {claim.id!r} (where)")
    sel = sel[np.isfinite(pd.to_numeric(sel["value"], errors="coerce"))]
    none = {"workbench": "not run", "diff_mean": np.nan, "diff_se": np.nan, "n_seeds": 0}
    if claim.method not in set(sel["method"]):
        return {**none, "verdict": "not clearly", "workbench": f"{claim.method} not run"}
    if claim.kind == "monotone":
        return _workbench_monotone(claim, sel, z)
    competitors = list(claim.against) or [
        m for m in dict.fromkeys(sel["method"]) if m != claim.method
    ]
    ran = [c for c in competitors if c in set(sel["method"])]
    if not ran:
        return {**none, "verdict": "not clearly", "workbench": f"{', '.join(competitors)} not run"}
    margin = claim.margin if claim.kind == "gap" else 0.0
    parts, verdicts, worst = [], [], None
    for c in ran:
        d = paired_differences(
            sel, claim.method, c, higher_is_better=claim.higher_is_better, pair_on=claim.pair_on
        )
        mean, se, n = _stats(d)
        v = verdict(d.to_numpy(), margin, z)
        verdicts.append(v)
        parts.append(f"vs {c}: {_fmt(mean)} ± {se:.2g} (n={n}, {v})")
        if worst is None or (np.isfinite(mean) and mean < worst[0]):
            worst = (mean, se, n)
    if len(ran) < len(competitors):
        absent = [c for c in competitors if c not in ran]
        verdicts.append("not clearly")
        parts.append(f"{', '.join(absent)} not run")
    mean, se, n = worst if worst else (np.nan, np.nan, 0)
    text = parts[0] if len(parts) == 1 else "; ".join(parts)
    return {
        "workbench": f"{claim.method} {text}",
        "diff_mean": mean,
        "diff_se": se,
        "n_seeds": n,
        "verdict": _combine(verdicts),
    }


def _workbench_monotone(claim: Claim, sel: pd.DataFrame, z: float) -> dict[str, Any]:
    if claim.along not in sel.columns:
        raise ValueError(
            f"Claim {claim.id!r}: no column {claim.along!r} (along) in the results; "
            f"it has {list(sel.columns)}."
        )
    own = sel[sel["method"] == claim.method].copy()
    own["_x"] = pd.to_numeric(own[claim.along], errors="coerce")
    curve = own.groupby(["_x", "seed"])["value"].mean().unstack("_x").sort_index(axis=1)
    xs = list(curve.columns)
    if len(xs) < 2:
        return {
            "workbench": f"{claim.method}: fewer than two values of {claim.along}",
            "diff_mean": np.nan,
            "diff_se": np.nan,
            "n_seeds": int(len(curve)),
            "verdict": "not clearly",
        }
    sign = -1.0 if claim.direction == "decreasing" else 1.0
    verdicts, steps = [], []
    for lo, hi in zip(xs[:-1], xs[1:], strict=True):
        d = (sign * (curve[hi] - curve[lo])).dropna().to_numpy()
        verdicts.append(verdict(d, claim.margin, z))
        steps.append(float(np.mean(d)) if d.size else np.nan)
    ends = (sign * (curve[xs[-1]] - curve[xs[0]])).dropna()
    mean, se, n = _stats(ends)
    return {
        "workbench": (
            f"{claim.method} {claim.direction} along {claim.along} {xs[0]:g}→{xs[-1]:g}: "
            f"end-to-end {_fmt(mean)} ± {se:.2g} (n={n}); steps "
            + ", ".join(f"{s:+.3g}" for s in steps)
        ),
        "diff_mean": mean,
        "diff_se": se,
        "n_seeds": n,
        "verdict": _combine(verdicts),
    }


# ----------------------------------------------------------------------------- paper side
def _paper_side(claim: Claim, reference: pd.DataFrame | None) -> dict[str, Any]:
    if reference is None or not claim.reference:
        where = claim.source or (f"Table {claim.table}" if claim.table else "the text")
        return {"paper_evidence": f"not tabulated ({where})", "paper_verdict": "not tabulated"}
    ref = _select(reference, claim.reference, f"Claim {claim.id!r} (reference)")
    ref = ref[np.isfinite(ref["value"])]
    name = claim.paper_method or claim.method
    keys = [k for k in _PAPER_KEYS if k in ref.columns]
    if claim.kind == "monotone":
        return _paper_monotone(claim, ref[ref["method"] == name])
    others = list(claim.paper_against if claim.paper_against is not None else claim.against)
    if not others:
        others = [m for m in dict.fromkeys(ref["method"]) if m != name]
    a = ref[ref["method"] == name].groupby(keys, dropna=False)["value"].mean()
    if a.empty:
        return {
            "paper_evidence": f"{name}: no rows in the reference",
            "paper_verdict": "not tabulated",
        }
    best = None
    for o in others:
        b = ref[ref["method"] == o].groupby(keys, dropna=False)["value"].mean()
        best = b if best is None else pd.concat([best, b], axis=1).max(axis=1)
    if best is None:
        return {
            "paper_evidence": f"no competitor rows for {name}",
            "paper_verdict": "not tabulated",
        }
    d = (a - best).dropna()
    if not claim.higher_is_better:
        d = -d
    if d.empty:
        return {
            "paper_evidence": f"{name} and {', '.join(others)} share no cell",
            "paper_verdict": "not tabulated",
        }
    margin = claim.margin if claim.kind == "gap" else 0.0
    ahead = int((d > margin).sum())
    vs = others[0] if len(others) == 1 else f"best of {len(others)} others"
    evidence = f"{name} − {vs}: mean {_fmt(float(d.mean()))} over {len(d)} cells, ahead in {ahead}/{len(d)}"
    v = "holds" if ahead == len(d) else ("fails" if ahead == 0 else "not clearly")
    return {"paper_evidence": evidence, "paper_verdict": v}


def _paper_monotone(claim: Claim, ref: pd.DataFrame) -> dict[str, Any]:
    if ref.empty:
        return {"paper_evidence": "no rows in the reference", "paper_verdict": "not tabulated"}
    ref = ref.assign(_x=[level_value(lv) for lv in ref["level"]])
    group = [k for k in ("dataset", "condition", "modality", "metric") if k in ref.columns]
    sign = -1.0 if claim.direction == "decreasing" else 1.0
    n_ok = n = 0
    for _, g in ref.groupby(group, dropna=False):
        curve = g.groupby("_x")["value"].mean().sort_index()
        if len(curve) < 2:
            continue
        n += 1
        n_ok += bool((sign * np.diff(curve.to_numpy()) >= 0).all())
    if n == 0:
        return {
            "paper_evidence": "fewer than two levels per curve",
            "paper_verdict": "not tabulated",
        }
    v = "holds" if n_ok == n else ("fails" if n_ok == 0 else "not clearly")
    return {"paper_evidence": f"{claim.direction} in {n_ok}/{n} printed curves", "paper_verdict": v}


# ----------------------------------------------------------------------------- evaluate
def evaluate(
    claims: Iterable[Claim],
    results: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    reference: Mapping[str, pd.DataFrame] | None = None,
    z: float = 2.0,
    profile: str | None = None,
) -> pd.DataFrame:
    """The paper-vs-workbench table: one row per claim.

    Args:
        claims: the claims to check.
        results: a tidy frame (``method``, ``seed``, ``value`` and the columns the claims filter
            on) or a mapping ``frame name -> frame`` (:attr:`Claim.frame` picks one).
        reference: ``paper -> load_reference(paper)`` (default: read as needed).
        z: the standard-error multiple of :func:`verdict`.
        profile: the profile the results come from (a column of the table: smoke verdicts are
            marked as such).

    Returns:
        Columns ``id, claim, paper, table, kind, paper_evidence, paper_verdict, workbench,
        diff_mean, diff_se, n_seeds, verdict, profile``. A claim whose frame is absent or whose
        methods did not run is ``not clearly`` and says so.
    """
    frames = {"main": results} if isinstance(results, pd.DataFrame) else dict(results)
    refs = dict(reference or {})
    rows = []
    for claim in claims:
        if claim.paper not in refs:
            try:
                refs[claim.paper] = load_reference(claim.paper)
            except ValueError:
                refs[claim.paper] = None
        row: dict[str, Any] = {
            "id": claim.id,
            "claim": claim.text,
            "paper": claim.paper,
            "table": claim.table,
            "kind": claim.kind,
        }
        row.update(_paper_side(claim, refs[claim.paper]))
        frame = frames.get(claim.frame)
        if frame is None or frame.empty:
            row.update(
                workbench=f"not run (no {claim.frame!r} results)",
                diff_mean=np.nan,
                diff_se=np.nan,
                n_seeds=0,
                verdict="not clearly",
            )
        else:
            row.update(_workbench_side(claim, frame, z))
        row["profile"] = profile or ""
        rows.append(row)
    columns = [
        "id", "claim", "paper", "table", "kind", "paper_evidence", "paper_verdict",
        "workbench", "diff_mean", "diff_se", "n_seeds", "verdict", "profile",
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)


def summarise_verdicts(table: pd.DataFrame) -> dict[str, int]:
    """``{"holds": n, "not clearly": n, "fails": n}`` of an :func:`evaluate` table."""
    counts = table["verdict"].value_counts() if len(table) else pd.Series(dtype=int)
    return {v: int(counts.get(v, 0)) for v in VERDICTS}


def verdict_summary(table: pd.DataFrame) -> str:
    """The verdict counts of an :func:`evaluate` table in words, for a caption or a log line.

    >>> verdict_summary(pd.DataFrame({"verdict": ["holds", "holds", "not clearly"]}))
    '2 holds, 1 not clearly, 0 fails'
    """
    return ", ".join(f"{n} {v}" for v, n in summarise_verdicts(table).items())
