"""Every notebook in ``notebooks/`` runs headless in smoke mode, and is committed clean.

Notebooks are discovered with a glob, so a new ``notebooks/NN_*.ipynb`` is tested without
touching this file.
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from workbench.cli import NotebookError, execute_notebook

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
SANITIZE = Path(__file__).with_name("nbval_sanitize.cfg")


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found in notebooks/"


@pytest.mark.notebook
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs_in_smoke_mode_and_reruns_to_the_same_tables(notebook, tmp_path):
    """Executes the notebook in smoke mode, then re-runs the executed copy under
    ``pytest --nbval-lax``: every cell must run again and every cell marked
    ``# NBVAL_CHECK_OUTPUT`` (the result tables) must print the same output (wall times, paths
    and dates masked by ``tests/nbval_sanitize.cfg``). Trained checkpoints and sweep stores are
    reused through the cache, so the re-run evaluates again rather than retrains."""
    executed = tmp_path / notebook.name
    try:
        execute_notebook(
            notebook,
            executed,
            {"profile": "smoke"},
            kernel="python3",
            execution_timeout=300,
            retries_on_timeout=1,
        )
    except NotebookError as e:
        pytest.fail(str(e), pytrace=False)
    checked = sum(
        "# NBVAL_CHECK_OUTPUT" in c.source
        for c in nbformat.read(str(executed), as_version=4).cells
        if c.cell_type == "code"
    )
    if not checked:
        return
    rerun = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-current-env", "--nbval-sanitize-with", str(SANITIZE),
         "--nbval-cell-timeout", "300", "-o", "addopts=", "--rootdir", str(tmp_path), str(executed)],
        cwd=notebook.parent, capture_output=True, text=True, timeout=900,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )  # fmt: skip
    assert rerun.returncode == 0, (
        f"{notebook.name}: the seeded re-run of the executed notebook differs or fails:\n"
        + rerun.stdout[-6000:]
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_committed_clean_with_parameters_first(notebook):
    nb = nbformat.read(str(notebook), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, f"{notebook.name} has no code cells"
    assert "parameters" in code[0].metadata.get("tags", []), (
        f"{notebook.name}: the first code cell must be tagged 'parameters' (cell metadata tags)"
    )
    assert "profile" in code[0].source, f"{notebook.name}: the parameters cell must set `profile`"
    dirty = [
        i
        for i, c in enumerate(nb.cells)
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, (
        f"{notebook.name} carries outputs in cells {dirty}; clear them before committing"
    )


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_is_valid_and_every_parameter_is_readable(notebook):
    """nbformat validates it (cell ids included), and papermill reads every assignment of the
    parameters cell (a line it cannot parse is missing from ``--help-notebook``)."""
    import ast
    import warnings

    import papermill

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nb = nbformat.read(str(notebook), as_version=4)
        nbformat.validate(nb)
    cell = next(c for c in nb.cells if c.cell_type == "code")
    assigned = [
        t.id
        for node in ast.parse(cell.source).body
        if isinstance(node, ast.Assign)
        for t in node.targets
        if isinstance(t, ast.Name)
    ]
    inferred = list(papermill.inspect_notebook(str(notebook)))
    assert inferred == assigned, (
        f"{notebook.name}: papermill reads parameters {inferred} but the cell assigns {assigned}; "
        "keep one `name = value  # comment` per line, without '=' inside the comment"
    )


_NOT_IN_A_NOTEBOOK = {
    "FunctionDef": "a function definition",
    "AsyncFunctionDef": "a function definition",
    "ClassDef": "a class definition",
    "For": "a for loop",
    "AsyncFor": "a for loop",
    "While": "a while loop",
    "ListComp": "a list comprehension",
    "SetComp": "a set comprehension",
    "DictComp": "a dict comprehension",
    "GeneratorExp": "a generator expression",
    "Lambda": "a lambda",
}


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_code_cells_only_call_the_library(notebook):
    """Notebook code cells import, assign library calls and show results: logic (functions,
    classes, loops, comprehensions, lambdas) lives in ``workbench`` with tests (issue 15), and a
    committed cell carries no outputs."""
    import ast

    nb = nbformat.read(str(notebook), as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        if cell.get("outputs") or cell.get("execution_count") is not None:
            found.append(f"cell {i} ({cell.get('id')}): carries outputs")
        source = "\n".join(
            "pass" if line.lstrip().startswith(("%", "!")) else line
            for line in cell.source.splitlines()
        )
        for node in ast.walk(ast.parse(source)):
            what = _NOT_IN_A_NOTEBOOK.get(type(node).__name__)
            if what:
                found.append(f"cell {i} ({cell.get('id')}), line {node.lineno}: {what}")
    assert not found, (
        f"{notebook.name}: code cells must only call the library (move the logic into "
        "workbench/, with a docstring and a test) and be committed clean:\n  " + "\n  ".join(found)
    )
