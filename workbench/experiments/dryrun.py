"""The full profile, proven on a CPU before anyone pays for a GPU, and what it will cost.

:func:`dry_run` runs every distinct configuration of a paper's ``full`` profile (or any
profile) through the code a real run uses: its run point builds the model at the profile's
sizes, its registered loader reads the data (a fixture in the publisher's format,
:mod:`workbench.data.fixtures`, for a dataset that needs a ``data_root``), cut to a few samples
per split; one epoch is one or two optimiser steps; every test condition is evaluated; the row
goes to a temporary result store through :func:`workbench.sweep.run_sweep`, and the paper's
claims are evaluated on the rows (their verdicts mean nothing: one seed of untrained models).

Points that differ only in their seed, or only in a non-zero number (a learning rate, a loss
weight, a missing rate, an α or a β), run the same code, so one of them represents the others
(:func:`distinct_points`); zero and non-zero numbers are told apart (α = 0 is WMA's baseline,
β = 0 its "minimize OT"; λ = 0 drops a loss term), as are strings, booleans, integers and
option names. What is cut (epochs, batch size, samples, and for a model too large for a CPU
step its sequence length only: every layer and width is kept) is listed in the report.

:func:`estimate` times a few real optimiser steps of each distinct configuration at the
profile's batch size on the current device (every ``torch.optim`` step is timed by a global
step hook, whichever loop calls it) and projects the profile's cost; a paper module's
``training_point`` (OTM's), where there is one, stops each point after its training.

>>> report = dry_run("mla")          # doctest: +SKIP
>>> print(report.text())             # doctest: +SKIP
>>> estimate("mla").table            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from ..data import fixtures
from ..data import registry as data_registry
from ..sweep import Grid, ResultStore, resolve_function, run_sweep
from . import Profile, load_profile

__all__ = [
    "Cut",
    "DryRun",
    "Estimate",
    "distinct_points",
    "dry_run",
    "estimate",
    "path_key",
]

SEED_KEYS = ("seed", "data_seed")
"""Grid keys that never change a code path (one seed represents the others)."""

DRY_SIZES = {"train": 16, "validation": 12, "test": 12}
"""Samples per split in a dry run: 16 training samples at batch 8 are two optimiser steps; 12
evaluation samples hold each of av_digits' 10 classes (the cut takes one of each class first)."""
DRY_BATCH = 8
LARGE_MODEL = {"train": 2, "validation": 2, "test": 2}
"""A model too large for a CPU step (ViLT-B): 2 training samples at batch 2 (one step)."""
LARGE_BATCH = 2
LARGE_SEQUENCE = {"image_size": 64, "max_text_len": 16}
"""ViLT's sequence cut: 64-pixel images (2 x 2 patches of 32) and 16 text tokens; every layer,
width and head is kept."""


@dataclass(frozen=True)
class Cut:
    """One setting a dry run changes: ``key`` from ``full`` to ``dry``, and why."""

    key: str
    full: Any
    dry: Any
    why: str

    def line(self) -> str:
        return f"{self.key}: {self.full!r} -> {self.dry!r} ({self.why})"


def _path_value(value: Any) -> Any:
    """The part of a value that selects a code path: a float only as zero / non-zero."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return 0.0 if value == 0.0 else "non-zero"
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _path_value(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_path_value(v) for v in value)
    return repr(value)


def _is_label(key: str, params: Mapping[str, Any]) -> bool:
    """Whether ``key`` only names a row: RAML's ``method`` when ``model`` says what is trained
    (``"lambda_u=0.4"`` is RAML with ``options={"lambda_u": 0.4}``)."""
    return key == "method" and "model" in params and "role" in params


def path_key(params: Mapping[str, Any]) -> tuple:
    """What of a grid point decides the code it runs: every setting but the seeds and row
    labels, a float as zero or non-zero (:func:`distinct_points`)."""
    return tuple(
        sorted(
            (k, _path_value(v))
            for k, v in params.items()
            if k not in SEED_KEYS and not _is_label(k, params)
        )
    )


def distinct_points(profile: Profile) -> list[tuple[str, dict[str, Any], list[str]]]:
    """The profile's points grouped by :func:`path_key`: ``(run_id, params, represented)`` of
    each group's first point, ``represented`` the run ids of every point of the group (itself
    included), in grid order."""
    groups: dict[tuple, tuple[str, dict[str, Any], list[str]]] = {}
    for rid, params in profile.grid.items():
        key = path_key(params)
        if key not in groups:
            groups[key] = (rid, params, [])
        groups[key][2].append(rid)
    return list(groups.values())


def _labels(points: list[Mapping[str, Any]]) -> list[str]:
    """Short names of distinct configurations: their values of the settings whose kind (a
    string, a flag, an option set) differs between them, then, where two names are still
    equal, of the other settings that differ."""
    keys = sorted({k for p in points for k in p if k not in SEED_KEYS})

    def differs(key: str) -> bool:
        return len({repr(_path_value(p.get(key))) for p in points}) > 1

    varying = [k for k in keys if differs(k)]
    kinds = [
        k
        for k in varying
        if all(isinstance(p.get(k), (str, bool, type(None), Mapping)) for p in points)
    ]

    def name(p: Mapping[str, Any], use: list[str]) -> str:
        return ", ".join(f"{k}={_short(p[k])}" for k in use if k in p) or "the configuration"

    labels = [name(p, kinds) for p in points]
    if len(set(labels)) < len(labels):
        labels = [name(p, varying) for p in points]
    return labels


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _accepts(function: Callable, name: str, params: Mapping[str, Any]) -> bool:
    """Whether the run point takes ``name``: ``function`` itself, or where it passes its keyword
    arguments on, its module's ``fit_point``/``prepare`` (MLA, RAML, WMA) or the part function
    it dispatches to (OTM)."""
    module = inspect.getmodule(function)
    targets = [function]
    if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(function).parameters.values()):
        if "part" in params and hasattr(module, "part_function"):
            targets.append(module.part_function(params["part"]))
        targets += [getattr(module, n) for n in ("fit_point", "prepare") if hasattr(module, n)]
    return any(name in inspect.signature(fn).parameters for fn in targets)


def _is_vilt(params: Mapping[str, Any]) -> bool:
    return params.get("backbone") == "vilt"


def _local(path: Any) -> bool:
    return path is not None and Path(str(path)).expanduser().exists()


def _cuts(
    params: dict[str, Any],
    function: Callable,
    *,
    device: str,
    batch_size: int,
    max_epochs: int,
    data_root: Path,
    sequence: bool,
) -> tuple[dict[str, Any], list[Cut]]:
    """``params`` with the dry run's settings, and the list of what changed."""
    out, cuts = copy.deepcopy(dict(params)), []

    def setkey(key: str, value: Any, why: str) -> None:
        if out.get(key) != value:
            cuts.append(Cut(key, out.get(key), value, why))
        out[key] = value

    if "max_epochs" in out:
        setkey("max_epochs", max_epochs, f"{max_epochs} epoch(s) of the cut training split")
    if "batch_size" in out:
        setkey("batch_size", batch_size, "a few optimiser steps on the cut split")
    if "device" in out or _accepts(function, "device", out):
        setkey("device", device, "the dry run's device")
    if _accepts(function, "cache", out):
        setkey("cache", False, "no checkpoint is read or written")
        if cuts and cuts[-1].key == "cache" and cuts[-1].full is None:
            cuts[-1] = Cut("cache", "default (True)", False, cuts[-1].why)
    dataset = out.get("dataset")
    if dataset is not None and not data_registry.spec(dataset).embedded:
        setkey(
            "data_root",
            str(data_root / dataset),
            f"a fixture in {dataset}'s published format (workbench.data.fixtures)",
        )
    if _is_vilt(out):
        weights = out.get("vilt_weights")
        if weights is not None and not _local(weights):
            setkey(
                "vilt_weights",
                None,
                "no local ViLT checkpoint: the architecture is built from its config "
                "with random init",
            )
        if sequence:
            sizes = dict(out.get("backbone_options") or {})
            data = dict(out.get("dataset_options") or {})
            for key, value in LARGE_SEQUENCE.items():
                if key in sizes and sizes[key] > value:
                    cuts.append(
                        Cut(f"backbone_options.{key}", sizes[key], value, "sequence length")
                    )
                    sizes[key] = value
                if key in data and data[key] > value:
                    cuts.append(Cut(f"dataset_options.{key}", data[key], value, "sequence length"))
                    data[key] = value
            out["backbone_options"], out["dataset_options"] = sizes, data
    return out, cuts


# ============================================================================= step timing


@dataclass
class _Steps:
    """Every ``torch.optim`` step taken while :func:`_counting` is active: per optimiser, the
    wall and process CPU times between its consecutive steps (the first step, which warms up,
    is not timed). On a shared machine the CPU time is what the step costs without the other
    jobs; on a GPU the wall time (after a CUDA synchronise) is the cost."""

    intervals: dict[int, list[float]] = field(default_factory=dict)
    cpu: dict[int, list[float]] = field(default_factory=dict)
    last: dict[int, tuple[float, float]] = field(default_factory=dict)
    count: dict[int, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.count.values())

    def reset(self) -> None:
        self.intervals.clear(), self.cpu.clear(), self.last.clear(), self.count.clear()

    def per_epoch(self, times: dict[int, list[float]]) -> float:
        """Seconds of the steps counted: each optimiser's median interval times its steps (an
        optimiser stepped once is timed by the others' median)."""
        every = [t for ts in times.values() for t in ts]
        overall = statistics.median(every) if every else math.nan
        return sum(
            (statistics.median(times[k]) if times.get(k) else overall) * n
            for k, n in self.count.items()
        )


@contextlib.contextmanager
def _counting(sync: bool) -> Iterator[_Steps]:
    from torch.optim.optimizer import register_optimizer_step_post_hook

    steps = _Steps()

    def hook(optimizer, args, kwargs) -> None:
        if sync:
            torch.cuda.synchronize()
        now, cpu, key = time.perf_counter(), time.process_time(), id(optimizer)
        if key in steps.last:
            steps.intervals.setdefault(key, []).append(now - steps.last[key][0])
            steps.cpu.setdefault(key, []).append(cpu - steps.last[key][1])
        steps.last[key] = (now, cpu)
        steps.count[key] = steps.count.get(key, 0) + 1

    handle = register_optimizer_step_post_hook(hook)
    try:
        yield steps
    finally:
        handle.remove()


@contextlib.contextmanager
def _scratch(workdir: str | os.PathLike | None) -> Iterator[Path]:
    """A scratch folder (``workdir`` when given, else a temporary one removed afterwards), with
    ``$WORKBENCH_OUTPUTS`` pointing into it."""
    with contextlib.ExitStack() as stack:
        root = (
            Path(workdir)
            if workdir is not None
            else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dryrun-")))
        )
        root.mkdir(parents=True, exist_ok=True)
        old = os.environ.get("WORKBENCH_OUTPUTS")
        os.environ["WORKBENCH_OUTPUTS"] = str(root / "outputs")
        try:
            yield root
        finally:
            if old is None:
                os.environ.pop("WORKBENCH_OUTPUTS", None)
            else:
                os.environ["WORKBENCH_OUTPUTS"] = old


def _write_fixtures(points: list[dict[str, Any]], root: Path, sizes: Mapping[str, int]) -> None:
    for params in points:
        dataset, folder = params.get("dataset"), params.get("data_root")
        if dataset is None or folder is None or not str(folder).startswith(str(root)):
            continue
        if not Path(folder).exists():
            n = (sizes["train"], sizes["validation"], sizes["test"])
            fixtures.write_fixture(dataset, folder, n)


# ============================================================================= dry run


@dataclass
class DryRun:
    """What :func:`dry_run` ran and found.

    Attributes:
        paper, profile: the profile dry-run.
        points: one row per distinct configuration: ``label``, ``run_id`` (its first point in
            the profile), ``represents`` (how many of the profile's points it stands for),
            ``represented`` (their run ids), ``dry_run_id`` (the dry point's id in the store),
            ``steps`` (optimiser steps taken), ``seconds`` and ``rows`` (result rows).
        cuts: ``label -> [Cut]``; the cuts shared by every point are in ``common_cuts``.
        results: the tidy rows of every dry point.
        paper_table: the claims evaluated on them (meaningless verdicts: one seed, untrained).
        seconds: wall time of the whole dry run.
        store: the temporary result store (removed unless ``workdir`` was given).
    """

    paper: str
    profile: str
    points: pd.DataFrame
    cuts: dict[str, list[Cut]]
    common_cuts: list[Cut]
    results: pd.DataFrame
    paper_table: pd.DataFrame
    seconds: float
    store: Path
    notes: list[str] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)
    device: str = "cpu"

    @property
    def n_points(self) -> int:
        """Points of the profile (every seed and value)."""
        return int(self.points["represents"].sum())

    def text(self) -> str:
        """The report printed by ``workbench reproduce <paper> --profile full --dry-run``."""
        lines = [
            f"{self.paper} ({self.profile}) dry run: {len(self.points)} distinct configurations "
            f"ran, representing all {self.n_points} points of the profile "
            f"({self.seconds:.1f} s on {_device_name(self.device)}).",
            "Points that differ only in their seed or in a non-zero number (lr, a loss weight, "
            "a rate, alpha/beta) run the same code; the first such point represents the others.",
            "Cut at every point (nothing else differs from the profile):",
            *(f"  - {c.line()}" for c in self.common_cuts),
            f"  - data: each split cut to {self.sizes} samples after the registered loader "
            "read it (workbench.data.fixtures.sliced)",
        ]
        for note in self.notes:
            lines.append(f"Note: {note}")
        lines.append("Configurations (run id in the profile -> points represented):")
        for row in self.points.itertuples():
            extra = [c.line() for c in self.cuts.get(row.label, [])]
            lines.append(
                f"  {row.run_id}  x{row.represents:<4d} {row.label}  "
                f"[{row.steps} steps, {row.rows} rows, {row.seconds:.1f} s]"
            )
            lines += [f"      cut: {e}" for e in extra]
        counts = (
            self.paper_table["verdict"].value_counts().to_dict()
            if "verdict" in self.paper_table
            else {}
        )
        lines.append(
            f"Claims evaluated: {len(self.paper_table)} rows "
            f"({', '.join(f'{n} {v}' for v, n in counts.items()) or 'none'}; the verdicts of a "
            "dry run mean nothing: one seed of barely trained models)."
        )
        return "\n".join(lines)


def _device_name(device: str = "cpu") -> str:
    if str(device).startswith("cuda") and torch.cuda.is_available():
        return f"cuda ({torch.cuda.get_device_name(0)})"
    n = torch.get_num_threads()
    return f"cpu ({os.cpu_count()} cores, {n} torch thread{'s' if n != 1 else ''})"


def _common(cuts: Mapping[str, list[Cut]]) -> list[Cut]:
    """The cuts every point makes (same setting, same dry value), with the full values joined."""
    lists = list(cuts.values())
    if not lists:
        return []
    out = []
    for c in lists[0]:
        same = [
            next((o for o in other if (o.key, o.dry) == (c.key, c.dry)), None) for other in lists
        ]
        if all(o is not None for o in same):
            fulls = list(dict.fromkeys(repr(o.full) for o in same))
            full = c.full if len(fulls) == 1 else " | ".join(fulls)
            out.append(Cut(c.key, full, c.dry, c.why))
    return out


def dry_run(
    paper: str,
    profile: str = "full",
    *,
    device: str = "cpu",
    workdir: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
) -> DryRun:
    """Run every distinct configuration of ``profile`` through its run point on tiny slices.

    Args:
        paper: one of :data:`workbench.experiments.PAPERS`.
        profile: the profile (default ``full``, the one meant for a GPU).
        device: where the points run (``"cpu"``; ``"cuda"`` checks a GPU's device handling).
        workdir: keep the fixtures, the store and the outputs there (default: a temporary
            folder, removed afterwards).
        log: called with one line per finished point.

    Returns:
        A :class:`DryRun`; :meth:`DryRun.text` is the report.

    Raises:
        RuntimeError: a point failed (the message names it, its cuts and the error).
    """
    t0 = time.perf_counter()
    prof = load_profile(paper, profile)
    function = resolve_function(prof.function)
    groups = distinct_points(prof)
    with _scratch(workdir) as root:
        planned = []
        for rid, params, represented in groups:
            large = _is_vilt(params)
            dry, cuts = _cuts(
                params,
                function,
                device=device,
                batch_size=LARGE_BATCH if large else DRY_BATCH,
                max_epochs=1,
                data_root=root / "data",
                sequence=large and not str(device).startswith("cuda"),
            )
            sizes = LARGE_MODEL if large else DRY_SIZES
            planned.append((rid, params, represented, dry, cuts, sizes))
        for *_, dry, _c, sizes in planned:
            _write_fixtures([dry], root / "data", sizes)
        rows, all_cuts, frames = [], {}, []
        store = ResultStore(root / "store")
        sync = str(device).startswith("cuda")
        labels = _labels([p[1] for p in planned])
        current = None
        with contextlib.ExitStack() as stack:
            for (rid, _, represented, dry, cuts, sizes), label in zip(planned, labels):
                all_cuts[label] = cuts
                start = time.perf_counter()
                if sizes is not current:  # one cut per size: the registry's cache serves the rest
                    stack.close()
                    stack.enter_context(fixtures.sliced(sizes))
                    current = sizes
                with _counting(sync) as steps:
                    summary = run_sweep(prof.function, Grid(points=[dry]), store, 1)
                if summary.failed:
                    error = next(iter(summary.failed.values()))
                    raise RuntimeError(
                        f"{paper} ({profile}) dry run: the point {rid} ({label}) failed with the "
                        f"cuts {[c.line() for c in cuts]}:\n{error}"
                    )
                dry_id = summary.grid.run_ids()[0]
                frame = summary.load()
                frames.append(frame)
                rows.append(
                    {
                        "label": label,
                        "run_id": rid,
                        "represents": len(represented),
                        "represented": tuple(represented),
                        "dry_run_id": dry_id,
                        "steps": steps.total,
                        "seconds": round(time.perf_counter() - start, 2),
                        "rows": len(frame),
                    }
                )
                if log is not None:
                    log(f"dry {paper}: {label} ({steps.total} steps, {len(frame)} rows)")
        results = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        table_fn = resolve_function(prof.paper_table)
        if not len(results):
            table = pd.DataFrame()
        elif "profile" in inspect.signature(table_fn).parameters:
            table = table_fn(results, profile=prof.name)
        else:
            table = table_fn(results)
        common = _common(all_cuts)
        shared = {(c.key, repr(c.dry)) for c in common}
        per_point = {
            k: [c for c in v if (c.key, repr(c.dry)) not in shared] for k, v in all_cuts.items()
        }
        notes = []
        if any(p[5] is LARGE_MODEL for p in planned):
            notes.append(
                f"ViLT points: batch {LARGE_BATCH} on {LARGE_MODEL} samples per split "
                "(every layer, width and head kept)"
            )
        report = DryRun(
            prof.paper,
            prof.name,
            pd.DataFrame(rows),
            per_point,
            common,
            results,
            table,
            time.perf_counter() - t0,
            root / "store",
            notes,
            dict(planned[0][5]) if planned else {},
            str(device),
        )
        return report


# ============================================================================= estimate


@dataclass
class Estimate:
    """What :func:`estimate` measured.

    Attributes:
        table: one row per paper: ``paper, profile, runs, distinct, steps_per_run,
            s_per_step, cpu_s_per_step, wall_hours, gpu_hours, device, batch``.
        configurations: one row per distinct configuration: ``label, run_id, runs,
            batch_full, batch_timed, steps_per_run, s_per_step, cpu_s_per_step,
            hours_per_run``.
    """

    table: pd.DataFrame
    configurations: pd.DataFrame

    def text(self) -> str:
        t = self.table.copy()
        return t.to_string(index=False)


def estimate(
    paper: str,
    profile: str = "full",
    *,
    steps: int = 3,
    device: str = "auto",
    max_batch: int | None = None,
    only: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Estimate:
    """Time ``steps`` optimiser steps (after one warm-up step) of every distinct configuration at
    the profile's batch size on ``device`` and project the profile's cost.

    Each point runs once with ``max_epochs=1`` on a training split of ``(steps + 1) x batch``
    samples (evaluation splits cut in the same proportion as the full data's); a training split
    smaller than that is used whole for as many epochs as ``steps + 1`` steps need (nutrimouse's
    24 samples at batch 256: one step an epoch). Where the run point's module has a
    ``training_point`` (same arguments, training stages only: OTM's), that runs instead, so the
    point stops after its timed steps (no clustering, no evaluation). Seconds per step
    are the median time between an optimiser's consecutive steps (forward, backward, step and
    data loading; every ``torch.optim`` optimiser, whichever loop calls it). Steps per run are
    the point's steps in that epoch scaled to the full training split and to the profile's
    ``max_epochs``: an upper bound (no early stopping; the validation and test passes are not
    included, nor anything a ``training_point`` leaves out). Wall time is the runs' total
    divided by the profile's ``n_jobs``; GPU-hours are given on a CUDA device.
    ``cpu_s_per_step`` is the process CPU time per step: on a shared CPU, where other jobs
    stretch the wall time, it is the step's own cost.

    Args:
        paper, profile: what to estimate.
        steps: timed steps per configuration.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
        max_batch: time at most this batch size and scale the step time linearly to the full
            batch (a CPU cannot hold ViLT-B at batch 128); the table says so.
        only: time only the first ``only`` distinct configurations (a quick check); the table
            then counts only the runs they represent and says ``partial``.
        log: called with one line per configuration.

    Raises:
        RuntimeError: a point failed, or took optimiser steps of which none could be timed.
    """
    from ..training import resolve_device

    dev = str(resolve_device(device))
    prof = load_profile(paper, profile)
    function = resolve_function(prof.function)
    groups = distinct_points(prof)
    labels = _labels([g[1] for g in groups])
    partial = only is not None and int(only) < len(groups)
    if only is not None:
        groups, labels = groups[: int(only)], labels[: int(only)]
    sync = dev.startswith("cuda")
    timed_function = _training_function(prof.function)
    rows = []
    with _scratch(None) as root:
        for (rid, params, represented), label in zip(groups, labels):
            full_batch = int(params.get("batch_size", 64))
            batch = min(full_batch, int(max_batch)) if max_batch else full_batch
            dry, _ = _cuts(
                params,
                function,
                device=dev,
                batch_size=batch,
                max_epochs=1,
                data_root=root / "data" / rid,
                sequence=False,
            )
            dataset = str(dry.get("dataset"))
            full = _full_sizes_of(dataset, dry)
            n_train = (steps + 1) * batch
            # a training split smaller than the timed one (nutrimouse: 24 samples at batch
            # 256) is used whole, one step an epoch: time enough epochs for steps + 1 steps
            n_used = min(n_train, full["train"])
            timed_epochs = 1
            if n_used < n_train and "max_epochs" in dry:
                timed_epochs = math.ceil((steps + 1) / math.ceil(n_used / batch))
                dry["max_epochs"] = timed_epochs
            ratio = n_used / max(1, full["train"])
            sizes = {
                "train": n_train,
                "validation": max(4, round(full["validation"] * ratio)),
                "test": max(4, round(full["test"] * ratio)),
            }
            _write_fixtures([dry], root / "data" / rid, sizes)
            with fixtures.sliced(sizes), _counting(sync) as counted:
                store = ResultStore(root / "store")
                summary = run_sweep(timed_function, Grid(points=[dry]), store, 1)
            if summary.failed:
                error = next(iter(summary.failed.values()))
                raise RuntimeError(f"estimate(): {paper} point {rid} failed:\n{error}")
            if counted.total and not any(counted.intervals.values()):
                raise RuntimeError(
                    f"estimate(): {paper} point {rid} ({label}) took {counted.total} optimiser "
                    f"step(s) on {n_used} training samples at batch {batch} in {timed_epochs} "
                    "epoch(s), but no optimiser stepped twice, so no step was timed; expected "
                    "at least two steps of one optimiser (raise --steps, or give the run point "
                    "a max_epochs setting the estimate can raise)."
                )
            seconds_per_epoch = counted.per_epoch(counted.intervals)
            cpu_per_epoch = counted.per_epoch(counted.cpu)
            scale = full["train"] / n_used
            epochs = int(params.get("max_epochs", 1) or 1)
            steps_per_run = counted.total / timed_epochs * scale * epochs
            seconds_per_step = seconds_per_epoch / max(1, counted.total)
            cpu_per_step = cpu_per_epoch / max(1, counted.total)
            if batch != full_batch:
                seconds_per_step *= full_batch / batch
                cpu_per_step *= full_batch / batch
                steps_per_run *= batch / full_batch
            hours = steps_per_run * seconds_per_step / 3600
            rows.append(
                {
                    "label": label,
                    "run_id": rid,
                    "runs": len(represented),
                    "batch_full": full_batch,
                    "batch_timed": batch,
                    "steps_per_run": steps_per_run,
                    "s_per_step": seconds_per_step,
                    "cpu_s_per_step": cpu_per_step,
                    "hours_per_run": hours,
                }
            )
            if log is not None:
                log(
                    f"estimate {paper}: {label}: {seconds_per_step:.3f} s/step at batch "
                    f"{full_batch}{'' if batch == full_batch else f' (timed at {batch})'}, "
                    f"{steps_per_run:.0f} steps/run"
                )
    configs = pd.DataFrame(rows)
    runs = int(configs["runs"].sum())
    run_hours = float((configs["runs"] * configs["hours_per_run"]).sum())
    steps_total = float((configs["runs"] * configs["steps_per_run"]).sum())
    table = pd.DataFrame(
        [
            {
                "paper": prof.paper,
                "profile": prof.name + (" (partial)" if partial else ""),
                "runs": runs,
                "distinct": len(configs),
                "steps_per_run": round(steps_total / max(1, runs)),
                "s_per_step": round(run_hours * 3600 / max(1.0, steps_total), 4),
                "cpu_s_per_step": round(
                    float(
                        (
                            configs["runs"] * configs["steps_per_run"] * configs["cpu_s_per_step"]
                        ).sum()
                    )
                    / max(1.0, steps_total),
                    4,
                ),
                "wall_hours": round(run_hours / max(1, prof.n_jobs), 2),
                "gpu_hours": round(run_hours, 2) if sync else float("nan"),
                "device": _device_name(dev),
                "batch": "full"
                if (configs["batch_timed"] == configs["batch_full"]).all()
                else f"timed at <= {max_batch}, scaled",
            }
        ]
    )
    return Estimate(table, configs)


def _training_function(spec: str) -> str:
    """What :func:`estimate` runs for the run point ``spec``: its module's ``training_point``
    where it has one (the same arguments, the training stages only: OTM's clustering points
    would otherwise cluster, and solve barycenters of the evaluation views, after the timed
    steps), else the run point itself."""
    training = spec.partition(":")[0] + ":training_point"
    try:
        resolve_function(training)
    except ValueError:
        return spec
    return training


def _full_sizes_of(dataset: str, params: Mapping[str, Any]) -> dict[str, int]:
    """The full data's split sizes: an embedded dataset's from its registered loader (with the
    point's options), another's from its data card's ``splits``."""
    if data_registry.spec(dataset).embedded:
        options = params.get("dataset_options") or {}
        if isinstance(options, Mapping) and dataset in options:
            options = options[dataset]  # MLA and RAML: per dataset
        elif (
            isinstance(options, Mapping)
            and options
            and all(isinstance(v, Mapping) for v in options.values())
        ):
            options = {}
        splits = data_registry.load_splits(dataset, None, **dict(options))
        return {k: len(v) for k, v in splits.items()}
    from ..data.base import read_card

    splits = dict(read_card(dataset).fields.get("splits") or {})
    if not {"train", "validation", "test"} <= set(splits):
        raise ValueError(
            f"estimate(): the data card of {dataset!r} gives no train/validation/test sizes "
            f"(its 'splits' key); add them to data_cards/{dataset}.yaml."
        )
    return {k: int(splits[k]) for k in ("train", "validation", "test")}
