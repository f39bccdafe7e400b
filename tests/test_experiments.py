"""Experiments as data: every paper's profiles bind to their run point, load_profile's errors,
and `workbench reproduce` resumes a killed run without recomputing finished points."""

from __future__ import annotations

import inspect
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from workbench.experiments import (
    PAPERS,
    PROFILES,
    configs_dir,
    load_profile,
    load_settings,
    reproduce,
)
from workbench.sweep import ResultStore, canonical_json, resolve_function, run_id

CONFIGS = Path(__file__).parents[1] / "configs"
MODULE = "wb_experiment_testfns"
FUNCTIONS = """
import json, os, time

def point(i, delay=0.0, seed=0):
    path = os.environ.get("WB_EXP_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"i": i, "delay": delay, "seed": seed}, sort_keys=True) + "\\n")
    time.sleep(delay)
    return [
        {"method": m, "dataset": "d", "condition": "normal", "modality": "", "level": 0.0,
         "metric": "accuracy", "seed": seed, "value": float(i) + (0.1 if m == "A" else 0.0)}
        for m in ("A", "B")
    ]

def table(results):
    from workbench.claims import Claim, evaluate
    claim = Claim("toy.a_beats_b", "A beats B", "mla", "ordering", "A", ("B",))
    return evaluate([claim], results, profile="toy")
"""


@pytest.mark.parametrize("paper", PAPERS)
def test_every_paper_has_smoke_cpu_full_profiles_that_bind_to_the_run_point(paper):
    """Each point of each profile is a valid call of its run point (names and keyword
    arguments), the grid has no duplicate points, and the paper table function exists."""
    assert configs_dir().resolve() == CONFIGS.resolve()
    for name in PROFILES:
        prof = load_profile(paper, name)
        assert prof.description, f"configs/{paper}.yaml: profile {name!r} says nothing of itself"
        signature = inspect.signature(resolve_function(prof.function))
        points = list(prof.grid)
        assert points
        for p in points:
            signature.bind(**p)  # raises TypeError on an unknown or missing argument
        assert len({canonical_json(p) for p in points}) == len(points)
        assert callable(resolve_function(prof.paper_table))


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """A configs folder whose ``mla.yaml`` runs a cheap importable function."""
    (tmp_path / f"{MODULE}.py").write_text(FUNCTIONS)
    monkeypatch.syspath_prepend(str(tmp_path))
    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "mla.yaml").write_text(
        textwrap.dedent(f"""
        paper: mla
        function: {MODULE}:point
        paper_table: {MODULE}:table
        profiles:
          smoke:
            description: toy
            grid: {{i: [0, 1, 2, 3, 4, 5, 6, 7], seed: [0, 1], delay: 0.2}}
          broken: {{description: no grid}}
        """)
    )
    monkeypatch.setenv("WORKBENCH_CONFIGS", str(configs))
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    )
    yield tmp_path
    sys.modules.pop(MODULE, None)


def test_load_profile_errors_name_the_file_and_key(toy):
    with pytest.raises(ValueError, match="Unknown paper 'nope'"):
        load_profile("nope")
    with pytest.raises(ValueError, match=r"mla\.yaml: no profile 'gpu'.*broken.*smoke"):
        load_profile("mla", "gpu")
    with pytest.raises(ValueError, match=r"mla\.yaml: profile 'broken' has no 'grid'"):
        load_profile("mla", "broken")
    with pytest.raises(FileNotFoundError, match=r"otm\.yaml"):
        load_profile("otm")


def test_reproduce_writes_results_and_paper_table(toy):
    r = reproduce("mla", "smoke", store=toy / "store")
    assert r.summary.ok and len(r.summary.finished) == 16
    saved = pd.read_csv(r.results_path)
    assert len(saved) == 32 and {"method", "seed", "value", "i", "run_id"} <= set(saved.columns)
    table = pd.read_csv(r.paper_table_path)
    assert table.loc[0, "verdict"] == "holds"  # A is 0.1 ahead on every seed... with zero spread
    again = reproduce("mla", "smoke", store=toy / "store")
    assert again.summary.finished == () and len(again.summary.skipped) == 16
    prov = json.loads(r.provenance_path.read_text())
    assert prov["profile"] == "smoke" and prov["points"] == {"total": 16, "finished": 16}
    assert prov["wall_time_s"] >= 16 * 0.2 * 0.9 and prov["versions"]["torch"]
    assert prov["git_commit"] and prov["date"].endswith("Z")


def test_reproduce_without_running_summarises_what_the_store_holds(toy):
    store = toy / "store"
    first = reproduce("mla", "smoke", store=store)
    for rid in list(first.summary.store.done())[:10]:  # keep 6 of 16 points
        first.summary.store.result_path(rid).unlink()
    r = reproduce("mla", "smoke", store=store, run=False)
    assert r.summary.finished == () and len(r.summary.skipped) == 6
    assert len(pd.read_csv(r.results_path)) == 12  # nothing was run: 6 points x 2 rows
    prov = json.loads(r.provenance_path.read_text())
    assert prov["points"] == {"total": 16, "finished": 6}


def test_convergence_flags_runs_whose_best_epoch_is_late_without_early_stopping():
    from workbench.experiments import convergence

    df = pd.DataFrame(
        {
            "run_id": ["a", "a", "b", "c"],
            "method": ["M", "M", "M", "M"],
            "seed": [0, 0, 1, 2],
            "best_epoch": [20, 20, 5, 19],
            "max_epochs": [20, 20, 20, 20],
            "stopped_early": [False, False, True, True],
            "value": [0.1, 0.2, 0.3, 0.4],
        }
    )
    conv = convergence(df)
    assert list(conv["run_id"]) == ["a", "b", "c"]
    assert list(conv["still_improving"]) == [True, False, False]


def test_reproduce_cli_killed_then_rerun_recomputes_nothing(toy, monkeypatch):
    store = ResultStore(toy / "store")
    log = toy / "calls.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "workbench.cli",
        "reproduce",
        "mla",
        "--store",
        str(store.path),
        "-j",
        "1",
    ]
    proc = subprocess.Popen(cmd, env={**os.environ}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(store.done()) < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, f"reproduce ended by itself (rc={proc.returncode})"
    before = {rid: store.result_path(rid).read_bytes() for rid in store.done()}
    assert 3 <= len(before) < 16

    monkeypatch.setenv("WB_EXP_LOG", str(log))
    out = subprocess.run(cmd, env={**os.environ}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "paper table:" in out.stdout and "tidy results:" in out.stdout
    recomputed = {run_id(json.loads(line)) for line in log.read_text().splitlines()}
    every = set(load_profile("mla", "smoke").grid.run_ids())
    assert recomputed == every - set(before)  # nothing finished was run again
    assert len(store.done()) == 16
    assert {rid: store.result_path(rid).read_bytes() for rid in before} == before


def test_load_settings_reads_the_quickstart_profiles():
    smoke, full = load_settings("quickstart", "smoke"), load_settings("quickstart", "full")
    assert smoke["n_seeds"] == 2 and smoke["max_epochs"] == 15
    assert smoke["amplitudes"] == (0.0, 0.5, 1.0, 2.0, 3.0)
    assert full["rates"] == tuple(i / 10 for i in range(11)) and full["n_seeds"] == 3
    assert smoke["description"] and full["description"]


def test_load_settings_defaults_and_errors(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("defaults: {a: 1, b: [1, 2]}\nprofiles:\n  smoke: {a: 2}\n  empty:\n")
    assert load_settings("toy", "smoke", path=path) == {"a": 2, "b": (1, 2)}
    assert load_settings("toy", "empty", path=path) == {"a": 1, "b": (1, 2)}
    with pytest.raises(ValueError, match=r"toy\.yaml: no profile 'full'"):
        load_settings("toy", "full", path=path)
    with pytest.raises(FileNotFoundError, match="nope"):
        load_settings("nope", path=tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("function: x\n")
    with pytest.raises(ValueError, match="profiles"):
        load_settings("bad", path=tmp_path / "bad.yaml")


def test_reproduce_on_a_two_point_slice_of_the_committed_mla_cpu_run(tmp_path, monkeypatch):
    """`workbench reproduce mla --profile cpu` regenerates the committed run: two points of the
    cpu profile (one seed), run through the same code, get run ids the committed store holds and
    write results.csv, paper_table.csv and provenance.json with the committed schema."""
    import shutil

    import yaml

    from workbench.experiments import configs_dir, reproduce
    from workbench.util import project_root

    committed = (project_root() or Path.cwd()) / "results" / "mla" / "cpu"
    if not (committed / "results.csv").is_file():
        pytest.skip("results/mla/cpu is not in this checkout")
    dst = tmp_path / "configs"
    shutil.copytree(configs_dir(), dst)
    config = yaml.safe_load((dst / "mla.yaml").read_text())
    cpu = config["profiles"]["cpu"]
    wanted = {("Late Fusion", 0.7), ("MLA", 0.7)}
    cpu["points"] = [
        p
        for p in cpu["points"]
        if p.get("experiment") == "missing" and (p["method"], p.get("missing_rate")) in wanted
    ]
    assert len(cpu["points"]) == 2
    cpu["grid"]["seed"] = [0]
    cpu["grid"]["dataset"] = ["av_digits"]
    cpu["n_jobs"] = 1
    (dst / "mla.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("WORKBENCH_CONFIGS", str(dst))

    out = tmp_path / "out"
    reproduce("mla", "cpu", store=out / "runs", results_dir=out, n_jobs=1)

    new_ids = {p.stem for p in (out / "runs").glob("*.json")}
    assert len(new_ids) == 2
    assert new_ids <= {p.stem for p in (committed / "runs").glob("*.json")}
    # results.csv: the committed file is the union over every point (the ablation points add
    # their hgm / dynamic_fusion columns); these two points' columns are a subset, in order
    ours = pd.read_csv(out / "results.csv", nrows=0).columns.tolist()
    theirs = pd.read_csv(committed / "results.csv", nrows=0).columns.tolist()
    assert {"method", "dataset", "condition", "seed", "metric", "value", "run_id"} <= set(ours)
    assert ours == [c for c in theirs if c in ours]
    ours = pd.read_csv(out / "paper_table.csv", nrows=0).columns.tolist()
    assert ours == pd.read_csv(committed / "paper_table.csv", nrows=0).columns.tolist()
    new = pd.read_csv(out / "results.csv")
    assert set(new["run_id"]) == new_ids and set(new["method"]) == {"Late Fusion", "MLA"}
    ours = json.loads((out / "provenance.json").read_text())
    theirs = json.loads((committed / "provenance.json").read_text())
    assert set(ours) == set(theirs)
    assert ours["points"] == {"total": 2, "finished": 2}
