"""The HTML report: nbconvert pages, the index page and the paper-table convention."""

import base64
import struct
import zlib

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from workbench.report import build_report, outputs_dir, paper_tables, save_paper_table


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
    assert tiny < text.index("Gains hold; absolute numbers do not.") < text.index("91.2") < broken
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


def test_report_rounds_numbers_colours_verdicts_and_summarises_committed_results(tmp_path, outputs):
    import json

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
    results = tmp_path / "results" / "mla" / "cpu"
    results.mkdir(parents=True)
    committed = claims.assign(diagnosis=["", "budget: curves still rising", ""], profile="cpu")
    committed.to_csv(results / "paper_table.csv", index=False)
    (results / "provenance.json").write_text(
        json.dumps({"git_commit": "abc1234", "date": "2026-12-02", "wall_time_s": 3600})
    )
    text = build_report(executed, tmp_path / "r.html", results_dir=tmp_path / "results").read_text()
    assert "0.30000000000000004" not in text and ">0.3<" in text and ">-0.01235<" in text
    assert (
        'class="v-holds"' in text and 'class="v-fails"' in text and 'class="v-not-clearly"' in text
    )
    # the summary opens the page: committed cpu verdicts with provenance and the failed claim's diagnosis
    summary = text.index("Claims at a glance")
    assert summary < text.index("03_mla.html")
    assert "1 holds" in text and "1 fails" in text and "1 not clearly" in text
    assert "abc1234" in text and "budget: curves still rising" in text
    assert "MLA: committed cpu results" in text
    assert 'src="executed/figures/03_mla/cell002_0.png"' in text
