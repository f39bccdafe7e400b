"""outputs/report.html as a researcher opens it: headless Chromium, a screenshot, and checks on
what the page shows (every paper section, rounded numbers, colour-coded verdicts)."""

from __future__ import annotations

import base64
import re
import struct
import zlib

import nbformat
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from workbench.experiments import PAPERS as COMMITTED_PAPERS
from workbench.experiments.evidence import committed
from workbench.report import build_report, save_paper_table

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300), pytest.mark.xdist_group("browser")]

PAPERS = {"02_wma": "WMA", "03_mla": "MLA", "04_raml": "RAML", "05_otm": "OTM"}


def _png() -> str:
    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    raw = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    raw += chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b"")
    return base64.b64encode(raw).decode()


def _site(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_OUTPUTS", str(tmp_path / "outputs"))
    executed = tmp_path / "executed"
    for stem, paper in PAPERS.items():
        (executed / "figures" / stem).mkdir(parents=True)
        (executed / "figures" / stem / "cell003_0.png").write_bytes(base64.b64decode(_png()))
        nb = new_notebook(
            cells=[
                new_markdown_cell(f"# {paper} reproduction"),
                new_code_cell(
                    "fig", execution_count=1,
                    outputs=[new_output("display_data", data={"image/png": _png(), "text/plain": "<Figure>"})],
                ),
            ]
        )  # fmt: skip
        nb.metadata["papermill"] = {"parameters": {"profile": "smoke"}, "duration": 12.0}
        nbformat.write(nb, str(executed / f"{stem}.ipynb"))
        claims = pd.DataFrame(
            {
                "claim": [f"{paper} beats its baseline", f"{paper} is best", f"{paper} is robust"],
                "diff_mean": [0.1 + 0.2, -0.012345678, 1 / 3],
                "verdict": ["holds", "fails", "not clearly"],
                "profile": "smoke",
            }
        )
        save_paper_table(claims, stem)
    results = tmp_path / "results"  # the committed RAML cpu run; the other papers: not yet
    results.mkdir()
    real = committed("raml", "cpu")
    if real is not None:
        (results / "raml").symlink_to(real.folder.parent)
    return build_report(executed, tmp_path / "site" / "report.html", results_dir=results)


def test_report_page_shows_every_paper_rounded_and_colour_coded(
    browser, screenshots_dir, tmp_path, monkeypatch
):
    index = _site(tmp_path, monkeypatch)
    page = browser.new_page()
    try:
        page.goto(index.as_uri())
        page.wait_for_load_state("load")
        text = page.inner_text("body")
        page.screenshot(path=str(screenshots_dir / "report.png"), full_page=True)
        for stem, paper in PAPERS.items():
            assert stem in text and f"{paper} reproduction" in text
        assert "Claims at a glance" in text
        # the page opens with the committed results: one section per paper
        assert text.index("Committed results, per paper") < text.index("02_wma")
        for paper in COMMITTED_PAPERS:
            assert page.locator(f"section#paper-{paper}").count() == 1
        ev = committed("raml", "cpu")
        if ev is not None:
            raml = page.inner_text("#evidence-raml-cpu")
            assert f"of {len(ev.table)} claims" in raml and ev.line() in raml
            assert page.locator("#evidence-raml-cpu ul.diagnoses li").count() == (
                len(ev.table) - ev.counts()["holds"]
            )
            forest = page.eval_on_selector_all(
                "#evidence-raml-cpu .forest img", "imgs => imgs.map(i => i.naturalWidth)"
            )
            assert len(forest) == 1 and forest[0] > 0
        assert "WMA: cpu results not committed yet." in text
        # no raw float repr: every number on the page has at most 4 significant digits
        assert "0.30000000000000004" not in text and "0.3333333333333333" not in text
        assert not re.search(r"\d\.\d{9,}", text)  # a repr has 15-17 digits; ours at most 4
        colours = page.eval_on_selector_all(
            "td.v-holds, td.v-fails, td.v-not-clearly",
            "cells => cells.map(c => [c.className, getComputedStyle(c).backgroundColor])",
        )
        assert len(colours) >= 3 * len(PAPERS)
        by_class = {cls: bg for cls, bg in colours}
        assert len(set(by_class.values())) == 3  # holds / fails / not clearly look different
        images = page.eval_on_selector_all(".figures img", "imgs => imgs.map(i => i.naturalWidth)")
        assert len(images) == len(PAPERS) and all(w > 0 for w in images)
    finally:
        page.close()
