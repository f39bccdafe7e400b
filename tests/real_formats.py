"""Writers of tiny fixture files in real datasets' published formats (shared by the loader
tests and the end-to-end method tests; never real data)."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from workbench.data import multibench


def image(path: Path, rng: np.random.Generator, size=(12, 10), fmt=None) -> None:
    """A random RGB image file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path, format=fmt)


def write_hateful_memes(root: Path, rng, sizes=(4, 2, 3), text=lambda rid: f"meme {rid} é"):
    """``train.jsonl``, ``dev_seen.jsonl``, ``test_seen.jsonl`` + ``img/<id>.png`` (labels
    alternate 0/1 within a split)."""
    for fname, n in zip(("train.jsonl", "dev_seen.jsonl", "test_seen.jsonl"), sizes):
        lines = []
        for i in range(n):
            rid = f"{fname[:3]}{i}"
            image(root / "img" / f"{rid}.png", rng)
            record = {"id": rid, "img": f"img/{rid}.png", "label": i % 2, "text": text(rid)}
            lines.append(json.dumps(record))
        (root / fname).write_text("\n".join(lines) + "\n")


def write_mmimdb(root: Path, rng, split: dict, genres: dict) -> None:
    """``mmimdb/split.json`` and ``mmimdb/dataset/<id>.json`` (+ ``.jpeg``), the original
    release's layout; ``genres`` maps an id to its genre list."""
    data = root / "mmimdb" / "dataset"
    data.mkdir(parents=True, exist_ok=True)
    for i, gs in genres.items():
        (data / f"{i}.json").write_text(json.dumps({"genres": gs, "plot": [f"plot {i}", "more"]}))
        image(data / f"{i}.jpeg", rng, fmt="JPEG")
    (root / "mmimdb" / "split.json").write_text(json.dumps(split))


def affect_dict(rng, sizes=(5, 3, 4), L=6, dims=(4, 3, 2)) -> dict:
    """A MultiBench affect pickle's content (MOSI/MOSEI/UR-FUNNY): per split ``text``,
    ``vision``, ``audio`` ``[n, L, d]`` with leading zero padding, ``labels`` ``[n, 1, 1]``
    in [-3, 3], ``id``; one ``-inf`` in the audio as in the released files."""
    out = {}
    for split, n in zip(("train", "valid", "test"), sizes):
        part = {}
        for m, d in zip(("text", "vision", "audio"), dims):
            x = rng.normal(size=(n, L, d)).astype(np.float32)
            x[:, :2] = 0.0  # leading padding, as in MultiBench's aligned pickles
            part[m] = x
        part["audio"][0, 3, 0] = -np.inf
        part["labels"] = rng.uniform(-3, 3, size=(n, 1, 1)).astype(np.float32)
        part["id"] = np.array([[f"vid{i}".encode()] for i in range(n)], dtype=object)
        out[split] = part
    return out


def write_pickle(path: Path, obj) -> Path:
    """Pickle ``obj`` to ``path`` (the fixtures' own data: safe to load)."""
    path.write_bytes(pickle.dumps(obj))
    return path


def write_affect_npz(root: Path, name: str, rng, **sizes) -> Path:
    """An affect dataset as the npz that :func:`multibench.convert_pickle_to_npz` writes
    (``mosei_senti_data.npz``, ``humor.npz``, ...)."""
    src = write_pickle(root / f".{name}.pkl", affect_dict(rng, **sizes))
    out = root / f"{name}.npz"
    multibench.convert_pickle_to_npz(src, out, trust_pickle=True)
    src.unlink()
    return out
