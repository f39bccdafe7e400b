"""The papers' experiments: protocols, grids, run points and paper tables, one module per paper.

Profiles are data. ``configs/<paper>.yaml`` holds one section per profile::

    paper: mla
    function: workbench.experiments.mla:run_point   # called once per grid point
    paper_table: workbench.experiments.mla:paper_table  # optional; this is the default
    profiles:
      smoke:                    # minutes on a laptop CPU (CI)
        description: ...
        grid: {dataset: av_digits, method: [Concat, MLA], seed: [0, 1, 2], max_epochs: 10}
        points: [{...}, ...]    # optional explicit dicts, crossed with the grid
        n_jobs: 2
      cpu: {...}                # converged on a 2-core CPU in about an hour
      full: {...}               # the paper's settings, meant for a GPU

Every setting a run depends on is a grid value, so it is part of the point's ``run_id``: a
changed setting is a new point, never a stale result. :func:`reproduce` runs a paper's profile
as a resumable :func:`workbench.sweep.run_sweep` and writes its tidy results and its
paper-vs-workbench table (:mod:`workbench.claims`).

Settings that are not a sweep (the quickstart's) are data too: :func:`load_settings` reads the
``profiles:`` sections of any ``configs/<name>.yaml``.

An experiment module ``workbench.experiments.<paper>`` provides ``run_point(**params)`` (one
tidy frame per point) and ``paper_table(results) -> DataFrame`` (the evaluated claims).
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ..sweep import Grid, ResultStore, SweepSummary, resolve_function, run_sweep
from ..util import atomic_write, outputs_dir, project_root

__all__ = [
    "PAPERS",
    "PROFILES",
    "Profile",
    "Reproduction",
    "configs_dir",
    "convergence",
    "provenance",
    "load_profile",
    "load_settings",
    "reproduce",
]

PAPERS = ("wma", "mla", "raml", "otm", "arena")
"""Papers (and the arena) with an experiment module and a ``configs/<paper>.yaml``."""
PROFILES = ("smoke", "cpu", "full")
"""Profile names: ``smoke`` (CI, minutes), ``cpu`` (converged on a 2-core CPU), ``full``
(the paper's settings, for a GPU)."""


def configs_dir() -> Path:
    """``$WORKBENCH_CONFIGS`` when set, else the profiles shipped inside the package
    (``workbench/experiments/configs/``; ``configs/`` at the project root is a link to it, the
    user's view of the same files), so an installed wheel reproduces the papers too."""
    env = os.environ.get("WORKBENCH_CONFIGS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "configs"


COMMITTED_PROFILES = ("cpu", "synthetic", "synthetic_complementary")
"""Profiles whose results, provenance and per-point store are committed under ``results/``."""


@dataclass(frozen=True)
class Profile:
    """One profile of a paper's experiment, read from ``configs/<paper>.yaml``.

    Attributes:
        paper: ``"wma"``, ``"mla"``, ``"raml"``, ``"otm"`` or ``"arena"``.
        name: ``"smoke"``, ``"cpu"`` or ``"full"``.
        function: the run point, ``"module:function"``.
        grid: the points (axes, constants and explicit points).
        n_jobs: worker processes of the local pool.
        description: what the profile runs and what it can show.
        settings: the profile's other keys (e.g. ``claims`` options), as written.
        paper_table: ``"module:function"`` turning the tidy results into the evaluated claims
            (default ``workbench.experiments.<paper>:paper_table``).
    """

    paper: str
    name: str
    function: str
    grid: Grid
    n_jobs: int = 1
    description: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    paper_table: str = ""

    @property
    def committed(self) -> bool:
        """Whether this profile's results are committed under ``results/``: the converged ``cpu``
        run and the ``synthetic`` mechanism runs (:data:`COMMITTED_PROFILES`)."""
        return self.name in COMMITTED_PROFILES

    @property
    def default_results(self) -> Path:
        """Where :func:`reproduce` writes ``results.csv``, ``paper_table.csv`` and
        ``provenance.json``: ``results/<paper>/cpu`` of the checkout for the committed ``cpu``
        profile, else ``<outputs>/sweeps/<paper>_<profile>``."""
        if self.committed:
            return (project_root() or Path.cwd()) / "results" / self.paper / self.name
        return outputs_dir() / "sweeps" / f"{self.paper}_{self.name}"

    @property
    def default_store(self) -> Path:
        """The sweep's per-point store: ``<default_results>/runs`` for the committed profile
        (small JSON files, committed too, so a later ``reproduce`` resumes from them), else
        :attr:`default_results` itself."""
        return self.default_results / "runs" if self.committed else self.default_results

    def constants(self) -> dict[str, Any]:
        """The grid's scalar settings (values that are the same at every point)."""
        return {k: v[0] for k, v in self.grid.axes.items() if len(v) == 1}


def _check_paper(paper: str) -> str:
    name = str(paper).lower()
    if name not in PAPERS:
        raise ValueError(f"Unknown paper {paper!r}; expected one of {PAPERS}.")
    return name


def load_profile(
    paper: str, profile: str = "smoke", *, path: str | os.PathLike | None = None
) -> Profile:
    """Read ``profile`` of ``configs/<paper>.yaml``.

    Args:
        paper: one of :data:`PAPERS`.
        profile: one of the file's profiles (usually :data:`PROFILES`).
        path: the config file (default ``configs_dir() / f"{paper}.yaml"``).

    Raises:
        FileNotFoundError: no config file.
        ValueError: an unknown paper or profile, or a malformed section (the message names the
            file and the key).
    """
    import yaml

    paper = _check_paper(paper)
    path = Path(path) if path is not None else configs_dir() / f"{paper}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"No experiment config {str(path)!r} for paper {paper!r}; set WORKBENCH_CONFIGS to "
            "the folder holding <paper>.yaml, or run from the workbench checkout."
        )
    config = yaml.safe_load(path.read_text()) or {}
    profiles = config.get("profiles")
    if not isinstance(profiles, Mapping) or not profiles:
        raise ValueError(f"{path}: expected a 'profiles' mapping with smoke/cpu/full sections.")
    if profile not in profiles:
        raise ValueError(f"{path}: no profile {profile!r}; it has {sorted(profiles)}.")
    section = dict(profiles[profile] or {})
    function = section.pop("function", config.get("function"))
    if not function:
        raise ValueError(f"{path}: profile {profile!r} names no 'function' (module:function).")
    if "grid" not in section:
        raise ValueError(f"{path}: profile {profile!r} has no 'grid'.")
    grid = Grid.coerce(section.pop("grid"))
    points = section.pop("points", None)
    if points:
        grid = Grid(grid.axes, list(points))
    n_jobs = int(section.pop("n_jobs", config.get("n_jobs", 1)) or 1)
    description = str(section.pop("description", ""))
    table = section.pop("paper_table", config.get("paper_table")) or (
        f"{__name__}.{paper}:paper_table"
    )
    return Profile(paper, profile, str(function), grid, n_jobs, description, section, str(table))


def load_settings(
    name: str, profile: str = "smoke", *, path: str | os.PathLike | None = None
) -> dict[str, Any]:
    """The ``profile`` section of ``configs/<name>.yaml`` as a plain dict.

    For settings that are not a sweep (e.g. ``configs/quickstart.yaml``, read by
    ``notebooks/00_quickstart``): the file needs a ``profiles:`` mapping only, no ``function``
    or ``grid``. A ``defaults:`` mapping, when present, is the base every profile overrides.
    Lists are returned as tuples (settings are values, not containers to edit).

    >>> load_settings("quickstart", "smoke")["n_seeds"]  # doctest: +SKIP
    2

    Args:
        name: the file's stem (``"quickstart"`` reads ``configs/quickstart.yaml``).
        profile: one of the file's profiles.
        path: the config file (default ``configs_dir() / f"{name}.yaml"``).

    Raises:
        FileNotFoundError: no config file.
        ValueError: no ``profiles`` mapping, an unknown profile, or a section that is not a
            mapping (the message names the file).
    """
    import yaml

    path = Path(path) if path is not None else configs_dir() / f"{name}.yaml"
    if not path.is_file():
        raise FileNotFoundError(
            f"No config {str(path)!r} for {name!r}; set WORKBENCH_CONFIGS to the folder holding "
            f"{name}.yaml, or run from the workbench checkout."
        )
    config = yaml.safe_load(path.read_text()) or {}
    profiles = config.get("profiles") if isinstance(config, Mapping) else None
    if not isinstance(profiles, Mapping) or not profiles:
        raise ValueError(f"{path}: expected a 'profiles' mapping with one section per profile.")
    if profile not in profiles:
        raise ValueError(f"{path}: no profile {profile!r}; it has {sorted(profiles)}.")
    defaults, section = config.get("defaults") or {}, profiles[profile] or {}
    if not isinstance(defaults, Mapping) or not isinstance(section, Mapping):
        raise ValueError(f"{path}: 'defaults' and profile {profile!r} must be mappings.")
    return {k: _frozen(v) for k, v in {**defaults, **section}.items()}


def _frozen(value: Any) -> Any:
    """YAML lists as tuples, recursively (mappings stay dicts)."""
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, Mapping):
        return {k: _frozen(v) for k, v in value.items()}
    return value


def experiment(paper: str):
    """The experiment module ``workbench.experiments.<paper>``."""
    return importlib.import_module(f"{__name__}.{_check_paper(paper)}")


@dataclass(frozen=True)
class Reproduction:
    """What :func:`reproduce` did and where it wrote.

    Attributes:
        profile: the profile run.
        summary: the sweep's summary (skipped / finished / failed points).
        results: the tidy results of every finished point.
        paper_table: the evaluated claims (:func:`workbench.claims.evaluate`).
        results_path, paper_table_path: the CSV files written.
        provenance_path: ``provenance.json`` (:func:`provenance`).
    """

    profile: Profile
    summary: SweepSummary
    results: pd.DataFrame
    paper_table: pd.DataFrame
    results_path: Path
    paper_table_path: Path
    provenance_path: Path | None = None


def _git_commit() -> str:
    import subprocess

    root = project_root()
    if root is None:
        return "unknown (not a checkout)"
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (git not available)"
    return (head or "unknown") + (" (with uncommitted changes)" if dirty else "")


def convergence(results: pd.DataFrame) -> pd.DataFrame:
    """Per run, whether training converged: ``best_epoch``, ``max_epochs`` and
    ``still_improving`` (the best validation epoch is in the last quarter of the budget and
    early stopping did not fire), from the columns a run point reports (empty when it reports
    none; rows of runs without a training stage, whose ``best_epoch`` is empty, are left out)."""
    need = {"run_id", "best_epoch", "max_epochs"}
    if not need <= set(results.columns):
        return pd.DataFrame(columns=["run_id", "best_epoch", "max_epochs", "still_improving"])
    keys = ["run_id", *(c for c in ("method", "dataset", "seed") if c in results.columns)]
    cols = [*keys, "best_epoch", "max_epochs"] + (
        ["stopped_early"] if "stopped_early" in results.columns else []
    )
    per = results[cols].dropna(subset=["best_epoch"]).drop_duplicates(subset=keys).copy()
    stopped = per["stopped_early"].astype(bool) if "stopped_early" in per else False
    late = per["best_epoch"].astype(float) > 0.75 * per["max_epochs"].astype(float)
    per["still_improving"] = late & ~stopped
    return per.reset_index(drop=True)


def provenance(
    profile: Profile, summary: SweepSummary, results: pd.DataFrame, command: str | None = None
) -> dict[str, Any]:
    """Where a result came from: git commit, command, date, machine, library versions, the
    points' summed wall time and the convergence flags (:func:`convergence`)."""
    import datetime
    import platform
    import sys

    import numpy
    import sklearn
    import torch

    try:
        import ot as pot

        pot_version = pot.__version__
    except ImportError:  # pragma: no cover
        pot_version = "not installed"
    seconds = 0.0
    for rid in summary.store.done():
        try:
            seconds += float(summary.store.read(rid).get("meta", {}).get("seconds", 0.0))
        except (OSError, ValueError, json.JSONDecodeError):
            pass
    conv = convergence(results)
    device = "cpu"
    if torch.cuda.is_available():
        device = f"cuda ({torch.cuda.get_device_name(0)})"
    return {
        "paper": profile.paper,
        "profile": profile.name,
        "description": profile.description,
        "git_commit": _git_commit(),
        "command": command or f"workbench reproduce {profile.paper} --profile {profile.name}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, device {device}",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": numpy.__version__,
            "pot": pot_version,
            "scikit-learn": sklearn.__version__,
            "pandas": pd.__version__,
            "argv": " ".join(sys.argv[:1]),
        },
        "points": {"total": len(summary.grid), "finished": len(summary.store.done())},
        "wall_time_s": round(seconds, 1),
        "runs_still_improving": int(conv["still_improving"].sum()) if len(conv) else 0,
        "runs_with_epochs": int(len(conv)),
        "convergence": conv.to_dict(orient="records"),
    }


def reproduce(
    paper: str,
    profile: str = "smoke",
    *,
    store: str | os.PathLike | None = None,
    n_jobs: int | None = None,
    log: Callable[[str], None] | None = None,
    results_dir: str | os.PathLike | None = None,
    command: str | None = None,
    run: bool = True,
    dry_run: bool = False,
    **sweep_options: Any,
) -> Reproduction:
    """Run a paper's experiment at ``profile`` as a resumable sweep and evaluate its claims.

    Finished points are kept in the store and not recomputed: a killed run resumes where it
    stopped. Writes ``results.csv`` (tidy, one row per dataset, method, condition, seed,
    metric), ``paper_table.csv`` and ``provenance.json`` to ``results_dir``.

    Args:
        paper: one of :data:`PAPERS`.
        profile: a profile of ``configs/<paper>.yaml``.
        store: the per-point store (default: ``results_dir`` when given, else
            :attr:`Profile.default_store`).
        n_jobs: worker processes (default: the profile's).
        log: called with one line per finished point.
        results_dir: where the CSVs and the provenance go (default: ``store`` when given, else
            :attr:`Profile.default_results`: ``results/<paper>/cpu`` for the ``cpu`` profile).
        command: the command line recorded in the provenance.
        run: ``False`` runs no point: the tables and the provenance are written from the
            points the store already holds (a partial, committed run; the provenance says how
            many of the grid's points are there).
        dry_run: run every distinct configuration of the profile on tiny slices instead
            (:func:`workbench.experiments.dryrun.dry_run`, on the CPU, in a temporary folder
            unless ``store`` is given) and return its :class:`~.dryrun.DryRun` report.
        **sweep_options: passed to :func:`~workbench.sweep.run_sweep` (``backend="ray"``,
            ``address``, ``cpus_per_point``, ``gpus_per_point``, ``retries``).
    """
    if dry_run:
        from .dryrun import dry_run as _dry_run

        return _dry_run(paper, profile, workdir=store, log=log)
    prof = load_profile(paper, profile)
    paper_table = resolve_function(prof.paper_table)
    if results_dir is not None:
        out = Path(results_dir)
        store_path = Path(store) if store is not None else (out / "runs" if prof.committed else out)
    elif store is not None:
        out = store_path = Path(store)
    else:
        out, store_path = prof.default_results, prof.default_store
    store = ResultStore(store_path)
    if run:
        summary = run_sweep(
            prof.function,
            prof.grid,
            store,
            prof.n_jobs if n_jobs is None else n_jobs,
            log=log,
            **sweep_options,
        )
    else:
        done = set(store.done())
        held = tuple(rid for rid in prof.grid.run_ids() if rid in done)
        summary = SweepSummary(store, prof.grid, held, (), {})
    results = summary.load()
    if not len(results):
        table = pd.DataFrame()
    elif "profile" in inspect.signature(paper_table).parameters:
        table = paper_table(results, profile=prof.name)
    else:
        table = paper_table(results)
    results_path = atomic_write(out / "results.csv", results.to_csv(index=False))
    table_path = atomic_write(out / "paper_table.csv", table.to_csv(index=False))
    prov = provenance(prof, summary, results, command)
    prov_path = atomic_write(
        out / "provenance.json", json.dumps(prov, indent=1, default=str) + "\n"
    )
    return Reproduction(prof, summary, results, table, results_path, table_path, prov_path)
