"""The HTML report: nbconvert pages, the index page and the paper-table convention."""

import base64
import html
import struct
import zlib

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from workbench.report import (
    build_report,
    forest_png,
    outputs_dir,
    paper_tables,
    save_paper_table,
)


def _png() -> str:
    """A valid 1x1 PNG, base64-encoded."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    raw += chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


def _executed(path, title, *, error=False, duration=1.5):
    cells = [
        new_markdown_cell(f"# {title}\n\nA tiny executed notebook."),
        new_code_cell(
            "print('hello report')",
            execution_count=1,
            outputs=[new_output("stream", name="stdout", text="hello report <b>escaped</b>\n")],
        ),
        new_code_cell(
            "fig",
            execution_count=2,
            outputs=[
                new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})
            ],
        ),
    ]
    if error:
        cells.append(
            new_code_cell(
                "1/0",
                execution_count=3,
                outputs=[
                    new_output(
                        "error",
                        ename="ZeroDivisionError",
                        evalue="division by zero",
                        traceback=["ZeroDivisionError"],
                    )
                ],
            )
        )
    nb = new_notebook(cells=cells)
    nb.metadata["papermill"] = {"parameters": {"profile": "smoke", "seed": 0}, "duration": duration}
    nbformat.write(nb, str(path))
    return path


@pytest.fixture
def outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OUTPUTS", str(tmp_path / "outputs"))
    return tmp_path / "outputs"


def test_save_paper_table_flattens_pivots_and_keeps_strings(outputs):
    cols = pd.MultiIndex.from_tuples(
        [("normal", ""), ("noise", "image")], names=["condition", "modality"]
    )
    df = pd.DataFrame(
        [["0.912 ± 0.004", "0.801 ± 0.010"]], index=pd.Index(["WMA"], name="method"), columns=cols
    )
    path = save_paper_table(df, "02_tiny_table1", caption="The ordering holds.")
    assert path == outputs / "tables" / "02_tiny_table1.csv"
    back = paper_tables()["02_tiny_table1"]
    assert list(back.columns) == ["method", "normal", "noise / image"]
    assert back.iloc[0].tolist() == ["WMA", "0.912 ± 0.004", "0.801 ± 0.010"]
    assert (outputs / "tables" / "02_tiny_table1.txt").read_text().strip() == "The ordering holds."
    save_paper_table(df, "02_tiny_table1")  # a new save without caption drops the old one
    assert not (outputs / "tables" / "02_tiny_table1.txt").exists()
    for bad in ("../escape", "a b", "x.csv", ""):
        with pytest.raises(ValueError, match="Table name"):
            save_paper_table(df, bad)
    with pytest.raises(ValueError, match="DataFrame"):
        save_paper_table([1, 2], "x")


def test_build_report_converts_notebooks_and_indexes_tables(tmp_path, outputs):
    executed = tmp_path / "executed"
    executed.mkdir()
    _executed(executed / "02_tiny.ipynb", "Tiny WMA")
    _executed(executed / "03_broken.ipynb", "Broken one", error=True)
    paper = pd.DataFrame(
        {"method": ["WMA", "<script>"], "paper": [91.2, 80.0], "workbench": [88.0, 79.5]}
    )
    save_paper_table(paper, "02_tiny", caption="Gains hold; absolute numbers do not.")
    save_paper_table(paper.head(1), "99_elsewhere")

    index = build_report(executed, tmp_path / "site" / "report.html")
    assert index == tmp_path / "site" / "report.html"
    text = index.read_text()
    for stem in ("02_tiny", "03_broken"):
        page = tmp_path / "site" / "report" / f"{stem}.html"
        assert page.is_file() and f'href="report/{stem}.html"' in text
    page = (tmp_path / "site" / "report" / "02_tiny.html").read_text()
    assert "hello report" in page and "data:image/png;base64," in page

    assert "Tiny WMA" in text and "profile=&#x27;smoke&#x27;" in text and "ran in 2 s" in text
    tiny, broken = text.index("02_tiny.html"), text.index("03_broken.html")
    caption = text.index("Gains hold; absolute numbers do not.")
    # The committed-results summary above the notebooks may quote any number; the table's
    # own 91.2 is the first one after its caption.
    assert tiny < caption < text.index("91.2", caption) < broken
    assert text.count("failed: see the error") == 1 and text.index("failed: see the error") > broken
    assert "Other paper-vs-workbench tables" in text and text.index("99_elsewhere") > broken
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_build_report_without_notebooks_or_tables(tmp_path, outputs):
    (tmp_path / "empty").mkdir()
    text = build_report(tmp_path / "empty", tmp_path / "r.html").read_text()
    assert "No executed notebooks" in text and "0 paper table(s)" in text
    with pytest.raises(FileNotFoundError, match="run-all"):
        build_report(tmp_path / "missing", tmp_path / "r.html")


def test_outputs_dir_env_then_checkout_root_then_cwd(tmp_path, monkeypatch):
    monkeypatch.delenv("WORKBENCH_OUTPUTS", raising=False)
    root = tmp_path / "checkout"
    (root / "workbench").mkdir(parents=True)
    (root / "notebooks").mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "workbench"\n')
    monkeypatch.chdir(root / "notebooks")  # where papermill runs a notebook
    assert outputs_dir() == root / "outputs"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert outputs_dir() == elsewhere / "outputs"
    monkeypatch.setenv("WORKBENCH_OUTPUTS", str(tmp_path / "o"))
    assert outputs_dir() == tmp_path / "o"


CLAIM_COLUMNS = [
    "dataset", "id", "claim", "paper", "table", "kind", "paper_evidence", "paper_verdict",
    "workbench", "diff_mean", "diff_se", "n_seeds", "verdict", "profile",
]  # fmt: skip


def _committed(root, paper="toy", profile="cpu", *, finished=3, total=4):
    """A committed folder with three claims (holds, not clearly, fails) on methods A, B, C."""
    import json

    folder = root / paper / profile
    folder.mkdir(parents=True)
    rows = [
        {"method": m, "dataset": "d", "metric": "accuracy", "seed": s, "value": 0.9,
         "run_id": f"{m}{s}"}
        for m in "ABC" for s in range(3)
    ]  # fmt: skip
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    table = [
        ["d", "toy.beats_c", "A beats C", "toy", "1", "ordering", "", "holds",
         "A vs C: +0.3 ± 0.01 (n=3, holds)", 0.1 + 0.2, 0.01, 3, "holds", profile],
        ["d", "toy.beats_b", "A beats B", "toy", "1", "ordering", "", "holds",
         "A vs B: +0.01 ± 0.013 (n=3, not clearly)", 0.01, 0.013, 3, "not clearly", profile],
        ["d", "toy.best", "C is best", "toy", "1", "best_of", "", "holds",
         "C vs A: -0.0123 ± 0.001 (n=3, fails)", -0.012345678, 0.001, 3, "fails", profile],
    ]  # fmt: skip
    pd.DataFrame(table, columns=CLAIM_COLUMNS).to_csv(folder / "paper_table.csv", index=False)
    conv = [
        {"run_id": r["run_id"], "method": r["method"], "dataset": "d", "seed": r["seed"],
         "best_epoch": 9, "max_epochs": 10, "still_improving": r["method"] == "A"}
        for r in rows
    ]  # fmt: skip
    prov = {"git_commit": "abc1234def", "date": "2026-12-02T10:00:00Z", "wall_time_s": 3600,
            "points": {"total": total, "finished": finished}, "convergence": conv}  # fmt: skip
    (folder / "provenance.json").write_text(json.dumps(prov))
    return folder


def test_report_rounds_numbers_colours_verdicts_and_opens_with_committed_results(tmp_path, outputs):
    from workbench.experiments import PAPERS
    from workbench.experiments.evidence import committed

    executed = tmp_path / "executed"
    (executed / "figures" / "03_mla").mkdir(parents=True)
    _executed(executed / "03_mla.ipynb", "MLA")
    (executed / "figures" / "03_mla" / "cell002_0.png").write_bytes(base64.b64decode(_png()))
    claims = pd.DataFrame(
        {
            "claim": ["MLA beats Concat", "MLA is best", "HGM helps"],
            "diff_mean": [0.1 + 0.2, -0.0123456789, 0.00049999],
            "verdict": ["holds", "fails", "not clearly"],
            "profile": ["smoke"] * 3,
        }
    )
    save_paper_table(claims, "03_mla")
    results = tmp_path / "results"
    _committed(results)
    _committed(results, profile="synthetic", finished=4)
    text = build_report(executed, tmp_path / "r.html", results_dir=results).read_text()
    assert "0.30000000000000004" not in text and ">0.3<" in text and ">-0.01235<" in text
    for verdict in ("holds", "fails", "not-clearly"):
        assert f'class="v-{verdict}"' in text and f'class="num v-{verdict}"' not in text
    # the page opens with the committed results, one section per paper, before the notebooks
    opening = text.index("Committed results, per paper")
    assert opening < text.index("Claims at a glance: this run") < text.index(">03_mla</a> —")
    for paper in (*PAPERS, "toy"):
        assert f'id="paper-{paper}"' in text
    for paper in PAPERS:  # none of them is committed under this results folder
        assert f"{paper.upper()}: cpu results not committed yet." in text
    toy = text[text.index('id="paper-toy"') :]
    ev = committed("toy", root=results)
    assert "of 3 claims, 1 holds (beats_c); 1 is not clear (beats_b); 1 fails (best)" in toy
    assert html.escape(ev.line()) in toy and "partial: 3 of 4 points" in toy
    for _, row in ev.diagnoses().iterrows():  # every claim that does not hold, diagnosed
        assert html.escape(row["text"]) in toy and f"<i>{row['kind']}</i>" in toy
    assert "A is ahead of C by 0.0123" in toy and "3 of 6 runs" in toy
    assert toy.count('<div class="forest"><img src="data:image/png;base64,') == 2
    assert "committed synthetic results" in toy and "4 of 4 points" in toy
    assert 'src="executed/figures/03_mla/cell002_0.png"' in text
    mla = text[text.index('id="paper-mla"') : text.index('id="paper-raml"')]
    assert 'href="r/03_mla.html"' in mla  # the paper's executed notebook is linked


def test_forest_png_is_a_png_of_the_claims_and_none_without_them():
    table = pd.DataFrame(
        {"id": ["x.a", "x.b"], "diff_mean": [0.1, float("nan")], "diff_se": [0.01, float("nan")],
         "verdict": ["holds", "not clearly"]}
    )  # fmt: skip
    png = base64.b64decode(forest_png(table, title="t"))
    assert png.startswith(b"\x89PNG")
    assert forest_png(table.drop(columns="diff_se")) is None
    assert forest_png(table.iloc[:0]) is None


def test_claims_forest_draws_intervals_by_verdict_without_overlapping_text():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from figure_checks import overlapping_texts

    from workbench.plotting import VERDICT_COLOURS, claims_forest

    table = pd.DataFrame(
        {
            "dataset": ["a", "a", "b", "b", "b"],
            "id": ["p.large_gain", "p.tie", "p.loss", "p.not_judged", "p.tiny_gain"],
            "diff_mean": [0.45, 0.001, -0.01, float("nan"), 0.004],
            "diff_se": [0.02, 0.003, 0.002, float("nan"), 0.001],
            "verdict": ["holds", "not clearly", "fails", "not clearly", "holds"],
        }
    )
    try:
        ax = claims_forest(table, title="claims")
        assert overlapping_texts(ax.figure) == []
        labels = {t.get_position()[1]: t.get_text() for t in ax.get_yticklabels()}
        top_down = [labels[y] for y in sorted(labels, reverse=True)]  # the table's order
        assert top_down == [
            "large_gain [a]",
            "tie [a]",
            "loss [b]",
            "not_judged [b]",
            "tiny_gain [b]",
        ]
        assert ax.get_xscale() == "symlog"  # 0.45 next to gaps of 0.001
        bars = [c for c in ax.containers]
        assert len(bars) == 4  # the claim without differences has no interval
        for bar, verdict, mean, se in zip(bars, ["holds", "not clearly", "fails", "holds"],
                                          [0.45, 0.001, -0.01, 0.004], [0.02, 0.003, 0.002, 0.001]):  # fmt: skip
            line = bar.lines[0]
            assert matplotlib.colors.to_hex(line.get_color()) == VERDICT_COLOURS[verdict]
            assert line.get_xdata()[0] == pytest.approx(mean)
            seg = bar.lines[2][0].get_segments()[0]
            assert [seg[0][0], seg[1][0]] == pytest.approx([mean - 2 * se, mean + 2 * se])
        assert any(t.get_text() == "not judged" for t in ax.texts)
        assert any(line.get_xdata()[0] == 0 for line in ax.get_lines())  # the zero line
        linear = claims_forest(table.iloc[1:3], xscale="auto")
        assert linear.get_xscale() == "linear" and overlapping_texts(linear.figure) == []
        with pytest.raises(ValueError, match="lacks"):
            claims_forest(table.drop(columns="verdict"))
        with pytest.raises(ValueError, match="xscale"):
            claims_forest(table, xscale="log")
    finally:
        plt.close("all")


def test_report_on_the_committed_raml_cpu_results(tmp_path, outputs):
    """The real committed RAML run: its paragraph counts what the paper table says."""
    from workbench.experiments.evidence import committed, results_root

    ev = committed("raml", "cpu")
    if ev is None:
        pytest.skip(f"{results_root()}/raml/cpu is not committed")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "raml").symlink_to(ev.folder.parent)
    (tmp_path / "executed").mkdir()
    text = build_report(
        tmp_path / "executed", tmp_path / "r.html", results_dir=tmp_path / "results"
    ).read_text()
    start = text.index('id="evidence-raml-cpu"')
    end = text.find('<div class="evidence"', start)  # the next run (raml/synthetic), if any
    raml = text[start : end if end > 0 else None]
    counts = ev.counts()
    assert f"of {len(ev.table)} claims" in raml
    for verdict, n in counts.items():
        assert f'<span class="chip v-{verdict.replace(" ", "-")}">{n} {verdict}</span>' in raml
    assert raml.count('<li><span class="chip') == len(ev.table) - counts["holds"]
    assert html.escape(ev.line()) in raml and "data:image/png;base64," in raml
