"""Parameter sweeps with a resumable, append-only result store.

>>> grid = Grid({"method": ["concat", "raml"], "dataset": ["mfeat"], "seed": [0, 1, 2]})
>>> summary = run_sweep("workbench.arena:run_point", grid, "outputs/sweeps/arena", n_jobs=2)
>>> df = summary.load()          # the tidy frame of evaluation.robustness + the grid's columns

A sweep calls ``fn(**params)`` for every point of a :class:`Grid` that its
:class:`ResultStore` has not finished, in parallel across processes when ``n_jobs > 1``.
Each finished point is written at once, atomically, as ``<store>/<run_id>.json``, so a sweep
killed at any moment (even with SIGKILL) keeps every run that finished, and running it again
computes only the rest. A point whose ``fn`` raises is written as
``<store>/<run_id>.error.json`` with its traceback and does not stop the others; it is
retried on the next run.

``run_id`` is a hash of the point's canonical JSON (sorted keys), so it names the same
parameters in every process and on every machine. Parameter values must therefore be JSON
values (numbers, strings, booleans, ``None``, lists and dicts of them); note that ``1`` and
``1.0`` are different points.

A sweep can also be described by a YAML or JSON file (``workbench sweep CONFIG``)::

    function: workbench.arena:run_point    # "module:function", importable
    grid:                                   # lists are axes (product); scalars are constants
      method: [concat, raml]
      dataset: mfeat
      seed: [0, 1, 2]
    points:                                 # optional explicit dicts, crossed with the grid
      - {lambda1: 0.1}
      - {lambda1: 1.0}
    store: outputs/sweeps/arena             # default: <outputs>/sweeps/<config file stem>
    n_jobs: 2
    backend: local                          # or ray (optional; see below)
    cpus_per_point: 1                       # Ray resources of each point (ray backend only)
    gpus_per_point: 0
    retries: 1                              # re-sends of a failed point (ray backend only)

With ``backend="ray"`` (``workbench sweep CONFIG --backend ray [--address ADDRESS]``) each point
is a Ray task on a cluster and the driver writes the store as results come back (workers need
no shared file system); see :mod:`workbench.sweep_ray`. ``import workbench.sweep`` never
imports ray.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import importlib
import itertools
import json
import multiprocessing
import os
import re
import socket
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .util import atomic_write, outputs_dir

__all__ = [
    "BACKENDS",
    "Grid",
    "ResultStore",
    "SweepConfig",
    "SweepSummary",
    "canonical_json",
    "load_config",
    "resolve_function",
    "run_id",
    "run_sweep",
]

_RESULT = re.compile(r"^([0-9a-f]{16})\.json$")
_ERROR = re.compile(r"^([0-9a-f]{16})\.error\.json$")
_TEMP = re.compile(r"^\.([0-9a-f]{16}(?:\.error)?)\.(\d+)\.[0-9a-f]+\.tmp$")


# ----------------------------------------------------------------------------- grid


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} {o!r} is not a JSON value")


def canonical_json(params: Mapping[str, Any]) -> str:
    """The canonical JSON text of a grid point: sorted keys, no spaces, ASCII.

    Raises:
        ValueError: a value that is not a JSON value (numbers, strings, booleans, ``None``,
            lists and dicts of them; numpy scalars are converted) or a non-finite float.
    """
    try:
        return json.dumps(
            dict(params),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=True,
            allow_nan=False,
            default=_json_default,
        )
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"Grid point {dict(params)!r} cannot be a sweep parameter ({e}); use JSON values "
            "(numbers, strings, booleans, None, lists/dicts of them) and name objects such as "
            "corruptions by their registry name."
        ) from None


def run_id(params: Mapping[str, Any]) -> str:
    """The stable id of a grid point: the first 16 hex digits of the SHA-256 of
    :func:`canonical_json` (the same on every process and machine)."""
    return hashlib.sha256(canonical_json(params).encode("ascii")).hexdigest()[:16]


@dataclass(frozen=True)
class Grid:
    """A parameter grid: the product of named axes, crossed with explicit points.

    Iteration order is deterministic: for each explicit point (in order), the product of the
    axes in their given order, the last axis varying fastest. Duplicate points are yielded
    once.

    Args:
        axes: ``name -> list of values`` (a list or tuple is an axis; any other value, a string
            or a dict included, is a constant).
        points: explicit parameter dicts (e.g. one per method with its own hyperparameters),
            each combined with every combination of ``axes``. Default: one empty point.

    Raises:
        ValueError: an empty axis, a non-string name, or a point that repeats an axis name.
    """

    axes: Mapping[str, Any] = field(default_factory=dict)
    points: Sequence[Mapping[str, Any]] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.axes, Mapping):
            raise ValueError(
                f"Grid(axes=...) must be a mapping name -> list of values, got {type(self.axes).__name__}."
            )
        axes = {}
        for name, values in self.axes.items():
            if not isinstance(name, str):
                raise ValueError(f"Grid axis name {name!r} is not a string.")
            values = tuple(values) if isinstance(values, (list, tuple)) else (values,)
            if not values:
                raise ValueError(
                    f"Grid axis {name!r} is empty; give it at least one value or remove it."
                )
            axes[name] = values
        if isinstance(self.points, Mapping) or not isinstance(self.points, Sequence):
            raise ValueError("Grid(points=...) must be a list of parameter dicts.")
        points = []
        for p in self.points:
            if not isinstance(p, Mapping) or not all(isinstance(k, str) for k in p):
                raise ValueError(f"Grid point {p!r} is not a dict with string keys.")
            shared = sorted(set(p) & set(axes))
            if shared:
                raise ValueError(
                    f"Grid point {dict(p)!r} repeats the axes {shared}; give each parameter in one place."
                )
            points.append(dict(p))
        object.__setattr__(self, "axes", axes)
        object.__setattr__(self, "points", tuple(points))

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        """``(run_id, params)`` for every point, in iteration order; ``params`` is the point as
        it comes back from its canonical JSON (the exact values ``fn`` receives)."""
        out, seen = [], set()
        names = list(self.axes)
        for base in self.points or ({},):
            for combo in itertools.product(*self.axes.values()):
                text = canonical_json({**base, **dict(zip(names, combo))})
                rid = hashlib.sha256(text.encode("ascii")).hexdigest()[:16]
                if rid not in seen:
                    seen.add(rid)
                    out.append((rid, json.loads(text)))
        return out

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (params for _, params in self.items())

    def __len__(self) -> int:
        return len(self.items())

    def run_ids(self) -> list[str]:
        """The run ids in iteration order."""
        return [rid for rid, _ in self.items()]

    def __add__(self, other: Grid) -> Grid:
        """The union of two grids (as explicit points, ``self`` first)."""
        if not isinstance(other, Grid):
            return NotImplemented
        return Grid(points=[*self, *other])

    @classmethod
    def coerce(cls, grid: Grid | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> Grid:
        """A :class:`Grid` from a grid, a mapping of axes, or a list of explicit points."""
        if isinstance(grid, Grid):
            return grid
        if isinstance(grid, Mapping):
            return cls(axes=grid)
        if isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
            return cls(points=list(grid))
        raise ValueError(
            f"A sweep grid must be a Grid, a dict of axes or a list of dicts, got {type(grid).__name__}."
        )


# ----------------------------------------------------------------------------- store


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a folder
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


class ResultStore:
    """An append-only folder of finished runs, one JSON file per run.

    ``<run_id>.json`` holds ``{"run_id", "params", "columns", "data", "meta"}`` (the tidy
    rows in pandas' "split" layout, and when/where/how long it ran); ``<run_id>.error.json``
    holds ``{"run_id", "params", "error", "traceback", "meta"}`` for a run whose function
    raised. Files are written to a hidden temp file in the same folder, fsynced and moved
    into place with ``os.replace``, so a reader sees a whole file or none; temp files left by
    a killed writer are ignored and removed by :meth:`clean`.

    Args:
        path: the store's folder (created on the first write).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ResultStore({str(self.path)!r})"

    def result_path(self, run_id: str) -> Path:
        return self.path / f"{run_id}.json"

    def error_path(self, run_id: str) -> Path:
        return self.path / f"{run_id}.error.json"

    def _names(self) -> list[str]:
        return sorted(os.listdir(self.path)) if self.path.is_dir() else []

    def done(self) -> list[str]:
        """The ids of the finished runs (sorted)."""
        return [m.group(1) for n in self._names() if (m := _RESULT.match(n))]

    def failed(self) -> dict[str, str]:
        """``run_id -> error message`` of the runs whose last attempt raised and that have
        not finished since."""
        done = set(self.done())
        out = {}
        for n in self._names():
            m = _ERROR.match(n)
            if m and m.group(1) not in done:
                try:
                    out[m.group(1)] = json.loads((self.path / n).read_text())["error"]
                except (OSError, ValueError, KeyError):
                    out[m.group(1)] = "(unreadable error record)"
        return out

    def read(self, run_id: str) -> dict[str, Any]:
        """The record of a finished run.

        Raises:
            FileNotFoundError: the run has not finished in this store.
        """
        path = self.result_path(run_id)
        if not path.is_file():
            raise FileNotFoundError(
                f"Run {run_id!r} has no result in {self}; finished runs: {len(self.done())}."
            )
        return json.loads(path.read_text())

    def _write(self, name: str, record: Mapping[str, Any]) -> Path:
        text = json.dumps(record, allow_nan=True, default=_json_default) + "\n"
        atomic_write(self.path / name, text, fsync=True)  # temp name matches _TEMP
        _fsync_dir(self.path)
        return self.path / name

    def write(
        self,
        run_id: str,
        params: Mapping[str, Any],
        rows: pd.DataFrame,
        meta: Mapping[str, Any] | None = None,
    ) -> Path:
        """Write a finished run atomically (and drop its earlier error record, if any).

        Args:
            run_id: the point's :func:`run_id`.
            params: the point's parameters.
            rows: the tidy rows ``fn`` returned.
            meta: free-form metadata (timing, host, function).
        """
        record = {
            "run_id": run_id,
            "params": dict(params),
            "columns": [str(c) for c in rows.columns],
            "data": rows.astype(object).where(rows.notna(), None).to_numpy().tolist(),
            "meta": dict(meta or {}),
        }
        path = self._write(f"{run_id}.json", record)
        self.error_path(run_id).unlink(missing_ok=True)
        return path

    def write_error(
        self,
        run_id: str,
        params: Mapping[str, Any],
        error: str,
        tb: str,
        meta: Mapping[str, Any] | None = None,
    ) -> Path:
        """Record a failed run (its error message and traceback) atomically."""
        record = {
            "run_id": run_id,
            "params": dict(params),
            "error": error,
            "traceback": tb,
            "meta": dict(meta or {}),
        }
        return self._write(f"{run_id}.error.json", record)

    def clean(self) -> list[Path]:
        """Remove the temp files of writers that no longer run; returns what was removed."""
        removed = []
        for n in self._names():
            m = _TEMP.match(n)
            if m and not _pid_alive(int(m.group(2))):
                (self.path / n).unlink(missing_ok=True)
                removed.append(self.path / n)
        return removed

    def load(self, grid: Grid | None = None) -> pd.DataFrame:
        """The finished runs as one tidy DataFrame.

        Args:
            grid: keep only this grid's points, in its order (default: every finished run,
                ordered by run id).

        Returns:
            The rows each run returned (for an evaluation function: ``method, dataset,
            condition, modality, level, metric, seed, value``, ...), then one column per grid
            parameter that the rows do not already have (the rows' own value wins, e.g. a
            per-row ``seed``), then ``run_id``.
        """
        ids = self.done()
        if grid is not None:
            have = set(ids)
            ids = [rid for rid in grid.run_ids() if rid in have]
        frames = []
        for rid in ids:
            rec = self.read(rid)
            df = pd.DataFrame(rec["data"], columns=rec["columns"])
            for k, v in rec["params"].items():
                if k not in df.columns:
                    df[k] = [v] * len(df)
            df["run_id"] = rid
            frames.append(df)
        frames = [f for f in frames if len(f)]
        if not frames:
            from .evaluation import COLUMNS

            return pd.DataFrame(columns=[*COLUMNS, "run_id"])
        return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- running


def resolve_function(spec: str) -> Callable[..., Any]:
    """The callable named ``"package.module:function"`` (clear errors when it is not one)."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name:
        raise ValueError(f"Sweep function {spec!r} is not of the form 'package.module:function'.")
    try:
        obj: Any = importlib.import_module(module)
    except ImportError as e:
        raise ValueError(
            f"Sweep function {spec!r}: cannot import module {module!r} ({e})."
        ) from None
    for part in name.split("."):
        if not hasattr(obj, part):
            raise ValueError(
                f"Sweep function {spec!r}: module {module!r} has no attribute {name!r}."
            )
        obj = getattr(obj, part)
    if not callable(obj):
        raise ValueError(f"Sweep function {spec!r} is a {type(obj).__name__}, not a function.")
    return obj


def _spec_of(fn: Callable[..., Any] | str) -> tuple[Callable[..., Any], str | None]:
    """The callable and its importable ``module:qualname`` (``None`` when it has none)."""
    if isinstance(fn, str):
        return resolve_function(fn), fn
    if not callable(fn):
        raise ValueError(
            f"run_sweep(fn=...) must be a function or a 'module:function' string, got {type(fn).__name__}."
        )
    module, qualname = getattr(fn, "__module__", None), getattr(fn, "__qualname__", "")
    if not module or module == "__main__" or "<" in qualname:
        return fn, None
    spec = f"{module}:{qualname}"
    try:
        same = resolve_function(spec) is fn
    except ValueError:
        same = False
    return fn, spec if same else None


def _as_frame(result: Any) -> pd.DataFrame:
    if isinstance(result, pd.DataFrame):
        df = result
        if any(n is not None for n in df.index.names):
            df = df.reset_index()
        return df.reset_index(drop=True)
    if isinstance(result, Mapping):
        return pd.DataFrame([dict(result)])
    if (
        isinstance(result, Sequence)
        and not isinstance(result, (str, bytes))
        and all(isinstance(r, Mapping) for r in result)
    ):
        return pd.DataFrame([dict(r) for r in result])
    raise TypeError(
        f"A sweep function must return a DataFrame or a list of dicts (tidy rows), got {type(result).__name__}."
    )


def _execute(
    fn: Callable[..., Any] | str, spec: str | None, store_path: str, rid: str, params: dict
) -> tuple[str, bool, str]:
    """Run one point and write its result or error; returns ``(run_id, ok, message)``."""
    store = ResultStore(store_path)
    t0, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta = {"function": spec, "started": started, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        func = resolve_function(fn) if isinstance(fn, str) else fn
        rows = _as_frame(func(**params))
        meta["seconds"] = round(time.perf_counter() - t0, 3)
        store.write(rid, params, rows, meta)
        return rid, True, f"{len(rows)} rows in {meta['seconds']:.1f} s"
    except Exception as e:  # recorded; the other runs go on
        meta["seconds"] = round(time.perf_counter() - t0, 3)
        message = f"{type(e).__name__}: {e}"
        store.write_error(rid, params, message, traceback.format_exc(), meta)
        return rid, False, message


def _init_worker(threads: int) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))


def _mp_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


@dataclass(frozen=True)
class SweepSummary:
    """What a :func:`run_sweep` call did.

    Attributes:
        store: the result store.
        grid: the grid swept.
        skipped: run ids already finished before this call (not recomputed).
        finished: run ids finished by this call.
        failed: ``run_id -> error message`` of the runs that raised in this call.
    """

    store: ResultStore
    grid: Grid
    skipped: tuple[str, ...]
    finished: tuple[str, ...]
    failed: Mapping[str, str]

    @property
    def ok(self) -> bool:
        """Every point of the grid has finished."""
        return not self.failed and len(self.skipped) + len(self.finished) == len(self.grid)

    def load(self) -> pd.DataFrame:
        """The grid's finished runs as a tidy DataFrame (:meth:`ResultStore.load`)."""
        return self.store.load(self.grid)


def _is_config(obj: Any) -> bool:
    if isinstance(obj, (Mapping, os.PathLike)):
        return True
    return isinstance(obj, str) and (
        ":" not in obj or obj.endswith((".yaml", ".yml", ".json")) or Path(obj).is_file()
    )


def run_sweep(
    fn: Callable[..., Any] | str | Mapping[str, Any] | os.PathLike,
    grid: Grid | Mapping[str, Any] | Sequence[Mapping[str, Any]] | str | os.PathLike | None = None,
    store: ResultStore | str | os.PathLike | None = None,
    n_jobs: int | None = None,
    *,
    retry_failed: bool = True,
    threads_per_job: int | None = None,
    log: Callable[[str], None] | None = None,
    backend: str | None = None,
    address: str | None = None,
    cpus_per_point: float | None = None,
    gpus_per_point: float | None = None,
    retries: int | None = None,
    progress: bool | None = None,
) -> SweepSummary:
    """Call ``fn(**params)`` for every grid point the store has not finished.

    Each run is written to the store as soon as it finishes (by the process that ran it; with
    ``backend="ray"``, by this process as the results come back); a run that raises is
    recorded with its traceback and the others go on; calling again resumes where a killed or
    failed sweep stopped.

    Args:
        fn: the function (returning a tidy DataFrame, e.g. from
            :func:`workbench.evaluation.robustness`, or a list of row dicts), or its
            ``"module:function"`` name. With ``n_jobs > 1`` it must be importable (defined at
            the top level of a module, not in ``__main__`` or a notebook). A sweep config (a
            dict, or the path of a YAML/JSON file; see the module docstring) runs that sweep;
            then ``store`` and ``n_jobs`` override the config's, by keyword or positionally
            as ``run_sweep(config, store_dir, n_jobs)``.
        grid: a :class:`Grid`, a dict of axes, or a list of explicit points.
        store: a :class:`ResultStore` or its folder.
        n_jobs: worker processes (``-1``: one per CPU; default 1, in this process).
        retry_failed: run again the points whose last attempt raised.
        threads_per_job: ``OMP_NUM_THREADS`` etc. of each worker where not already set
            (default: CPUs / n_jobs), so parallel runs do not oversubscribe the cores.
        log: called with one line per finished run (e.g. ``print``).
        backend: ``"local"`` (default: this process or a local process pool of ``n_jobs``)
            or ``"ray"`` (each point a Ray task, results written by this process as they come
            back; ``n_jobs`` and ``threads_per_job`` do not apply, the cluster's CPUs and GPUs
            set the concurrency; see :mod:`workbench.sweep_ray`).
        address: Ray only: the cluster (``ray.init(address=...)``; ``"auto"``: the one started
            on this machine with ``ray start``; default ``$RAY_ADDRESS``, else that one, else a
            new local instance).
        cpus_per_point, gpus_per_point: Ray only: the resources of each point's task
            (default 1 CPU, 0 GPUs).
        retries: Ray only: how many times a point that raised or whose worker died is sent
            again before its failure is recorded (default 1). The local backend records a
            failure at once; the next run retries it (``retry_failed``).
        progress: Ray only: a tqdm bar on stderr (done / running / failed); default: when
            stderr is a terminal.

    Returns:
        A :class:`SweepSummary`; ``summary.load()`` is the tidy frame of the grid.

    Raises:
        ValueError: a bad grid, an unimportable function with ``n_jobs > 1``, a bad config,
            an unknown backend.
        ImportError: ``backend="ray"`` without Ray installed (``pip install -e ".[ray]"``).
    """
    if _is_config(fn):
        if isinstance(grid, (str, os.PathLike)):  # run_sweep(config, store_dir, n_jobs)
            if store is not None and not isinstance(store, int):
                raise ValueError(
                    "run_sweep(config, store_dir, n_jobs): the third argument is n_jobs."
                )
            grid, store, n_jobs = None, grid, store if store is not None else n_jobs
        if grid is not None:
            raise ValueError(
                "run_sweep(config, ...): the grid comes from the config; pass store= and n_jobs= only."
            )
        cfg = load_config(fn)
        return run_sweep(
            cfg.function,
            cfg.grid,
            store if store is not None else cfg.store,
            n_jobs if n_jobs is not None else cfg.n_jobs,
            retry_failed=retry_failed,
            threads_per_job=threads_per_job,
            log=log,
            backend=backend if backend is not None else cfg.backend,
            address=address if address is not None else cfg.address,
            cpus_per_point=cpus_per_point if cpus_per_point is not None else cfg.cpus_per_point,
            gpus_per_point=gpus_per_point if gpus_per_point is not None else cfg.gpus_per_point,
            retries=retries if retries is not None else cfg.retries,
            progress=progress,
        )
    if grid is None or store is None:
        raise ValueError(
            "run_sweep(fn, grid, store): give the grid and the store folder (or a sweep config as fn)."
        )
    grid = Grid.coerce(grid)
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    backend = _check_backend(backend)
    n_jobs = 1 if n_jobs is None else int(n_jobs)
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if n_jobs < 1:
        raise ValueError(
            f"n_jobs={n_jobs}; use a positive number of processes or -1 for one per CPU."
        )
    func, spec = _spec_of(fn)
    store.clean()
    done, failed_before = set(store.done()), set(store.failed())
    items = grid.items()
    skipped = tuple(rid for rid, _ in items if rid in done)
    todo = [
        (rid, p)
        for rid, p in items
        if rid not in done and (retry_failed or rid not in failed_before)
    ]
    finished, failed = [], {}

    def record(k: int, result: tuple[str, bool, str]) -> None:
        rid, ok, message = result
        if ok:
            finished.append(rid)
        else:
            failed[rid] = message
        if log is not None:
            log(f"[{k}/{len(todo)}] {rid} {'ok' if ok else 'FAILED'}: {message}")

    if backend == "ray":
        from .sweep_ray import run_ray  # imports ray

        if todo:
            ray_finished, ray_failed = run_ray(
                func,
                spec,
                todo,
                store,
                address=address,
                cpus_per_point=1.0 if cpus_per_point is None else cpus_per_point,
                gpus_per_point=0.0 if gpus_per_point is None else gpus_per_point,
                retries=1 if retries is None else retries,
                progress=progress,
                log=log,
            )
            finished.extend(ray_finished)
            failed.update(ray_failed)
    elif n_jobs == 1 or len(todo) <= 1:
        for k, (rid, params) in enumerate(todo, 1):
            record(k, _execute(func, spec, str(store.path), rid, params))
    else:
        if spec is None:
            raise ValueError(
                f"run_sweep(n_jobs={n_jobs}) runs fn in other processes, which must import it; "
                f"{fn!r} is not importable (define it at the top level of a module and pass it or "
                "its 'module:function' name), or use n_jobs=1."
            )
        workers = min(n_jobs, len(todo))
        threads = threads_per_job or max(1, (os.cpu_count() or 1) // workers)
        with cf.ProcessPoolExecutor(
            workers, mp_context=_mp_context(), initializer=_init_worker, initargs=(threads,)
        ) as pool:
            futures = {
                pool.submit(_execute, spec, spec, str(store.path), rid, p): (rid, p)
                for rid, p in todo
            }
            for k, fut in enumerate(cf.as_completed(futures), 1):
                rid, params = futures[fut]
                try:
                    result = fut.result()
                except Exception as e:  # the worker died (e.g. out of memory): record it here
                    message = f"worker process failed: {type(e).__name__}: {e}"
                    store.write_error(
                        rid, params, message, traceback.format_exc(), {"function": spec}
                    )
                    result = (rid, False, message)
                record(k, result)
    return SweepSummary(store, grid, skipped, tuple(finished), dict(failed))


# ----------------------------------------------------------------------------- config files

BACKENDS = ("local", "ray")
_RAY_KEYS = {"backend", "address", "cpus_per_point", "gpus_per_point", "retries"}
_CONFIG_KEYS = {"function", "grid", "points", "store", "n_jobs", "name", "description", *_RAY_KEYS}


def _check_backend(backend: str | None) -> str:
    name = "local" if backend is None else str(backend).lower()
    if name not in BACKENDS:
        raise ValueError(f"Unknown sweep backend {backend!r}; expected one of {BACKENDS}.")
    return name


@dataclass(frozen=True)
class SweepConfig:
    """A sweep described by a YAML/JSON file or dict (see the module docstring)."""

    function: str
    grid: Grid
    store: Path
    n_jobs: int = 1
    name: str = "sweep"
    backend: str = "local"
    address: str | None = None
    cpus_per_point: float | None = None
    gpus_per_point: float | None = None
    retries: int | None = None


def load_config(config: Mapping[str, Any] | str | os.PathLike) -> SweepConfig:
    """Read and check a sweep config.

    Args:
        config: a dict, or the path of a ``.yaml``/``.yml``/``.json`` file, with keys
            ``function`` ("module:function"), ``grid`` (dict of axes, or list of points),
            optional ``points`` (explicit dicts crossed with the grid), ``store`` (folder;
            default ``<outputs>/sweeps/<name>``, see :func:`workbench.util.outputs_dir`),
            ``n_jobs`` (default 1), ``name`` (default the file's stem), ``description``, and
            for the Ray backend ``backend`` (``local`` or ``ray``), ``address``,
            ``cpus_per_point``, ``gpus_per_point`` and ``retries`` (see :func:`run_sweep`).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown keys, a missing ``function`` or ``grid``, or a function that
            cannot be imported.
    """
    name = "sweep"
    if not isinstance(config, Mapping):
        path = Path(config)
        if not path.is_file():
            raise FileNotFoundError(
                f"Sweep config {str(path)!r} does not exist (a sweep function is named 'module:function')."
            )
        text = path.read_text()
        if path.suffix in (".yaml", ".yml"):
            import yaml

            config = yaml.safe_load(text)
        elif path.suffix == ".json":
            config = json.loads(text)
        else:
            raise ValueError(f"Sweep config {str(path)!r}: expected a .yaml, .yml or .json file.")
        if not isinstance(config, Mapping):
            raise ValueError(
                f"Sweep config {str(path)!r} must be a mapping with keys function, grid, ..."
            )
        name = path.stem
    unknown = sorted(set(config) - _CONFIG_KEYS)
    if unknown:
        raise ValueError(
            f"Sweep config has unknown keys {unknown}; allowed: {sorted(_CONFIG_KEYS)}."
        )
    for key in ("function", "grid"):
        if key not in config:
            raise ValueError(
                f"Sweep config lacks {key!r} (e.g. function: 'workbench.arena:run_point', grid: {{seed: [0, 1]}})."
            )
    function = str(config["function"])
    resolve_function(function)
    grid = Grid.coerce(config["grid"])
    if config.get("points"):
        if grid.points:
            raise ValueError(
                "Sweep config: give explicit points either as the grid list or as 'points', not both."
            )
        grid = Grid(grid.axes, list(config["points"]))
    name = str(config.get("name", name))
    if config.get("store"):
        store = Path(config["store"])
    else:
        store = outputs_dir() / "sweeps" / name

    def number(key: str, kind: type) -> Any:
        value = config.get(key)
        if value is None:
            return None
        try:
            out = kind(value)
        except (TypeError, ValueError):
            out = -1
        if out < 0:
            raise ValueError(f"Sweep config: {key}={value!r} is not a non-negative number.")
        return out

    address = config.get("address")
    return SweepConfig(
        function,
        grid,
        store,
        int(config.get("n_jobs", 1) or 1),
        name,
        backend=_check_backend(config.get("backend")),
        address=str(address) if address else None,
        cpus_per_point=number("cpus_per_point", float),
        gpus_per_point=number("gpus_per_point", float),
        retries=number("retries", int),
    )
