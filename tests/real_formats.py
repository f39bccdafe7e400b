"""Writers of tiny fixture files in real datasets' published formats (shared by the loader
tests and the end-to-end method tests; never real data).

Each writer follows the structure of a public source, named in its docstring and in the data
card's ``fixture_format``: the publisher's files where they could be read (GWMAC's ``data/``
folder, Multi-view-LRSSC's ``datasets/``) and otherwise the publisher's or reference code that
reads them (OTM's ``mwae_data.py``, MultiBench's ``get_data.py``/``data_loader.py``, fannypack's
``TrajectoriesFile``, MMIN's ``multimodal_dataset.py``, gmu-mmimdb's ``make_dataset.py``, MMBT's
``format_*_dataset.py``). Sizes are small; dtypes, containers (cells, sparse, HDF5 groups),
orientation, label coding and file names are the published ones."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from workbench.data import multibench
from workbench.data.fixtures import image, write_hateful_memes  # noqa: F401 (re-exported)


def write_mmimdb(root: Path, rng, split: dict, genres: dict) -> None:
    """The original release (``mmimdb.tar.gz``, as read by gmu-mmimdb's ``make_dataset.py`` and
    MMBT's ``format_mmimdb_dataset``): ``mmimdb/split.json`` (``{"train", "dev", "test"}`` id
    lists) and ``mmimdb/dataset/<id>.json`` with IMDb metadata (``title``, ``year``,
    ``genres`` list, ``plot`` list of texts, ...) next to ``<id>.jpeg``; ``genres`` maps an id to
    its genre list. Each movie has two plots, ``"plot <id>"`` (the longest) and ``"more"``."""
    data = root / "mmimdb" / "dataset"
    data.mkdir(parents=True, exist_ok=True)
    for i, gs in genres.items():
        record = {
            "title": f"Movie {i}",
            "year": 1990,
            "genres": gs,
            "plot": [f"plot {i}", "more"],
            "plot outline": "outline",
            "rating": 6.5,
        }
        (data / f"{i}.json").write_text(json.dumps(record))
        image(data / f"{i}.jpeg", rng, fmt="JPEG")
    (root / "mmimdb" / "split.json").write_text(json.dumps(split))


def affect_dict(rng, sizes=(5, 3, 4), L=6, dims=(4, 3, 2)) -> dict:
    """A MultiBench affect pickle's content (MOSI/MOSEI/UR-FUNNY), as read by MultiBench's
    ``datasets/affect/get_data.py`` (``alldata[split]["vision"|"audio"|"text"|"labels"|"id"]``):
    per split ``train``/``valid``/``test``, ``text``, ``vision``, ``audio`` ``[n, L, d]`` float32
    with leading zero padding (aligned mode starts at the first non-zero text step), ``labels``
    ``[n, 1, 1]`` in [-3, 3], ``id`` an object array of byte strings; one ``-inf`` in the audio,
    which MultiBench's ``Affectdataset`` sets to 0."""
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


# ----------------------------------------------------------------------------- MATLAB files


def cell(*items) -> np.ndarray:
    """A MATLAB ``1 x len(items)`` cell array as :func:`scipy.io.savemat` writes it (object array)."""
    out = np.empty((1, len(items)), dtype=object)
    for i, v in enumerate(items):
        out[0, i] = v
    return out


def write_otm_orl(root: Path, rng, n: int = 400, d: int = 288, k: int = 40) -> tuple:
    """``orl.mat`` and ``orl_y.mat`` with exactly the structure of the OTM/GWMAC release
    (``github.com/rucnyz/GWMAC`` ``data/``, read by ``utils/extract_data.py`` as
    ``loadmat("orl.mat")["X"]`` and ``loadmat("orl_y.mat")["y"][0, 0]``): ``X`` a 1x2 cell of
    ``(n, d)`` float64 views (byte-identical, as released), ``y`` a 1x2 cell of ``(n, 1)`` uint8
    labels ``1..k`` (the two cells identical), ``n / k`` images per subject in subject order.

    Returns ``(view, labels)``: the view and the 1-based labels written.
    """
    import scipy.io

    view = rng.uniform(0, 1, (n, d))
    labels = np.repeat(np.arange(1, k + 1), n // k).astype(np.uint8).reshape(n, 1)
    scipy.io.savemat(root / "orl.mat", {"X": cell(view, view.copy())})
    scipy.io.savemat(root / "orl_y.mat", {"y": cell(labels, labels.copy())})
    return view, labels


_MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2024 HDF5 schema 1.00 ."


def write_mat_v73(path: Path, variables: dict) -> Path:
    """A MATLAB v7.3 ``.mat`` (HDF5 with MATLAB's 512-byte header) as MATLAB's ``save -v7.3``
    lays it out: arrays stored transposed (column-major) with a ``MATLAB_class`` attribute,
    cells as object references into ``#refs#``, sparse matrices as groups ``data``/``ir``/``jc``
    with ``MATLAB_sparse`` = number of rows. ``variables`` maps names to numpy arrays, object
    arrays (cells) or ``scipy.sparse`` matrices."""
    import h5py
    import scipy.sparse

    classes = {"f": "double", "b": "logical", "u": None, "i": None}
    counter = [0]

    def klass(arr):
        if arr.dtype.kind in "ui":
            return f"{'u' if arr.dtype.kind == 'u' else ''}int{arr.dtype.itemsize * 8}"
        return "single" if arr.dtype == np.float32 else classes[arr.dtype.kind]

    def put(group, name, value):
        if scipy.sparse.issparse(value):
            m = scipy.sparse.csc_matrix(value)
            g = group.create_group(name)
            g.attrs["MATLAB_class"] = np.bytes_("double")
            g.attrs["MATLAB_sparse"] = np.uint64(m.shape[0])
            g.create_dataset("data", data=m.data.astype(np.float64))
            g.create_dataset("ir", data=m.indices.astype(np.uint64))
            g.create_dataset("jc", data=m.indptr.astype(np.uint64))
            return g
        arr = np.asarray(value)
        if arr.dtype == object:
            refs_group = group.file.require_group("#refs#")
            refs = np.empty(arr.T.shape, dtype=h5py.ref_dtype)
            for idx in np.ndindex(arr.shape):
                counter[0] += 1
                ref_name = f"r{counter[0]}"
                refs[idx[::-1]] = put(refs_group, ref_name, arr[idx]).ref
            ds = group.create_dataset(name, data=refs, dtype=h5py.ref_dtype)
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
            return ds
        arr2 = np.atleast_2d(arr)
        ds = group.create_dataset(name, data=np.ascontiguousarray(arr2.T))
        ds.attrs["MATLAB_class"] = np.bytes_(klass(arr2))
        return ds

    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            put(f, name, value)
    with open(path, "r+b") as fh:  # MATLAB's text header, version 0x0200, endian 'IM'
        fh.write(_MAT73_HEADER.ljust(116) + b"\x00" * 8 + b"\x00\x02IM")
    return path


def write_gwmac_movies(root: Path, rng, n: int = 30, dims=(12, 9), k: int = 5) -> tuple:
    """``M1.txt`` (keywords), ``M2.txt`` (actors), ``Mact.txt`` (labels) as in the GWMAC release
    (``github.com/rucnyz/GWMAC`` ``data/my_movies/``, read there with ``np.loadtxt``): 0/1
    matrices, ``n`` rows of space-separated integers each preceded by a space, the file starting
    with a blank line; labels ``1..k``, one per line. Returns ``(keywords, actors, labels)``."""
    kw = rng.integers(0, 2, (n, dims[0]))
    act = rng.integers(0, 2, (n, dims[1]))
    labels = np.concatenate([np.arange(1, k + 1), rng.integers(1, k + 1, n - k)])
    for name, m in (("M1.txt", kw), ("M2.txt", act)):
        rows = ["".join(f" {int(v)}" for v in row) for row in m]
        (root / name).write_text("\n" + "\n".join(rows))
    (root / "Mact.txt").write_text("".join(f"{int(v)}\n" for v in labels))
    return kw, act, labels


def write_prokaryotic(root: Path, rng, n: int = 24, dims=(10, 3, 8), sparse_text=False, v73=False):
    """``prokaryotic.mat`` as in ``github.com/mbrbic/Multi-view-LRSSC`` ``datasets/`` (read by
    the GWMAC/OTM code as ``loadmat(...)["text"|"proteome_comp"|"gene_repert"|"truth"]``): three
    ``n x d`` double matrices (PCA scores) and ``truth`` ``n x 1`` double labels 1..4."""
    import scipy.io
    import scipy.sparse

    views = {
        k: rng.normal(size=(n, d)) for k, d in zip(("text", "proteome_comp", "gene_repert"), dims)
    }
    if sparse_text:
        views["text"] = scipy.sparse.random(n, dims[0], density=0.3, random_state=0, format="csc")
    truth = np.concatenate([np.arange(1, 5), rng.integers(1, 5, n - 4)]).astype(float).reshape(n, 1)
    content = {**views, "truth": truth}
    if v73:
        write_mat_v73(root / "prokaryotic.mat", content)
    else:
        scipy.io.savemat(root / "prokaryotic.mat", content)
    return views, truth


def write_caltech101_7(
    root: Path, rng, n: int = 21, dims=(6, 5, 7, 9, 4, 8), v73=False, fname="Caltech101_7.mat"
):
    """``Caltech101_7.mat`` as read by the OTM code (``github.com/redLinmumu/OTM``
    ``mwae/utils/mwae_data.py``: ``data["X"][0, v]`` views, ``data["Y"][:, 0] - 1``): ``X`` a
    ``1 x 6`` cell of ``n x d`` double views (Gabor, WM, CENTRIST, HOG, GIST, LBP), ``Y`` ``n x 1``
    labels 1..7. ``v73`` writes the same variables as MATLAB v7.3 (HDF5)."""
    import scipy.io

    views = [rng.normal(size=(n, d)) for d in dims]
    y = np.concatenate([np.arange(1, 8), rng.integers(1, 8, n - 7)]).reshape(n, 1).astype(float)
    content = {"X": cell(*views), "Y": y}
    if v73:
        write_mat_v73(root / fname, content)
    else:
        scipy.io.savemat(root / fname, content)
    return views, y


def write_three_sources_mat(root: Path, rng, n: int = 18, terms=(11, 9, 7)):
    """``3-sources.mat`` as in ``github.com/mbrbic/Multi-view-LRSSC`` ``datasets/`` (read by the
    GWMAC/OTM code as ``loadmat(...)["bbc"|"guardian"|"reuters"].A`` and ``["truth"]``): three
    sparse ``n x terms`` count matrices and ``truth`` ``n x 1`` labels 1..6."""
    import scipy.io
    import scipy.sparse

    mats = {
        s: scipy.sparse.csc_matrix(rng.poisson(0.4, (n, t)).astype(float))
        for s, t in zip(("bbc", "guardian", "reuters"), terms)
    }
    truth = np.concatenate([np.arange(1, 7), rng.integers(1, 7, n - 6)]).astype(float).reshape(n, 1)
    scipy.io.savemat(root / "3-sources.mat", {**mats, "truth": truth})
    return mats, truth


def write_fannypack_push(path: Path, rng, n_traj: int = 2, T: int = 20) -> list:
    """A MuJoCo Push file as fannypack's ``TrajectoriesFile`` writes it and MultiBench's
    ``datasets/gentle_push/data_loader.py`` reads it: groups ``trajectory0``, ``trajectory1``,
    ... each with per-timestep datasets (float32 from ``convert_doubles``, lzf-compressed):
    ``eef_pos [T, 3]``, ``force [T, 6]``, ``contact [T]``, ``image [T, 32, 32]``,
    ``Cylinder0_pos [T, 3]``, ``object-state [T, 14]``, plus a string scalar (fannypack stores
    ``str`` values as ``np.bytes_``). Returns the trajectories written."""
    import h5py

    out = []
    with h5py.File(path, "w", libver="latest") as f:
        for t in range(n_traj):
            tr = {
                "eef_pos": rng.normal(size=(T, 3)),
                "force": rng.normal(size=(T, 6)),
                "contact": rng.integers(0, 2, T).astype(float),
                "image": rng.uniform(0, 1, (T, 32, 32)),
                "Cylinder0_pos": rng.normal(size=(T, 3)),
                "object-state": rng.normal(size=(T, 14)),
            }
            g = f.create_group(f"trajectory{t}")
            for k, v in tr.items():
                g.create_dataset(k, data=v.astype(np.float32), compression="lzf")
            g.create_dataset("env", data=np.bytes_("gentle_push"))
            out.append({k: v.astype(np.float32) for k, v in tr.items()})
    return out


def write_mmin_iemocap(root: Path, rng, names: dict, dims=(5, 4, 3), fold: int = 1) -> dict:
    """IEMOCAP features as MMIN reads them (``AIM3-RUC/MMIN`` ``data/multimodal_dataset.py``):
    ``A/comparE.h5``, ``V/denseface.h5``, ``L/bert_large.h5`` with one ``[L_i, D]`` dataset per
    utterance name (``all_A[name][()]``), ``A/comparE_mean_std.h5`` with a group per fold holding
    ``mean``/``std``, and ``target/<fold>/{trn,val,tst}_label.npy`` (one-hot ``[N, 4]``) and
    ``..._int2name.npy`` (``[N, 1]`` bytes, read as ``int2name[i][0].decode()``).
    ``names`` maps ``trn``/``val``/``tst`` to utterance names. Returns the features written."""
    import h5py

    every = [n for ns in names.values() for n in ns]
    feats = {}
    for sub, stem, d in (
        ("A", "comparE", dims[0]),
        ("V", "denseface", dims[1]),
        ("L", "bert_large", dims[2]),
    ):
        (root / sub).mkdir(parents=True, exist_ok=True)
        feats[sub] = {
            n: rng.normal(size=(int(rng.integers(2, 6)), d)).astype(np.float32) for n in every
        }
        with h5py.File(root / sub / f"{stem}.h5", "w") as f:
            for n, x in feats[sub].items():
                f.create_dataset(n, data=x)
    with h5py.File(root / "A" / "comparE_mean_std.h5", "w") as f:
        g = f.create_group(str(fold))
        g.create_dataset("mean", data=np.full(dims[0], 0.5, np.float32))
        g.create_dataset("std", data=np.full(dims[0], 2.0, np.float32))
    target = root / "target" / str(fold)
    target.mkdir(parents=True, exist_ok=True)
    for s, ns in names.items():
        np.save(target / f"{s}_label.npy", np.eye(4)[rng.integers(0, 4, len(ns))])
        np.save(target / f"{s}_int2name.npy", np.array([[n.encode()] for n in ns]))
    return feats


def write_qmf_jsonl(root: Path, rng, labels, sizes=(6, 2, 3), dataset="food101") -> None:
    """``{train,dev,test}.jsonl`` as MMBT's ``format_food101_dataset`` writes them and QMF ships
    them (``QingyangZhang/QMF`` ``text-image-classification/datasets/<dataset>/``): records
    ``{"id", "label", "text", "img"}`` with ``img`` relative to the jsonl's folder,
    ``images/<train|test>/<label>/<label>_<n>.jpg`` (dev rows come from the training images)."""
    for fname, n in zip(("train.jsonl", "dev.jsonl", "test.jsonl"), sizes):
        part = "test" if fname == "test.jsonl" else "train"
        lines = []
        for i in range(n):
            label = labels[i % len(labels)]
            num = f"{fname[:3]}{i}"
            rel = f"images/{part}/{label}/{label}_{num}.jpg"
            image(root / rel, rng, fmt="JPEG")
            rec = {"id": f"{label}_{label}_{num}.jpg", "label": label, "text": f"t{i}", "img": rel}
            lines.append(json.dumps(rec))
        (root / fname).write_text("\n".join(lines) + "\n")
