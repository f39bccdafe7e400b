"""Shared fixtures: offline hubs, a headless matplotlib, seeded generators, a temp cache."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def generator() -> torch.Generator:
    """A seeded CPU torch generator."""
    return torch.Generator().manual_seed(1234)


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded numpy generator."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Checkpoints, feature caches and saved tables of a test session go to temp folders."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "workbench-cache"))
    monkeypatch.setenv("WORKBENCH_OUTPUTS", str(tmp_path_factory.getbasetemp() / "workbench-outputs"))


# Property tests search deterministically: a run is reproducible and CI cannot flake on a
# newly drawn example (use `--hypothesis-seed` or a local profile to explore further).
from hypothesis import settings  # noqa: E402

settings.register_profile("workbench", derandomize=True, deadline=None)
settings.load_profile("workbench")
