"""Committed evidence: loading results/<paper>/<profile>/, the provenance line, verdict counts
and the diagnosis of every claim that does not hold (on a toy folder and on results/raml/cpu)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

import workbench.experiments.raml as raml_module
from workbench.experiments.evidence import (
    DIAGNOSIS_KINDS,
    committed,
    results_root,
    seeds_needed,
)

COLUMNS = [
    "dataset", "id", "claim", "paper", "table", "kind", "paper_evidence", "paper_verdict",
    "workbench", "diff_mean", "diff_se", "n_seeds", "verdict", "profile",
]  # fmt: skip


def _toy(root, *, paper="toy", finished=5, total=8):
    """A committed folder: methods A, B, C on dataset d, 3 seeds; A's runs and one of B's still
    improving; three claims (holds, not clearly, fails)."""
    folder = root / paper / "cpu"
    folder.mkdir(parents=True)
    rows, conv = [], []
    improving = {("A", 0), ("A", 1), ("A", 2), ("B", 0)}
    for method in "ABC":
        for seed in range(3):
            run_id = f"{method}{seed}"
            rows.append(
                {"method": method, "dataset": "d", "condition": "normal", "metric": "accuracy",
                 "seed": seed, "value": 0.9, "run_id": run_id}
            )  # fmt: skip
            conv.append(
                {"run_id": run_id, "method": method, "dataset": "d", "seed": seed,
                 "best_epoch": 10, "max_epochs": 10,
                 "still_improving": (method, seed) in improving}
            )  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    table = [
        ["d", "toy.holds", "A beats C", "toy", "1", "ordering", "", "holds",
         "A vs C: +0.02 ± 0.005 (n=3, holds)", 0.02, 0.005, 3, "holds", "cpu"],
        ["d", "toy.tie", "A beats B", "toy", "1", "ordering", "", "holds",
         "A vs B: +0.01 ± 0.013 (n=3, not clearly)", 0.01, 0.013, 3, "not clearly", "cpu"],
        ["d", "toy.close", "B beats C", "toy", "1", "ordering", "", "holds",
         "B vs C: -0.001 ± 0.004 (n=3, not clearly)", -0.001, 0.004, 3, "not clearly", "cpu"],
        ["d", "toy.best", "C is best", "toy", "1", "best_of", "", "holds",
         "C vs A: -0.05 ± 0.01 (n=3, fails); vs B: +0.02 ± 0.005 (n=3, holds)",
         -0.05, 0.01, 3, "fails", "cpu"],
        ["d", "toy.skipped", "An SGD-only claim", "toy", "3", "ordering", "", "holds",
         "skipped: ran with adam", float("nan"), float("nan"), 0, "not clearly", "cpu"],
    ]  # fmt: skip
    pd.DataFrame(table, columns=COLUMNS).to_csv(folder / "paper_table.csv", index=False)
    prov = {
        "paper": paper, "profile": "cpu", "git_commit": "0123456789abcdef (with uncommitted changes)",
        "date": "2026-12-02T09:00:00Z", "machine": "x86_64, 2 CPUs",
        "versions": {"torch": "2.13.0+cpu"}, "points": {"total": total, "finished": finished},
        "wall_time_s": 600.0, "convergence": conv,
    }  # fmt: skip
    (folder / "provenance.json").write_text(json.dumps(prov))
    return folder


def test_committed_loads_a_folder_and_says_when_it_is_partial(tmp_path):
    folder = _toy(tmp_path)
    ev = committed("toy", "cpu", root=tmp_path)
    assert ev.folder == folder and (ev.paper, ev.profile) == ("toy", "cpu")
    assert len(ev.results) == 9 and len(ev.table) == 5 and ev.provenance["points"]["total"] == 8
    assert ev.partial and ev.points == (5, 8)
    line = ev.line()
    assert "partial: 5 of 8 points finished" in line
    assert "3 seeds" in line and "4 of 9 runs still improving" in line
    assert "commit 0123456" in line and "uncommitted" in line and "10 min" in line
    assert "2026-12-02" in line and "torch 2.13.0+cpu" in line
    assert ev.counts() == {"holds": 1, "not clearly": 3, "fails": 1}


def test_a_complete_run_is_not_called_partial(tmp_path):
    _toy(tmp_path, finished=8, total=8)
    ev = committed("toy", root=tmp_path)
    assert not ev.partial and "partial" not in ev.line() and "8 of 8 points" in ev.line()


def test_committed_is_none_when_absent_and_rejects_bad_names(tmp_path):
    assert committed("toy", "cpu", root=tmp_path) is None
    (tmp_path / "toy" / "cpu" / "runs").mkdir(parents=True)  # a store only: not committed yet
    assert committed("toy", "cpu", root=tmp_path) is None
    for bad in ("../raml", "", "raml/cpu"):
        with pytest.raises(ValueError, match="plain name"):
            committed(bad, root=tmp_path)
    _toy(tmp_path, paper="broken")
    (tmp_path / "broken" / "cpu" / "provenance.json").write_text("{not json")
    with pytest.raises(ValueError, match="provenance.json is not valid JSON"):
        committed("broken", root=tmp_path)


def test_generic_diagnoses_budget_spread_fails_and_unjudged(tmp_path):
    _toy(tmp_path)
    d = committed("toy", root=tmp_path).diagnoses().set_index("id")
    assert list(d.index) == ["toy.tie", "toy.close", "toy.best", "toy.skipped"]
    assert set(d["kind"]) <= set(DIAGNOSIS_KINDS)
    # A vs B: 4 of A's and B's 6 runs still improving -> budget; the spread part is computed:
    # s = 0.013·√3, n' > (2s/0.01)² = 20.28 -> 21 seeds
    tie = d.loc["toy.tie"]
    assert tie["kind"] == "budget" and (tie["runs"], tie["still_improving"]) == (6, 4)
    assert tie["seeds_needed"] == 21 and "about 21 seeds" in tie["text"]
    assert "4 of 6 runs" in tie["text"]
    # B vs C: 1 of 6 still improving -> spread
    close = d.loc["toy.close"]
    assert close["kind"] == "spread" and close["still_improving"] == 1
    s = 0.004 * math.sqrt(3)
    n = close["seeds_needed"]
    assert 2 * s / math.sqrt(n) < 0.001 <= 2 * s / math.sqrt(n - 1)
    # C is best fails: A is ahead by 0.05; 4 of 9 runs still improving -> data
    best = d.loc["toy.best"]
    assert best["kind"] == "data" and "A is ahead of C by 0.05" in best["text"]
    assert "4 of 9 runs" in best["text"]
    skipped = d.loc["toy.skipped"]
    assert skipped["kind"] == "implementation" and "skipped: ran with adam" in skipped["text"]


def test_seeds_needed_follows_the_verdict_rule():
    assert seeds_needed(0.0, 0.01, 3) == math.inf
    assert math.isnan(seeds_needed(0.01, float("nan"), 3)) and math.isnan(seeds_needed(0.1, 0.1, 1))
    for mean, se, n in [(0.01, 0.013, 3), (-0.0025, 0.00296, 5), (0.3, 0.01, 3)]:
        k = seeds_needed(mean, se, n)
        s = se * math.sqrt(n)
        assert abs(mean) > 2 * s / math.sqrt(k)
        assert k == 2 or abs(mean) <= 2 * s / math.sqrt(k - 1)


def test_a_paper_diagnose_overrides_the_generic_one(tmp_path, monkeypatch):
    _toy(tmp_path, paper="raml")

    def diagnose(ev):
        n = len(ev.results)
        return {"toy.tie": ("data", f"probe on {n} rows"), ("d", "toy.best"): ("spread", "x")}

    monkeypatch.setattr(raml_module, "diagnose", diagnose, raising=False)
    d = committed("raml", root=tmp_path).diagnoses().set_index("id")
    assert d.loc["toy.tie", "kind"] == "data" and d.loc["toy.tie", "text"] == "probe on 9 rows"
    assert d.loc["toy.best", "kind"] == "spread"
    assert d.loc["toy.close", "kind"] == "spread"  # generic where the paper says nothing
    monkeypatch.setattr(raml_module, "diagnose", lambda ev: {"toy.tie": ("luck", "?")})
    with pytest.raises(ValueError, match="kind 'luck'"):
        committed("raml", root=tmp_path).diagnoses()


# ----------------------------------------------------------------------------- the real one
@pytest.fixture(scope="module")
def raml_cpu():
    ev = committed("raml", "cpu")
    if ev is None:
        pytest.skip(f"{results_root()}/raml/cpu is not committed")
    return ev


def test_committed_raml_cpu_counts_and_line(raml_cpu):
    ev = raml_cpu
    counts = ev.counts()
    assert sum(counts.values()) == len(ev.table)
    assert counts == ev.table["verdict"].value_counts().reindex(counts, fill_value=0).to_dict()
    fin, tot = ev.points
    assert f"{fin} of {tot} points" in ev.line()
    conv = ev.convergence
    assert f"{int(conv['still_improving'].sum())} of {len(conv)} runs" in ev.line()


def test_committed_raml_cpu_diagnoses_every_claim_that_does_not_hold(raml_cpu):
    d = raml_cpu.diagnoses()  # with the paper's own diagnose() where it has one
    not_holding = raml_cpu.table[raml_cpu.table["verdict"] != "holds"]
    assert list(d["id"]) == list(not_holding["id"]) and d["text"].str.len().min() > 20
    assert set(d["kind"]) <= set(DIAGNOSIS_KINDS)


def test_committed_raml_cpu_generic_diagnoses_are_computed(raml_cpu, monkeypatch):
    monkeypatch.delattr(raml_module, "diagnose", raising=False)
    ev = raml_cpu
    d = ev.diagnoses()
    not_holding = ev.table[ev.table["verdict"] != "holds"]
    assert list(d["id"]) == list(not_holding["id"])
    conv = ev.convergence.set_index("run_id")
    results = ev.results
    for _, row in d.iterrows():
        claim = not_holding[not_holding["id"] == row["id"]].iloc[0]
        # the runs behind the claim, recomputed here from results.csv and provenance.json
        runs = ev.claim_runs(claim)
        assert set(runs["run_id"]) <= set(results["run_id"])
        assert row["still_improving"] == int(
            conv.loc[list(runs["run_id"]), "still_improving"].sum()
        )
        assert f"{row['still_improving']} of {row['runs']} runs" in row["text"]
        if row["kind"] == "budget":
            assert row["still_improving"] >= row["runs"] / 2
        if claim["verdict"] == "fails":
            # who is ahead: every 'fails' comparison of the table is named
            for part in str(claim["workbench"]).split(";"):
                if "fails" in part:
                    other = part.split(" vs ")[1].split(":")[0].strip()
                    assert f"{other} is ahead of RAML by" in row["text"]
    noise = ev.claim_runs(ev.table[ev.table["id"] == "raml.best_under_noise"].iloc[0])
    main = results[(results["grid"] == "noise") & (results["role"] == "main")]
    assert set(noise["run_id"]) == set(main["run_id"])
