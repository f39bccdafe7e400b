"""The Ray backend of :func:`workbench.sweep.run_sweep`: every grid point is a Ray task.

``run_sweep(..., backend="ray")`` (``workbench sweep CONFIG --backend ray``) sends each point
the store has not finished to a Ray cluster as one task with ``num_cpus=cpus_per_point`` and
``num_gpus=gpus_per_point``. The task runs the point and sends its tidy rows (or its error and
traceback) back through Ray; the driver alone writes the :class:`~workbench.sweep.ResultStore`,
as each result comes back, so the workers need the same Python environment (workbench and the
point function importable, the data they read) but no shared file system.

* Resume: the points the store has finished are never sent, exactly as with the local pool; a
  driver killed at any moment keeps every point written so far, and the next run sends the
  rest (a point that was running when the driver died is run again, never written twice: the
  store is keyed by ``run_id``).
* Retries: a point whose function raises, or whose worker process or node dies, is sent again
  up to ``retries`` times; then its last error and traceback are recorded
  (``<run_id>.error.json``, as the local pool does) and the other points go on.
* Concurrency: at most as many points are in flight as the cluster's CPUs (and GPUs) hold at
  ``cpus_per_point`` (``gpus_per_point``) each, re-read while the sweep runs, so nodes that join
  are used and the progress bar's "running" count is the points actually running.

``import ray`` happens only here, inside :func:`run_ray`: ``import workbench`` (and
``workbench.sweep``) never imports it. Install it with ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from .sweep import ResultStore, _as_frame, resolve_function

__all__ = ["run_ray"]

_REMOTE: dict[str, Any] = {}  # the ray.remote wrapper of _run_point, made once per process


def _run_point(fn: Callable[..., Any] | str, spec: str | None, params: dict) -> dict[str, Any]:
    """Run one point on a Ray worker; returns its rows or its error (never raises)."""
    t0, started = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S%z")
    meta = {"function": spec, "started": started, "host": socket.gethostname(), "pid": os.getpid()}
    try:
        func = resolve_function(fn) if isinstance(fn, str) else fn
        rows = _as_frame(func(**params))
        meta["seconds"] = round(time.perf_counter() - t0, 3)
        return {"ok": True, "rows": rows, "meta": meta}
    except Exception as e:  # sent back; the driver retries or records it
        meta["seconds"] = round(time.perf_counter() - t0, 3)
        return {
            "ok": False,
            "error": f"{type(e).__name__}: {e}",
            "traceback": traceback.format_exc(),
            "meta": meta,
        }


def _import_ray():
    try:
        import ray
    except ImportError:
        raise ImportError(
            "backend='ray' needs Ray: pip install -e \".[ray]\" (or pip install 'ray>=2.9'); "
            "the local process pool (backend='local') needs nothing more."
        ) from None
    return ray


def _capacity(ray, cpus: float, gpus: float) -> int | None:
    """How many points the cluster can run at once (``None``: no resource limits a point)."""
    res = ray.cluster_resources()
    caps = []
    if cpus > 0:
        caps.append(int(res.get("CPU", 0) // cpus))
    if gpus > 0:
        caps.append(int(res.get("GPU", 0) // gpus))
    return min(caps) if caps else None


def _dashboard_url(ray, context: Any) -> str | None:
    url = getattr(context, "dashboard_url", None) if context is not None else None
    if not url:
        with contextlib.suppress(Exception):
            url = ray._private.worker.get_dashboard_url()
    if not url:
        return None
    return url if url.startswith("http") else f"http://{url}"


def run_ray(
    fn: Callable[..., Any],
    spec: str | None,
    todo: Sequence[tuple[str, dict]],
    store: ResultStore,
    *,
    address: str | None = None,
    cpus_per_point: float = 1.0,
    gpus_per_point: float = 0.0,
    retries: int = 1,
    progress: bool | None = None,
    log: Callable[[str], None] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """Run the points ``todo`` as Ray tasks, writing each result to ``store`` on the driver.

    Connects to the running Ray instance if this process has one, else ``ray.init(address)``
    (``None``: ``$RAY_ADDRESS``, else a cluster started on this machine with ``ray start``,
    else a new local instance; ``"auto"``: an existing cluster only), and disconnects at the
    end when it connected.

    Args:
        fn, spec: the point function and its ``"module:function"`` name (``None`` when it has
            none: the function is then pickled by value with cloudpickle).
        todo: ``(run_id, params)`` of the points to run.
        store: the result store, written by this process only.
        address: the Ray cluster's address (``ray.init(address=...)``).
        cpus_per_point, gpus_per_point: the Ray resources of each point's task.
        retries: how many times a point that raised or whose worker died is sent again before
            its failure is recorded.
        progress: show a tqdm bar (done / running / failed); ``None``: when stderr is a terminal.
        log: called with one line per finished or retried point, and the dashboard address.

    Returns:
        ``(finished run ids, {run_id: error message})``.
    """
    cpus, gpus, retries = float(cpus_per_point), float(gpus_per_point), int(retries)
    if cpus < 0 or gpus < 0 or retries < 0:
        raise ValueError(
            f"cpus_per_point={cpus_per_point}, gpus_per_point={gpus_per_point} and "
            f"retries={retries} must not be negative."
        )
    ray = _import_ray()
    from tqdm.auto import tqdm

    bar = None

    def emit(line: str) -> None:
        if log is None:
            return
        if bar is not None and not bar.disable:
            with tqdm.external_write_mode(file=sys.stderr):
                log(line)
        else:
            log(line)

    connected, context = False, None
    if not ray.is_initialized():
        context = ray.init(address=address) if address else ray.init()
        connected = True
    elif address:
        emit(f"ray: this process is already connected to a Ray instance; using it, not {address!r}")
    url = _dashboard_url(ray, context)
    if url:
        emit(f"ray dashboard: {url}")

    remote = _REMOTE.get("run_point")
    if remote is None:
        remote = _REMOTE["run_point"] = ray.remote(_run_point)
    payload = spec if spec is not None else fn  # a name travels lighter than a function
    finished: list[str] = []
    failed: dict[str, str] = {}
    pending = list(reversed(todo))  # popped from the end: the grid's order
    attempts: dict[str, int] = {}
    inflight: dict[Any, tuple[str, dict]] = {}
    disable = None if progress is None else not progress  # None: off unless stderr is a tty
    bar = tqdm(total=len(todo), desc="sweep", unit="point", disable=disable, file=sys.stderr)
    done_count = 0

    def refresh() -> None:
        retried = sum(attempts.values()) - len(attempts)
        text = f"running={len(inflight)} failed={len(failed)}"
        bar.set_postfix_str(text + (f" retried={retried}" if retried else ""), refresh=True)

    try:
        capacity, checked = None, 0.0
        while pending or inflight:
            if pending and time.monotonic() - checked > 2.0:
                capacity, checked = _capacity(ray, cpus, gpus), time.monotonic()
                if capacity == 0 and not inflight:
                    emit(
                        f"ray: the cluster has no room for a point ({cpus:g} CPUs, {gpus:g} GPUs "
                        f"each; it has {ray.cluster_resources()}); waiting for nodes"
                    )
            limit = len(pending) + len(inflight) if capacity is None else max(capacity, 1)
            while pending and len(inflight) < limit:
                rid, params = pending.pop()
                attempts[rid] = attempts.get(rid, 0) + 1
                ref = remote.options(
                    num_cpus=cpus, num_gpus=gpus, max_retries=0, name=f"sweep:{rid}"
                ).remote(payload, spec, params)
                inflight[ref] = (rid, params)
            refresh()
            ready, rest = ray.wait(list(inflight), num_returns=1, timeout=1.0)
            if ready and rest:  # and every other point that has finished meanwhile
                ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
            for ref in ready:
                rid, params = inflight.pop(ref)
                try:
                    out = ray.get(ref)
                except Exception as e:  # the worker or its node died, or ray failed the task
                    first = (str(e).splitlines() or [""])[0]
                    out = {
                        "ok": False,
                        "error": f"ray task failed: {type(e).__name__}: {first}",
                        "traceback": "".join(traceback.format_exception(e)),
                        "meta": {"function": spec},
                    }
                meta = {**out["meta"], "backend": "ray", "attempts": attempts[rid]}
                k = done_count + 1
                if out["ok"]:
                    rows = out["rows"]
                    store.write(rid, params, rows, meta)
                    finished.append(rid)
                    done_count += 1
                    bar.update(1)
                    emit(
                        f"[{k}/{len(todo)}] {rid} ok: {len(rows)} rows in "
                        f"{meta.get('seconds', 0):.1f} s on {meta.get('host', '?')}"
                    )
                elif attempts[rid] <= retries:
                    emit(f"[retry {attempts[rid]}/{retries}] {rid}: {out['error']}")
                    pending.append((rid, params))  # next out
                else:
                    store.write_error(rid, params, out["error"], out["traceback"], meta)
                    failed[rid] = out["error"]
                    done_count += 1
                    bar.update(1)
                    emit(f"[{k}/{len(todo)}] {rid} FAILED: {out['error']}")
        refresh()
    except BaseException:
        for ref in inflight:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        raise
    finally:
        bar.close()
        if connected:
            ray.shutdown()
    return finished, failed
