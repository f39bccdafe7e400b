"""MultiBench-format sets: CMU-MOSI, CMU-MOSEI, UR-FUNNY, AV-MNIST, MuJoCo Push, ENRICO.

Formats follow MultiBench (https://github.com/pliang279/MultiBench):

- affect (``datasets/affect/get_data.py``): one pickle holding
  ``{"train"|"valid"|"test": {"vision": [N, L, Dv], "audio": [N, L, Da], "text": [N, L, Dt],
  "labels": [N, 1, 1], "id": ...}}`` (``mosi_raw.pkl``, ``mosei_senti_data.pkl``, ``humor.pkl``);
- AV-MNIST (``datasets/avmnist/get_data.py``): ``image/{train,test}_data.npy`` (``[N, 784]``),
  ``audio/{train,test}_data.npy`` (``[N, 112, 112]`` spectrograms), ``{train,test}_labels.npy``;
  validation is the last 5000 training samples, as there;
- ENRICO (``datasets/enrico/get_data.py``): ``design_topics.csv`` (``screen_id``, ``topic``),
  ``screenshots/<id>.jpg``, ``wireframes/<id>.png``; seeded 65/15/20 split identical to
  MultiBench's (``random.Random(42).shuffle``);
- MuJoCo Push (``datasets/gentle_push/data_loader.py``, fannypack trajectory files):
  ``gentle_push_1000.hdf5`` (train), ``gentle_push_10.hdf5`` (validation),
  ``gentle_push_300.hdf5`` (test), each with groups ``trajectory<i>`` of per-timestep arrays
  (fannypack's ``TrajectoriesFile``: float32, lzf-compressed), read with h5py.

A file that does not hold what its format promises (truncated, missing keys, wrong shapes, label
counts that do not match the samples, NaN labels) raises :class:`DataFormatError` naming the file,
the key (``train/labels``, ``trajectory3/eef_pos``) and what was expected. As MultiBench does,
samples whose text is all zero are dropped (its ``drop_entry``) and the audio's ``-inf`` is set to
0 (NaN/inf features likewise; the count is in ``meta``).

Pickles are never opened unless the caller passes ``trust_pickle=True``: unpickling runs
arbitrary code. :func:`convert_pickle_to_npz` converts a trusted pickle once into an ``.npz``
that loads without trust (the loaders look for ``<stem>.npz`` first).
"""

from __future__ import annotations

import csv
import pickle
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ._real import (
    DataFormatError,
    encode_labels,
    find_file,
    load_image,
    load_npz,
    malformed,
    missing_file,
)
from .base import MultimodalDataset, Task
from .registry import register

__all__ = [
    "UntrustedPickleError",
    "convert_hdf5_to_npz",
    "convert_pickle_to_npz",
    "load_avmnist",
    "load_enrico",
    "load_mosei",
    "load_mosi",
    "load_mujoco_push",
    "load_pickle_or_npz",
    "load_ur_funny",
]

MULTIBENCH = "https://github.com/pliang279/MultiBench (dataset links in its README)"


class UntrustedPickleError(ValueError):
    """A pickle was about to be opened without ``trust_pickle=True``."""


def _untrusted(path: Path) -> UntrustedPickleError:
    out = path.with_suffix(".npz")
    return UntrustedPickleError(
        f"{path} is a pickle. Unpickling can execute arbitrary code, so the workbench opens a pickle "
        "only when you pass trust_pickle=True (do so only for a file from a source you trust). "
        "Better, convert it once and load the .npz from then on, without trust:\n"
        f"    from workbench.data.multibench import convert_pickle_to_npz\n"
        f"    convert_pickle_to_npz({str(path)!r}, {str(out)!r}, trust_pickle=True)"
    )


def _flatten(obj: Any, prefix: str, out: dict[str, np.ndarray]) -> None:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            key = k.decode() if isinstance(k, bytes) else str(k)
            if "/" in key:
                raise ValueError(
                    f"Key {key!r} contains '/', which the .npz layout uses as separator."
                )
            _flatten(v, f"{prefix}/{key}" if prefix else key, out)
        return
    arr = np.asarray(obj)
    if arr.dtype == object:
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            arr = np.asarray(
                [x.decode() if isinstance(x, bytes) else str(x) for x in arr.ravel()]
            ).reshape(arr.shape)
    elif arr.dtype.kind == "S":
        arr = arr.astype(str)
    out[prefix or "data"] = arr


def _unflatten(flat: Mapping[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, v in flat.items():
        node = out
        *parents, leaf = key.split("/")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = v
    return out


def convert_pickle_to_npz(path: str | Path, out: str | Path, trust_pickle: bool = True) -> Path:
    """Convert a (trusted) pickle of nested dicts of arrays into an ``.npz`` file, once.

    Nested keys are joined with ``/`` (``train/vision``); object arrays of strings (ids) become
    unicode arrays, so the ``.npz`` loads with ``allow_pickle=False``.

    Args:
        path: the pickle, e.g. MultiBench's ``mosi_raw.pkl``.
        out: the ``.npz`` to write (put it next to the pickle with the same stem to have the
            loaders pick it up).
        trust_pickle: must be True: you vouch for the file's origin.

    Returns:
        The path written.

    Raises:
        UntrustedPickleError: when ``trust_pickle`` is False.
    """
    path, out = Path(path), Path(out)
    if not trust_pickle:
        raise _untrusted(path)
    with path.open("rb") as f:
        obj = pickle.load(f)  # noqa: S301 - the caller vouched for the file (trust_pickle=True)
    flat: dict[str, np.ndarray] = {}
    _flatten(obj, "", flat)
    np.savez(out, **flat)
    return out if out.suffix == ".npz" else out.with_name(out.name + ".npz")


def load_pickle_or_npz(path: Path, trust_pickle: bool) -> dict[str, Any]:
    """Nested dict of arrays from ``path`` (``.npz``: no trust needed; pickle: ``trust_pickle``)."""
    path = Path(path)
    if path.suffix == ".npz":
        return _unflatten(load_npz(path))
    if not trust_pickle:
        raise _untrusted(path)
    with path.open("rb") as f:
        try:
            return pickle.load(f)  # noqa: S301 - trust_pickle=True
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as e:
            raise malformed(path, None, "a complete pickle", f"{type(e).__name__}: {e}") from None


def _find_data(root: Path, name: str, stems: Sequence[str], published: str) -> Path:
    candidates = [f"{s}.npz" for s in stems] + [f"{s}.pkl" for s in stems]
    return find_file(root, name, candidates, published)


# ----------------------------------------------------------------------------- affect


_SPLIT_KEYS = {
    "train": ("train",),
    "validation": ("valid", "validation", "dev", "val"),
    "test": ("test",),
}


def _get(d: Any, keys: Sequence[str], path: Path, where: str) -> Any:
    """``d[k]`` for the first of ``keys`` present (str or bytes keys), else a
    :class:`DataFormatError` naming the file and the key path ``where``."""
    if not isinstance(d, Mapping):
        raise malformed(path, where or None, "a dict", type(d).__name__)
    for k in keys:
        for kk in (k, k.encode()):
            if kk in d:
                return d[kk]
    shown = [k.decode() if isinstance(k, bytes) else k for k in list(d)[:10]]
    key = "/".join(p for p in (where, " or ".join(keys)) if p)
    raise malformed(path, key, f"one of the keys {list(keys)}", f"keys {shown}")


def _trim(x: np.ndarray, start: int) -> torch.Tensor:
    return torch.as_tensor(x[start:], dtype=torch.float32)


def _affect(
    name: str,
    root: Path,
    stems: Sequence[str],
    task: str,
    trust_pickle: bool,
    trim_padding: bool,
    regression_metric: str,
    binary_metric: str,
) -> dict[str, MultimodalDataset]:
    path = _find_data(Path(root), name, stems, MULTIBENCH)
    data = load_pickle_or_npz(path, trust_pickle)
    if task == "regression":
        t = Task("regression", 1, regression_metric)
    elif task == "binary":
        t = Task("binary", 1, binary_metric)
    else:
        raise ValueError(f"task={task!r} for {name!r}; expected 'regression' or 'binary'.")
    out: dict[str, MultimodalDataset] = {}
    for split, keys in _SPLIT_KEYS.items():
        split_key = next((k for k in keys if k in data or k.encode() in data), keys[0])
        part = _get(data, keys, path, "")
        arrays: dict[str, np.ndarray] = {}
        nonfinite = 0
        for m in ("text", "vision", "audio"):
            key = f"{split_key}/{m}"
            try:
                a = np.asarray(_get(part, [m], path, split_key), dtype=np.float32)
            except (TypeError, ValueError) as e:
                if isinstance(e, DataFormatError):
                    raise
                raise malformed(path, key, "a numeric [N, L, D] array", str(e)) from None
            if a.ndim != 3:
                raise malformed(
                    path, key, "a [N, L, D] array (samples, steps, features)", f"shape {a.shape}"
                )
            nonfinite += int((~np.isfinite(a)).sum())
            # MultiBench sets the audio's -inf to 0 (Affectdataset); NaN/inf likewise here.
            arrays[m] = np.nan_to_num(a, nan=0.0, posinf=0.0, neginf=0.0)
        n = len(arrays["text"])
        for m, a in arrays.items():
            if len(a) != n:
                raise malformed(
                    path, f"{split_key}/{m}", f"{n} samples, as {split_key}/text", f"{len(a)}"
                )
        raw_labels = _get(part, ["labels", "label"], path, split_key)
        try:
            labels = np.asarray(raw_labels, dtype=np.float32)
        except (TypeError, ValueError) as e:
            raise malformed(path, f"{split_key}/labels", "numeric labels", str(e)) from None
        if labels.size != n or (labels.ndim and labels.shape[0] != n):
            raise malformed(
                path,
                f"{split_key}/labels",
                f"one label per sample ({n}, as {split_key}/text), shape [N] or [N, 1, 1]",
                f"shape {labels.shape}",
            )
        labels = labels.reshape(n)
        if not np.isfinite(labels).all():
            raise malformed(
                path,
                f"{split_key}/labels",
                "finite labels",
                f"{int((~np.isfinite(labels)).sum())} NaN/inf",
            )
        # MultiBench's drop_entry: samples whose text is all zero are dropped (its aligned mode
        # cannot find where such a sequence starts).
        keep = np.flatnonzero(np.abs(arrays["text"]).reshape(n, -1).sum(axis=1) > 0)
        dropped = n - len(keep)
        if dropped:
            arrays = {m: a[keep] for m, a in arrays.items()}
            labels = labels[keep]
        y = (
            torch.as_tensor(labels)
            if task == "regression"
            else torch.as_tensor((labels > 0).astype(np.float32))
        )
        if trim_padding:
            # MultiBench's aligned mode: drop the leading zero-padding rows of the text sequence
            # (the same start for every modality).
            inputs: dict[str, Any] = {m: [] for m in arrays}
            for i in range(len(labels)):
                start = int(np.flatnonzero(np.abs(arrays["text"][i]).sum(axis=-1))[0])
                for m in arrays:
                    inputs[m].append(_trim(arrays[m][i], start))
        else:
            inputs = {m: torch.as_tensor(a) for m, a in arrays.items()}
        meta = {
            "file": str(path),
            "task": task,
            "dropped_empty_text": dropped,
            "nonfinite_features_zeroed": nonfinite,
        }
        out[split] = MultimodalDataset(name, inputs, y, t, split=split, meta=meta)
    return out


@register("mosi", embedded=False)
def load_mosi(
    root: Path, *, task: str = "regression", trust_pickle: bool = False, trim_padding: bool = True
) -> dict[str, MultimodalDataset]:
    """CMU-MOSI in MultiBench's format (``mosi_raw.pkl``/``mosi_data.pkl`` or the ``.npz``).

    Modalities ``text``, ``vision``, ``audio`` as ``[L_i, D]`` sequences (``trim_padding=True``,
    MultiBench's aligned mode) or padded ``[L, D]``. ``task="regression"`` keeps the sentiment
    in [-3, 3] (MAE); ``"binary"`` is positive (``> 0``) vs not (accuracy), as the OTM paper's
    classification. ``-inf``/NaN features are set to 0, as MultiBench's users do.
    """
    return _affect(
        "mosi",
        root,
        ["mosi_raw", "mosi_data", "mosi"],
        task,
        trust_pickle,
        trim_padding,
        "mae",
        "accuracy",
    )


@register("mosei", embedded=False)
def load_mosei(
    root: Path, *, task: str = "regression", trust_pickle: bool = False, trim_padding: bool = True
) -> dict[str, MultimodalDataset]:
    """CMU-MOSEI in MultiBench's format (``mosei_senti_data.pkl``/``mosei_raw.pkl`` or ``.npz``).

    Same layout and options as :func:`load_mosi`; WMA scores the regression by MAE.
    """
    return _affect(
        "mosei",
        root,
        ["mosei_senti_data", "mosei_raw", "mosei"],
        task,
        trust_pickle,
        trim_padding,
        "mae",
        "accuracy",
    )


@register("ur_funny", embedded=False)
def load_ur_funny(
    root: Path, *, trust_pickle: bool = False, trim_padding: bool = True
) -> dict[str, MultimodalDataset]:
    """UR-FUNNY humour detection in MultiBench's format (``humor.pkl`` or ``humor.npz``).

    Binary task (label ``> 0`` is humorous), scored by AUROC as in WMA.
    """
    return _affect(
        "ur_funny",
        root,
        ["humor", "ur_funny"],
        "binary",
        trust_pickle,
        trim_padding,
        "mae",
        "auroc",
    )


# ----------------------------------------------------------------------------- AV-MNIST


def _npy(path: Path) -> np.ndarray:
    """A ``.npy`` array without unpickling; a truncated or object file names the file."""
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise malformed(
            path, None, "a complete numeric .npy array", f"{type(e).__name__}: {e}"
        ) from None


@register("avmnist", embedded=False)
def load_avmnist(
    root: Path, *, normalize: bool = True, n_validation: int = 5000
) -> dict[str, MultimodalDataset]:
    """AV-MNIST (MNIST digits + FSDD spectrograms) in MultiBench's ``.npy`` layout.

    Files: ``image/train_data.npy`` (``[N, 784]``), ``audio/train_data.npy`` (``[N, 112, 112]``),
    ``train_labels.npy`` and the ``test_*`` counterparts. Returns ``image [1, 28, 28]`` and
    ``audio [1, 112, 112]``, divided by 255 when ``normalize`` (as MultiBench). Validation is
    the last ``n_validation`` training samples (MultiBench: 55000/5000/10000).
    """
    root = Path(root)
    src = "https://github.com/pliang279/MultiBench/tree/main/datasets/avmnist"
    arrays = {}
    for part in ("train", "test"):
        img_path = find_file(root, "avmnist", [f"image/{part}_data.npy"], src)
        aud_path = find_file(root, "avmnist", [f"audio/{part}_data.npy"], src)
        lab_path = find_file(root, "avmnist", [f"{part}_labels.npy"], src)
        img, aud, lab = _npy(img_path), _npy(aud_path), _npy(lab_path)
        n = len(lab)
        if lab.ndim != 1 and not (lab.ndim == 2 and lab.shape[1] == 1):
            raise malformed(lab_path, None, "a label vector [N]", f"shape {lab.shape}")
        for arr, p, per, what in (
            (img, img_path, 784, "[N, 784] (28 x 28 digits)"),
            (aud, aud_path, 112 * 112, "[N, 112, 112] spectrograms"),
        ):
            if len(arr) != n or arr.size != n * per:
                raise malformed(
                    p, None, f"{what} with N = {n} as {lab_path.name}", f"shape {arr.shape}"
                )
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise malformed(
                    p, None, "finite numbers", f"{int((~np.isfinite(arr)).sum())} NaN/inf"
                )
        img = img.astype(np.float32).reshape(n, 1, 28, 28)
        aud = aud.astype(np.float32).reshape(n, 1, 112, 112)
        if normalize:
            img, aud = img / 255.0, aud / 255.0
        arrays[part] = (img, aud, lab.astype(np.int64).ravel())
    task = Task("multiclass", 10, "accuracy")
    img, aud, lab = arrays["train"]
    n_train = len(lab) - n_validation
    if n_train <= 0:
        raise ValueError(
            f"n_validation={n_validation} leaves no training sample out of {len(lab)}."
        )

    def ds(i, a, y, split):
        return MultimodalDataset(
            "avmnist",
            {"image": torch.as_tensor(i), "audio": torch.as_tensor(a)},
            torch.as_tensor(y),
            task,
            split=split,
        )

    return {
        "train": ds(img[:n_train], aud[:n_train], lab[:n_train], "train"),
        "validation": ds(img[n_train:], aud[n_train:], lab[n_train:], "validation"),
        "test": ds(*arrays["test"], "test"),
    }


# ----------------------------------------------------------------------------- ENRICO

ENRICO_IGNORE = frozenset({"50105", "50109"})  # corrupted wireframes, skipped by MultiBench


@register("enrico", embedded=False)
def load_enrico(
    root: Path,
    *,
    image_size: tuple[int, int] = (256, 128),
    seed: int = 42,
    fractions: Sequence[float] = (0.65, 0.15, 0.2),
    limit: int | None = None,
) -> dict[str, MultimodalDataset]:
    """ENRICO mobile-UI topic classification: screenshot + wireframe images, 20 topics.

    Files: ``design_topics.csv`` (``screen_id``, ``topic``), ``screenshots/<id>.jpg``,
    ``wireframes/<id>.png``. The split reproduces MultiBench's: ids in csv order (minus the two
    corrupted screens), shuffled by ``random.Random(seed)`` (seed 42) and cut 65/15/20.
    Images are ``[3, H, W]`` in [0, 1] with ``image_size=(H, W)`` (MultiBench: 256 x 128).

    Args:
        limit: keep only the first ``limit`` samples of each split (quick experiments).
    """
    root = Path(root)
    src = "https://github.com/luileito/enrico (via MultiBench's datasets/enrico/download_data.sh)"
    csv_path = find_file(root, "enrico", ["design_topics.csv"], src)
    with csv_path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["screen_id"] not in ENRICO_IGNORE]
    y_all, topics = encode_labels([r["topic"] for r in rows])
    keys = list(range(len(rows)))
    random.Random(seed).shuffle(keys)  # an explicit, seeded RNG: MultiBench's exact split
    n = len(rows)
    cuts = [0, int(n * fractions[0]), int(n * (fractions[0] + fractions[1])), n]
    task = Task("multiclass", len(topics), "accuracy")
    out = {}
    for s, (a, b) in zip(("train", "validation", "test"), zip(cuts[:-1], cuts[1:])):
        idx = keys[a:b][: limit if limit is not None else None]
        shots, wires = [], []
        for i in idx:
            sid = rows[i]["screen_id"]
            shot, wire = root / "screenshots" / f"{sid}.jpg", root / "wireframes" / f"{sid}.png"
            for p in (shot, wire):
                if not p.exists():
                    raise missing_file("enrico", p, src)
            shots.append(load_image(shot, image_size))
            wires.append(load_image(wire, image_size))
        if not idx:
            raise ValueError(f"ENRICO split {s!r} is empty; check design_topics.csv and `limit`.")
        out[s] = MultimodalDataset(
            "enrico",
            {"screenshot": torch.stack(shots), "wireframe": torch.stack(wires)},
            torch.as_tensor(y_all[idx]),
            task,
            split=s,
            meta={"topics": topics},
        )
    return out


# ----------------------------------------------------------------------------- MuJoCo Push

PUSH_FILES = {
    "train": "gentle_push_1000",
    "validation": "gentle_push_10",
    "test": "gentle_push_300",
}


def convert_hdf5_to_npz(path: str | Path, out: str | Path) -> Path:
    """Convert a fannypack trajectory ``.hdf5`` into an ``.npz`` (``trajectory<i>/<key>`` arrays).

    Optional: the loader reads the ``.hdf5`` directly (h5py is a workbench dependency).
    """
    import h5py

    flat = {}
    with h5py.File(path, "r") as f:
        for group in f:
            for key in f[group]:
                flat[f"{group}/{key}"] = np.asarray(f[group][key][()])
    np.savez(out, **flat)
    return Path(out)


PUSH_KEYS = ("eef_pos", "force", "contact", "image", "Cylinder0_pos")


def _push_trajectories(root: Path, stem: str) -> list[dict[str, np.ndarray]]:
    """The trajectories of one fannypack ``TrajectoriesFile`` (``.hdf5``, read with h5py) or its
    ``.npz`` conversion: groups ``trajectory<i>`` of per-timestep arrays (MultiBench's
    ``_load_trajectories`` reads ``eef_pos [T, 3]``, ``force [T, 6]``, ``contact [T]``,
    ``image [T, 32, 32]``, ``Cylinder0_pos [T, 3]``; other keys such as ``object-state`` are
    ignored)."""
    src = "MultiBench's datasets/gentle_push/data_loader.py (Google Drive links there)"
    npz, h5 = root / f"{stem}.npz", root / f"{stem}.hdf5"
    if npz.exists():
        tree, path = _unflatten(load_npz(npz)), npz
    elif h5.exists():
        import h5py

        path = h5
        try:
            with h5py.File(h5, "r") as f:
                tree = {
                    g: {k: np.asarray(f[g][k][()]) for k in f[g]}
                    for g in f
                    if isinstance(f[g], h5py.Group)
                }
        except OSError as e:
            raise malformed(
                h5, None, "a complete fannypack trajectories HDF5 file", str(e)
            ) from None
    else:
        raise missing_file("mujoco_push", [npz, h5], src)
    groups = [g for g in tree if g.startswith("trajectory") and g[len("trajectory") :].isdigit()]
    if not groups:
        raise malformed(
            path,
            None,
            "groups trajectory0, trajectory1, ... (fannypack)",
            f"keys {sorted(tree)[:10]}",
        )
    out = []
    for g in sorted(groups, key=lambda g: int(g[len("trajectory") :])):
        tr = tree[g]
        missing = [k for k in PUSH_KEYS if k not in tr]
        if missing:
            raise malformed(
                path,
                f"{g}/{missing[0]}",
                f"the keys {list(PUSH_KEYS)} in every trajectory",
                f"keys {sorted(tr)}",
            )
        T = len(np.atleast_1d(tr["eef_pos"]))
        shapes = {
            "eef_pos": (T, 3),
            "Cylinder0_pos": (T, None),
            "force": (T, None),
            "contact": (T,),
            "image": (T, 32, 32),
        }
        for k, shape in shapes.items():
            arr = np.asarray(tr[k])
            ok = arr.ndim == len(shape) and all(
                e is None or a == e for a, e in zip(arr.shape, shape)
            )
            if not ok:
                want = "[" + ", ".join("*" if e is None else str(e) for e in shape) + "]"
                raise malformed(
                    path, f"{g}/{k}", f"shape {want} (T = {T} steps)", f"shape {arr.shape}"
                )
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise malformed(
                    path, f"{g}/{k}", "finite numbers", f"{int((~np.isfinite(arr)).sum())} NaN/inf"
                )
        out.append(tr)
    return out


@register("mujoco_push", embedded=False)
def load_mujoco_push(
    root: Path, *, subsequence_length: int = 16, stride: int | None = None
) -> dict[str, MultimodalDataset]:
    """MuJoCo Push (simulated pushing): predict the object's (x, y) from 4 sensor streams.

    Per timestep, as MultiBench builds them: ``gripper_pos`` = ``eef_pos`` (3), ``gripper_sensors``
    = ``force`` (6) + ``contact`` (1), ``image`` (32 x 32), ``controls`` = previous eef position
    (3) + its delta (3) + contact (1); target = ``Cylinder0_pos[:, :2]``. Trajectories are cut
    into windows of ``subsequence_length`` steps (``stride`` defaults to the window length,
    i.e. non-overlapping); ``y`` is ``[N, L, 2]``, scored by MAE as in OTM (Table 3). Files: ``gentle_push_1000``
    (train), ``gentle_push_10`` (validation), ``gentle_push_300`` (test), each the released
    fannypack ``.hdf5`` (read with h5py) or a converted ``.npz``. MultiBench's feature normalisation constants are not applied.
    """
    root = Path(root)
    stride = stride or subsequence_length
    task = Task("regression", 2, "mae")  # OTM reports MAE (Table 3 caption)
    out = {}
    for split, stem in PUSH_FILES.items():
        cols: dict[str, list[np.ndarray]] = {
            k: [] for k in ("gripper_pos", "gripper_sensors", "image", "controls", "y")
        }
        for tr in _push_trajectories(root, stem):
            eef = np.asarray(tr["eef_pos"], dtype=np.float32)
            contact = np.asarray(tr["contact"], dtype=np.float32).reshape(len(eef), 1)
            prev = np.roll(eef, 1, axis=0)
            prev[0] = eef[0]
            streams = {
                "gripper_pos": eef,
                "gripper_sensors": np.concatenate(
                    [np.asarray(tr["force"], dtype=np.float32).reshape(len(eef), -1), contact],
                    axis=1,
                ),
                "image": np.asarray(tr["image"], dtype=np.float32),
                "controls": np.concatenate([prev, eef - prev, contact], axis=1),
                "y": np.asarray(tr["Cylinder0_pos"], dtype=np.float32)[:, :2],
            }
            for s in range(0, len(eef) - subsequence_length + 1, stride):
                for k, v in streams.items():
                    cols[k].append(v[s : s + subsequence_length])
        if not cols["y"]:
            raise ValueError(
                f"MuJoCo Push {split}: no trajectory is as long as subsequence_length={subsequence_length}."
            )
        inputs = {k: torch.as_tensor(np.stack(v)) for k, v in cols.items() if k != "y"}
        out[split] = MultimodalDataset(
            "mujoco_push", inputs, torch.as_tensor(np.stack(cols["y"])), task, split=split
        )
    return out
