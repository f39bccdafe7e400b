"""The Ray backend of sweeps, on a local Ray instance started once for the module.

Same results as the local pool (byte for byte), SIGKILL of the driver + resume with nothing
recomputed, a killed worker retried, a raising point recorded as a failure; and ``import
workbench`` never imports ray.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from workbench.sweep import Grid, ResultStore, load_config, run_id, run_sweep

MODULE = "wb_sweep_rayfns"
pytestmark = [pytest.mark.timeout(240), pytest.mark.xdist_group("ray")]

# Importable point functions, written to a temp folder that is on the workers' PYTHONPATH (Ray
# workers inherit the environment of the instance, set before ray.init). `slow` appends its
# parameters to the file named by its `log` parameter: workers do not see the test's environment.
FUNCTIONS = """
import json, os, time

import numpy as np

def _rows(x, seed):
    return [
        {"method": "m", "dataset": "d", "condition": "normal", "modality": "", "level": 0.0,
         "metric": "accuracy", "seed": seed, "value": float(x)},
        {"method": "m", "dataset": "d", "condition": "gaussian_noise", "modality": "a",
         "level": 0.5, "metric": "accuracy", "seed": seed, "value": float(x) / 3},
    ]

def seeded(a, seed):
    return _rows(a * np.random.default_rng(seed).normal(), seed)  # full-precision floats

def slow(i, delay, log):
    with open(log, "a") as f:
        f.write(json.dumps({"i": i, "delay": delay, "log": log}, sort_keys=True) + "\\n")
    time.sleep(delay)
    return _rows(i, 0)

def raises(a):
    if a == 2:
        raise RuntimeError(f"boom at a={a}")
    return _rows(a, 0)

def killed_once(i, marker_dir):
    path = os.path.join(marker_dir, f"{i}.pid")
    if i == 1 and not os.path.exists(path):  # first attempt: say who we are, wait to be killed
        with open(path + ".tmp", "w") as f:
            f.write(str(os.getpid()))
        os.replace(path + ".tmp", path)
        time.sleep(120)
    return _rows(i, 0)
"""


@pytest.fixture(scope="module")
def fn_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep_rayfns")
    (folder / f"{MODULE}.py").write_text(FUNCTIONS)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop(MODULE, None)


@pytest.fixture(scope="module")
def ray_instance(fn_dir):
    """A local 2-CPU Ray instance for the module; yields its GCS address."""
    ray = pytest.importorskip("ray")
    mp = pytest.MonkeyPatch()
    mp.delenv("RAY_ADDRESS", raising=False)
    mp.setenv("RAY_USAGE_STATS_ENABLED", "0")  # offline: no usage report
    mp.setenv("PYTHONPATH", os.pathsep.join([str(fn_dir), os.environ.get("PYTHONPATH", "")]))
    # The raylet gives its agent processes 15 s to start: on a loaded machine a first start can
    # miss it, so try twice before failing.
    for attempt in (1, 2):
        try:
            ctx = ray.init(
                address="local", num_cpus=2, include_dashboard=False, log_to_driver=False
            )
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                mp.undo()
                raise
    yield ctx.address_info["gcs_address"]
    ray.shutdown()
    mp.undo()


def _frames_equal_bytes(a: ResultStore, b: ResultStore, grid: Grid) -> None:
    assert a.load(grid).to_csv(index=False).encode() == b.load(grid).to_csv(index=False).encode()
    for rid in grid.run_ids():
        ra, rb = a.read(rid), b.read(rid)
        assert json.dumps([ra[k] for k in ("run_id", "params", "columns", "data")]) == json.dumps(
            [rb[k] for k in ("run_id", "params", "columns", "data")]
        )


def test_import_workbench_does_not_import_ray():
    code = (
        "import sys, workbench, workbench.sweep, workbench.sweep_ray, workbench.cli\n"
        "bad = sorted(m for m in sys.modules if m == 'ray' or m.startswith('ray.'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_local_and_ray_backends_give_identical_results(tmp_path, fn_dir, ray_instance):
    from workbench.cli import main

    cfg = tmp_path / "seeded.yaml"
    cfg.write_text(
        textwrap.dedent(f"""
        function: {MODULE}:seeded
        grid: {{a: [1, 2, 3], seed: [0, 1]}}
        n_jobs: 2
        cpus_per_point: 1
        retries: 0
    """)
    )
    c = load_config(cfg)
    assert c.backend == "local" and c.cpus_per_point == 1.0 and c.retries == 0
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["sweep", str(cfg), "--store", str(local)]) == 0
    assert main(["sweep", str(cfg), "--store", str(remote), "--backend", "ray"]) == 0
    _frames_equal_bytes(ResultStore(local), ResultStore(remote), c.grid)
    meta = ResultStore(remote).read(c.grid.run_ids()[0])["meta"]
    assert meta["backend"] == "ray" and meta["attempts"] == 1 and meta["pid"] != os.getpid()
    again = run_sweep(cfg, store=remote, backend="ray")  # resumes: nothing left to send
    assert again.ok and not again.finished and len(again.skipped) == 6


def test_sigkill_driver_then_resume_with_ray(tmp_path, fn_dir, ray_instance):
    n, store, log = 12, ResultStore(tmp_path / "s"), tmp_path / "calls.jsonl"
    grid = Grid({"i": list(range(n)), "delay": [0.4], "log": [str(log)]})
    code = textwrap.dedent(f"""
        from workbench.sweep import Grid, run_sweep
        grid = Grid({{"i": list(range({n})), "delay": [0.4], "log": [{str(log)!r}]}})
        run_sweep("{MODULE}:slow", grid, {str(store.path)!r}, backend="ray",
                  address={ray_instance!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    deadline = time.monotonic() + 120
    while len(store.done()) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the sweep ended by itself (rc={proc.returncode})"
    before = {rid: store.result_path(rid).read_bytes() for rid in store.done()}
    assert 3 <= len(before) < n
    time.sleep(1.0)  # a point that was running when the driver died ends (or is killed) by now
    offset = len(log.read_text().splitlines())

    summary = run_sweep(f"{MODULE}:slow", grid, store, backend="ray")
    assert summary.ok and set(summary.skipped) == set(before)
    rerun = [json.loads(line) for line in log.read_text().splitlines()[offset:]]
    assert sorted(run_id(p) for p in rerun) == sorted(set(grid.run_ids()) - set(before))
    assert {rid: store.result_path(rid).read_bytes() for rid in before} == before
    df = store.load(grid)
    assert df.groupby("run_id").size().eq(2).all() and set(df["run_id"]) == set(grid.run_ids())
    assert sorted(df.loc[df["condition"] == "normal", "i"]) == list(range(n))
    assert not [p for p in os.listdir(store.path) if p.endswith(".tmp")]


def test_killed_worker_is_retried_and_the_sweep_completes(
    tmp_path, fn_dir, ray_instance, monkeypatch
):
    import workbench.sweep_ray as sweep_ray

    # (the test instance has no dashboard: check that one would be announced)
    monkeypatch.setattr(sweep_ray, "_dashboard_url", lambda ray, ctx: "http://127.0.0.1:8265")
    markers = tmp_path / "markers"
    markers.mkdir()
    grid = Grid({"i": [0, 1, 2, 3], "marker_dir": [str(markers)]})
    killed = []

    def kill_the_worker():
        deadline = time.monotonic() + 120
        while not (markers / "1.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int((markers / "1.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_the_worker, daemon=True)
    killer.start()
    lines = []
    s = run_sweep(
        f"{MODULE}:killed_once", grid, tmp_path / "s", backend="ray", retries=1, log=lines.append
    )
    killer.join(5)
    assert killed and killed[0] != os.getpid()
    assert s.ok and len(s.finished) == 4, (s.failed, lines)
    rid = run_id({"i": 1, "marker_dir": str(markers)})
    assert s.store.read(rid)["meta"]["attempts"] == 2
    assert any(line.startswith(f"[retry 1/1] {rid}") for line in lines), lines
    assert lines[0] == "ray dashboard: http://127.0.0.1:8265"


def test_raising_point_is_a_failure_row_and_the_others_complete(tmp_path, fn_dir, ray_instance):
    from workbench.cli import main

    store = ResultStore(tmp_path / "s")
    grid = Grid({"a": [1, 2, 3]})
    bad = run_id({"a": 2})
    s = run_sweep(f"{MODULE}:raises", grid, store, backend="ray", retries=1)
    assert not s.ok and set(s.failed) == {bad} and "boom at a=2" in s.failed[bad]
    assert set(s.finished) == set(store.done()) == set(grid.run_ids()) - {bad}
    record = json.loads(store.error_path(bad).read_text())
    assert "RuntimeError: boom at a=2" in record["traceback"] and record["params"] == {"a": 2}
    assert record["meta"]["attempts"] == 2 and record["meta"]["backend"] == "ray"
    assert store.failed() == {bad: "RuntimeError: boom at a=2"}
    cfg = tmp_path / "raises.json"
    cfg.write_text(json.dumps({"function": f"{MODULE}:raises", "grid": {"a": [1, 2, 3]}}))
    args = ["sweep", str(cfg), "--store", str(store.path), "--backend", "ray", "--retries", "0"]
    assert main(args) == 1  # still failing: the CLI says so


def test_reproduce_passes_the_backend_flags_through(tmp_path, monkeypatch):
    """`workbench reproduce PAPER --backend ray ...` reaches run_sweep's keywords (no Ray needed)."""
    import types

    import workbench.experiments as experiments
    from workbench.cli import main

    seen = {}

    class Stop(Exception):
        pass

    def fake_reproduce(paper, profile, **kwargs):
        seen.update(kwargs, paper=paper, profile=profile)
        raise Stop

    profile = types.SimpleNamespace(settings={"gpus_per_point": 0.5, "cpus_per_point": 4})
    monkeypatch.setattr(experiments, "reproduce", fake_reproduce)
    monkeypatch.setattr(experiments, "load_profile", lambda paper, name: profile)
    args = ["reproduce", "wma", "--profile", "full", "--backend", "ray", "--address", "auto"]
    with pytest.raises(Stop):
        main([*args, "--cpus-per-point", "2", "--retries", "3"])
    assert seen["paper"] == "wma" and seen["profile"] == "full"
    assert seen["backend"] == "ray" and seen["address"] == "auto" and seen["retries"] == 3
    assert seen["cpus_per_point"] == 2.0 and seen["gpus_per_point"] == 0.5  # flag, profile

    # ... and experiments.reproduce hands them to run_sweep.
    def fake_run_sweep(fn, grid, store, n_jobs, **kwargs):
        seen["run_sweep"] = kwargs
        raise Stop

    monkeypatch.undo()
    profile = types.SimpleNamespace(
        paper_table="json:dumps", function="json:loads", grid=Grid({"a": [1]}), n_jobs=1
    )
    monkeypatch.setattr(experiments, "load_profile", lambda paper, name: profile)
    monkeypatch.setattr(experiments, "run_sweep", fake_run_sweep)
    with pytest.raises(Stop):
        experiments.reproduce("wma", "full", store=tmp_path, backend="ray", gpus_per_point=1)
    assert seen["run_sweep"]["backend"] == "ray" and seen["run_sweep"]["gpus_per_point"] == 1


def test_backend_options_are_checked(tmp_path, monkeypatch):
    cfg = {"function": "json:dumps", "grid": {"obj": [1]}}
    with pytest.raises(ValueError, match="Unknown sweep backend"):
        load_config({**cfg, "backend": "dask"})
    with pytest.raises(ValueError, match="gpus_per_point"):
        load_config({**cfg, "backend": "ray", "gpus_per_point": -1})
    c = load_config({**cfg, "backend": "RAY", "address": "auto", "gpus_per_point": 0.5})
    assert (c.backend, c.address, c.gpus_per_point, c.cpus_per_point) == ("ray", "auto", 0.5, None)
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(ImportError, match=r"pip install -e \".\[ray\]\""):
        run_sweep("json:dumps", {"obj": [1]}, tmp_path / "s", backend="ray")


def test_dashboard_url_is_normalised():
    import types

    from workbench.sweep_ray import _dashboard_url

    fake_ray = types.SimpleNamespace()  # no _private: the context's URL or nothing
    assert _dashboard_url(fake_ray, types.SimpleNamespace(dashboard_url="127.0.0.1:8265")) == (
        "http://127.0.0.1:8265"
    )
    assert _dashboard_url(fake_ray, types.SimpleNamespace(dashboard_url="")) is None
    assert _dashboard_url(fake_ray, None) is None
