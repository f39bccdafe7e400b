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

from .util import atomic_write, outputs_dir

__all__ = ["build_report", "outputs_dir", "paper_tables", "save_paper_table"]

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
body { font-family: system-ui, sans-serif; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; font-size: 0.9rem; }
table.data { border-collapse: collapse; margin: 0.5rem 0 1rem; font-size: 0.85rem; }
table.data th, table.data td { border: 1px solid #ccc; padding: 0.2rem 0.5rem; text-align: left; }
table.data th { background: #f2f2f2; } .failed { color: #b00; font-weight: bold; }
.caption { font-style: italic; } section { margin-bottom: 2rem; }
"""


def _belongs(table: str, stem: str) -> bool:
    return table == stem or (table.startswith(stem) and table[len(stem)] in "_-.")


def _table_html(name: str, df: pd.DataFrame, caption: str | None) -> str:
    parts = [f'<h3 id="table-{html.escape(name)}">{html.escape(name)}</h3>']
    if caption:
        parts.append(f'<p class="caption">{html.escape(caption)}</p>')
    parts.append(df.to_html(index=False, escape=True, border=0, classes="data"))
    return "\n".join(parts)


def build_report(
    executed_dir: str | os.PathLike = "outputs/notebooks",
    out_html: str | os.PathLike = "outputs/report.html",
    *,
    tables_dir: str | os.PathLike | None = None,
    notebooks: Sequence[str | os.PathLike] | None = None,
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
