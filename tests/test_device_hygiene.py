"""Device hygiene: every tensor a method makes follows its model's or its batch's device.

Each registered method is built on the CPU, moved to PyTorch's ``meta`` device with a ``meta``
batch, and run forward: a tensor made on a fixed device (a CUDA literal, or the CPU default of
a factory call without ``device=``) meets a ``meta`` tensor and raises "not on the expected
device". A static scan of ``workbench/`` (its syntax trees, not its text: docstrings and
comments do not count) finds device literals; the few CPU ones are listed with their reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import torch
from wma_data import token_dataset

from workbench import methods
from workbench.data import load_splits
from workbench.data.base import collate

DEVICE_ERRORS = (
    "is not on the expected device",
    "Expected all tensors to be on the same device",
    "found at least two devices",
    "Torch not compiled with CUDA",
)

META_LIMITS = {
    "CRA": "reads its epoch counter (a buffer) with int() in predict: a value, not a device",
    "MMIN": "reads its epoch counter (a buffer) with int() in predict: a value, not a device",
    "AE": "CRA with one block: reads its epoch counter (a buffer) with int() in predict",
}
"""Methods whose forward reads a tensor's value (``.item()``/``int()``), which a ``meta``
tensor does not have; their tensors are covered by the dry run and the static scan."""

KNOWN_BUGS: dict[str, str] = {}


@pytest.fixture(scope="module")
def datasets():
    out = [
        load_splits("av_digits")["train"].subset(range(8)),
        load_splits("mfeat", views=["fou", "fac", "kar"])["train"].subset(range(8)),
        token_dataset(torch.Generator().manual_seed(0), n=8),
    ]
    return out


def _params(name: str):
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name])] if name in KNOWN_BUGS else []
    return pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", [_params(n) for n in methods.available()])
def test_forward_on_meta_tensors_follows_the_model(name, datasets):
    train = next((d for d in datasets if methods.spec(name).applies(d)), None)
    assert train is not None, f"no test dataset for {name}; add one to the fixture"
    model = methods.build(name, train, seed=0).to("meta")
    batch = collate([train[i] for i in range(4)]).to("meta")
    try:
        with torch.no_grad():
            out = model(batch)
    except (RuntimeError, NotImplementedError) as err:
        text = str(err)
        assert not any(e in text for e in DEVICE_ERRORS), f"{name}: {text}"
        if name in META_LIMITS and "meta" in text:
            return
        raise
    assert name not in META_LIMITS, f"{name} now runs on meta: drop it from META_LIMITS"
    assert out.y_hat.device.type == "meta"


CPU_LITERALS = {
    ("evaluation.py", 'torch.device("cpu")'): "a model without parameters has no device",
    ("ot/fgw.py", 'torch.device("cpu")'): "inputs given as numpy arrays (no device)",
    ("ot/fgw.py", '.to("cpu", torch.float64)'): "POT's network simplex runs on the host",
    ("ot/barycenter.py", 'torch.Generator(device="cpu")'): "a default seeded CPU generator; "
    "its permutation indexes the codes on any device",
    ("ot/mixing.py", 'torch.Generator(device="cpu")'): "a default seeded CPU generator; the "
    "mask draw branches on the generator's device",
}
"""Allowed device literals in ``workbench/`` (file, call) -> why."""


def _device_literals(path: Path) -> list[tuple[int, str]]:
    text = path.read_text()
    hits = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        literal = (
            (isinstance(f, ast.Attribute) and name == "cuda")
            or any(
                k.arg == "device"
                and isinstance(k.value, ast.Constant)
                and isinstance(k.value.value, str)
                for k in node.keywords
            )
            or (
                name in ("device", "to")
                and node.args
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
            )
        )
        if literal:
            hits.append((node.lineno, ast.get_source_segment(text, node)))
    return hits


def test_no_hard_coded_device_in_the_library(tmp_path):
    root = Path(__file__).resolve().parents[1] / "workbench"
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for line, code in _device_literals(path):
            if not any(f == rel and c in code for f, c in CPU_LITERALS):
                found.append(f"workbench/{rel}:{line}: {code}")
    assert not found, "device literals (use the model's or the batch's device):\n" + "\n".join(
        found
    )
    # the scan sees what it should: a literal in a snippet is found, a docstring is not
    probe = tmp_path / "probe.py"
    probe.write_text('"""x.cuda() in a docstring"""\ntorch.zeros(2, device="cuda")\nx.cuda()\n')
    assert [line for line, _ in _device_literals(probe)] == [2, 3]
