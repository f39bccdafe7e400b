"""README.md's results come from results/: every generated block is regenerated from the CSVs
and compared, a hand-edited number is caught, and no result number is typed into the prose."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest

from workbench.cli import main
from workbench.experiments import PAPERS
from workbench.experiments.evidence import committed
from workbench.report import (
    _BLOCK,
    claims_markdown,
    results_block,
    results_markdown,
    update_readme,
)
from workbench.util import project_root

ROOT = project_root()
README = ROOT / "README.md"


def _blocks(text: str) -> dict[str, str]:
    return {f"{m['paper']}/{m['profile']}:{m['table']}": m["body"] for m in _BLOCK.finditer(text)}


def test_readme_has_the_generated_blocks():
    blocks = _blocks(README.read_text())
    assert "wma/cpu:accuracy" in blocks
    for paper in PAPERS:
        assert f"{paper}/cpu:claims" in blocks


def test_every_readme_block_matches_the_committed_results():
    blocks = _blocks(README.read_text())
    for name, body in blocks.items():
        paper, rest = name.split("/")
        profile, table = rest.split(":")
        assert body == results_block(paper, profile, table), (
            f"README block {name} disagrees with results/{paper}/{profile}/; run `workbench readme`"
        )
    assert update_readme(README, check=True) == []


def test_a_hand_edited_number_is_caught(tmp_path):
    copy = tmp_path / "README.md"
    shutil.copy(README, copy)
    text = copy.read_text()
    blocks = _blocks(text)
    with_numbers = [n for n, b in blocks.items() if re.search(r"\d\.\d", b)]
    if not with_numbers:
        pytest.skip("no committed results with numbers yet")
    name = with_numbers[0]
    body = blocks[name]
    m = re.search(r"\d\.(\d)", body)
    digit = m.group(1)
    edited = body[: m.start(1)] + str((int(digit) + 1) % 10) + body[m.end(1) :]
    copy.write_text(text.replace(body, edited, 1))
    assert update_readme(copy, check=True) == [name]
    assert main(["readme", "--check", "--file", str(copy)]) == 1
    assert copy.read_text() != text  # --check does not write
    assert update_readme(copy) == [name] and copy.read_text() == text  # regenerated
    assert main(["readme", "--check", "--file", str(copy)]) == 0


def test_a_typed_table_in_a_block_is_caught(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\n<!-- results:nothing/cpu:claims -->\n| a | 0.941 ± 0.056 |\n<!-- /results -->\n"
    )
    assert update_readme(readme, root=tmp_path / "results", check=True) == ["nothing/cpu:claims"]
    update_readme(readme, root=tmp_path / "results")
    assert "`results/nothing/cpu/` is not committed yet" in readme.read_text()
    assert "0.941" not in readme.read_text()
    with pytest.raises(FileNotFoundError, match="README"):
        update_readme(tmp_path / "missing.md")


def test_no_result_number_is_typed_into_the_readme_prose():
    """Outside the generated blocks, code and the Performance section (timings, #20), the
    README has no mean ± std, no accuracy-like fraction, no percentage and no 'k of n' count."""
    text = _BLOCK.sub("", README.read_text())
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    perf = re.search(r"^## Performance\n.*?(?=^## )", text, flags=re.S | re.M)
    if perf:
        text = text[: perf.start()] + text[perf.end() :]
    typed = re.compile(r"\d\.\d+\s*±\s*\d|\b0\.\d{2,}\b|\b\d+(?:\.\d+)?\s?%|\b\d+ of \d+\b")
    lines = [line for line in text.splitlines() if typed.search(line)]
    assert lines == [], "typed-in result numbers in README.md: " + " | ".join(lines)


# ----------------------------------------------------------------------------- the generators
def _toy(root, metric="accuracy", values=None):
    folder = root / "toy" / "cpu"
    folder.mkdir(parents=True)
    values = values or {
        ("A", "normal"): [0.9, 0.8, 0.85],
        ("A", "noise/text"): [0.5, 0.6, 0.7],
        ("B", "normal"): [0.95, 0.93, 0.94],
    }
    rows = []
    for (method, case), vals in values.items():
        for seed, v in enumerate(vals):
            for split, shift in (("test", 0.0), ("validation", 0.01)):
                rows.append(
                    {"method": method, "case": case, "condition": case.split("/")[0],
                     "split": split, "metric": metric, "seed": seed, "value": v + shift}
                )  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    table = pd.DataFrame(
        {
            "id": ["toy.a", "toy.b"],
            "claim": ["A beats B", "A is robust"],
            "workbench": ["A vs B: -0.09 ± 0.03 (n=3, fails)", "skipped"],
            "diff_mean": [-0.0933333, float("nan")],
            "diff_se": [0.0333, float("nan")],
            "n_seeds": [3, 0],
            "verdict": ["fails", "not clearly"],
        }
    )
    table.to_csv(folder / "paper_table.csv", index=False)
    prov = {"points": {"total": 6, "finished": 6}, "git_commit": "feedbeef", "date": "2026-12-02",
            "machine": "a machine", "versions": {"torch": "9"}}  # fmt: skip
    (folder / "provenance.json").write_text(json.dumps(prov))
    return folder


def test_results_markdown_is_mean_std_over_seeds_of_the_test_rows(tmp_path):
    _toy(tmp_path)
    ev = committed("toy", root=tmp_path)
    md = results_markdown(ev, "accuracy")
    lines = md.splitlines()
    assert lines[0] == "| | normal | noise/text |"
    a = np.array([0.9, 0.8, 0.85])
    assert lines[2] == (
        f"| A | {a.mean():.3f} ± {a.std(ddof=1):.3f} | {0.6:.3f} ± {np.std([0.5, 0.6, 0.7], ddof=1):.3f} |"
    )
    assert lines[3] == "| B | 0.940 ± 0.010 |  |"  # validation rows (+0.01) are not shown
    assert "mean ± std over 3 seeds" in md and "results/toy/cpu/results.csv" in md
    assert "a machine" not in md and "6 of 6 points" in md
    with pytest.raises(ValueError, match="no test rows of metric 'f1'"):
        results_markdown(ev, "f1")


def test_results_markdown_rounds_percentages_to_one_decimal(tmp_path):
    _toy(tmp_path, metric="accuracy_pct", values={("A", "normal"): [91.23, 92.34]})
    md = results_markdown(committed("toy", root=tmp_path), "accuracy_pct")
    assert "| A | 91.8 ± 0.8 |" in md


def test_claims_markdown_counts_and_one_line_per_claim(tmp_path):
    _toy(tmp_path)
    md = claims_markdown(committed("toy", root=tmp_path))
    assert md.startswith("**TOY**, committed `cpu` results: 0 holds, 1 not clearly, 1 fails.")
    assert "- *fails*: A beats B: -0.0933 ± 0.033 (SE, n=3)" in md
    assert "- *not clearly*: A is robust: not judged on this profile" in md


def test_reproduce_prints_the_verdict_summary(tmp_path, monkeypatch, capsys):
    """`workbench reproduce` ends with the claims' verdict counts (claims.verdict_summary)."""
    import types

    import workbench.experiments as experiments

    table = pd.DataFrame({"verdict": ["holds", "fails", "holds", "not clearly"]})
    summary = types.SimpleNamespace(finished=[1], skipped=[], failed=[], ok=True)
    result = types.SimpleNamespace(
        summary=summary,
        paper_table=table,
        results_path=tmp_path / "results.csv",
        paper_table_path=tmp_path / "paper_table.csv",
    )
    monkeypatch.setattr(experiments, "reproduce", lambda paper, profile, **kw: result)
    assert main(["reproduce", "raml", "--profile", "smoke", "--store", str(tmp_path)]) == 0
    assert "claims: 2 holds, 1 not clearly, 1 fails" in capsys.readouterr().out
