"""The HTML report: every executed notebook plus an index page with the paper tables.

>>> save_paper_table(comparison, "02_wma_table1", caption="The ordering WMA > baseline holds.")
>>> build_report("outputs/notebooks", "outputs/report.html")

Convention: a paper notebook ends by saving its paper-vs-workbench table with
:func:`save_paper_table` as ``<outputs>/tables/<name>.csv`` (``<outputs>`` from
:func:`outputs_dir`); name it after the notebook (``"02_wma"``, ``"02_wma_table3"``) and the
index page shows it under that notebook. :func:`build_report` converts every executed
notebook to ``<out_html without .html>/<notebook>.html`` with nbconvert and writes the index
page ``out_html`` linking them, with every saved table rendered below its notebook.

The index page opens with the committed results (``results/<paper>/<profile>/``, read with
:func:`workbench.experiments.evidence.committed`): per paper a paragraph of verdict counts
with the claims' names, every claim that does not hold with its diagnosis, the provenance line,
the claims forest (:func:`workbench.plotting.claims_forest`) and the claims table; a paper
without committed results says "not committed yet".
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from .experiments import COMMITTED_PROFILES, PAPERS
from .experiments.evidence import Evidence, committed, results_root
from .util import atomic_write, outputs_dir

__all__ = [
    "build_report",
    "claims_markdown",
    "claims_paragraph",
    "forest_png",
    "results_block",
    "results_markdown",
    "update_readme",
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
section.paper { border-left: 4px solid #ddd; padding-left: 0.8rem; margin-bottom: 1.5rem; }
.forest img { max-width: 46rem; border: 1px solid #ddd; }
ul.diagnoses li { margin-bottom: 0.3rem; } .not-committed { color: #777; }
details summary { cursor: pointer; color: #444; font-size: 0.9rem; }
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


def _short(claim_id: str) -> str:
    return claim_id.split(".", 1)[1] if "." in claim_id else claim_id


def _dataset_tag(dataset: object, text: str = "", several: bool = True) -> str:
    """`` [dataset]`` after a claim, unless one dataset only, no dataset (a claim judged on
    none) or the claim's text names it already."""
    if not several or dataset is None or (isinstance(dataset, float) and dataset != dataset):
        return ""
    tag = f"[{dataset}]"
    return "" if str(dataset) in ("", "nan") or tag in text else f" {tag}"


def _claim_names(df: pd.DataFrame, verdict: str) -> list[str]:
    sel = df[df["verdict"] == verdict]
    several = "dataset" in df.columns and df["dataset"].astype(str).nunique() > 1
    key = "id" if "id" in df.columns else "claim"
    names = []
    for _, r in sel.iterrows():
        name = _short(str(r[key]))
        name += _dataset_tag(r["dataset"], name, several) if several else ""
        names.append(name)
    return names


def claims_paragraph(ev: Evidence) -> str:
    """One paragraph (plain text) on a committed run: the verdict counts with the claims'
    names. Every number is counted from ``ev.table``."""
    counts = ev.counts()
    total = sum(counts.values())
    words = {"holds": ("holds", "hold"), "not clearly": ("is not clear", "are not clear"),
             "fails": ("fails", "fail")}  # fmt: skip
    parts = []
    for verdict, n in counts.items():
        if n == 0:
            continue
        one, many = words[verdict]
        names = ", ".join(_claim_names(ev.table, verdict))
        parts.append(f"{n} {one if n == 1 else many} ({names})")
    head = f"{ev.paper.upper()}, committed {ev.profile} results: of {total} claims, "
    return head + ("; ".join(parts) if parts else "none judged") + "."


def forest_png(table: pd.DataFrame, title: str | None = None) -> str | None:
    """The claims forest (:func:`workbench.plotting.claims_forest`) of ``table`` as a base64
    PNG, or ``None`` when the table has no claims with the needed columns."""
    import base64
    import io

    from matplotlib.figure import Figure

    from .plotting import claims_forest

    needed = {"id", "diff_mean", "diff_se", "verdict"}
    if table.empty or not needed <= set(table.columns):
        return None
    fig = Figure(figsize=(8.5, 1.3 + 0.3 * len(table)), layout="constrained")
    claims_forest(table, fig.subplots(), title=title)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    return base64.b64encode(buf.getvalue()).decode()


def _evidence_html(ev: Evidence, *, figure: bool = True) -> str:
    """A committed run: the paragraph, the diagnoses, the provenance line, the claims forest
    and the claims table (folded)."""
    parts = [
        f'<p class="summary">{html.escape(claims_paragraph(ev))} {_verdict_chips(ev.table)}</p>',
        f'<p class="meta provenance">{html.escape(ev.line())}</p>',
    ]
    diag = ev.diagnoses()
    if len(diag):
        several = diag["dataset"].astype(str).nunique() > 1
        items = []
        for _, r in diag.iterrows():
            where = html.escape(_dataset_tag(r["dataset"], str(r["claim"]), several))
            items.append(
                f'<li><span class="chip {_verdict_class(r["verdict"])}">'
                f"{html.escape(str(r['verdict']))}</span><b>{html.escape(str(r['claim']))}</b>"
                f"{where} — <i>{html.escape(str(r['kind']))}</i>: {html.escape(str(r['text']))}</li>"
            )
        parts.append('<ul class="diagnoses">' + "".join(items) + "</ul>")
    if figure:
        png = forest_png(ev.table, title=f"{ev.paper.upper()} claims, {ev.profile} profile")
        if png:
            parts.append(
                f'<div class="forest"><img src="data:image/png;base64,{png}" '
                f'alt="claims forest: {html.escape(ev.paper)} {html.escape(ev.profile)}"></div>'
            )
    if len(ev.table):
        shown = [c for c in _CLAIM_COLUMNS if c in ev.table.columns]
        parts.append(
            f"<details><summary>claims table ({len(ev.table)} rows, "
            f"<code>results/{html.escape(ev.paper)}/{html.escape(ev.profile)}/paper_table.csv"
            "</code>)</summary>"
            + _frame_html(ev.table[shown].astype(str).replace("nan", ""))
            + "</details>"
        )
    return "\n".join(parts)


_CLAIM_COLUMNS = (
    "dataset", "id", "claim", "table", "paper_verdict", "workbench", "diff_mean", "diff_se",
    "n_seeds", "verdict",
)  # fmt: skip


def _paper_sections(
    results_dir: str | os.PathLike | None, notebook_pages: dict[str, str]
) -> list[str]:
    """Per paper: the committed cpu run (paragraph, diagnoses, provenance, claims forest,
    claims table), the committed synthetic run when present, and the link to its notebook."""
    root = results_root(results_dir)
    papers = list(PAPERS)
    if root.is_dir():
        papers += sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in PAPERS)
    out = []
    for paper in papers:
        body = [f'<section class="paper" id="paper-{html.escape(paper)}">',
                f"<h3>{html.escape(paper.upper())}</h3>"]  # fmt: skip
        pages = [(stem, href) for stem, href in notebook_pages.items() if paper in stem]
        if pages:
            links = ", ".join(f'<a href="{html.escape(h)}">{html.escape(s)}</a>' for s, h in pages)
            body.append(f'<p class="meta">executed notebook: {links}</p>')
        for profile in COMMITTED_PROFILES:
            ev = committed(paper, profile, root=root)
            if ev is None:
                if profile == "cpu":
                    body.append(
                        f'<p class="summary not-committed">{html.escape(paper.upper())}: '
                        f"{html.escape(profile)} results not committed yet.</p>"
                    )
                continue
            if profile != "cpu":
                body.append(f"<h4>committed {html.escape(profile)} results</h4>")
            body.append(
                f'<div class="evidence" id="evidence-{html.escape(paper)}-{html.escape(profile)}">'
                + _evidence_html(ev)
                + "</div>"
            )
        body.append("</section>")
        out.append("\n".join(body))
    return out


def _summary_section(tables: dict[str, pd.DataFrame]) -> str:
    """The verdicts of this run's saved tables (smoke or whichever profile ran)."""
    items = []
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
        '<section>\n<h2>Claims at a glance: this run</h2>\n<p class="meta">Verdicts of the '
        "notebooks' own tables in this run. Smoke runs are small: their verdicts say what a few "
        "minutes of CPU show, not what the papers' budgets would; the committed results above "
        f"are the converged ones.</p>\n<ul>{''.join(items)}</ul>\n</section>"
    )


_VERDICT_RULE = (
    "Verdicts of the claims engine on per-seed paired differences (claimed method minus the "
    "other): holds when the mean is beyond 2 standard errors in the claimed direction, fails "
    "when beyond them the other way, not clearly when within them or with one seed. Every claim "
    "that does not hold has a diagnosis: budget (runs still improving when training stopped), "
    "spread (within 2 SE; the seeds the observed gap would need), data or implementation."
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
        results_dir: the committed results (default ``results/`` of the checkout,
            :func:`workbench.experiments.evidence.results_root`). The page opens with one
            section per paper: the committed ``cpu`` run (:func:`claims_paragraph`, every claim
            that does not hold with its diagnosis, the provenance line, the claims forest and
            the claims table), the committed ``synthetic`` run when present, or "not committed
            yet".

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
    notebook_pages: dict[str, str] = {}
    for path in paths:
        nb = nbformat.read(str(path), as_version=4)
        body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": path.stem}})
        page = pages / f"{path.stem}.html"
        atomic_write(page, body)
        info = _notebook_info(nb)
        href = f"{pages.name}/{page.name}"
        notebook_pages[path.stem] = href
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
    summary = _summary_section(tables)
    if summary:
        sections.insert(0, summary)
    papers = _paper_sections(results_dir, notebook_pages)
    sections.insert(
        0,
        '<section id="committed">\n<h2>Committed results, per paper</h2>\n'
        f'<p class="meta">{html.escape(_VERDICT_RULE)}</p>\n' + "\n".join(papers) + "\n</section>",
    )
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


# ----------------------------------------------------------------------------- README blocks

_BLOCK = re.compile(
    r"<!-- results:(?P<paper>[A-Za-z0-9_-]+)/(?P<profile>[A-Za-z0-9_-]+):(?P<table>[A-Za-z0-9_-]+)"
    r" -->\n(?P<body>.*?)<!-- /results -->",
    re.S,
)
"""A generated block of README.md: ``<!-- results:<paper>/<profile>:<table> -->`` ... ``<!-- /results -->``."""


def _not_committed(paper: str, profile: str) -> str:
    return (
        f"`results/{paper}/{profile}/` is not committed yet: "
        f"`workbench reproduce {paper} --profile {profile}` writes it, then `workbench readme` "
        "fills this block.\n"
    )


def _selected_rows(ev: Evidence) -> pd.DataFrame:
    """The tidy rows a results table shows: the paper module's ``selected_frame`` (model
    selection on validation, e.g. WMA's α, β) when it has one, else every row."""
    import importlib

    rows = ev.results
    try:
        module = importlib.import_module(f"workbench.experiments.{ev.paper}")
    except ImportError:
        module = None
    pick = getattr(module, "selected_frame", None)
    if pick is not None and len(rows):
        rows = pick(rows)
    return rows


def results_markdown(ev: Evidence, metric: str) -> str:
    """Markdown table of ``ev``'s test rows of ``metric``: method x condition (``case`` when
    the rows have it, else ``condition``/``modality``), ``mean ± std`` over seeds, rounded to
    the metric's precision (:func:`workbench.experiments.evidence.metric_decimals`).

    Raises:
        ValueError: the results have no test rows of ``metric``.
    """
    from .evaluation import table_numeric
    from .experiments.evidence import metric_decimals

    rows = _selected_rows(ev)
    if "split" in rows.columns:
        rows = rows[rows["split"].astype(str) == "test"]
    if "metric" in rows.columns:
        rows = rows[rows["metric"].astype(str) == metric]
    if rows.empty:
        metrics = sorted(set(ev.results.get("metric", pd.Series(dtype=str)).astype(str)))
        raise ValueError(
            f"results/{ev.paper}/{ev.profile}: no test rows of metric {metric!r}; the results "
            f"have {metrics}. Fix the README marker <!-- results:{ev.paper}/{ev.profile}:<metric> -->."
        )
    columns = ["case"] if "case" in rows.columns else [
        c for c in ("condition", "modality") if c in rows.columns
    ]  # fmt: skip
    num = table_numeric(rows, "method", columns)
    mean, std = num["mean"], num["std"]
    d = metric_decimals(metric, rows["value"])

    def label(col) -> str:
        parts = col if isinstance(col, tuple) else (col,)
        return "/".join(str(p) for p in parts if str(p) not in ("", "nan"))

    head = "| | " + " | ".join(label(c) for c in mean.columns) + " |"
    lines = [head, "|---" * (len(mean.columns) + 1) + "|"]
    for method in mean.index:
        cells = [
            "" if pd.isna(m) else f"{m:.{d}f} ± {s:.{d}f}"
            for m, s in zip(mean.loc[method], std.loc[method])
        ]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    seeds = rows.groupby("method")["seed"].nunique() if "seed" in rows.columns else pd.Series()
    n = f"{seeds.min()}" if len(seeds) and seeds.min() == seeds.max() else (
        f"{seeds.min()}-{seeds.max()}" if len(seeds) else "?"
    )  # fmt: skip
    chosen = ""
    if {"alpha", "beta", "method"} <= set(rows.columns):
        picks = rows.drop_duplicates(["method", "alpha", "beta"])
        chosen = "; selected on validation: " + ", ".join(
            f"{r['method']} α={r['alpha']:g}, β={r['beta']:g}" for _, r in picks.iterrows()
        )
    caption = (
        f"Test {metric}, mean ± std over {n} seeds, from `results/{ev.paper}/{ev.profile}/"
        f"results.csv`{chosen}. Provenance: {ev.line(short=True)}."
    )
    return "\n".join(lines) + "\n\n" + caption + "\n"


def claims_markdown(ev: Evidence) -> str:
    """The claims of a committed run in Markdown: the verdict counts, the provenance line and one
    line per claim (verdict, claim, paired difference ± SE with the number of seeds)."""
    from .claims import verdict_summary

    table = ev.table
    several = "dataset" in table.columns and table["dataset"].astype(str).nunique() > 1
    out = [
        f"**{ev.paper.upper()}**, committed `{ev.profile}` results: {verdict_summary(table)}. "
        f"{ev.line(short=True)}.",
        "",
    ]
    for _, r in table.iterrows():
        mean, se = (
            pd.to_numeric(r.get("diff_mean"), errors="coerce"),
            pd.to_numeric(r.get("diff_se"), errors="coerce"),
        )
        n = pd.to_numeric(r.get("n_seeds"), errors="coerce")
        if pd.notna(mean):
            gap = f"{mean:+.3g}" + (f" ± {se:.2g} (SE, n={int(n)})" if pd.notna(se) else "")
        else:
            gap = "not judged on this profile"
        where = _dataset_tag(r.get("dataset"), str(r["claim"]), several)
        out.append(f"- *{r['verdict']}*: {r['claim']}{where}: {gap}")
    return "\n".join(out) + "\n"


def results_block(
    paper: str, profile: str, table: str, root: str | os.PathLike | None = None
) -> str:
    """The body of the README block ``<!-- results:<paper>/<profile>:<table> -->``: ``table``
    is ``claims`` (:func:`claims_markdown`) or a metric (:func:`results_markdown`); a run not
    committed yet says so."""
    ev = committed(paper, profile, root=root)
    if ev is None:
        return _not_committed(paper, profile)
    if table == "claims":
        return claims_markdown(ev)
    return results_markdown(ev, table)


def update_readme(
    path: str | os.PathLike = "README.md",
    *,
    root: str | os.PathLike | None = None,
    check: bool = False,
) -> list[str]:
    """Regenerate every results block of a README from ``results/``.

    Args:
        path: the Markdown file.
        root: the committed results (default :func:`workbench.experiments.evidence.results_root`).
        check: only compare; do not write.

    Returns:
        The blocks (``"<paper>/<profile>:<table>"``) whose text differed from the results (now
        rewritten unless ``check``).

    Raises:
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"README {str(path)!r} does not exist.")
    text = path.read_text()
    stale: list[str] = []

    def fill(m: re.Match) -> str:
        body = results_block(m["paper"], m["profile"], m["table"], root=root)
        if body != m["body"]:
            stale.append(f"{m['paper']}/{m['profile']}:{m['table']}")
        return m.group(0)[: m.start("body") - m.start()] + body + "<!-- /results -->"

    new = _BLOCK.sub(fill, text)
    if stale and not check:
        atomic_write(path, new)
    return stale
