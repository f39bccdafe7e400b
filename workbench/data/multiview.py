"""Multi-view clustering sets of the OTM paper (Table 1), in the files distributed with the OTM
and GWMAC code: ORL, Movies, Prokaryotic, Caltech101-7, and 3-Sources.

Each loader reads ``data_root`` and returns ``{"train", "validation", "test"}``. Clustering in
the OTM paper is transductive (labels are used only to score purity), so by default every split
holds the whole set; pass ``fractions=(0.6, 0.2, 0.2)`` (and ``seed``) for a seeded, stratified
split for supervised use.

``.mat`` files are read with :func:`scipy.io.loadmat` (MATLAB v5/v7) and, for MATLAB v7.3 (an
HDF5 file), with ``h5py`` (:func:`load_mat` gives the same structure either way: cell arrays as
object arrays, sparse matrices as ``scipy.sparse``). Views stored as MATLAB cell arrays (``1 x V``
or ``V x 1``) are unpacked; a view whose samples are columns (``d x N``) is transposed, the
orientation being decided by matching the number of labels. Labels may be a vector or a cell of
identical label vectors (the OTM/GWMAC ``orl_y.mat``: ``y`` is a ``1 x 2`` cell of ``400 x 1``
``uint8``). A file that does not hold what its format promises raises
:class:`~workbench.data._real.DataFormatError` naming the file, the variable and what was expected.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._real import (
    DataFormatError,
    encode_labels,
    find_file,
    make_splits,
    malformed,
    missing_file,
    seeded_split,
)
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
    """Variables of a MATLAB ``.mat`` file (``__header__`` etc. dropped), v5/v7 or v7.3.

    v5/v7 files are read with :func:`scipy.io.loadmat`; v7.3 files (HDF5, which scipy cannot read)
    with ``h5py`` through :func:`load_mat_v73`, returning the same structure.

    Raises:
        DataFormatError: for a truncated or corrupt file (or one that is not a ``.mat``).
    """
    import scipy.io

    try:
        content = scipy.io.loadmat(str(path))
    except NotImplementedError:  # scipy raises this for v7.3 (HDF5) files
        return load_mat_v73(path)
    except FileNotFoundError:
        raise
    except Exception as e:  # scipy raises ValueError/TypeError/OSError/... on a damaged file
        raise malformed(
            path, None, "a complete MATLAB .mat file (v5/v7 or v7.3)", f"{type(e).__name__}: {e}"
        ) from None
    return {k: v for k, v in content.items() if not k.startswith("__")}


def _h5_value(f: Any, obj: Any, path: Path, name: str) -> Any:
    """One MATLAB v7.3 value as :func:`scipy.io.loadmat` would return it."""
    import h5py
    import scipy.sparse

    cls = obj.attrs.get("MATLAB_class", b"")
    cls = cls.decode() if isinstance(cls, bytes) else str(cls)
    if isinstance(obj, h5py.Group):
        if "MATLAB_sparse" in obj.attrs:  # CSC parts: data, ir (row indices), jc (column starts)
            n_rows = int(obj.attrs["MATLAB_sparse"])
            jc = np.asarray(obj["jc"][()], dtype=np.int64).ravel()
            ir = (
                np.asarray(obj["ir"][()], dtype=np.int64).ravel()
                if "ir" in obj
                else np.zeros(0, np.int64)
            )
            data = (
                np.asarray(obj["data"][()]).ravel()
                if "data" in obj
                else np.ones(len(ir), dtype=np.float64)
            )
            return scipy.sparse.csc_matrix((data, ir, jc), shape=(n_rows, len(jc) - 1))
        return {k: _h5_value(f, obj[k], path, f"{name}.{k}") for k in obj}  # a struct
    if "MATLAB_empty" in obj.attrs and int(np.asarray(obj.attrs["MATLAB_empty"]).ravel()[0]):
        return np.zeros((0, 0))
    raw = obj[()]
    if cls == "cell" or (isinstance(raw, np.ndarray) and raw.dtype == h5py.ref_dtype):
        refs = np.asarray(raw).T  # MATLAB is column-major: h5py sees every array transposed
        out = np.empty(refs.shape, dtype=object)
        for idx in np.ndindex(refs.shape):
            out[idx] = _h5_value(f, f[refs[idx]], path, f"{name}{{{idx}}}")
        return out
    arr = np.asarray(raw)
    if cls == "char":
        return "".join(chr(c) for c in arr.T.ravel())
    if arr.dtype.names and {"real", "imag"} <= set(arr.dtype.names):
        arr = arr["real"] + 1j * arr["imag"]
    if cls == "logical":
        arr = arr.astype(bool)
    return arr.T


def load_mat_v73(path: Path) -> dict[str, Any]:
    """Variables of a MATLAB v7.3 ``.mat`` (HDF5) file, read with ``h5py``.

    Matches :func:`scipy.io.loadmat`'s output for the structures the released data use:
    numeric arrays in MATLAB's orientation (h5py sees them transposed), cell arrays as object
    arrays of the same shape, sparse matrices as ``scipy.sparse.csc_matrix``, char arrays as
    ``str`` and structs as dicts.

    Raises:
        DataFormatError: when the file cannot be opened as HDF5 (truncated or corrupt).
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise malformed(
            path, None, "a complete MATLAB v7.3 (HDF5) file", f"h5py could not open it: {e}"
        ) from None
    with f:
        out = {}
        for k in f:
            if k.startswith("#"):  # '#refs#' (cell contents) and '#subsystem#'
                continue
            try:
                out[k] = _h5_value(f, f[k], path, k)
            except (KeyError, OSError, ValueError) as e:
                raise malformed(path, k, "a readable MATLAB v7.3 variable", str(e)) from None
        return out


def _dense(x: Any, path: Path | str = "?", key: str = "?") -> np.ndarray:
    import scipy.sparse

    if scipy.sparse.issparse(x):
        x = x.toarray()
    arr = np.asarray(x)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise malformed(path, key, "a numeric matrix", f"dtype {arr.dtype}, shape {arr.shape}")
    arr = arr.astype(np.float64)
    if arr.size and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise malformed(path, key, "finite numbers", f"{bad} NaN/inf value(s) of {arr.size}")
    return arr


def unpack_views(x: Any, path: Path | str = "?", key: str = "X") -> list[np.ndarray]:
    """The views of a MATLAB cell array (object array ``1 x V``/``V x 1``) or one plain matrix."""
    arr = np.asarray(x, dtype=object) if not isinstance(x, np.ndarray) else x
    if arr.dtype == object:
        if arr.ndim == 2 and min(arr.shape) > 1:
            raise malformed(
                path, key, "a 1 x V (or V x 1) cell of views", f"a cell of shape {arr.shape}"
            )
        views = [_dense(v, path, f"{key}{{{i + 1}}}") for i, v in enumerate(arr.ravel())]
    else:
        views = [_dense(arr, path, key)]
    for i, v in enumerate(views):
        if v.ndim != 2 or 0 in v.shape:
            raise malformed(
                path, f"{key}{{{i + 1}}}", "a 2-D samples x features matrix", f"shape {v.shape}"
            )
    return views


def _label_vector(y: Any, path: Path | str, key: str) -> np.ndarray:
    import scipy.sparse

    if scipy.sparse.issparse(y):
        y = y.toarray()
    arr = np.asarray(y)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise malformed(path, key, "a numeric label vector", f"dtype {arr.dtype}")
    if arr.ndim > 2 or (arr.ndim == 2 and min(arr.shape) > 1):
        raise malformed(path, key, "a label vector (N x 1 or 1 x N)", f"shape {arr.shape}")
    arr = arr.ravel()
    if arr.size == 0:
        raise malformed(path, key, "a non-empty label vector", "no labels")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise malformed(path, key, "finite labels", f"{int((~np.isfinite(arr)).sum())} NaN/inf")
    return arr


def _labels(y: Any, path: Path | str = "?", key: str = "y") -> np.ndarray:
    """Class ids ``0..K-1`` from a label vector or a MATLAB cell of identical label vectors.

    The OTM/GWMAC ``orl_y.mat`` holds ``y`` as a ``1 x 2`` cell (one label vector per view, the
    two identical); the cells must agree, else :class:`DataFormatError`.
    """
    arr = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
    if arr.dtype == object:
        cells = [_label_vector(c, path, f"{key}{{{i + 1}}}") for i, c in enumerate(arr.ravel())]
        if not cells:
            raise malformed(path, key, "a cell of label vectors", "an empty cell")
        for i, c in enumerate(cells[1:], 2):
            if c.shape != cells[0].shape or not np.array_equal(c, cells[0]):
                diff = (
                    f"{len(c)} labels vs {len(cells[0])}"
                    if c.shape != cells[0].shape
                    else f"{int((c != cells[0]).sum())} of {len(c)} labels differ"
                )
                raise malformed(
                    path,
                    key,
                    f"the label cells to agree (cell {{{i}}} equal to cell {{1}}); "
                    "the loader uses one label vector for all views",
                    diff,
                )
        vec = cells[0]
    else:
        vec = _label_vector(arr, path, key)
    ids, _ = encode_labels(vec.tolist())
    return ids


def orient_view(
    view: np.ndarray, n: int, name: str, label: str, source: Path | str | None = None
) -> np.ndarray:
    """``view`` as ``[n, d]``: kept if it has ``n`` rows, transposed if it has ``n`` columns.

    Raises:
        DataFormatError: when neither dimension matches the number of labels ``n`` (a
            ``ValueError``).
    """
    view = np.atleast_2d(view)
    if view.shape[0] == n:
        return view
    if view.shape[1] == n:
        return view.T
    where = f" of {str(source)!r}" if source is not None else ""
    raise DataFormatError(
        f"Dataset {name!r}: view {label!r}{where} has shape {view.shape}, but there are {n} labels; "
        "neither its rows nor its columns match. Check that the label file belongs to this data."
    )


def _pick(content: dict[str, Any], keys: Sequence[str], name: str, path: Path) -> tuple[str, Any]:
    """``(variable name, value)`` of the first of ``keys`` (case-insensitive) in ``content``."""
    lower = {k.lower(): k for k in content}
    for k in keys:
        if k.lower() in lower:
            return lower[k.lower()], content[lower[k.lower()]]
    raise malformed(
        path,
        " or ".join(keys),
        f"one of the variables {list(keys)} (see data_cards/{name}.yaml for the layout)",
        f"variables {sorted(content)}",
    )


def _build(
    name: str,
    views: Sequence[np.ndarray],
    view_names: Sequence[str],
    y: np.ndarray,
    fractions: Sequence[float] | None,
    seed: int,
    meta: dict[str, Any] | None = None,
    sources: Sequence[str] | None = None,
) -> dict[str, MultimodalDataset]:
    """Splits from views (each ``[n, d]`` or ``[d, n]``) and class ids; ``sources`` names the
    file/variable of each view for the errors."""
    n = len(y)
    if len(views) != len(view_names):
        raise DataFormatError(
            f"Dataset {name!r}: found {len(views)} views"
            f"{' in ' + sources[0].split(':')[0] if sources else ''}, expected {len(view_names)} "
            f"({list(view_names)})."
        )
    srcs = list(sources) if sources is not None else [None] * len(views)
    inputs = {
        m: torch.as_tensor(orient_view(v, n, name, m, src), dtype=torch.float32)
        for m, v, src in zip(view_names, views, srcs)
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

    Files as in the OTM/GWMAC release (``github.com/rucnyz/GWMAC`` ``data/``, read there by
    ``utils/extract_data.py``: ``loadmat("orl.mat")["X"]``, ``loadmat("orl_y.mat")["y"][0, 0]``):

    - ``orl.mat``: ``X``, a ``1 x 2`` cell of ``400 x 288`` ``double`` views;
    - ``orl_y.mat``: ``y``, a ``1 x 2`` cell of ``400 x 1`` ``uint8`` labels 1..40, the two cells
      identical (they must agree; a plain label vector is accepted too). A label variable inside
      ``orl.mat`` is used when ``orl_y.mat`` is absent.

    MATLAB v7.3 copies are read with h5py. In that release both views are byte-identical; the
    loader keeps them as given and records ``meta["identical_views"]``.

    Args:
        root: ``data_root`` holding the files.
        fractions: ``None`` (every split is the whole set) or ``(train, val, test)`` fractions.
        seed: seed of the stratified split when ``fractions`` is given.
    """
    root = Path(root)
    x_path = find_file(root, "orl", ["orl.mat", "ORL.mat"], _OTM_SOURCE)
    content = load_mat(x_path)
    x_key, x = _pick(content, ["X", "data", "fea"], "orl", x_path)
    views = unpack_views(x, x_path, x_key)
    y_path = next((p for p in (root / "orl_y.mat", root / "ORL_y.mat") if p.exists()), None)
    if y_path is not None:
        y_key, y_raw = _pick(load_mat(y_path), ["y", "Y", "gt", "truth"], "orl", y_path)
        y = _labels(y_raw, y_path, y_key)
    else:
        try:
            y_key, y_raw = _pick(content, ["y", "Y", "gt", "truth", "gnd"], "orl", x_path)
        except DataFormatError:
            raise missing_file(
                "orl", root / "orl_y.mat", _OTM_SOURCE, "orl.mat holds no labels either."
            ) from None
        y_path, y = x_path, _labels(y_raw, x_path, y_key)
    if len(views) != 2:
        raise malformed(x_path, x_key, "a 1 x 2 cell of views", f"{len(views)} view(s)")
    srcs = [f"{x_path}:{x_key}{{{i + 1}}}" for i in range(len(views))]
    views = [
        orient_view(v, len(y), "orl", f"view{i + 1}", src)
        for i, (v, src) in enumerate(zip(views, srcs))
    ]
    identical = views[0].shape == views[1].shape and np.array_equal(views[0], views[1])
    return _build(
        "orl",
        views,
        ["view1", "view2"],
        y,
        fractions,
        seed,
        {"identical_views": bool(identical), "files": [str(x_path), str(y_path)]},
        srcs,
    )


# ----------------------------------------------------------------------------- Movies


def _read_matrix_txt(path: Path) -> np.ndarray:
    """A whitespace- (or comma-) separated numeric matrix; blank lines (the GWMAC files start with
    one) are skipped."""
    with path.open() as f:
        first = next((line for line in f if line.strip()), "")
    delimiter = "," if "," in first else None
    try:
        arr = np.atleast_2d(np.loadtxt(path, delimiter=delimiter, ndmin=2))
    except ValueError as e:
        raise malformed(path, None, "a numeric matrix, one row per line", str(e)) from None
    if arr.size == 0:
        raise malformed(path, None, "a numeric matrix, one row per line", "no numbers")
    if not np.isfinite(arr).all():
        raise malformed(path, None, "finite numbers", f"{int((~np.isfinite(arr)).sum())} NaN/inf")
    return arr


@register("movies", embedded=False)
def load_movies(
    root: Path, *, fractions: Sequence[float] | None = None, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """Movies, keywords (1878-d) and actors (1398-d), 617 samples, 17 classes (OTM Table 1).

    Files as in the GWMAC release (``github.com/rucnyz/GWMAC`` ``data/my_movies/``, read there with
    ``np.loadtxt``): ``M1.txt`` keywords ``617 x 1878``, ``M2.txt`` actors ``617 x 1398`` (0/1,
    space-separated, the file starting with a blank line), ``Mact.txt`` labels 1..17, one per
    line. Comma-separated or transposed matrices are accepted too.
    """
    root = Path(root)
    paths = [
        find_file(root, "movies", [f], "http://membres-lig.imag.fr/grimal/data.html")
        for f in ("M1.txt", "M2.txt", "Mact.txt")
    ]
    y = _labels(_read_matrix_txt(paths[2]), paths[2], "labels")
    views = [_read_matrix_txt(p) for p in paths[:2]]
    return _build(
        "movies",
        views,
        ["keywords", "actors"],
        y,
        fractions,
        seed,
        sources=[str(p) for p in paths[:2]],
    )


# ----------------------------------------------------------------------------- Prokaryotic


@register("prokaryotic", embedded=False)
def load_prokaryotic(
    root: Path, *, fractions: Sequence[float] | None = None, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """Prokaryotic phyla, 3 views (text 438, proteome_comp 3, gene_repert 393), 551 samples, 4 classes.

    File: ``prokaryotic.mat`` (``github.com/mbrbic/Multi-view-LRSSC`` ``datasets/``, read by the
    GWMAC/OTM code as ``loadmat(...)["text"|"proteome_comp"|"gene_repert"|"truth"]``): three
    ``551 x d`` matrices (dense or sparse) and ``truth``, ``551 x 1`` labels 1..4.
    """
    path = find_file(
        Path(root),
        "prokaryotic",
        ["prokaryotic.mat"],
        "https://github.com/mbrbic/Multi-view-LRSSC/tree/master/datasets",
    )
    content = load_mat(path)
    names = ["text", "proteome_comp", "gene_repert"]
    views = [_dense(_pick(content, [k], "prokaryotic", path)[1], path, k) for k in names]
    y_key, y_raw = _pick(content, ["truth", "y", "gt"], "prokaryotic", path)
    y = _labels(y_raw, path, y_key)
    return _build(
        "prokaryotic", views, names, y, fractions, seed, sources=[f"{path}:{k}" for k in names]
    )


# ----------------------------------------------------------------------------- Caltech101-7

CALTECH_VIEWS = ("gabor", "wavelet_moments", "centrist", "hog", "gist", "lbp")


@register("caltech101_7", embedded=False)
def load_caltech101_7(
    root: Path, *, fractions: Sequence[float] | None = None, seed: int = 0
) -> dict[str, MultimodalDataset]:
    """Caltech101-7, 6 views [48, 40, 254, 1984, 512, 928], 1474 samples, 7 classes (OTM Table 1).

    File: ``Caltech101_7.mat`` (or ``Caltech101-7.mat``) as read by the OTM code
    (``github.com/redLinmumu/OTM`` ``mwae/utils/mwae_data.py``: ``data["X"][0, v]``,
    ``data["Y"][:, 0] - 1``): ``X`` a ``1 x 6`` cell of ``1474 x d`` views, ``Y`` ``1474 x 1``
    labels 1..7 (``y``/``gt``/``truth`` accepted; views stored ``d x N`` are transposed). v7.3
    copies are read with h5py. Views are named Gabor, wavelet moments, CENTRIST, HOG, GIST, LBP
    in the cell's order.
    """
    path = find_file(
        Path(root),
        "caltech101_7",
        ["Caltech101-7.mat", "Caltech101_7.mat", "caltech101-7.mat", "Caltech7.mat"],
        "https://data.caltech.edu/records/20086 (features as in the OTM/GWMAC release)",
    )
    content = load_mat(path)
    x_key, x = _pick(content, ["X", "data", "fea"], "caltech101_7", path)
    views = unpack_views(x, path, x_key)
    y_key, y_raw = _pick(content, ["Y", "y", "gt", "truth", "gnd"], "caltech101_7", path)
    y = _labels(y_raw, path, y_key)
    names = list(CALTECH_VIEWS) if len(views) == 6 else [f"view{i + 1}" for i in range(len(views))]
    srcs = [f"{path}:{x_key}{{{i + 1}}}" for i in range(len(views))]
    return _build("caltech101_7", views, names, y, fractions, seed, sources=srcs)


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

    Reads either of two published layouts:

    - ``3-sources.mat`` as in ``github.com/mbrbic/Multi-view-LRSSC`` ``datasets/`` (read by the
      GWMAC/OTM code as ``loadmat(...)["bbc"|"guardian"|"reuters"].A`` and ``["truth"]``): three
      sparse ``169 x terms`` count matrices and ``truth``, ``169 x 1`` labels 1..6 (an ``X`` cell
      of three views is accepted too, as some redistributions store it);
    - the UCD release: ``3sources_{bbc,guardian,reuters}.mtx`` (Matrix Market, terms x
      documents), ``3sources_{source}.docs`` (one story id per line, the order of the matrix
      columns) and ``3sources.disjoint.clist`` (``topic: id,id,...`` per line). The 169 stories
      present in all three sources and labelled in the clist are kept, sorted by id. This layout
      is implemented from its documentation; it could not be checked against a file here.

    The ``.mat`` is used when present and the UCD ``.mtx`` files are not.
    """
    root = Path(root)
    mat = next(
        (
            root / f
            for f in ("3-sources.mat", "3sources.mat", "3Sources.mat")
            if (root / f).exists()
        ),
        None,
    )
    if mat is not None and not (root / "3sources_bbc.mtx").exists():
        content = load_mat(mat)
        if all(k in content for k in THREE_SOURCES):
            views = [_dense(content[k], mat, k) for k in THREE_SOURCES]
            srcs = [f"{mat}:{k}" for k in THREE_SOURCES]
        else:
            x_key, x = _pick(content, [*THREE_SOURCES, "X", "data", "fea"], "three_sources", mat)
            views = unpack_views(x, mat, x_key)
            srcs = [f"{mat}:{x_key}{{{i + 1}}}" for i in range(len(views))]
        y_key, y_raw = _pick(content, ["truth", "gt", "Y", "y"], "three_sources", mat)
        y = _labels(y_raw, mat, y_key)
        return _build(
            "three_sources",
            views,
            list(THREE_SOURCES),
            y,
            fractions,
            seed,
            {"file": str(mat)},
            srcs,
        )
    import scipy.io

    clist = find_file(root, "three_sources", ["3sources.disjoint.clist"], _UCD)
    topic_of = _read_clist(clist)
    per_source: dict[str, dict[str, np.ndarray]] = {}
    for s in THREE_SOURCES:
        mtx = find_file(root, "three_sources", [f"3sources_{s}.mtx"], _UCD)
        docs_path = find_file(root, "three_sources", [f"3sources_{s}.docs"], _UCD)
        docs = [d.strip() for d in docs_path.read_text().split() if d.strip()]
        try:
            m = _dense(scipy.io.mmread(str(mtx)), mtx, "matrix")
        except (ValueError, IndexError, OSError) as e:
            if isinstance(e, DataFormatError):
                raise
            raise malformed(mtx, None, "a Matrix Market terms x documents matrix", str(e)) from None
        if m.shape[1] != len(docs) and m.shape[0] == len(docs):
            m = m.T  # stored documents x terms
        if m.shape[1] != len(docs):
            raise malformed(
                mtx,
                None,
                f"{len(docs)} document columns, one per id of {docs_path}",
                f"shape {m.shape}",
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
