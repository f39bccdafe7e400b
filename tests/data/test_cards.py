"""Every data card validates against the schema; registry entries and cards match one to one."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
import yaml

from workbench.data import available, spec
from workbench.data.base import TASK_KINDS, data_cards_dir

REQUIRED = {
    "name": str,
    "description": str,
    "modalities": Mapping,
    "task": Mapping,
    "splits": Mapping,
    "source": str,
    "licence": str,
    "citation": str,
    "files": list,
    "embedded": bool,
    "papers": list,
    "pitfalls": list,
}
PAPERS = {"wma", "mla", "raml", "otm"}
CARDS = sorted(p.stem for p in data_cards_dir().glob("*.yaml"))


def _load(name: str) -> dict:
    with (data_cards_dir() / f"{name}.yaml").open() as f:
        return yaml.safe_load(f)


def validate_card(card: Mapping, stem: str) -> list[str]:
    """Schema problems of one card (empty when valid)."""
    problems = []
    for key, typ in REQUIRED.items():
        if key not in card:
            problems.append(f"missing key {key!r}")
        elif not isinstance(card[key], typ):
            problems.append(f"{key!r} should be {typ.__name__}, got {type(card[key]).__name__}")
    if problems:
        return problems
    if card["name"] != stem:
        problems.append(f"name {card['name']!r} differs from the file name {stem!r}")
    if not card["modalities"]:
        problems.append("no modalities")
    for m, info in card["modalities"].items():
        if not isinstance(info, Mapping) or set(info) < {"shape", "kind"}:
            problems.append(f"modality {m!r} needs {{shape, kind}}")
            continue
        shape = info["shape"]
        if not isinstance(shape, list) or not all(
            isinstance(d, int) and (d > 0 or d == -1) for d in shape
        ):
            problems.append(
                f"modality {m!r} shape {shape!r} must be a list of positive ints (-1: variable)"
            )
        if not isinstance(info["kind"], str):
            problems.append(f"modality {m!r} kind must be a string")
    task = card["task"]
    if task.get("kind") not in TASK_KINDS:
        problems.append(f"task kind {task.get('kind')!r} not in {TASK_KINDS}")
    if not isinstance(task.get("n_outputs"), int) or task["n_outputs"] < 1:
        problems.append("task n_outputs must be an int >= 1")
    if not isinstance(task.get("metric"), str):
        problems.append("task metric must be a string")
    if set(card["splits"]) != {"train", "validation", "test"}:
        problems.append(f"splits keys {sorted(card['splits'])} must be train/validation/test")
    for s, n in card["splits"].items():
        if n is not None and (not isinstance(n, int) or n < 0):
            problems.append(f"split {s!r} size {n!r} must be a non-negative int or null")
    for p in card["papers"]:
        paper = p.get("paper") if isinstance(p, Mapping) else str(p).split(":")[0].strip().lower()
        if paper not in PAPERS:
            problems.append(f"papers entry {p!r} names no paper of {sorted(PAPERS)}")
        if isinstance(p, Mapping) and not isinstance(p.get("use"), str):
            problems.append(f"papers entry {p!r} needs a 'use' string")
    for key in ("files", "pitfalls"):
        if not all(isinstance(x, str) for x in card[key]):
            problems.append(f"{key} must be a list of strings")
    return problems


@pytest.mark.parametrize("stem", CARDS)
def test_card_validates(stem):
    assert validate_card(_load(stem), stem) == []


def test_validator_rejects_bad_cards():
    good = _load("orl") if "orl" in CARDS else None
    if good is None:
        pytest.fail("the orl card is missing")
    assert validate_card(good, "orl") == []
    for key in REQUIRED:
        bad = {k: v for k, v in good.items() if k != key}
        assert validate_card(bad, "orl"), f"a card without {key!r} must fail"
    assert validate_card({**good, "task": {**good["task"], "kind": "ranking"}}, "orl")
    assert validate_card({**good, "splits": {"train": 1}}, "orl")
    assert validate_card({**good, "papers": [{"paper": "clip", "use": "x"}]}, "orl")
    assert validate_card(good, "ORL")


def test_every_registry_entry_has_a_card():
    assert not [n for n in available() if n not in CARDS], "datasets without data_cards/<name>.yaml"


def test_every_card_has_a_registry_entry():
    assert not [c for c in CARDS if c not in available()], "cards without a registered dataset"


@pytest.mark.parametrize("name", available())
def test_card_embedded_flag_matches_registry(name):
    if name in CARDS:
        assert _load(name)["embedded"] == spec(name).embedded
