"""The HTML report: every executed notebook plus an index page with the paper tables.

>>> save_paper_table(comparison, "02_wma_table1", caption="The ordering WMA > baseline holds.")
>>> build_report("outputs/notebooks", "outputs/report.html")

Convention: a paper notebook ends by saving its paper-vs-workbench table with
:func:`save_paper_table` as ``<outputs>/tables/<name>.csv`` (``<outputs>`` from
:func:`outputs_dir`); name it after the notebook (``"02_wma"``, ``"02_wma_table3"``) and the
index page shows it under that notebook. :func:`build_report` converts every executed
notebook to ``<out_html without .html>/<notebook>.html`` with nbconvert and writes the index
page ``out_html`` linking them, with every saved table rendered below its notebook.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .util import atomic_write, outputs_dir, project_root

__all__ = [
    "build_report",
    "committed_results",
    "outputs_dir",
    "paper_tables",
    "save_paper_table",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _check_name(name: str) -> str:
    name = str(name)
    if not _NAME.match(name) or name.endswith(".csv"):
        raise ValueError(
            f"Table name {name!r} must be a file name without extension made of letters, digits, "
            "'_', '-' and '.', e.g. '02_wma_table1'."
        )
    return name


def save_paper_table(
    df: pd.DataFrame,
    name: str,
    *,
    caption: str | None = None,
    folder: str | os.PathLike | None = None,
) -> Path:
    """Save a notebook's paper-vs-workbench table for the report.

    Args:
        df: the table (e.g. from :func:`workbench.evaluation.paper_vs_workbench`, or a
            :func:`workbench.evaluation.table` pivot: a named index becomes columns and
            MultiIndex columns are joined with ``" / "``).
        name: the file name, starting with the notebook's stem (``"02_wma_table1"``).
        caption: one or two sentences saying what reproduces and what does not; saved next
            to the table as ``<name>.txt`` and shown under it in the report.
        folder: where to save (default ``outputs_dir() / "tables"``).

    Returns:
        The CSV's path.

    Raises:
        ValueError: ``df`` is not a DataFrame or ``name`` is not a plain file name.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"save_paper_table() expects a pandas DataFrame, got {type(df).__name__}.")
    name = _check_name(name)
    folder = Path(folder) if folder is not None else outputs_dir() / "tables"
    folder.mkdir(parents=True, exist_ok=True)
    out = df.copy()
    if isinstance(out.columns, pd.MultiIndex):
        out.columns = [" / ".join(str(p) for p in col if str(p)) for col in out.columns]
    if any(n is not None for n in out.index.names):
        out = out.reset_index()
    path = folder / f"{name}.csv"
    atomic_write(path, out.to_csv(index=False))
    note = folder / f"{name}.txt"
    if caption:
        atomic_write(note, str(caption).strip() + "\n")
    else:
        note.unlink(missing_ok=True)
    return path


def paper_tables(folder: str | os.PathLike | None = None) -> dict[str, pd.DataFrame]:
    """Every saved table: ``name -> DataFrame`` (cells as the strings saved), sorted by name."""
    folder = Path(folder) if folder is not None else outputs_dir() / "tables"
    if not folder.is_dir():
        return {}
    return {
        p.stem: pd.read_csv(p, dtype=str, keep_default_na=False)
        for p in sorted(folder.glob("*.csv"))
        if not p.name.startswith(".")
    }


# ----------------------------------------------------------------------------- report


def _notebook_info(nb) -> dict:
    title = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            m = re.search(r"^#+\s+(.+)$", cell.source, re.M)
            if m:
                title = m.group(1).strip()
                break
    pm = nb.metadata.get("papermill", {}) or {}
    failed = bool(pm.get("exception")) or any(
        out.get("output_type") == "error" for cell in nb.cells for out in cell.get("outputs", [])
    )
    return {
        "title": title,
        "parameters": dict(pm.get("parameters", {}) or {}),
        "duration": pm.get("duration"),
        "failed": failed,
    }


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 76rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; font-size: 0.9rem; }
table.data { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
table.data th, table.data td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; vertical-align: top; }
table.data th { background: #f2f2f2; } .failed { color: #b00; font-weight: bold; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.v-holds { background: #d9f2d9; } .v-fails { background: #f7d4d4; }
.v-not-clearly { background: #fbefc9; } .v-not-tabulated { color: #777; }
.chip { display: inline-block; padding: 0.05rem 0.5rem; border-radius: 0.7rem; margin-right: 0.3rem; font-size: 0.85rem; }
.figures img { max-width: 36rem; max-height: 22rem; margin: 0.3rem 0.6rem 0.3rem 0; border: 1px solid #ddd; }
.caption { font-style: italic; } section { margin-bottom: 2rem; }
"""

VERDICT_COLUMNS = ("verdict", "paper_verdict")
"""Table columns whose cells are three-valued verdicts (coloured in the report)."""


def _format_cell(value: str) -> tuple[str, bool]:
    """A saved cell as shown: numbers rounded to 4 significant digits; returns (text, numeric)."""
    text = str(value)
    try:
        x = float(text)
    except ValueError:
        return text, False
    if text.strip().lower() in ("nan", "inf", "-inf", "true", "false") or not text.strip():
        return ("—" if text.strip().lower() == "nan" else text), False
    if x == int(x) and abs(x) < 1e15 and "." not in text and "e" not in text.lower():
        return text, True
    return f"{x:.4g}", True


def _verdict_class(value: str) -> str:
    return "v-" + re.sub(r"[^a-z]+", "-", str(value).strip().lower()).strip("-")


def _frame_html(df: pd.DataFrame) -> str:
    """A saved table as HTML: rounded numbers right-aligned, verdict cells colour-coded."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for _, r in df.iterrows():
        cells = []
        for c in df.columns:
            text, numeric = _format_cell(r[c])
            cls = []
            if numeric:
                cls.append("num")
            if c in VERDICT_COLUMNS and text:
                cls.append(_verdict_class(text))
            attr = f' class="{" ".join(cls)}"' if cls else ""
            cells.append(f"<td{attr}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        f'<table class="data"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table>"
    )


def _verdict_chips(df: pd.DataFrame) -> str:
    if "verdict" not in df.columns:
        return ""
    counts = df["verdict"].value_counts()
    chips = [
        f'<span class="chip {_verdict_class(v)}">{int(counts.get(v, 0))} {v}</span>'
        for v in ("holds", "not clearly", "fails")
    ]
    return "".join(chips)


def committed_results(root: str | os.PathLike | None = None) -> dict[tuple[str, str], dict]:
    """The committed results under ``results/<paper>/<profile>/``: ``(paper, profile) ->
    {"paper_table": DataFrame | None, "provenance": dict | None, "path": Path}``."""
    import json

    base = Path(root) if root is not None else (project_root() or Path.cwd()) / "results"
    found: dict[tuple[str, str], dict] = {}
    if not base.is_dir():
        return found
    for folder in sorted(p for p in base.glob("*/*") if p.is_dir()):
        table = folder / "paper_table.csv"
        prov = folder / "provenance.json"
        found[(folder.parent.name, folder.name)] = {
            "paper_table": pd.read_csv(table, dtype=str, keep_default_na=False)
            if table.is_file()
            else None,
            "provenance": json.loads(prov.read_text()) if prov.is_file() else None,
            "path": folder,
        }
    return found


def _provenance_line(prov: dict | None) -> str:
    if not prov:
        return "no provenance.json"
    keys = ("date", "git_commit", "command", "machine", "wall_time_s")
    parts = [f"{k}: {prov[k]}" for k in keys if k in prov]
    return "; ".join(str(p) for p in parts)


def _summary_section(
    committed: dict[tuple[str, str], dict], tables: dict[str, pd.DataFrame]
) -> str:
    """The index page's opening: per paper, the claims verdicts of the committed results and of
    this run's saved tables."""
    items = []
    for (paper, profile), entry in committed.items():
        df = entry["paper_table"]
        if df is None or "verdict" not in df.columns:
            continue
        failed = df[df["verdict"] == "fails"]
        why = ""
        if "diagnosis" in failed.columns and len(failed):
            why = (
                "<ul>"
                + "".join(
                    f"<li>{html.escape(str(r['claim']))}: {html.escape(str(r['diagnosis']))}</li>"
                    for _, r in failed.iterrows()
                )
                + "</ul>"
            )
        items.append(
            f"<li><b>{html.escape(paper.upper())}</b> (committed <code>{html.escape(profile)}</code> "
            f'results) {_verdict_chips(df)}<br><span class="meta">'
            f"{html.escape(_provenance_line(entry['provenance']))}</span>{why}</li>"
        )
    for name, df in tables.items():
        if "verdict" in df.columns:
            profile = (
                ", ".join(sorted(set(df.get("profile", pd.Series(["?"])).astype(str)) - {""}))
                or "?"
            )
            items.append(
                f'<li><a href="#table-{html.escape(name)}">{html.escape(name)}</a> '
                f"(this run, profile {html.escape(profile)}) {_verdict_chips(df)}</li>"
            )
    if not items:
        return ""
    return (
        '<section>\n<h2>Claims at a glance</h2>\n<p class="meta">Verdicts of the claims engine '
        "(holds: the per-seed paired difference is beyond 2 standard errors; not clearly: within "
        "them, or one seed; fails: beyond them the other way). Smoke runs are small: their "
        "verdicts say what a few minutes of CPU show, not what the papers' budgets would.</p>\n"
        f"<ul>{''.join(items)}</ul>\n</section>"
    )


def _belongs(table: str, stem: str) -> bool:
    return table == stem or (table.startswith(stem) and table[len(stem)] in "_-.")


def _table_html(name: str, df: pd.DataFrame, caption: str | None) -> str:
    parts = [f'<h3 id="table-{html.escape(name)}">{html.escape(name)}</h3>']
    if caption:
        parts.append(f'<p class="caption">{html.escape(caption)}</p>')
    parts.append(_frame_html(df))
    return "\n".join(parts)


def build_report(
    executed_dir: str | os.PathLike = "outputs/notebooks",
    out_html: str | os.PathLike = "outputs/report.html",
    *,
    tables_dir: str | os.PathLike | None = None,
    notebooks: Sequence[str | os.PathLike] | None = None,
    results_dir: str | os.PathLike | None = None,
) -> Path:
    """Convert executed notebooks to HTML and write an index page with the paper tables.

    Args:
        executed_dir: folder of executed ``*.ipynb`` (``workbench run-all --output``).
        out_html: the index page; the notebook pages go to the folder of the same name
            without ``.html`` (``outputs/report/``), linked relatively.
        tables_dir: the saved tables (default ``outputs_dir() / "tables"``; see
            :func:`save_paper_table`). A table named ``<stem>`` or ``<stem>_...`` is shown
            under the notebook ``<stem>``, the others at the end.
        notebooks: convert only these notebooks (default: every ``*.ipynb`` in
            ``executed_dir``, in name order).
        results_dir: the committed results (default ``results/`` of the checkout): each
            ``<paper>/<profile>/paper_table.csv`` with its ``provenance.json`` is summarised at
            the top and shown in full.

    Returns:
        The index page's path.

    Raises:
        FileNotFoundError: ``executed_dir`` does not exist (run ``workbench run-all`` first).
    """
    import nbformat
    from nbconvert import HTMLExporter

    executed_dir, out_html = Path(executed_dir), Path(out_html)
    if notebooks is None:
        if not executed_dir.is_dir():
            raise FileNotFoundError(
                f"Executed-notebook folder {str(executed_dir)!r} does not exist; run "
                "`make run` or `workbench run-all --output outputs/notebooks` first."
            )
        paths = sorted(p for p in executed_dir.glob("*.ipynb") if not p.name.startswith("."))
    else:
        paths = [Path(p) for p in notebooks]
        for p in paths:
            if not p.is_file():
                raise FileNotFoundError(f"Executed notebook {str(p)!r} does not exist.")
    pages = out_html.with_suffix("")
    pages.mkdir(parents=True, exist_ok=True)
    tables_dir = Path(tables_dir) if tables_dir is not None else outputs_dir() / "tables"
    tables = paper_tables(tables_dir)
    captions = {
        n: (tables_dir / f"{n}.txt").read_text().strip()
        for n in tables
        if (tables_dir / f"{n}.txt").is_file()
    }

    exporter = HTMLExporter()
    sections, used = [], set()
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        page = pages / f"{path.stem}.html"
        atomic_write(page, body)
        info = _notebook_info(nb)
        href = f"{pages.name}/{page.name}"
        head = f'<h2><a href="{html.escape(href)}">{html.escape(path.stem)}</a>'
        if info["title"]:
            head += f" — {html.escape(info['title'])}"
        head += "</h2>"
        meta = []
        if info["failed"]:
            meta.append('<span class="failed">failed: see the error in the notebook</span>')
        if info["duration"] is not None:
            meta.append(f"ran in {float(info['duration']):.0f} s")
        if info["parameters"]:
            params = ", ".join(f"{k}={v!r}" for k, v in info["parameters"].items())
            meta.append(f"parameters: {html.escape(params)}")
        mine = [n for n in tables if _belongs(n, path.stem) and n not in used]
        used.update(mine)
        body_parts = [head, f'<p class="meta">{" · ".join(meta)}</p>' if meta else ""]
        figures = sorted((path.parent / "figures" / path.stem).glob("*.png"))[:2]
        if figures:
            imgs = "".join(
                f'<img src="{html.escape(os.path.relpath(f, out_html.parent))}" alt="{html.escape(f.stem)}">'
                for f in figures
            )
            body_parts.append(f'<div class="figures">{imgs}</div>')
        body_parts += [_table_html(n, tables[n], captions.get(n)) for n in mine]
        sections.append("<section>\n" + "\n".join(p for p in body_parts if p) + "\n</section>")
    others = [n for n in tables if n not in used]
    if others:
        sections.append(
            "<section>\n<h2>Other paper-vs-workbench tables</h2>\n"
            + "\n".join(_table_html(n, tables[n], captions.get(n)) for n in others)
            + "\n</section>"
        )
    if not paths:
        sections.insert(0, f"<p>No executed notebooks in {html.escape(str(executed_dir))}.</p>")
    committed = committed_results(results_dir)
    for (paper, profile), entry in committed.items():
        if entry["paper_table"] is not None:
            sections.append(
                f"<section>\n<h2>{html.escape(paper.upper())}: committed {html.escape(profile)} results</h2>\n"
                f'<p class="meta">{html.escape(_provenance_line(entry["provenance"]))}</p>\n'
                + _frame_html(entry["paper_table"])
                + "\n</section>"
            )
    summary = _summary_section(committed, tables)
    if summary:
        sections.insert(0, summary)
    index = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Robust Multimodal Learning Workbench: report</title>\n"
        f"<style>{_CSS}</style>\n</head>\n<body>\n"
        "<h1>Robust Multimodal Learning Workbench: report</h1>\n"
        f'<p class="meta">{len(paths)} executed notebook(s), {len(tables)} paper table(s); '
        f"generated {html.escape(time.strftime('%Y-%m-%d %H:%M'))}.</p>\n"
        + "\n".join(sections)
        + "\n</body>\n</html>\n"
    )
    out_html.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(out_html, index)
    return out_html
