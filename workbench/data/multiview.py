"""Multi-view clustering sets of the OTM paper (Table 1), in the files distributed with the OTM
and GWMAC code: ORL, Movies, Prokaryotic, Caltech101-7, and 3-Sources.

Each loader reads ``data_root`` and returns ``{"train", "validation", "test"}``. Clustering in
the OTM paper is transductive (labels are used only to score purity), so by default every split
holds the whole set; pass ``fractions=(0.6, 0.2, 0.2)`` (and ``seed``) for a seeded, stratified
split for supervised use.

``.mat`` files are read with :func:`scipy.io.loadmat` (MATLAB v5/v7). A v7.3 (HDF5) file raises
a ``ValueError`` saying how to re-save it. Views stored as MATLAB cell arrays (``1 x V`` or
``V x 1``) are unpacked; a view whose samples are columns (``d x N``) is transposed, the
orientation being decided by matching the number of labels.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._real import encode_labels, find_file, make_splits, missing_file, seeded_split
from .base import MultimodalDataset, Task
from .registry import register

__all__ = [
    "load_caltech101_7",
    "load_mat",
    "load_movies",
    "load_orl",
    "load_prokaryotic",
    "load_three_sources",
    "orient_view",
    "unpack_views",
]

_OTM_SOURCE = "the OTM/GWMAC code releases (see the data card's `source`)"


# ----------------------------------------------------------------------------- .mat helpers


def load_mat(path: Path) -> dict[str, Any]:
    """Variables of a MATLAB v5/v7 ``.mat`` file (``__header__`` etc. dropped).

    Raises:
        ValueError: for a v7.3 (HDF5) file, with the way to convert it.
    """
    import scipy.io

    try:
        content = scipy.io.loadmat(str(path))
    except NotImplementedError as e:  # scipy raises this for v7.3 files
        raise ValueError(
            f"{path} is a MATLAB v7.3 (HDF5) file, which scipy.io.loadmat cannot read. Re-save it "
            "once as v7 in MATLAB/Octave: `load('<file>'); save('<file>', '-v7')`, or read it "
            "with h5py and write the arrays with scipy.io.savemat."
        ) from e
    return {k: v for k, v in content.items() if not k.startswith("__")}


def _dense(x: Any) -> np.ndarray:
    import scipy.sparse

    if scipy.sparse.issparse(x):
        x = x.toarray()
    return np.asarray(x, dtype=np.float64)


def unpack_views(x: Any) -> list[np.ndarray]:
    """The views of a MATLAB cell array (object array ``1 x V``/``V x 1``) or one plain matrix."""
    arr = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    if arr.dtype == object:
        return [_dense(v) for v in arr.ravel()]
    return [_dense(arr)]


def _labels(y: Any) -> np.ndarray:
    y = np.asarray(_dense(y)).ravel()
    ids, _ = encode_labels(y.tolist())
    return ids


def orient_view(view: np.ndarray, n: int, name: str, label: str) -> np.ndarray:
    """``view`` as ``[n, d]``: kept if it has ``n`` rows, transposed if it has ``n`` columns.

    Raises:
        ValueError: when neither dimension matches the number of labels ``n``.
    """
    view = np.atleast_2d(view)
    if view.shape[0] == n:
        return view
    if view.shape[1] == n:
        return view.T
    raise ValueError(
        f"Dataset {name!r}: view {label!r} has shape {view.shape}, but there are {n} labels; "
        "neither its rows nor its columns match. Check that the label file belongs to this data."
    )


def _pick(content: dict[str, Any], keys: Sequence[str], name: str, path: Path) -> Any:
    lower = {k.lower(): k for k in content}
    for k in keys:
        if k.lower() in lower:
            return content[lower[k.lower()]]
    raise ValueError(
        f"Dataset {name!r}: {path} has variables {sorted(content)}, none of {list(keys)}; "
        f"see data_cards/{name}.yaml for the expected layout."
    )


def _build(
    name: str,
    views: Sequence[np.ndarray],
    view_names: Sequence[str],
    y: np.ndarray,
    fractions: Sequence[float] | None,
    seed: int,
    meta: dict[str, Any] | None = None,
) -> dict[str, MultimodalDataset]:
    n = len(y)
    if len(views) != len(view_names):
        raise ValueError(
            f"Dataset {name!r}: found {len(views)} views, expected {len(view_names)} ({list(view_names)})."
        )
    inputs = {
        m: torch.as_tensor(orient_view(v, n, name, m), dtype=torch.float32)
        for m, v in zip(view_names, views)
    }
    n_classes = int(y.max()) + 1
    task = Task("multiclass", n_classes, "purity")
    idx = None if fractions is None else seeded_split(n, fractions, seed, stratify=y)
    info = {
        "fractions": None if fractions is None else tuple(fractions),
        "seed": seed,
        **(meta or {}),
    }
    return make_splits(name, inputs, torch.as_tensor(y, dtype=torch.long), task, idx, info)


# ----------------------------------------------------------------------------- ORL


@register("orl", embedded=False)
def load_orl(
    root: Path, *, fractions: Sequence[float] | None = None, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """ORL faces, 2 views x 288-d, 400 samples, 40 classes (OTM Table 1).

    Files (as in the OTM/GWMAC release): ``orl.mat`` with ``X`` a ``1 x 2`` cell of ``400 x 288``
    views, and ``orl_y.mat`` with ``y`` (a label variable inside ``orl.mat`` is used when
    ``orl_y.mat`` is absent). In that release both views are byte-identical; the loader keeps
    them as given and records ``meta["identical_views"]``.

    Args:
        root: ``data_root`` holding the files.
        fractions: ``None`` (every split is the whole set) or ``(train, val, test)`` fractions.
        seed: seed of the stratified split when ``fractions`` is given.
    """
    root = Path(root)
    x_path = find_file(root, "orl", ["orl.mat", "ORL.mat"], _OTM_SOURCE)
    content = load_mat(x_path)
    views = unpack_views(_pick(content, ["X", "data", "fea"], "orl", x_path))
    y_path = next((p for p in (root / "orl_y.mat", root / "ORL_y.mat") if p.exists()), None)
    if y_path is not None:
        y = _labels(_pick(load_mat(y_path), ["y", "Y", "gt", "truth"], "orl", y_path))
    else:
        try:
            y = _labels(_pick(content, ["y", "Y", "gt", "truth", "gnd"], "orl", x_path))
        except ValueError:
            raise missing_file(
                "orl", root / "orl_y.mat", _OTM_SOURCE, "orl.mat holds no labels either."
            ) from None
    views = [orient_view(v, len(y), "orl", f"view{i + 1}") for i, v in enumerate(views)]
    identical = (
        len(views) == 2 and views[0].shape == views[1].shape and np.array_equal(views[0], views[1])
    )
    return _build(
        "orl", views, ["view1", "view2"], y, fractions, seed, {"identical_views": bool(identical)}
    )


# ----------------------------------------------------------------------------- Movies


def _read_matrix_txt(path: Path) -> np.ndarray:
    with path.open() as f:
        first = f.readline()
    delimiter = "," if "," in first else None
    return np.atleast_2d(np.loadtxt(path, delimiter=delimiter))


@register("movies", embedded=False)
def load_movies(
    root: Path, *, fractions: Sequence[float] | None = None, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """Movies, keywords (1878-d) and actors (1398-d), 617 samples, 17 classes (OTM Table 1).

    Files (as in the GWMAC release): ``M1.txt`` keywords ``617 x 1878``, ``M2.txt`` actors
    ``617 x 1398``, ``Mact.txt`` labels; whitespace- or comma-separated numbers.
    """
    root = Path(root)
    paths = [
        find_file(root, "movies", [f], "http://membres-lig.imag.fr/grimal/data.html")
        for f in ("M1.txt", "M2.txt", "Mact.txt")
    ]
    y = _labels(_read_matrix_txt(paths[2]))
    views = [_read_matrix_txt(p) for p in paths[:2]]
    return _build("movies", views, ["keywords", "actors"], y, fractions, seed)


# ----------------------------------------------------------------------------- Prokaryotic


@register("prokaryotic", embedded=False)
def load_prokaryotic(
    root: Path, *, fractions: Sequence[float] | None = None, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """Prokaryotic phyla, 3 views (text 438, proteome_comp 3, gene_repert 393), 551 samples, 4 classes.

    File: ``prokaryotic.mat`` with variables ``text``, ``proteome_comp``, ``gene_repert``,
    ``truth`` (from https://github.com/mbrbic/Multi-view-LRSSC/tree/master/datasets).
    """
    path = find_file(
        Path(root),
        "prokaryotic",
        ["prokaryotic.mat"],
        "https://github.com/mbrbic/Multi-view-LRSSC/tree/master/datasets",
    )
    content = load_mat(path)
    names = ["text", "proteome_comp", "gene_repert"]
    views = [_dense(_pick(content, [k], "prokaryotic", path)) for k in names]
    y = _labels(_pick(content, ["truth", "y", "gt"], "prokaryotic", path))
    return _build("prokaryotic", views, names, y, fractions, seed)


# ----------------------------------------------------------------------------- Caltech101-7

CALTECH_VIEWS = ("gabor", "wavelet_moments", "centrist", "hog", "gist", "lbp")


@register("caltech101_7", embedded=False)
def load_caltech101_7(
    root: Path, *, fractions: Sequence[float] | None = None, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """Caltech101-7, 6 views [48, 40, 254, 1984, 512, 928], 1474 samples, 7 classes (OTM Table 1).

    File: ``Caltech101-7.mat`` (or ``Caltech101_7.mat``) with ``X`` a ``1 x 6`` cell of views
    (samples as rows or columns) and ``Y`` labels (``y``/``gt``/``truth`` accepted). Views are
    named Gabor, wavelet moments, CENTRIST, HOG, GIST, LBP in the cell's order.
    """
    path = find_file(
        Path(root),
        "caltech101_7",
        ["Caltech101-7.mat", "Caltech101_7.mat", "caltech101-7.mat", "Caltech7.mat"],
        "https://data.caltech.edu/records/20086 (features as in the OTM/GWMAC release)",
    )
    content = load_mat(path)
    views = unpack_views(_pick(content, ["X", "data", "fea"], "caltech101_7", path))
    y = _labels(_pick(content, ["Y", "y", "gt", "truth", "gnd"], "caltech101_7", path))
    names = list(CALTECH_VIEWS) if len(views) == 6 else [f"view{i + 1}" for i in range(len(views))]
    return _build("caltech101_7", views, names, y, fractions, seed)


# ----------------------------------------------------------------------------- 3-Sources

THREE_SOURCES = ("bbc", "guardian", "reuters")
_UCD = "http://mlg.ucd.ie/datasets/3sources.html"


def _read_clist(path: Path) -> dict[str, str]:
    """``doc id -> topic`` from a ``.clist`` file: one line per topic, ``topic: id,id,...``."""
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        topic, _, ids = line.partition(":") if ":" in line else line.partition("\t")
        for d in re.split(r"[,\s]+", ids.strip()):
            if d:
                out[d] = topic.strip()
    return out


@register("three_sources", embedded=False)
def load_three_sources(
    root: Path, *, fractions: Sequence[float] | None = None, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """3-Sources news stories (BBC, Guardian, Reuters term counts), 169 stories, 6 topics.

    Reads the UCD release: ``3sources_{bbc,guardian,reuters}.mtx`` (Matrix Market, terms x
    documents), ``3sources_{source}.docs`` (one story id per line, the order of the matrix
    columns) and ``3sources.disjoint.clist`` (``topic: id,id,...`` per line). The 169 stories
    present in all three sources and labelled in the clist are kept, sorted by id. Falls back to
    a ``3sources.mat`` (``X``/``data`` cell of 3 views, ``truth``/``gt``/``Y``) as redistributed
    by multi-view clustering code. The UCD layout is implemented from its documentation; it
    could not be checked against a file here (see the card's pitfalls).
    """
    root = Path(root)
    mat = next((root / f for f in ("3sources.mat", "3Sources.mat") if (root / f).exists()), None)
    if mat is not None and not (root / "3sources_bbc.mtx").exists():
        content = load_mat(mat)
        views = unpack_views(_pick(content, ["X", "data", "fea"], "three_sources", mat))
        y = _labels(_pick(content, ["truth", "gt", "Y", "y"], "three_sources", mat))
        return _build("three_sources", views, list(THREE_SOURCES)[: len(views)], y, fractions, seed)
    import scipy.io

    clist = find_file(root, "three_sources", ["3sources.disjoint.clist"], _UCD)
    topic_of = _read_clist(clist)
    per_source: dict[str, dict[str, np.ndarray]] = {}
    for s in THREE_SOURCES:
        mtx = find_file(root, "three_sources", [f"3sources_{s}.mtx"], _UCD)
        docs_path = find_file(root, "three_sources", [f"3sources_{s}.docs"], _UCD)
        docs = [d.strip() for d in docs_path.read_text().split() if d.strip()]
        m = _dense(scipy.io.mmread(str(mtx)))
        if m.shape[1] != len(docs) and m.shape[0] == len(docs):
            m = m.T  # stored documents x terms
        if m.shape[1] != len(docs):
            raise ValueError(
                f"{mtx} has shape {m.shape} but {docs_path} lists {len(docs)} documents."
            )
        per_source[s] = {d: m[:, j] for j, d in enumerate(docs)}
    common = set(topic_of)
    for s in THREE_SOURCES:
        common &= set(per_source[s])
    ids = sorted(common, key=lambda d: (len(d), d))
    if not ids:
        raise ValueError(
            f"Dataset 'three_sources': no story id is in all three sources and in {clist}."
        )
    y, topics = encode_labels([topic_of[d] for d in ids])
    views = [np.stack([per_source[s][d] for d in ids]) for s in THREE_SOURCES]
    return _build(
        "three_sources",
        views,
        list(THREE_SOURCES),
        y,
        fractions,
        seed,
        {"ids": ids, "topics": topics},
    )
