"""The committed evidence: a paper's converged results under ``results/<paper>/<profile>/``.

>>> ev = committed("raml", "cpu")        # None when results/raml/cpu/ is absent
>>> ev.line()                            # one provenance line for a notebook or the report
>>> ev.counts()                          # {"holds": 1, "not clearly": 6, "fails": 3}
>>> ev.diagnoses()                       # one row per claim that does not hold

:func:`workbench.experiments.reproduce` writes the folder: ``results.csv`` (the tidy rows),
``paper_table.csv`` (the claims engine's table, :func:`workbench.claims.evaluate`) and
``provenance.json`` (commit, command, machine, versions, wall time, points finished of total,
and per run ``best_epoch``/``max_epochs``/``still_improving``).

Every claim whose verdict is not ``holds`` gets a diagnosis. A paper module
``workbench.experiments.<paper>`` may define ``diagnose(ev) -> {claim id: (kind, text)}`` with
texts computed from ``ev.results``/``ev.provenance``; it overrides the generic diagnosis for
the ids it names (a key may also be ``(dataset, id)`` when a claim is judged per dataset). The
generic diagnosis says, from the committed numbers:

- **budget**: the share of the runs behind the claim (its methods on its dataset) that were
  still improving at their last epoch (provenance ``convergence``);
- **spread**: for ``not clearly``, ``|mean| < 2·SE`` of the per-seed paired differences, and how
  many seeds the observed mean would need at the observed per-seed standard deviation
  ``s = SE·√n`` to clear 2 SE: the smallest ``n'`` with ``|mean| > 2·s/√n'``, i.e.
  ``n' > (2·s/|mean|)²`` (the verdict rule of :func:`workbench.claims.verdict`);
- for ``fails``, who is ahead and by how much (the table's paired differences).

The kind is ``budget`` when at least half of the claim's runs were still improving,
``spread`` for a ``not clearly`` within 2 SE, ``implementation`` for a claim the profile could
not judge (the table says why), else ``data`` (converged runs order the methods the other way
on this data; a paper's ``diagnose`` can say more).
"""

from __future__ import annotations

import importlib
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..claims import VERDICTS, Claim
from ..util import project_root

__all__ = [
    "DIAGNOSIS_KINDS",
    "Evidence",
    "committed",
    "metric_decimals",
    "results_root",
    "seed_stats",
    "seed_summary",
]

DIAGNOSIS_KINDS = ("budget", "spread", "data", "implementation")
"""The kinds of diagnosis of a claim that does not hold."""

_Z = 2.0
_BUDGET_SHARE = 0.5
_PAIR = re.compile(
    r"(?:^|;\s*)(?:(?P<method>[^:;]+?)\s+)?vs\s+(?P<other>[^:;]+?):\s*(?P<mean>[+-]?[\d.eE+-]+|nan)"
    r"\s*±\s*(?P<se>[\d.eE+-]+|nan)\s*\(n=(?P<n>\d+),\s*(?P<verdict>holds|not clearly|fails)\)"
)


def results_root(root: str | os.PathLike | None = None) -> Path:
    """The committed results folder: ``root`` when given, else ``results/`` of the checkout
    containing the current folder, else ``results/`` next to the package (an editable install)."""
    if root is not None:
        return Path(root)
    found = project_root()
    if found is not None:
        return found / "results"
    return Path(__file__).resolve().parents[2] / "results"


def metric_decimals(metric: str | None, values: Any = None) -> int:
    """Decimals a metric is shown with: 1 for a percentage (a ``*_pct`` metric, or values
    beyond 1.5), else 3 (fractions in [0, 1], MAE on a unit scale)."""
    if metric and str(metric).endswith("_pct"):
        return 1
    if values is not None:
        v = pd.to_numeric(pd.Series(values), errors="coerce").abs()
        if v.notna().any() and float(v.max()) > 1.5:
            return 1
    return 3


def _num(x: Any) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return float("nan")


def _g(x: float, digits: int = 3) -> str:
    return f"{x:.{digits}g}" if np.isfinite(x) else "nan"


def seeds_needed(mean: float, se: float, n: int, z: float = _Z) -> float:
    """Seeds the observed ``mean`` needs, at the observed per-seed std ``s = se·√n``, to clear
    ``z`` standard errors: the smallest integer ``n' > (z·s/|mean|)²`` (at least 2); ``inf``
    for a zero mean, ``nan`` without a standard error."""
    if not (np.isfinite(mean) and np.isfinite(se)) or n < 2:
        return float("nan")
    s = se * math.sqrt(n)
    if mean == 0:
        return float("inf")
    if s == 0:
        return 2.0
    k = max(2, math.floor((z * s / abs(mean)) ** 2) + 1)
    # settle the rounding of the bound with the verdict's own strict inequality
    while k > 2 and abs(mean) > z * s / math.sqrt(k - 1):
        k -= 1
    while not abs(mean) > z * s / math.sqrt(k):
        k += 1
    return float(k)


def seed_stats(differences: Any) -> dict[str, float]:
    """Mean, sample standard deviation (``ddof=1``), standard error ``se = std / sqrt(n)`` and
    number ``n`` of the finite per-seed paired differences (the claims engine's statistics,
    :func:`workbench.claims.verdict`); ``std`` and ``se`` are NaN with one seed, ``mean`` too
    with none."""
    a = np.asarray(differences, dtype=float).reshape(-1)
    a = a[np.isfinite(a)]
    n = int(a.size)
    std = float(a.std(ddof=1)) if n > 1 else float("nan")
    return {
        "mean": float(a.mean()) if n else float("nan"),
        "std": std,
        "se": std / math.sqrt(n) if n > 1 else float("nan"),
        "n": n,
    }


def seed_summary(
    frame: pd.DataFrame, by: Sequence[str], column: str = "difference", *, sort: bool = True
) -> pd.DataFrame:
    """The tidy advantage frame every paper's mechanism figure reads
    (:func:`workbench.plotting.advantage_plot`): per group of ``by`` (e.g. knob value,
    comparison, panel) the :func:`seed_stats` of ``column`` over the group's rows (one per seed).

    Args:
        frame: per-seed rows, e.g. paired differences ``method - baseline``.
        by: the grouping columns.
        column: the per-seed values.
        sort: groups in sorted order (else in order of first appearance).

    Returns:
        Columns ``*by, mean, std, se, n``.

    Raises:
        ValueError: a column of ``by`` or ``column`` is missing.
    """
    by = list(by)
    missing = [c for c in (*by, column) if c not in frame.columns]
    if missing:
        raise ValueError(
            f"seed_summary(): the frame lacks columns {missing}; it has {list(frame.columns)}. "
            "Pass per-seed rows with the grouping columns and the value column."
        )
    rows = [
        {**dict(zip(by, key if isinstance(key, tuple) else (key,))), **seed_stats(part[column])}
        for key, part in frame.groupby(by, sort=sort, dropna=False)
    ]
    return pd.DataFrame(rows, columns=[*by, "mean", "std", "se", "n"])


@dataclass(frozen=True, eq=False)
class Evidence:
    """One committed results folder (see the module docstring).

    Attributes:
        paper, profile: e.g. ``"raml"``, ``"cpu"``.
        folder: ``results/<paper>/<profile>``.
        results: ``results.csv``, the tidy rows (empty when absent).
        table: ``paper_table.csv``, the claims (empty when absent).
        provenance: ``provenance.json`` (``{}`` when absent).
    """

    paper: str
    profile: str
    folder: Path
    results: pd.DataFrame = field(repr=False)
    table: pd.DataFrame = field(repr=False)
    provenance: dict = field(repr=False)

    # ------------------------------------------------------------------ provenance
    @property
    def points(self) -> tuple[int | None, int | None]:
        """``(finished, total)`` grid points, ``None`` where provenance does not say."""
        p = self.provenance.get("points") or {}
        fin, tot = p.get("finished"), p.get("total")
        return (None if fin is None else int(fin)), (None if tot is None else int(tot))

    @property
    def partial(self) -> bool:
        """Whether fewer points finished than the profile has."""
        fin, tot = self.points
        return fin is not None and tot is not None and fin < tot

    @property
    def convergence(self) -> pd.DataFrame:
        """Provenance's per-run convergence flags (``run_id``, ``method``, ``dataset``, ``seed``,
        ``best_epoch``, ``max_epochs``, ``still_improving``)."""
        rows = self.provenance.get("convergence") or []
        frame = pd.DataFrame(rows)
        if "still_improving" in frame.columns:
            frame["still_improving"] = frame["still_improving"].fillna(False).astype(bool)
        return frame

    @property
    def n_seeds(self) -> int:
        """Seeds in the results."""
        if "seed" in self.results.columns:
            return int(self.results["seed"].nunique())
        return 0

    def line(self, *, short: bool = False) -> str:
        """One line: profile, points (and ``partial`` when not all finished), seeds, runs still
        improving, wall time, commit, date, machine and torch version (``short``: without the
        machine, the versions and the leading paper and profile)."""
        prov = self.provenance
        parts = [] if short else [f"{self.paper} · committed {self.profile} results"]
        fin, tot = self.points
        if fin is not None and tot is not None:
            if fin < tot:
                parts.append(
                    f"partial: {fin} of {tot} points finished (the tables count only these)"
                )
            else:
                parts.append(f"{fin} of {tot} points")
        if self.n_seeds:
            parts.append(f"{self.n_seeds} seeds")
        conv = self.convergence
        if "still_improving" in conv.columns and len(conv):
            parts.append(
                f"{int(conv['still_improving'].sum())} of {len(conv)} runs still improving "
                "at their last epoch"
            )
        if prov.get("wall_time_s") is not None:
            parts.append(f"{_num(prov['wall_time_s']) / 60:.0f} min of point time")
        commit = str(prov.get("git_commit") or "")
        if commit:
            sha = commit.split()[0][:7]
            parts.append(
                f"commit {sha}" + (" (uncommitted changes)" if "uncommitted" in commit else "")
            )
        if prov.get("date"):
            parts.append(str(prov["date"])[:10])
        if prov.get("machine") and not short:
            parts.append(str(prov["machine"]))
        torch_version = (prov.get("versions") or {}).get("torch")
        if torch_version and not short:
            parts.append(f"torch {torch_version}")
        if not prov:
            parts.append("no provenance.json")
        return "; ".join(parts)

    # ------------------------------------------------------------------ claims
    def counts(self) -> dict[str, int]:
        """``{"holds": n, "not clearly": n, "fails": n}`` over the claims table."""
        if "verdict" not in self.table.columns:
            return {v: 0 for v in VERDICTS}
        counts = self.table["verdict"].value_counts()
        return {v: int(counts.get(v, 0)) for v in VERDICTS}

    def claim_runs(self, row: pd.Series | dict) -> pd.DataFrame:
        """The provenance convergence rows of the runs behind one claim row of :attr:`table`:
        the claim's methods (its ``method`` and ``against``, every method of its selection for a
        ``best_of`` without ``against``) on its dataset."""
        conv = self.convergence
        if conv.empty:
            return conv
        row = dict(row)
        res = self.results
        if (
            "dataset" in res.columns
            and row.get("dataset") not in (None, "")
            and not _isnan(row.get("dataset"))
        ):
            res = res[res["dataset"].astype(str) == str(row["dataset"])]
        claim = _find_claim(self.paper, str(row.get("id", "")))
        if claim is not None:
            sel = _narrow(res, claim.where)
            methods = {claim.method, *claim.against}
            if claim.kind == "best_of" and not claim.against and "method" in sel.columns:
                methods = set(sel["method"].astype(str))
        else:
            methods = _named_methods(str(row.get("workbench", "")), res)
            sel = res
        if "method" in sel.columns:
            sel = sel[sel["method"].astype(str).isin(methods)]
        if "run_id" in sel.columns and "run_id" in conv.columns and len(sel):
            return conv[conv["run_id"].isin(set(sel["run_id"].astype(str)))]
        mask = conv["method"].astype(str).isin(methods) if "method" in conv.columns else True
        if "dataset" in conv.columns and row.get("dataset") not in (None, ""):
            mask = mask & (conv["dataset"].astype(str) == str(row.get("dataset")))
        return conv[mask]

    def diagnoses(self) -> pd.DataFrame:
        """One row per claim that does not hold: ``dataset``, ``id``, ``claim``, ``verdict``,
        ``kind`` (one of :data:`DIAGNOSIS_KINDS`), ``text``, and the numbers behind the
        generic text: ``runs``, ``still_improving`` (runs behind the claim), ``seeds_needed``."""
        columns = [
            "dataset", "id", "claim", "verdict", "kind", "text",
            "runs", "still_improving", "seeds_needed",
        ]  # fmt: skip
        if "verdict" not in self.table.columns:
            return pd.DataFrame(columns=columns)
        specific = _paper_diagnoses(self)
        rows = []
        for _, r in self.table[self.table["verdict"] != "holds"].iterrows():
            dataset = "" if _isnan(r.get("dataset", "")) else str(r.get("dataset", ""))
            kind, text, numbers = self._generic(r)
            key = (dataset, str(r["id"]))
            if key in specific:
                kind, text = specific[key]
            elif str(r["id"]) in specific:
                kind, text = specific[str(r["id"])]
            if kind not in DIAGNOSIS_KINDS:
                raise ValueError(
                    f"{self.paper}.diagnose() gave kind {kind!r} for claim {r['id']!r}; expected "
                    f"one of {DIAGNOSIS_KINDS}."
                )
            rows.append(
                {
                    "dataset": dataset, "id": str(r["id"]), "claim": str(r.get("claim", "")),
                    "verdict": str(r["verdict"]), "kind": kind, "text": text, **numbers,
                }
            )  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def _generic(self, r: pd.Series) -> tuple[str, str, dict]:
        mean, se, n = _num(r.get("diff_mean")), _num(r.get("diff_se")), r.get("n_seeds")
        n = int(_num(n)) if np.isfinite(_num(n)) else 0
        runs = self.claim_runs(r)
        n_runs = len(runs)
        improving = int(runs["still_improving"].sum()) if "still_improving" in runs else 0
        share = improving / n_runs if n_runs else float("nan")
        needed = seeds_needed(mean, se, n)
        numbers = {"runs": n_runs, "still_improving": improving, "seeds_needed": needed}
        budget = (
            f"{improving} of {n_runs} runs behind the claim were still improving at their last "
            "epoch"
            if n_runs
            else "no convergence flags for the runs behind the claim"
        )
        if not np.isfinite(mean) or n == 0:
            why = str(r.get("workbench", "")).strip() or "no paired differences"
            return "implementation", f"Not judged on this profile: {why}.", numbers
        parts = []
        verdict = str(r["verdict"])
        if verdict == "fails":
            parts.append(_ahead_text(r))
        elif np.isfinite(se) and abs(mean) < _Z * se:
            if np.isinf(needed):
                more = "a zero mean clears 2 SE with no number of seeds"
            else:
                more = (
                    f"at the observed per-seed std ({_g(se * math.sqrt(n))}) about "
                    f"{needed:.0f} seeds would be needed for this mean to clear 2 SE"
                )
            parts.append(
                f"Within 2 SE: paired difference {mean:+.3g} ± {_g(se)} (SE) with {n} seeds; {more}"
            )
        else:
            parts.append(f"Paired difference {mean:+.3g} ± {_g(se)} (SE) with {n} seeds")
        parts.append(budget)
        if n_runs and share >= _BUDGET_SHARE:
            kind = "budget"
            parts.append(
                "this budget has not converged for the claim, so more epochs may change it"
            )
        elif verdict == "fails":
            kind = "data"
            if n_runs:
                parts.append("most runs converged, so the budget does not explain it")
        else:
            kind = "spread"
        return kind, "; ".join(parts) + ".", numbers


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def _narrow(frame: pd.DataFrame, where: dict) -> pd.DataFrame:
    """``frame`` filtered on each ``where`` column it has, skipping a filter that would empty it
    (e.g. ``modality: average``, a row the claims engine derives)."""
    sel = frame
    for column, wanted in where.items():
        if column not in sel.columns:
            continue
        values = list(wanted) if isinstance(wanted, (list, tuple, set, frozenset)) else [wanted]
        col = sel[column]
        mask = col.isin(values) | col.astype(str).isin([str(v) for v in values])
        if mask.any():
            sel = sel[mask]
    return sel


def _find_claim(paper: str, claim_id: str) -> Claim | None:
    """The :class:`Claim` of ``paper``'s ``CLAIMS`` whose id is ``claim_id`` or its prefix
    (OTM and others suffix a dataset: ``otm.t4.mfeat``)."""
    try:
        module = importlib.import_module(f"workbench.experiments.{paper}")
    except ImportError:
        return None
    best = None
    for claim in getattr(module, "CLAIMS", ()) or ():
        if not isinstance(claim, Claim):
            continue
        if claim.id == claim_id:
            return claim
        if claim_id.startswith(claim.id + ".") and (best is None or len(claim.id) > len(best.id)):
            best = claim
    return best


def _named_methods(text: str, results: pd.DataFrame) -> set[str]:
    """Method names the ``workbench`` column mentions (``A vs B: ...; vs C: ...``) that the
    results hold; every method of ``results`` when it names none."""
    known = set(results["method"].astype(str)) if "method" in results.columns else set()
    named = set()
    for m in _PAIR.finditer(text):
        for key in ("method", "other"):
            if m.group(key):
                named.add(m.group(key).strip())
    found = named & known
    return found or known


def _ahead_text(r: pd.Series) -> str:
    """Who is ahead of the claimed method, by how much: the ``fails`` comparisons of the
    ``workbench`` column, else the table's ``diff_mean``."""
    text = str(r.get("workbench", ""))
    pairs = list(_PAIR.finditer(text))
    method = next((m.group("method").strip() for m in pairs if m.group("method")), None)
    fails = [m for m in pairs if m.group("verdict") == "fails"]
    n = int(_num(r.get("n_seeds"))) if np.isfinite(_num(r.get("n_seeds"))) else 0
    if fails:
        fails.sort(key=lambda m: _num(m.group("mean")))
        said = [
            f"{m.group('other').strip()} is ahead of {method or 'the method'} by "
            f"{abs(_num(m.group('mean'))):.3g} ± {_g(_num(m.group('se')))} (SE, n={m.group('n')})"
            for m in fails
        ]
        return "; ".join(said)
    mean, se = _num(r.get("diff_mean")), _num(r.get("diff_se"))
    if str(r.get("kind", "")) == "monotone":
        return (
            f"The curve goes the other way: {mean:+.3g} ± {_g(se)} (SE) with {n} seeds "
            f"({text or 'see the table'})"
        )
    return (
        f"The comparison is reversed: paired difference {mean:+.3g} ± {_g(se)} (SE) with {n} seeds"
    )


def _paper_diagnoses(ev: Evidence) -> dict[Any, tuple[str, str]]:
    try:
        module = importlib.import_module(f"workbench.experiments.{ev.paper}")
    except ImportError:
        return {}
    fn = getattr(module, "diagnose", None)
    if fn is None:
        return {}
    out = fn(ev) or {}
    if not isinstance(out, dict):
        raise ValueError(
            f"workbench.experiments.{ev.paper}.diagnose() must return a dict "
            "{claim id: (kind, text)}, got " + type(out).__name__ + "."
        )
    return {k: (str(v[0]), str(v[1])) for k, v in out.items()}


def _read_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path) if path.is_file() else pd.DataFrame()


def committed(
    paper: str, profile: str = "cpu", root: str | os.PathLike | None = None
) -> Evidence | None:
    """The committed results of ``paper``'s ``profile``, or ``None`` when
    ``<root>/<paper>/<profile>/`` does not exist or holds neither ``results.csv`` nor
    ``paper_table.csv`` (not committed yet).

    Args:
        paper: ``"wma"``, ``"mla"``, ``"raml"``, ``"otm"`` or ``"arena"``.
        profile: ``"cpu"`` (the converged run) or ``"synthetic"``.
        root: the results folder (default: :func:`results_root`).

    Raises:
        ValueError: ``paper`` or ``profile`` is not a plain name, or ``provenance.json`` is not
            valid JSON.
    """
    for what, name in (("paper", paper), ("profile", profile)):
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            raise ValueError(
                f"committed(): {what} {name!r} is not a plain name; give e.g. "
                "committed('raml', 'cpu')."
            )
    folder = results_root(root) / paper / profile
    results_csv, table_csv = folder / "results.csv", folder / "paper_table.csv"
    if not folder.is_dir() or not (results_csv.is_file() or table_csv.is_file()):
        return None
    prov_path = folder / "provenance.json"
    provenance: dict = {}
    if prov_path.is_file():
        try:
            provenance = json.loads(prov_path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{prov_path} is not valid JSON ({err}); regenerate it with "
                f"`workbench reproduce {paper} --profile {profile} --no-run`."
            ) from err
    return Evidence(
        paper=paper,
        profile=profile,
        folder=folder,
        results=_read_csv(results_csv),
        table=_read_csv(table_csv),
        provenance=provenance,
    )
