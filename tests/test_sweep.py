"""Sweeps: grid order and ids, the atomic resumable store, failures, SIGKILL + resume, parallel."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

from workbench.sweep import Grid, ResultStore, canonical_json, load_config, run_id, run_sweep

TIDY = ["method", "dataset", "condition", "modality", "level", "metric", "seed", "value"]
MODULE = "wb_sweep_testfns"

# Importable sweep functions: written to a temp folder put on sys.path (spawned workers and the
# killed subprocess import them from there). Each call appends its parameters to $WB_SWEEP_LOG.
FUNCTIONS = """
import json, os, time

def _log(**params):
    path = os.environ.get("WB_SWEEP_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(params, sort_keys=True) + "\\n")

def _rows(x, seed):
    return [
        {"method": "m", "dataset": "d", "condition": "normal", "modality": "", "level": 0.0,
         "metric": "accuracy", "seed": seed, "value": float(x)},
        {"method": "m", "dataset": "d", "condition": "gaussian_noise", "modality": "a",
         "level": 0.5, "metric": "accuracy", "seed": seed, "value": float(x) / 2},
    ]

def cheap(a, b, seed=0):
    _log(a=a, b=b, seed=seed)
    return _rows(a * b + seed, seed)

def slow(i, delay):
    _log(i=i, delay=delay)
    time.sleep(delay)
    return _rows(i, 0)

def flaky(a):
    _log(a=a)
    if a == 2 and os.environ.get("WB_SWEEP_FAIL"):
        raise RuntimeError(f"boom at a={a}")
    return _rows(a, 0)

def pid(a):
    return [{"a_seen": a, "pid": os.getpid()}]
"""


@pytest.fixture(scope="module")
def fn_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep_fns")
    (folder / f"{MODULE}.py").write_text(FUNCTIONS)
    sys.path.insert(0, str(folder))
    yield folder
    sys.path.remove(str(folder))
    sys.modules.pop(MODULE, None)


@pytest.fixture
def call_log(tmp_path, monkeypatch):
    path = tmp_path / "calls.jsonl"
    monkeypatch.setenv("WB_SWEEP_LOG", str(path))

    def read():
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return read


# ----------------------------------------------------------------------------- grid


def test_grid_is_the_product_in_order_with_points_outermost():
    g = Grid({"a": [1, 2], "b": ["x", "y", "z"]}, points=[{"m": "p"}, {"m": "q", "lr": 0.1}])
    got = list(g)
    want = [
        {"m": m["m"], **({"lr": 0.1} if m["m"] == "q" else {}), "a": a, "b": b}
        for m in g.points
        for a in (1, 2)
        for b in ("x", "y", "z")
    ]
    assert got == want
    assert len(g) == 12 and len(set(g.run_ids())) == 12


def test_run_id_is_hash_of_canonical_json_independent_of_key_order():
    p = {"b": [1, 2], "a": "x", "c": {"z": 1.5, "y": None}}
    text = json.dumps(p, sort_keys=True, separators=(",", ":"))
    assert canonical_json(p) == text
    assert run_id(p) == hashlib.sha256(text.encode()).hexdigest()[:16]
    assert run_id(dict(reversed(list(p.items())))) == run_id(p)
    assert run_id({"a": 1}) != run_id({"a": 1.0})  # documented: 1 and 1.0 are different points


def test_grid_constants_duplicates_and_bad_input():
    g = Grid({"dataset": "mfeat", "seed": (0, 1)}, points=[{"m": 1}, {"m": 1}])
    assert list(g) == [
        {"dataset": "mfeat", "m": 1, "seed": 0},
        {"dataset": "mfeat", "m": 1, "seed": 1},
    ]
    assert [p for p in Grid({"a": [1, 2]}) + Grid({"a": [2, 3]})] == [{"a": 1}, {"a": 2}, {"a": 3}]
    with pytest.raises(ValueError, match="empty"):
        Grid({"a": []})
    with pytest.raises(ValueError, match="repeats the axes"):
        Grid({"a": [1]}, points=[{"a": 2}])
    with pytest.raises(ValueError, match="JSON"):
        Grid({"a": [object()]}).items()
    with pytest.raises(ValueError, match="JSON"):
        run_id({"a": float("nan")})


# ----------------------------------------------------------------------------- sweep + store


def test_sweep_runs_every_point_once_and_resumes(tmp_path, fn_dir, call_log):
    grid = Grid({"a": [1, 2, 3], "b": [0.5, 2.0]}, points=[{"seed": 0}, {"seed": 7}])
    summary = run_sweep(f"{MODULE}:cheap", grid, tmp_path / "store")
    assert summary.ok and len(summary.finished) == 12 and not summary.skipped
    df = summary.load()
    assert list(df.columns) == [*TIDY, "a", "b", "run_id"]
    assert len(df) == 24 and df.groupby("run_id").size().eq(2).all()
    clean = df[df["condition"] == "normal"]
    assert (clean["value"] == clean["a"] * clean["b"] + clean["seed"]).all()
    assert df["run_id"].drop_duplicates().tolist() == grid.run_ids()  # the grid's order
    assert len(call_log()) == 12

    again = run_sweep(f"{MODULE}:cheap", grid, tmp_path / "store")
    assert again.ok and not again.finished and set(again.skipped) == set(grid.run_ids())
    assert len(call_log()) == 12  # nothing recomputed
    pd.testing.assert_frame_equal(again.load(), df)


def test_store_records_params_and_load_without_grid(tmp_path, fn_dir):
    store = ResultStore(tmp_path / "s")
    run_sweep(f"{MODULE}:cheap", {"a": [1], "b": [3]}, store)
    (rid,) = store.done()
    rec = store.read(rid)
    assert rec["params"] == {"a": 1, "b": 3} and rid == run_id(rec["params"])
    assert rec["meta"]["function"] == f"{MODULE}:cheap" and rec["meta"]["seconds"] >= 0
    assert store.load()["run_id"].unique().tolist() == [rid]
    with pytest.raises(FileNotFoundError, match="no result"):
        store.read("0" * 16)


def test_empty_store_loads_the_evaluation_columns(tmp_path):
    df = ResultStore(tmp_path / "nothing").load()
    assert df.empty and list(df.columns)[:8] == TIDY


def test_callable_and_list_of_dicts_rows_param_columns_do_not_override_rows(tmp_path):
    def fn(seed, k):
        return [{"metric": "mae", "seed": seed + 100, "value": float(k)}]

    s = run_sweep(fn, Grid({"seed": [0], "k": [1, 2]}), tmp_path / "s")
    df = s.load()
    assert df["seed"].tolist() == [100, 100] and df["k"].tolist() == [1, 2]


def test_failures_are_recorded_and_do_not_stop_the_others(tmp_path, fn_dir, monkeypatch):
    store = ResultStore(tmp_path / "s")
    grid = Grid({"a": [1, 2, 3]})
    bad = run_id({"a": 2})
    monkeypatch.setenv("WB_SWEEP_FAIL", "1")
    s = run_sweep(f"{MODULE}:flaky", grid, store)
    assert not s.ok and set(s.failed) == {bad} and "boom at a=2" in s.failed[bad]
    assert set(store.done()) == set(grid.run_ids()) - {bad}
    record = json.loads(store.error_path(bad).read_text())
    assert "RuntimeError: boom at a=2" in record["traceback"] and record["params"] == {"a": 2}
    assert store.failed() == {bad: "RuntimeError: boom at a=2"}
    assert not run_sweep(f"{MODULE}:flaky", grid, store, retry_failed=False).failed  # not retried

    monkeypatch.delenv("WB_SWEEP_FAIL")
    s = run_sweep(f"{MODULE}:flaky", grid, store)
    assert s.ok and s.finished == (bad,)
    assert not store.error_path(bad).exists() and store.failed() == {}


def test_bad_return_type_is_a_recorded_failure(tmp_path):
    s = run_sweep(lambda a: 3.0, {"a": [1]}, tmp_path / "s")
    assert "DataFrame or a list of dicts" in next(iter(s.failed.values()))


def test_stray_temp_file_is_ignored_and_cleaned(tmp_path, fn_dir):
    store = ResultStore(tmp_path / "s")
    run_sweep(f"{MODULE}:cheap", {"a": [1], "b": [1]}, store)
    (rid,) = store.done()
    other = run_id({"a": 2, "b": 1})
    dead = store.path / f".{other}.999999999.0a0b.tmp"  # a writer killed mid-write
    dead.write_text('{"run_id": "' + other + '", "params": {"a": 2')
    alive = store.path / f".{other}.{os.getpid()}.0c0d.tmp"  # a writer still running
    alive.write_text("{")
    assert store.done() == [rid] and len(store.load()) == 2
    assert store.clean() == [dead] and alive.exists()
    alive.unlink()
    dead.write_text("{")
    s = run_sweep(f"{MODULE}:cheap", {"a": [1, 2], "b": [1]}, store)
    assert not dead.exists() and s.finished == (other,) and set(store.done()) == {rid, other}


def test_sigkill_then_resume_keeps_finished_runs_exactly_once(tmp_path, fn_dir, call_log):
    n, store = 12, ResultStore(tmp_path / "s")
    grid = Grid({"i": list(range(n)), "delay": [0.3]})
    code = textwrap.dedent(f"""
        from workbench.sweep import Grid, run_sweep
        run_sweep("{MODULE}:slow", Grid({{"i": list(range({n})), "delay": [0.3]}}), {str(store.path)!r})
    """)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(fn_dir), os.environ.get("PYTHONPATH", "")]),
    }
    env.pop("WB_SWEEP_LOG")
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    deadline = time.monotonic() + 60
    while len(store.done()) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"the sweep ended by itself (rc={proc.returncode})"
    before = {rid: store.result_path(rid).read_bytes() for rid in store.done()}
    assert 3 <= len(before) < n

    summary = run_sweep(f"{MODULE}:slow", grid, store)
    assert summary.ok and set(summary.skipped) == set(before)
    recomputed = {run_id(p) for p in call_log()}
    assert recomputed == set(grid.run_ids()) - set(before)  # nothing finished was run again
    assert {rid: store.result_path(rid).read_bytes() for rid in before} == before
    df = store.load(grid)
    assert df.groupby("run_id").size().eq(2).all() and set(df["run_id"]) == set(grid.run_ids())
    assert sorted(df.loc[df["condition"] == "normal", "i"]) == list(range(n))
    assert not [p for p in os.listdir(store.path) if p.endswith(".tmp")]


def test_parallel_gives_the_same_frame_as_serial(tmp_path, fn_dir):
    grid = Grid({"a": [1, 2, 3], "b": [0.5, 1.0]}, points=[{"seed": 0}, {"seed": 1}])
    serial = run_sweep(f"{MODULE}:cheap", grid, tmp_path / "serial", n_jobs=1).load()
    from wb_sweep_testfns import cheap

    par = run_sweep(cheap, grid, tmp_path / "parallel", n_jobs=2)
    assert par.ok
    pd.testing.assert_frame_equal(par.load(), serial)
    pids = run_sweep(f"{MODULE}:pid", {"a": [1, 2, 3]}, tmp_path / "pids", n_jobs=2).load()
    assert os.getpid() not in set(pids["pid"])  # ran in worker processes


def test_parallel_needs_an_importable_function(tmp_path):
    def local(a):
        return [{"value": a}]

    with pytest.raises(ValueError, match="not importable"):
        run_sweep(local, {"a": [1, 2]}, tmp_path / "s", n_jobs=2)
    assert run_sweep(local, {"a": [1, 2]}, tmp_path / "s", n_jobs=1).ok
    with pytest.raises(ValueError, match="module:function"):
        run_sweep("no_colon_here:", {"a": [1]}, tmp_path / "t")


# ----------------------------------------------------------------------------- config files


def test_yaml_config_runs_and_store_can_be_overridden(tmp_path, fn_dir):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        textwrap.dedent(f"""
        function: {MODULE}:cheap
        grid: {{a: [1, 2], b: 3}}
        points: [{{seed: 0}}, {{seed: 1}}]
        store: {tmp_path / "from_config"}
        n_jobs: 1
    """)
    )
    c = load_config(cfg)
    assert c.name == "tiny" and len(c.grid) == 4 and c.n_jobs == 1
    s = run_sweep(cfg)
    assert s.ok and len(s.store.done()) == 4 and s.store.path == tmp_path / "from_config"
    s2 = run_sweep(str(cfg), tmp_path / "override", 1)  # the CLI's positional form
    assert s2.ok and s2.store.path == tmp_path / "override"
    pd.testing.assert_frame_equal(s.load(), s2.load())

    j = tmp_path / "j.json"
    j.write_text(json.dumps({"function": f"{MODULE}:cheap", "grid": {"a": [1], "b": [1]}}))
    assert run_sweep(j, store=tmp_path / "j").ok


def test_config_errors_name_the_problem(tmp_path, fn_dir, monkeypatch):
    with pytest.raises(ValueError, match="unknown keys"):
        load_config({"function": f"{MODULE}:cheap", "grid": {"a": [1]}, "njobs": 2})
    with pytest.raises(ValueError, match="lacks 'function'"):
        load_config({"grid": {"a": [1]}})
    with pytest.raises(ValueError, match="cannot import"):
        load_config({"function": "no_such_module_xyz:f", "grid": {"a": [1]}})
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    monkeypatch.setenv("WORKBENCH_OUTPUTS", str(tmp_path / "outs"))
    c = load_config({"function": f"{MODULE}:cheap", "grid": {"a": [1]}, "name": "arena"})
    assert c.store == tmp_path / "outs" / "sweeps" / "arena"
