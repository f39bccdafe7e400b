"""A wheel works without the checkout: built from the tree, installed non-editable into a fresh
venv, it lists the datasets with their data cards and reads the reference tables and the
experiment profiles from the installed copy."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    wheels = tmp / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("workbench-*.whl")
    venv = tmp / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
    )  # fmt: skip
    # the dependencies (torch, pandas, ...) come from the test's environment, appended to the
    # fresh venv's path; the workbench package itself only from the wheel
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return python, site, tmp


def _run(python, cwd, code):
    out = subprocess.run(
        [str(python), "-c", textwrap.dedent(code)], cwd=cwd, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_wheel_ships_cards_references_and_profiles(fresh_venv):
    python, site, tmp = fresh_venv
    out = _run(
        python,
        tmp,
        """
        import workbench
        from workbench.data import read_card
        from workbench.data.base import data_cards_dir
        from workbench.experiments import PAPERS, load_profile
        from workbench.reference import PAPERS as REFS, load_reference
        print(workbench.__file__)
        print(data_cards_dir())
        assert read_card("orl").fields and read_card("mfeat").fields
        print(sum(len(load_reference(p)) for p in REFS))
        print(len([load_profile(p, "smoke") for p in PAPERS]))
        """,
    )
    lines = out.splitlines()
    assert lines[0].startswith(str(site)) and str(ROOT) not in lines[0]
    assert lines[1].startswith(str(site))
    assert int(lines[2]) > 100 and lines[3] == "5"


def test_installed_cli_lists_datasets_with_their_cards(fresh_venv):
    python, site, tmp = fresh_venv
    out = subprocess.run(
        [str(python), "-m", "workbench.cli", "datasets"], cwd=tmp, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"}, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    orl = next(line for line in out.stdout.splitlines() if line.startswith("orl "))
    # the card's summary (modalities, task, source), read from the wheel's copy
    assert "needs data_root" in orl and "[view1, view2] multiclass" in orl and "OTM/GWMAC" in orl
