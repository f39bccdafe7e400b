"""Sweep backends side by side: the local process pool vs Ray, on a smoke-sized grid.

    .venv/bin/python bench/sweep_bench.py                  # 16 points of 0.5 s, 2 workers
    .venv/bin/python bench/sweep_bench.py --points 32 --sleep 0.2 --workers 2

Each point sleeps a fixed time and returns two tidy rows, so the wall time above the ideal
``points * sleep / workers`` is the backend's own cost: starting workers, shipping the point and
its rows, and writing the store (one fsynced JSON file per point, by the worker for the local
pool, by the driver for Ray). Ray is timed on a local instance (``ray.init(num_cpus=workers)``,
its start-up printed apart), cold (first sweep: Ray starts its worker processes) and warm (a
second sweep on the same instance). Needs the ray extra: ``pip install -e ".[ray]"``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def point(i: int, sleep: float, rep: int = 0) -> list[dict]:
    """A cheap grid point: sleeps ``sleep`` seconds, returns two tidy rows."""
    time.sleep(sleep)
    return [
        {
            "method": "m",
            "dataset": "d",
            "condition": c,
            "metric": "accuracy",
            "seed": i,
            "value": float(i) / (k + 1),
        }
        for k, c in enumerate(("normal", "gaussian_noise"))
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=16)
    p.add_argument("--sleep", type=float, default=0.5, help="seconds per point")
    p.add_argument("--workers", type=int, default=2, help="local processes = Ray CPUs")
    args = p.parse_args(argv)

    # Both backends import the point by name: this file's folder is on the workers' path.
    sys.path.insert(0, str(HERE))
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    from workbench.sweep import Grid, run_sweep

    spec = "sweep_bench:point"
    n, w, s = args.points, args.workers, args.sleep
    ideal = n * s / w

    def grid(rep: int) -> Grid:
        return Grid({"i": list(range(n)), "sleep": [s], "rep": [rep]})

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        summary = run_sweep(spec, grid(0), Path(tmp) / "local", n_jobs=w)
        assert summary.ok, summary.failed
        rows.append((f"local pool ({w} processes)", time.perf_counter() - t0))

        try:
            import ray
        except ImportError:
            print("ray is not installed (pip install -e '.[ray]'): local pool only")
            ray = None
        if ray is not None:
            t0 = time.perf_counter()
            ray.init(address="local", num_cpus=w, include_dashboard=False, log_to_driver=False)
            startup = time.perf_counter() - t0
            try:
                for label, rep in (("ray, cold (first sweep)", 1), ("ray, warm (second sweep)", 2)):
                    t0 = time.perf_counter()
                    summary = run_sweep(spec, grid(rep), Path(tmp) / f"ray{rep}", backend="ray")
                    assert summary.ok, summary.failed
                    rows.append((f"{label} ({w} CPUs)", time.perf_counter() - t0))
            finally:
                ray.shutdown()

    print(f"{n} points x {s:g} s sleep, {w} workers: ideal wall time {ideal:.2f} s")
    print(f"{'backend':<34} {'wall s':>8} {'overhead/point ms':>18} {'vs local/point ms':>18}")
    local = rows[0][1]
    for label, wall in rows:
        over = (wall - ideal) / n * 1000
        vs = (wall - local) / n * 1000
        print(f"{label:<34} {wall:8.2f} {over:18.1f} {vs:18.1f}")
    if len(rows) > 1:
        print(f"(ray.init of a local instance: {startup:.1f} s, not counted above)")
    print("overhead/point = (wall - ideal) / points; vs local/point = (wall - local wall) / points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
