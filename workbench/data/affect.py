"""Affect and audio-visual sets: IEMOCAP (as in MMIN), CREMA-D and Kinetics-Sounds (as in
OGM-GE), and the MedFuse EHR + chest X-ray set (card only; loader not supported yet).

Formats followed:

- IEMOCAP, MMIN (``AIM3-RUC/MMIN``, ``data/multimodal_dataset.py``): ``A/<A_type>.h5``,
  ``V/<V_type>.h5``, ``L/<L_type>.h5`` (one ``[L_i, D]`` dataset per utterance name; defaults
  ``comparE`` 130-d, ``denseface`` 342-d, ``bert_large`` 1024-d) and
  ``target/<fold>/{trn,val,tst}_{label,int2name}.npy`` (one-hot labels, utterance names); 10
  speaker-independent folds. ``int2name`` is ``[N, 1]`` bytes, read as ``int2name[i][0].decode()``
  as MMIN does. The ``.h5`` files are read with h5py; an ``.npz`` with the same stem and the
  utterance names as keys is read too. ``normalize="trn"`` uses MMIN's
  ``A/comparE_mean_std.h5`` (a group per fold with ``mean`` and ``std``).
- CREMA-D and Kinetics-Sounds, OGM-GE (``GeWu-Lab/OGM-GE_CVPR2022``,
  ``dataset/CramedDataset.py``, ``data/KineticSound/my_{train,test}.txt``): a csv list of clips
  (CREMA-D ``train.csv``/``test.csv`` rows ``clip,EMOTION``; KS ``my_train.txt``/``my_test.txt``
  rows ``clip,<n>,class_id``), frames ``visual/Image-01-FPS/<clip>/*.jpg`` (or
  ``visual/<clip>/``) and audio as a precomputed spectrogram ``audio_spec/<clip>.npy`` (``.pkl``
  only with ``trust_pickle=True``) or a ``.wav`` (``AudioWAV/`` or ``audio/``) turned into
  OGM-GE's log-magnitude STFT. OGM-GE has no validation split: a stratified, seeded
  ``val_fraction`` of the training list is held out. Frames are taken evenly spaced
  (deterministic), where OGM-GE samples them at random each epoch.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from ._real import (
    DataFormatError,
    find_file,
    load_image,
    load_npz,
    malformed,
    missing_file,
    seeded_split,
)
from .base import MultimodalDataset, Task
from .multibench import load_pickle_or_npz
from .registry import register

__all__ = [
    "CREMAD_CLASSES",
    "load_cremad",
    "load_iemocap",
    "load_kinetics_sounds",
    "load_medfuse",
    "log_spectrogram",
]

# ----------------------------------------------------------------------------- IEMOCAP

_MMIN = "https://sail.usc.edu/iemocap/ (features as released with MMIN: github.com/AIM3-RUC/MMIN)"


def _feature_store(root: Path, sub: str, stem: str) -> tuple[dict[str, np.ndarray], Path]:
    """``({utterance name: [L_i, D] features}, file)`` of one MMIN feature file."""
    npz, h5 = root / sub / f"{stem}.npz", root / sub / f"{stem}.h5"
    if npz.exists():
        return load_npz(npz), npz
    if h5.exists():
        import h5py

        try:
            with h5py.File(h5, "r") as f:
                store = {k: np.asarray(f[k][()]) for k in f if isinstance(f[k], h5py.Dataset)}
            return store, h5
        except OSError as e:
            raise malformed(
                h5, None, "a complete HDF5 file (one dataset per utterance)", str(e)
            ) from None
    raise missing_file("iemocap", [npz, h5], _MMIN)


def _names(arr: np.ndarray) -> list[str]:
    out = []
    for x in np.asarray(arr).reshape(len(arr), -1)[:, 0]:
        out.append(x.decode() if isinstance(x, bytes) else str(x))
    return out


def _load_npy(path: Path, trust_pickle: bool = False) -> np.ndarray:
    """A ``.npy`` array; an object array needs ``trust_pickle``; a damaged file names the file."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as e:
        if "allow_pickle" not in str(e):
            raise malformed(path, None, "a complete .npy array", str(e)) from None
        if not trust_pickle:
            raise DataFormatError(
                f"{path} holds an object array (needs unpickling); pass trust_pickle=True if you trust it."
            ) from None
        return np.load(path, allow_pickle=True)
    except (EOFError, OSError) as e:
        raise malformed(path, None, "a complete .npy array", f"{type(e).__name__}: {e}") from None


def _mean_std(root: Path, fold: int) -> tuple[np.ndarray, np.ndarray]:
    import h5py

    path = find_file(root, "iemocap", ["A/comparE_mean_std.h5"], _MMIN, "needed by normalize='trn'")
    with h5py.File(path, "r") as f:
        if str(fold) not in f or not {"mean", "std"} <= set(f[str(fold)]):
            raise malformed(
                path,
                f"{fold}/mean, {fold}/std",
                "a group per fold with 'mean' and 'std'",
                f"keys {sorted(f)}",
            )
        return np.asarray(f[str(fold)]["mean"][()]), np.asarray(f[str(fold)]["std"][()])


@register("iemocap", embedded=False)
def load_iemocap(
    root: Path,
    *,
    fold: int = 1,
    audio: str = "comparE",
    vision: str = "denseface",
    text: str = "bert_large",
    normalize: str | None = "utt",
    trust_pickle: bool = False,
) -> dict[str, MultimodalDataset]:
    """IEMOCAP 4-class emotion (MMIN's features), ``audio``/``vision``/``text`` as ``[L_i, D]``.

    Args:
        fold: cross-validation fold 1..10 (MMIN/RAML: 8 speakers train, 1 val, 1 test).
        audio, vision, text: feature file stems under ``A/``, ``V/``, ``L/``.
        normalize: ``"utt"`` z-scores each audio utterance over time (MMIN's ``norm_method=utt``),
            ``"trn"`` uses the fold's training mean/std of ``A/comparE_mean_std.h5`` (MMIN's
            ``trn``), ``None`` leaves features as stored.
        trust_pickle: needed only if the ``int2name`` arrays were saved as object arrays.
    """
    root = Path(root)
    stores = {
        "audio": _feature_store(root, "A", audio),
        "vision": _feature_store(root, "V", vision),
        "text": _feature_store(root, "L", text),
    }
    if normalize not in ("utt", "trn", None):
        raise ValueError(f"normalize={normalize!r}; expected 'utt', 'trn' or None.")
    mean_std = _mean_std(root, fold) if normalize == "trn" else None
    task = Task("multiclass", 4, "accuracy")
    out = {}
    for split, set_name in (("train", "trn"), ("validation", "val"), ("test", "tst")):
        lab_path = find_file(root, "iemocap", [f"target/{fold}/{set_name}_label.npy"], _MMIN)
        name_path = find_file(root, "iemocap", [f"target/{fold}/{set_name}_int2name.npy"], _MMIN)
        labels = _load_npy(lab_path)
        names = _names(_load_npy(name_path, trust_pickle))
        if labels.ndim not in (1, 2) or len(labels) != len(names):
            raise malformed(
                lab_path,
                None,
                f"one label row per utterance of {name_path.name} ({len(names)})",
                f"shape {labels.shape}",
            )
        if labels.dtype.kind == "f" and not np.isfinite(labels).all():
            raise malformed(
                lab_path, None, "finite labels", f"{int((~np.isfinite(labels)).sum())} NaN/inf"
            )
        y = labels.argmax(axis=1) if labels.ndim == 2 else labels.astype(np.int64)
        if len(y) and (y.min() < 0 or y.max() > 3):
            raise malformed(
                lab_path,
                None,
                "4 classes (one-hot [N, 4] or ids 0..3)",
                f"ids {y.min()}..{y.max()}",
            )
        inputs: dict[str, list[torch.Tensor]] = {m: [] for m in stores}
        for n in names:
            for m, (store, store_path) in stores.items():
                if n not in store:
                    raise malformed(
                        store_path,
                        n,
                        f"a {m} feature for every utterance of {name_path}",
                        "no such utterance",
                    )
                x = torch.as_tensor(np.atleast_2d(store[n]), dtype=torch.float32)
                if not torch.isfinite(x).all():
                    raise malformed(store_path, n, "finite features", "NaN/inf")
                if m == "audio" and normalize == "utt":
                    std = x.std(dim=0, keepdim=True) if len(x) > 1 else torch.ones_like(x[:1])
                    x = (x - x.mean(dim=0, keepdim=True)) / torch.where(
                        std == 0, torch.ones_like(std), std
                    )
                elif m == "audio" and normalize == "trn":
                    mu = torch.as_tensor(mean_std[0], dtype=torch.float32).reshape(1, -1)
                    sd = torch.as_tensor(mean_std[1], dtype=torch.float32).reshape(1, -1)
                    x = (x - mu) / torch.where(sd == 0, torch.ones_like(sd), sd)
                inputs[m].append(x)
        out[split] = MultimodalDataset(
            "iemocap",
            inputs,
            torch.as_tensor(y, dtype=torch.long),
            task,
            split=split,
            meta={"fold": fold, "names": names},
        )
    return out


# ----------------------------------------------------------------------------- OGM-GE audio-visual


def log_spectrogram(wave: np.ndarray, n_fft: int, hop_length: int) -> np.ndarray:
    """``log(|STFT| + 1e-7)``, ``[n_fft // 2 + 1, T]``, Hann window, centred frames
    (zero padding), as OGM-GE computes with ``librosa.stft``."""
    wave = np.asarray(wave, dtype=np.float64)
    pad = n_fft // 2
    x = np.pad(wave, (pad, pad))
    n_frames = 1 + (len(x) - n_fft) // hop_length
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = np.stack(
        [x[i * hop_length : i * hop_length + n_fft] * window for i in range(n_frames)], axis=1
    )
    return np.log(np.abs(np.fft.rfft(frames, axis=0)) + 1e-7).astype(np.float32)


def _read_wav(path: Path, sr: int) -> np.ndarray:
    import scipy.io.wavfile
    import scipy.signal

    rate, raw = scipy.io.wavfile.read(path)
    data = raw.astype(np.float64)
    if np.issubdtype(raw.dtype, np.integer):
        data /= float(np.iinfo(raw.dtype).max)
    if data.ndim == 2:
        data = data.mean(axis=1)
    if rate != sr:
        g = np.gcd(rate, sr)
        data = scipy.signal.resample_poly(data, sr // g, rate // g)
    return data


def _spectrogram(
    root: Path,
    name: str,
    clip: str,
    recipe: tuple[int, float, int, int],
    trust_pickle: bool,
    published: str,
) -> np.ndarray:
    for d in ("audio_spec", "audio_feature"):
        p = root / d / f"{clip}.npy"
        if p.exists():
            return np.asarray(np.load(p, allow_pickle=False), dtype=np.float32)
        p = root / d / f"{clip}.pkl"
        if p.exists():
            return np.asarray(load_pickle_or_npz(p, trust_pickle), dtype=np.float32)
    sr, seconds, n_fft, hop = recipe
    for d in ("AudioWAV", "audio"):
        p = root / d / f"{clip}.wav"
        if p.exists():
            wave = _read_wav(p, sr)
            n = int(sr * seconds)
            wave = np.tile(wave, int(np.ceil(n / max(len(wave), 1))))[:n]
            return log_spectrogram(np.clip(wave, -1.0, 1.0), n_fft, hop)
    raise missing_file(
        name, [root / "audio_spec" / f"{clip}.npy", root / "AudioWAV" / f"{clip}.wav"], published
    )


def _frames(
    root: Path, name: str, clip: str, n_frames: int, image_size: int, published: str
) -> torch.Tensor:
    folder = next(
        (
            d
            for d in (root / "visual" / "Image-01-FPS" / clip, root / "visual" / clip)
            if d.is_dir()
        ),
        None,
    )
    if folder is None:
        raise missing_file(
            name, [root / "visual" / "Image-01-FPS" / clip, root / "visual" / clip], published
        )
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not files:
        raise ValueError(f"{folder} holds no frame images.")
    pick = np.linspace(0, len(files) - 1, n_frames).round().astype(int)
    return torch.stack([load_image(files[i], image_size) for i in pick])


def _clip_lists(
    root: Path,
    name: str,
    candidates: Sequence[str],
    published: str,
    clip_of: Callable[[list[str]], tuple[str, int] | None],
    encoding: str | None = None,
) -> dict[str, list[tuple[str, int]]]:
    """``{"train", "test"}``: the ``(clip, class id)`` of each csv row of the first of
    ``candidates`` (``{part}`` stands for the part) found under ``root``. Rows with fewer than
    two fields, and rows ``clip_of`` maps to ``None``, are skipped."""
    lists = {}
    for part in ("train", "test"):
        path = find_file(root, name, [c.format(part=part) for c in candidates], published)
        with path.open(encoding=encoding, newline="") as f:
            clips = (clip_of(r) for r in csv.reader(f) if len(r) >= 2)
            lists[part] = [c for c in clips if c is not None]
    return lists


def _fit_width(spec: np.ndarray, width: int) -> np.ndarray:
    if spec.shape[-1] >= width:
        return spec[..., :width]
    return np.pad(spec, [(0, 0)] * (spec.ndim - 1) + [(0, width - spec.shape[-1])])


def _audio_visual(
    name: str,
    root: Path,
    lists: dict[str, list[tuple[str, int]]],
    n_classes: int,
    recipe: tuple[int, float, int, int],
    n_frames: int,
    image_size: int,
    val_fraction: float,
    seed: int,
    trust_pickle: bool,
    published: str,
    limit: int | None,
) -> dict[str, MultimodalDataset]:
    train = lists["train"]
    y_train = np.asarray([c for _, c in train])
    idx = seeded_split(len(train), (1 - val_fraction, val_fraction, 0.0), seed, stratify=y_train)
    parts = {
        "train": [train[i] for i in idx["train"]],
        "validation": [train[i] for i in idx["validation"]],
        "test": lists["test"],
    }
    task = Task("multiclass", n_classes, "accuracy")
    width = None
    out = {}
    for split, rows in parts.items():
        rows = rows if limit is None else rows[:limit]
        if not rows:
            raise ValueError(
                f"Dataset {name!r} split {split!r} is empty; check the clip lists, `val_fraction` and `limit`."
            )
        specs, frames = [], []
        for clip, _ in rows:
            spec = _spectrogram(root, name, clip, recipe, trust_pickle, published)
            width = width or spec.shape[-1]
            specs.append(_fit_width(spec, width))
            frames.append(_frames(root, name, clip, n_frames, image_size, published))
        out[split] = MultimodalDataset(
            name,
            {"audio": torch.as_tensor(np.stack(specs))[:, None], "visual": torch.stack(frames)},
            torch.as_tensor([c for _, c in rows], dtype=torch.long),
            task,
            split=split,
            meta={"clips": [c for c, _ in rows], "val_fraction": val_fraction, "seed": seed},
        )
    return out


CREMAD_CLASSES = ("NEU", "HAP", "SAD", "FEA", "DIS", "ANG")  # OGM-GE's class order
_CREMAD = "https://github.com/CheyneyComputerScience/CREMA-D (lists: github.com/GeWu-Lab/OGM-GE_CVPR2022 data/CREMAD)"


@register("cremad", embedded=False)
def load_cremad(
    root: Path,
    *,
    n_frames: int = 1,
    image_size: int = 224,
    val_fraction: float = 0.1,
    seed: int = 0,
    trust_pickle: bool = False,
    limit: int | None = None,
) -> dict[str, MultimodalDataset]:
    """CREMA-D 6-class emotion (OGM-GE layout): ``audio [1, 257, T]`` log-STFT, ``visual
    [n_frames, 3, H, W]``. A wav is resampled to 22.05 kHz, tiled to 3 s, and transformed with
    n_fft=512, hop=353 (OGM-GE's recipe)."""
    root = Path(root)
    lists = _clip_lists(
        root,
        "cremad",
        ["{part}.csv", "data/CREMAD/{part}.csv"],
        _CREMAD,
        lambda r: (r[0], CREMAD_CLASSES.index(r[1])) if r[1] in CREMAD_CLASSES else None,
        encoding="utf-8-sig",
    )
    return _audio_visual(
        "cremad",
        root,
        lists,
        6,
        (22050, 3.0, 512, 353),
        n_frames,
        image_size,
        val_fraction,
        seed,
        trust_pickle,
        _CREMAD,
        limit,
    )


_KS = "Kinetics-400 clips of the Kinetics-Sounds classes (lists: github.com/GeWu-Lab/OGM-GE_CVPR2022 data/KineticSound)"


@register("kinetics_sounds", embedded=False)
def load_kinetics_sounds(
    root: Path,
    *,
    n_frames: int = 3,
    image_size: int = 224,
    val_fraction: float = 0.1,
    seed: int = 0,
    trust_pickle: bool = False,
    limit: int | None = None,
) -> dict[str, MultimodalDataset]:
    """Kinetics-Sounds (OGM-GE lists ``my_{train,test}.txt``, rows ``clip,<n>,class_id``):
    ``audio [1, F, T]`` spectrogram, ``visual [n_frames, 3, H, W]``. A wav is read at 16 kHz,
    tiled to 5 s (from the start, where OGM-GE crops at random) with n_fft=256, hop=128."""
    root = Path(root)
    lists = _clip_lists(
        root,
        "kinetics_sounds",
        ["my_{part}.txt", "data/KineticSound/my_{part}.txt"],
        _KS,
        lambda r: (r[0], int(r[-1])),
    )
    n_classes = 1 + max(c for rows in lists.values() for _, c in rows)
    return _audio_visual(
        "kinetics_sounds",
        root,
        lists,
        n_classes,
        (16000, 5.0, 256, 128),
        n_frames,
        image_size,
        val_fraction,
        seed,
        trust_pickle,
        _KS,
        limit,
    )


# ----------------------------------------------------------------------------- MedFuse

MEDFUSE_FILES = ("ehr/", "cxr/", "mimic-cxr-2.0.0-chexpert.csv", "mimic-cxr-2.0.0-metadata.csv")


@register("medfuse", embedded=False)
def load_medfuse(root: Path, **_: object) -> dict[str, MultimodalDataset]:
    """MedFuse (MIMIC-IV EHR time series + MIMIC-CXR images; WMA's MedFuse-I).

    Not supported yet: the loader checks that the expected folders exist, then raises
    ``NotImplementedError``. Missing: MedFuse's EHR pre-processing (the MIMIC-IV benchmark
    episodes, 76-d discretised time series, github.com/nyuad-cai/MedFuse ``ehr_utils``) and its
    patient-level EHR<->CXR pairing; both need credentialed PhysioNet data that cannot be
    checked here.
    """
    root = Path(root)
    src = "https://physionet.org (MIMIC-IV, MIMIC-CXR-JPG; credentialed access) and github.com/nyuad-cai/MedFuse"
    for f in MEDFUSE_FILES:
        if not (root / f).exists():
            raise missing_file("medfuse", root / f, src)
    raise NotImplementedError(
        "The MedFuse loader is not supported yet: the EHR pre-processing (MIMIC-IV benchmark "
        "episodes discretised as in MedFuse's ehr_utils) and the EHR<->CXR pairing are not "
        f"implemented. See data_cards/medfuse.yaml; found the expected folders under {root}."
    )
