"""Image-text sets: Hateful Memes, MM-IMDb, (UPMC) Food-101, N24News, MVSA-Single.

Raw form only: ``image`` is ``float32 [3, H, W]`` in [0, 1] resized to ``image_size`` (bilinear),
``text`` is the raw string as UTF-8 byte ids (``long [L_i]``; :func:`decode_text` gives the
string back for a tokenizer). Feature extraction (ViLT patches, BERT, ResNet-18 features as in
RAML) is out of scope here: run your encoder on these tensors/strings.

All images of a split are decoded eagerly; use ``limit`` (samples per split) and a small
``image_size`` for quick runs (Food-101 at 224 x 224 needs about 60 GB as float32).

Formats followed:

- Hateful Memes: the challenge release, ``train.jsonl``, ``dev_seen.jsonl`` (or ``dev.jsonl``),
  ``test_seen.jsonl`` with ``{"id", "img": "img/<id>.png", "label", "text"}``; WMA's split
  8500/500/1000 is train/dev_seen/test_seen.
- MM-IMDb: the original release, ``mmimdb/split.json`` (``{"train", "dev", "test"}`` id lists)
  and ``mmimdb/dataset/<id>.json`` (``genres``, ``plot`` list) + ``<id>.jpeg``, as read by
  MMBT's ``format_mmimdb_dataset`` and the publisher's ``make_dataset.py`` (gmu-mmimdb), both
  of which keep the longest plot (the default here).
- Food-101 and MVSA-Single: QMF's jsonl (``QingyangZhang/QMF``,
  ``text-image-classification/datasets/{food101,MVSA_Single}/{train,dev,test}.jsonl`` with
  ``{"text", "img", "label"}``, image paths relative to the jsonl folder). Food-101 also reads the
  UPMC release (``texts/{train,test}_titles.csv`` rows ``image, text, label`` and
  ``images/{train,test}/<label>/<image>``) with a seeded validation split of the training set.
- N24News: ``nytimes_dataset.json`` (list of ``{"headline", "abstract", "caption", "body",
  "section", "image_id", ...}``) and ``imgs/<image_id>.jpg`` (``images/`` accepted), as in
  ``billywzh717/N24News``; ``nytimes_{train,dev,test}.json`` are used when present, otherwise a
  seeded split (RAML: random 80/20 train/test; here 0.8/0.1/0.1 by default).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._real import (
    decode_text,
    encode_labels,
    encode_text,
    find_file,
    load_image,
    malformed,
    missing_file,
    read_jsonl,
    seeded_split,
)
from .base import MultimodalDataset, Task
from .registry import register

__all__ = [
    "MMIMDB_GENRES",
    "decode_text",
    "load_food101",
    "load_hateful_memes",
    "load_mmimdb",
    "load_mvsa_single",
    "load_n24news",
]

# The 23 genres kept by Arevalo et al. (2017) and the ViLT/missing-aware-prompt setups.
MMIMDB_GENRES = (
    "Drama", "Comedy", "Romance", "Thriller", "Crime", "Action", "Adventure", "Horror",
    "Documentary", "Mystery", "Sci-Fi", "Fantasy", "Family", "Biography", "War", "History",
    "Music", "Animation", "Musical", "Western", "Sport", "Short", "Film-Noir",
)  # fmt: skip


@dataclass(frozen=True)
class _Source:
    """What every split of one load shares: the dataset's name and where it is published (for
    the errors), and how its images and texts are decoded."""

    name: str
    published: str
    image_size: int
    max_text_bytes: int | None


def _build(
    src: _Source,
    split: str,
    items: Sequence[tuple[Path, str]],
    y: torch.Tensor,
    task: Task,
    meta: dict[str, Any],
) -> MultimodalDataset:
    """One split from ``(image path, text)`` items; a missing image names the file expected."""
    if not items:
        raise ValueError(f"Dataset {src.name!r} split {split!r} is empty; check the split files.")
    images, texts = [], []
    for img_path, text in items:
        if not img_path.exists():
            raise missing_file(src.name, img_path, src.published)
        images.append(load_image(img_path, src.image_size))
        texts.append(encode_text(text, src.max_text_bytes))
    return MultimodalDataset(
        src.name, {"image": torch.stack(images), "text": texts}, y, task, split=split, meta=meta
    )


def _limit(seq: list, limit: int | None) -> list:
    return seq if limit is None else seq[:limit]


def _read_jsonl_split(
    root: Path, src: _Source, candidates: Sequence[str], limit: int | None, hint: str = ""
) -> tuple[Path, list[dict[str, Any]]]:
    """The first of ``candidates`` found under ``root`` and its first ``limit`` records."""
    path = find_file(root, src.name, candidates, src.published, hint)
    return path, _limit(read_jsonl(path), limit)


def _require(path: Path, recs: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
    """Every record has ``keys``, else a :class:`DataFormatError` naming the file and line."""
    for i, r in enumerate(recs, 1):
        missing = [k for k in keys if k not in r]
        if missing:
            raise malformed(
                path,
                f"record {i}: {missing[0]}",
                f"records with the keys {list(keys)}",
                f"keys {sorted(r)}",
            )


def _jsonl_items(path: Path, recs: Sequence[dict[str, Any]]) -> list[tuple[Path, str]]:
    """``(image path, text)`` of jsonl records ``{"img", "text"}``; ``img`` is relative to the
    folder of the jsonl file (Hateful Memes and QMF alike)."""
    _require(path, recs, ["img"])
    return [(path.parent / str(r["img"]), str(r.get("text", ""))) for r in recs]


# ----------------------------------------------------------------------------- Hateful Memes

_HM = "https://hatefulmemeschallenge.com (also the Hugging Face mirror of the challenge data)"


@register("hateful_memes", embedded=False)
def load_hateful_memes(
    root: Path, *, image_size: int = 224, max_text_bytes: int | None = 512, limit: int | None = None
) -> dict[str, MultimodalDataset]:
    """Hateful Memes (binary, AUROC as in WMA): ``image`` + ``text``; see the module docstring."""
    root = Path(root)
    src = _Source("hateful_memes", _HM, image_size, max_text_bytes)
    files = {
        "train": ["train.jsonl", "data/train.jsonl"],
        "validation": ["dev_seen.jsonl", "dev.jsonl", "data/dev_seen.jsonl", "data/dev.jsonl"],
        "test": ["test_seen.jsonl", "data/test_seen.jsonl"],
    }
    task = Task("binary", 1, "auroc")
    out = {}
    hint = "The unlabelled test.jsonl cannot be used: WMA's test split is test_seen.jsonl."
    for split, cands in files.items():
        path, recs = _read_jsonl_split(root, src, cands, limit, hint)
        if any("label" not in r for r in recs):
            raise malformed(
                path,
                "label",
                "labelled records (use the labelled *_seen.jsonl files, not test.jsonl)",
                "records without 'label'",
            )
        _require(path, recs, ["id", "img", "label", "text"])
        bad = [r["label"] for r in recs if r["label"] not in (0, 1)]
        if bad:
            raise malformed(path, "label", "binary labels 0/1", f"{bad[:3]}")
        items = _jsonl_items(path, recs)
        y = torch.tensor([float(r["label"]) for r in recs])
        out[split] = _build(src, split, items, y, task, {"ids": [r.get("id") for r in recs]})
    return out


# ----------------------------------------------------------------------------- MM-IMDb

_MMIMDB = "http://lisi1.unal.edu.co/mmimdb/ (Arevalo et al., 2017)"


@register("mmimdb", embedded=False)
def load_mmimdb(
    root: Path,
    *,
    genres: Sequence[str] = MMIMDB_GENRES,
    image_size: int = 224,
    max_text_bytes: int | None = 2048,
    limit: int | None = None,
    plot: str = "longest",
) -> dict[str, MultimodalDataset]:
    """MM-IMDb genre tagging: poster ``image`` + ``text`` plot, multi-hot over ``genres`` (F1).

    Reads the original release (``mmimdb.tar.gz``): ``mmimdb/split.json`` (``train``/``dev``/
    ``test`` id lists) and ``mmimdb/dataset/<id>.json`` (``genres``: list, ``plot``: list of
    plot texts, among other metadata) with ``<id>.jpeg``.

    Args:
        genres: the label set; defaults to the 23 of Arevalo et al. (pass another list, e.g. 25
            genres as the WMA paper states, to change it).
        plot: ``"longest"`` takes the longest of a movie's plots, as the publisher's
            ``make_dataset.py`` (gmu-mmimdb) and MMBT's ``format_mmimdb_dataset`` do; ``"all"``
            joins them with spaces; ``"first"`` takes the first (missing-aware prompts'
            ``single_plot``).
    """
    if plot not in ("longest", "all", "first"):
        raise ValueError(f"plot={plot!r}; expected 'longest', 'all' or 'first'.")
    root = Path(root)
    src = _Source("mmimdb", _MMIMDB, image_size, max_text_bytes)
    hint = ""
    if (root / "multimodal_imdb.hdf5").exists():
        hint = (
            "multimodal_imdb.hdf5 is there, but it holds only derived features (word2vec means "
            "'features', VGG 'vgg_features', 256 x 160 'images', word-id 'sequences' whose "
            "vocabulary is a pickle): this loader reads the raw release mmimdb.tar.gz (posters "
            "and plot texts)."
        )
    split_path = find_file(root, "mmimdb", ["mmimdb/split.json", "split.json"], _MMIMDB, hint)
    data_dir = next(
        (
            d
            for d in (split_path.parent / "dataset", root / "mmimdb" / "dataset", root / "dataset")
            if d.is_dir()
        ),
        None,
    )
    if data_dir is None:
        raise missing_file("mmimdb", split_path.parent / "dataset", _MMIMDB)
    try:
        splits = json.loads(split_path.read_text())
    except json.JSONDecodeError as e:
        raise malformed(split_path, None, "a JSON object of id lists", str(e)) from None
    for key in ("train", "dev", "test"):
        if not isinstance(splits, dict) or not isinstance(splits.get(key), list):
            found = f"keys {sorted(splits)}" if isinstance(splits, dict) else type(splits).__name__
            raise malformed(split_path, key, "id lists under 'train', 'dev' and 'test'", found)
    index = {g: i for i, g in enumerate(genres)}
    task = Task("multilabel", len(genres), "f1_micro")
    out = {}
    for split, key in (("train", "train"), ("validation", "dev"), ("test", "test")):
        ids = _limit([str(i) for i in splits[key]], limit)
        items, rows = [], []
        for i in ids:
            jpath = data_dir / f"{i}.json"
            if not jpath.exists():
                raise missing_file("mmimdb", jpath, _MMIMDB)
            try:
                rec = json.loads(jpath.read_text())
            except json.JSONDecodeError as e:
                raise malformed(jpath, None, "a JSON object", str(e)) from None
            for key in ("genres", "plot"):
                if not isinstance(rec, dict) or key not in rec:
                    raise malformed(
                        jpath, key, "a movie record with 'genres' and 'plot'", "no such key"
                    )
            if not isinstance(rec["genres"], list):
                raise malformed(
                    jpath, "genres", "a list of genre names", type(rec["genres"]).__name__
                )
            plots = rec["plot"] if isinstance(rec["plot"], list) else [str(rec["plot"])]
            plots = [str(p) for p in plots] or [""]
            if plot == "longest":
                text = plots[int(np.argmax([len(p) for p in plots]))]
            elif plot == "first":
                text = plots[0]
            else:
                text = " ".join(plots)
            target = np.zeros(len(genres), dtype=np.float32)
            for g in rec["genres"]:
                if g in index:
                    target[index[g]] = 1.0
            items.append((data_dir / f"{i}.jpeg", text))
            rows.append(target)
        y = torch.as_tensor(np.stack(rows)) if rows else torch.zeros(0, len(genres))
        meta = {"ids": ids, "genres": list(genres), "plot": plot}
        out[split] = _build(src, split, items, y, task, meta)
    return out


# ----------------------------------------------------------------------------- QMF jsonl


def _qmf_jsonl(root: Path, src: _Source, limit: int | None) -> dict[str, MultimodalDataset]:
    """QMF's ``{train,dev,test}.jsonl``: multiclass (accuracy) over the labels of all three."""
    recs = {
        split: _read_jsonl_split(root, src, [fname], limit)
        for split, fname in (
            ("train", "train.jsonl"),
            ("validation", "dev.jsonl"),
            ("test", "test.jsonl"),
        )
    }
    for path, rs in recs.values():
        _require(path, rs, ["img", "label", "text"])
    classes = sorted({str(r["label"]) for _, rs in recs.values() for r in rs})
    task = Task("multiclass", len(classes), "accuracy")
    out = {}
    for split, (path, rs) in recs.items():
        y, _ = encode_labels([str(r["label"]) for r in rs], classes)
        items = _jsonl_items(path, rs)
        meta = {"classes": list(classes)}
        out[split] = _build(src, split, items, torch.as_tensor(y), task, meta)
    return out


_IMAGE_EXT = (".jpg", ".jpeg", ".png")
_FOOD = "UPMC Food-101: https://visiir.isir.upmc.fr/ (QMF's jsonl: github.com/QingyangZhang/QMF)"


@register("food101", embedded=False)
def load_food101(
    root: Path,
    *,
    image_size: int = 224,
    max_text_bytes: int | None = 1024,
    limit: int | None = None,
    val_fraction: float = 0.1,
    seed: int = 0,
) -> dict[str, MultimodalDataset]:
    """UPMC Food-101 (101 classes, accuracy): ``image`` + ``text`` (web page text).

    Reads QMF's ``{train,dev,test}.jsonl`` when present; otherwise the UPMC release
    (``texts/{train,test}_titles.csv`` + ``images/{train,test}/<label>/<image>``), with a
    stratified validation set of ``val_fraction`` of the training rows (seeded by ``seed``).
    """
    root = Path(root)
    src = _Source("food101", _FOOD, image_size, max_text_bytes)
    if (root / "train.jsonl").exists():
        return _qmf_jsonl(root, src, limit)
    rows: dict[str, list[tuple[str, str, str]]] = {}
    for part in ("train", "test"):
        path = find_file(root, "food101", [f"texts/{part}_titles.csv"], _FOOD)
        with path.open(newline="", encoding="utf-8") as f:
            rows[part] = [(r[0], r[1], r[2]) for r in csv.reader(f) if len(r) >= 3]
        # Some copies (e.g. the Kaggle mirror) carry a header row such as
        # "filename,text,class_name": a first row that names no image file is dropped.
        if rows[part] and not rows[part][0][0].lower().endswith(_IMAGE_EXT):
            rows[part] = rows[part][1:]
        bad = [r[0] for r in rows[part] if not r[0].lower().endswith(_IMAGE_EXT)]
        if bad:
            raise malformed(
                path, "image", "rows 'image file, text, label'", f"image field {bad[0]!r}"
            )
    classes = sorted({r[2] for r in rows["train"]} | {r[2] for r in rows["test"]})
    y_train, _ = encode_labels([r[2] for r in rows["train"]], classes)
    idx = seeded_split(len(y_train), (1 - val_fraction, val_fraction, 0.0), seed, stratify=y_train)
    task = Task("multiclass", len(classes), "accuracy")
    parts = {
        "train": ("train", [rows["train"][i] for i in idx["train"]]),
        "validation": ("train", [rows["train"][i] for i in idx["validation"]]),
        "test": ("test", rows["test"]),
    }
    out = {}
    for split, (folder, rs) in parts.items():
        rs = _limit(rs, limit)
        y, _ = encode_labels([r[2] for r in rs], classes)
        items = [(root / "images" / folder / r[2] / r[0], r[1]) for r in rs]
        meta = {"classes": classes, "val_fraction": val_fraction, "seed": seed}
        out[split] = _build(src, split, items, torch.as_tensor(y), task, meta)
    return out


@register("mvsa_single", embedded=False)
def load_mvsa_single(
    root: Path, *, image_size: int = 224, max_text_bytes: int | None = 512, limit: int | None = None
) -> dict[str, MultimodalDataset]:
    """MVSA-Single tweet sentiment (positive/neutral/negative, accuracy) in QMF's jsonl layout."""
    published = "MVSA: https://mcrlab.net/research/mvsa-sentiment-analysis-on-multi-view-social-data/ (QMF's jsonl splits: github.com/QingyangZhang/QMF)"
    return _qmf_jsonl(
        Path(root), _Source("mvsa_single", published, image_size, max_text_bytes), limit
    )


# ----------------------------------------------------------------------------- N24News

_N24 = "https://github.com/billywzh717/N24News (Google Drive link in its README)"


@register("n24news", embedded=False)
def load_n24news(
    root: Path,
    *,
    text_field: str = "headline",
    image_size: int = 224,
    max_text_bytes: int | None = 2048,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    limit: int | None = None,
) -> dict[str, MultimodalDataset]:
    """N24News (24 sections, accuracy): news ``image`` + ``text`` (``text_field`` of the record:
    ``headline``, ``abstract``, ``caption`` or ``body``)."""
    root = Path(root)
    src = _Source("n24news", _N24, image_size, max_text_bytes)
    split_files = {
        s: root / f"nytimes_{f}.json"
        for s, f in (("train", "train"), ("validation", "dev"), ("test", "test"))
    }
    if all(p.exists() for p in split_files.values()):
        recs = {s: json.loads(p.read_text()) for s, p in split_files.items()}
        info: dict[str, Any] = {"split": "published files"}
    else:
        path = find_file(root, "n24news", ["nytimes_dataset.json"], _N24)
        allrecs = json.loads(path.read_text())
        y_all, _ = encode_labels([r["section"] for r in allrecs])
        idx = seeded_split(len(allrecs), fractions, seed, stratify=y_all)
        recs = {s: [allrecs[i] for i in ix] for s, ix in idx.items()}
        info = {"fractions": tuple(fractions), "seed": seed}
    classes = sorted({r["section"] for rs in recs.values() for r in rs})
    task = Task("multiclass", len(classes), "accuracy")
    img_dir = next((root / d for d in ("imgs", "images") if (root / d).is_dir()), root / "imgs")
    out = {}
    for split, rs in recs.items():
        rs = _limit(rs, limit)
        if rs and text_field not in rs[0]:
            raise ValueError(
                f"text_field={text_field!r} is not a field of N24News records; fields are {sorted(rs[0])}."
            )
        y, _ = encode_labels([r["section"] for r in rs], classes)
        items = [(img_dir / f"{r['image_id']}.jpg", str(r.get(text_field, ""))) for r in rs]
        out[split] = _build(
            src, split, items, torch.as_tensor(y), task, {"classes": classes, **info}
        )
    return out
