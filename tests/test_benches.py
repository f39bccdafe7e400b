"""The benches in bench/ run and print the ratios the README quotes (timings are never asserted).

The README's performance table is copied from the benches' committed outputs in results/bench/;
a bench that no longer runs, or no longer prints a ratio the table quotes, fails here. Each runs
on tiny problems (``--smoke``, ``--steps 1``), so its numbers mean nothing and are not checked.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str) -> str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout


def test_ot_bench_prints_every_row_with_its_ratio():
    out = _bench("bench/ot_bench.py", "--smoke", "--threads", "1")
    for line in ("exact: loop of POT ot.emd2", "workbench ipot(n_outer=50) [default]", "% of the floor",
                 "default ipot paired with the exact loop", "eager torch path", "POT fgw_barycenters",
                 "tol=1e-3, fgw_tol=1e-4", "fgw_max_iter=1", "linear='ipot'", "paired with POT"):
        assert line in out, f"bench/ot_bench.py --smoke no longer prints {line!r}:\n{out}"
    assert out.count("speed-up") >= 5


def test_otm_step_prints_the_mixer_share_and_a_profile():
    out = _bench("bench/otm_step.py", "--steps", "1", "--threads", "1", "--no-linear", "--profile")
    assert "mixer share" in out and "(target < 50%)" in out
    assert "cProfile of a second run" in out and "fgw_barycenter" in out


def test_readme_quotes_the_committed_bench_outputs():
    # Every results/bench/ file the README names exists and starts with its command.
    text = (ROOT / "README.md").read_text()
    named = sorted({w.strip("`(),.;") for w in text.split() if w.strip("`(),.;").startswith("results/bench/")} - {"results/bench/"})
    assert named, "the README's performance section names no results/bench/ file"
    for rel in named:
        path = ROOT / rel
        assert path.is_file(), f"README names {rel}, which does not exist"
        assert path.read_text().startswith("# "), f"{rel} does not start with its command"
        assert "command:" in path.read_text().splitlines()[0], f"{rel}'s first line is not its command"
