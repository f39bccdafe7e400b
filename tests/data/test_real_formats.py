"""Loaders on fixtures re-derived from the formats the publishers ship (issue 16, "Real files").

Each fixture writer in ``tests/real_formats.py`` names the public source its structure follows;
the data cards say the same under ``fixture_format``. The last part holds one parametrised test
per loader family: a malformed file (truncated, wrong keys, wrong shapes, labels that do not
match the samples, NaN) raises :class:`DataFormatError` naming the file, the key and what was
expected.
"""

from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse
import tomllib
from real_formats import (
    affect_dict,
    cell,
    image,
    write_caltech101_7,
    write_fannypack_push,
    write_gwmac_movies,
    write_hateful_memes,
    write_mat_v73,
    write_mmimdb,
    write_mmin_iemocap,
    write_otm_orl,
    write_pickle,
    write_prokaryotic,
    write_qmf_jsonl,
    write_three_sources_mat,
)

from workbench.data import (
    DataFormatError,
    affect,
    available,
    load_splits,
    multibench,
    multiview,
    read_card,
    vision_language,
)

REPO = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- ORL (OTM/GWMAC)


def test_orl_otm_release_structure_loads(tmp_path, rng):
    """The exact structure of the OTM/GWMAC ``orl.mat``/``orl_y.mat``: ``X`` a 1x2 cell of
    (400, 288) float64 views, ``y`` a 1x2 cell of (400, 1) uint8 labels 1..40. On main this
    raised ``ValueError: setting an array element with a sequence``."""
    view, labels = write_otm_orl(tmp_path, rng)
    raw = scipy.io.loadmat(tmp_path / "orl_y.mat")["y"]
    assert raw.shape == (1, 2) and raw[0, 0].shape == (400, 1) and raw[0, 0].dtype == np.uint8
    splits = load_splits("orl", tmp_path)
    ds = splits["train"]
    assert len(ds) == 400 and ds.modality_shape("view1") == (288,)
    assert ds.task.n_outputs == 40 and ds.meta["identical_views"] is True
    np.testing.assert_array_equal(ds.y.numpy(), labels.ravel().astype(int) - 1)
    np.testing.assert_allclose(ds.inputs["view2"].numpy(), view, rtol=1e-6)
    assert all(len(splits[s]) == 400 for s in ("validation", "test"))  # transductive


def test_orl_label_cells_must_agree(tmp_path, rng):
    write_otm_orl(tmp_path, rng, n=40, d=6, k=4)
    y = np.repeat(np.arange(1, 5), 10).astype(np.uint8).reshape(40, 1)
    other = y.copy()
    other[:3, 0] = 4
    scipy.io.savemat(tmp_path / "orl_y.mat", {"y": cell(y, other)})
    with pytest.raises(DataFormatError) as err:
        load_splits("orl", tmp_path)
    msg = str(err.value)
    assert "orl_y.mat" in msg and "'y'" in msg and "agree" in msg and "3 of 40" in msg


def test_orl_plain_label_vector_still_loads(tmp_path, rng):
    write_otm_orl(tmp_path, rng, n=40, d=6, k=4)
    scipy.io.savemat(tmp_path / "orl_y.mat", {"y": np.repeat(np.arange(1, 5), 10)})
    assert load_splits("orl", tmp_path)["train"].task.n_outputs == 4


def test_orl_v73_copy_is_read_with_h5py(tmp_path, rng):
    """The same variables saved by MATLAB with ``-v7.3`` (HDF5; scipy refuses it): read through
    h5py instead of being refused, with cells, orientation and labels as from the v7 file."""
    view = rng.uniform(size=(40, 6))
    y = np.repeat(np.arange(1, 5), 10).astype(np.uint8).reshape(40, 1)
    write_mat_v73(tmp_path / "orl.mat", {"X": cell(view, view.copy())})
    write_mat_v73(tmp_path / "orl_y.mat", {"y": cell(y, y.copy())})
    with pytest.raises(NotImplementedError):
        scipy.io.loadmat(tmp_path / "orl.mat")
    ds = load_splits("orl", tmp_path)["train"]
    np.testing.assert_allclose(ds.inputs["view1"].numpy(), view, rtol=1e-6)
    np.testing.assert_array_equal(ds.y.numpy(), y.ravel() - 1)


def test_load_mat_v73_matches_loadmat_for_cells_sparse_and_labels(tmp_path, rng):
    content = {
        "X": cell(rng.normal(size=(4, 3)), rng.normal(size=(4, 5))),
        "Y": np.arange(1, 5, dtype=np.uint8).reshape(4, 1),
        "S": scipy.sparse.random(4, 6, density=0.4, random_state=1, format="csc"),
    }
    scipy.io.savemat(tmp_path / "v7.mat", content)
    write_mat_v73(tmp_path / "v73.mat", content)
    a, b = multiview.load_mat(tmp_path / "v7.mat"), multiview.load_mat(tmp_path / "v73.mat")
    assert a["X"].shape == b["X"].shape == (1, 2)
    for i in range(2):
        np.testing.assert_array_equal(a["X"][0, i], b["X"][0, i])
    np.testing.assert_array_equal(a["Y"], b["Y"])
    assert b["Y"].dtype == np.uint8
    assert scipy.sparse.issparse(b["S"])
    np.testing.assert_array_equal(a["S"].toarray(), b["S"].toarray())


# ----------------------------------------------------------------------------- other OTM sets


def test_movies_gwmac_text_files(tmp_path, rng):
    kw, act, labels = write_gwmac_movies(tmp_path, rng)
    assert (tmp_path / "M1.txt").read_text().startswith("\n 1") or (
        tmp_path / "M1.txt"
    ).read_text().startswith("\n 0")
    ds = load_splits("movies", tmp_path)["train"]
    np.testing.assert_array_equal(ds.inputs["keywords"].numpy(), kw)
    np.testing.assert_array_equal(ds.inputs["actors"].numpy(), act)
    np.testing.assert_array_equal(ds.y.numpy(), labels - 1)


@pytest.mark.parametrize(("sparse_text", "v73"), [(False, False), (True, True)])
def test_prokaryotic_lrssc_layout(tmp_path, rng, sparse_text, v73):
    views, truth = write_prokaryotic(tmp_path, rng, sparse_text=sparse_text, v73=v73)
    ds = load_splits("prokaryotic", tmp_path)["train"]
    text = views["text"].toarray() if sparse_text else views["text"]
    np.testing.assert_allclose(ds.inputs["text"].numpy(), text, rtol=1e-6)
    np.testing.assert_array_equal(ds.y.numpy(), truth.ravel().astype(int) - 1)


@pytest.mark.parametrize("v73", [False, True])
def test_caltech101_7_otm_layout(tmp_path, rng, v73):
    views, y = write_caltech101_7(tmp_path, rng, v73=v73)
    ds = load_splits("caltech101_7", tmp_path)["train"]
    assert [ds.modality_shape(m)[0] for m in ds.modalities] == [v.shape[1] for v in views]
    np.testing.assert_allclose(ds.inputs["hog"].numpy(), views[3], rtol=1e-6)
    np.testing.assert_array_equal(ds.y.numpy(), y.ravel().astype(int) - 1)


def test_three_sources_lrssc_mat(tmp_path, rng):
    """``3-sources.mat`` (Multi-view-LRSSC, read by GWMAC/OTM): sparse ``bbc``/``guardian``/
    ``reuters`` and ``truth``; on main only a guessed ``3sources.mat`` with an ``X`` cell was
    read, so this file was reported missing."""
    mats, truth = write_three_sources_mat(tmp_path, rng)
    ds = load_splits("three_sources", tmp_path)["train"]
    assert ds.modalities == ("bbc", "guardian", "reuters")
    np.testing.assert_allclose(ds.inputs["guardian"].numpy(), mats["guardian"].toarray())
    np.testing.assert_array_equal(ds.y.numpy(), truth.ravel().astype(int) - 1)


# ----------------------------------------------------------------------------- MultiBench


def test_h5py_is_a_declared_dependency():
    """MultiBench's MuJoCo Push ships HDF5, MMIN's IEMOCAP features are .h5 and v7.3 .mat files
    are HDF5: h5py must come with the workbench (on main it was not installed at all)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(d.replace(" ", "").lower().startswith("h5py") for d in deps)


def test_affect_drops_samples_without_text_as_multibench(tmp_path, rng):
    """MultiBench's ``drop_entry`` removes samples whose text is all zero before building the
    aligned sequences; main kept them as a one-step zero sequence."""
    data = affect_dict(rng)
    data["train"]["text"][1] = 0.0
    write_pickle(tmp_path / "mosi_raw.pkl", data)
    ds = multibench.load_mosi(tmp_path, trust_pickle=True)["train"]
    assert len(ds) == 4 and ds.meta["dropped_empty_text"] == 1
    kept = np.delete(data["train"]["labels"].ravel(), 1)
    np.testing.assert_allclose(ds.y.numpy(), kept)
    assert ds.meta["nonfinite_features_zeroed"] == 1  # the released -inf in the audio


def test_mujoco_push_fannypack_hdf5(tmp_path, rng):
    trajs = {
        stem: write_fannypack_push(tmp_path / f"{stem}.hdf5", rng)
        for stem in multibench.PUSH_FILES.values()
    }
    splits = multibench.load_mujoco_push(tmp_path, subsequence_length=8)
    ds = splits["train"]
    assert len(ds) == 2 * 2
    first = trajs["gentle_push_1000"][0]
    np.testing.assert_allclose(ds.y[0].numpy(), first["Cylinder0_pos"][:8, :2])
    np.testing.assert_allclose(ds.inputs["image"][0].numpy(), first["image"][:8])


def test_avmnist_multibench_npy_with_uint8(tmp_path, rng):
    for part, n in (("train", 7), ("test", 3)):
        (tmp_path / "image").mkdir(exist_ok=True)
        (tmp_path / "audio").mkdir(exist_ok=True)
        np.save(tmp_path / "image" / f"{part}_data.npy", rng.integers(0, 256, (n, 784)))
        np.save(tmp_path / "audio" / f"{part}_data.npy", rng.integers(0, 256, (n, 112, 112)))
        np.save(tmp_path / f"{part}_labels.npy", rng.integers(0, 10, n))
    splits = multibench.load_avmnist(tmp_path, n_validation=2)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [5, 2, 3]


# ----------------------------------------------------------------------------- IEMOCAP (MMIN)

_NAMES = {"trn": ["Ses01F_a", "Ses01F_b", "Ses02M_a"], "val": ["Ses03F_a"], "tst": ["Ses04M_a"]}


def test_iemocap_mmin_h5_layout(tmp_path, rng):
    feats = write_mmin_iemocap(tmp_path, rng, _NAMES)
    raw = affect.load_iemocap(tmp_path, normalize=None)
    assert raw["train"].meta["names"] == _NAMES["trn"]
    np.testing.assert_allclose(
        raw["test"].inputs["text"][0].numpy(), feats["L"]["Ses04M_a"], rtol=1e-6
    )


def test_iemocap_trn_normalisation_uses_mmin_mean_std(tmp_path, rng):
    """MMIN's ``norm_method=trn``: ``(x - mean) / std`` with the fold's statistics from
    ``A/comparE_mean_std.h5`` (main ignored ``"trn"`` and left the audio as stored)."""
    feats = write_mmin_iemocap(tmp_path, rng, _NAMES)
    ds = affect.load_iemocap(tmp_path, normalize="trn")["validation"]
    expected = (feats["A"]["Ses03F_a"] - 0.5) / 2.0
    np.testing.assert_allclose(ds.inputs["audio"][0].numpy(), expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------------------- vision-language


def test_hateful_memes_release_jsonl(tmp_path, rng):
    write_hateful_memes(tmp_path, rng)
    splits = vision_language.load_hateful_memes(tmp_path, image_size=8)
    assert splits["train"].meta["ids"] == [1000, 1001, 1002, 1003]
    assert (tmp_path / "img" / "01000.png").exists()  # the path comes from "img", not the id


def test_mmimdb_keeps_the_longest_plot(tmp_path, rng):
    """gmu-mmimdb's ``make_dataset.py`` and MMBT's ``format_mmimdb_dataset`` keep the longest
    of a movie's plots; main joined them all."""
    split = {"train": ["0000001"], "dev": ["0000002"], "test": ["0000003"]}
    write_mmimdb(
        tmp_path, rng, split, {i: ["Drama"] for i in split["train"] + split["dev"] + split["test"]}
    )
    rec_path = tmp_path / "mmimdb" / "dataset" / "0000001.json"
    rec = json.loads(rec_path.read_text())
    rec["plot"] = ["short one.", "a much longer plot summary, the one kept.", "mid length plot"]
    rec_path.write_text(json.dumps(rec))
    ds = vision_language.load_mmimdb(tmp_path, image_size=8)["train"]
    assert vision_language.decode_text(ds.inputs["text"][0]) == rec["plot"][1]
    assert ds.meta["plot"] == "longest"


def test_mmimdb_feature_hdf5_alone_gets_a_clear_hint(tmp_path):
    """gmu-mmimdb's ``multimodal_imdb.hdf5`` (``make_dataset.py``: ``features``,
    ``vgg_features``, ``images``, ``sequences``, ``genres``, ``imdb_ids``) has no raw text."""
    with h5py.File(tmp_path / "multimodal_imdb.hdf5", "w") as f:
        f.create_dataset("features", data=np.zeros((3, 300), np.float32))
        f.create_dataset("genres", data=np.zeros((3, 23), np.int32))
        f.create_dataset("imdb_ids", data=np.array([b"0000001", b"0000002", b"0000003"]))
    with pytest.raises(FileNotFoundError, match="multimodal_imdb.hdf5 is there.*mmimdb.tar.gz"):
        load_splits("mmimdb", tmp_path)


def test_food101_upmc_csv_with_a_header_row(tmp_path, rng):
    """UPMC's ``texts/{train,test}_titles.csv`` rows ``image,text,label``; some copies (the
    Kaggle mirror) start with a header row, which main read as a sample of class "class_name"."""
    (tmp_path / "texts").mkdir()
    for part, n in (("train", 6), ("test", 2)):
        rows = [["filename", "text", "class_name"]]
        for i in range(n):
            label = ["pizza", "tacos"][i % 2]
            fname = f"{label}_{part}{i}.jpg"
            image(tmp_path / "images" / part / label / fname, rng, fmt="JPEG")
            rows.append([fname, f"recipe, {i}", label])
        with (tmp_path / "texts" / f"{part}_titles.csv").open("w", newline="") as f:
            csv.writer(f).writerows(rows)
    splits = vision_language.load_food101(tmp_path, image_size=8, val_fraction=0.34)
    assert splits["train"].meta["classes"] == ["pizza", "tacos"]
    assert sum(len(s) for s in splits.values()) == 8


def test_food101_and_mvsa_qmf_jsonl(tmp_path, rng):
    (tmp_path / "food").mkdir()
    (tmp_path / "mvsa").mkdir()
    write_qmf_jsonl(tmp_path / "food", rng, ["apple_pie", "ramen", "sushi"])
    write_qmf_jsonl(tmp_path / "mvsa", rng, ["positive", "neutral", "negative"])
    food = vision_language.load_food101(tmp_path / "food", image_size=8)
    mvsa = vision_language.load_mvsa_single(tmp_path / "mvsa", image_size=8)
    assert food["validation"].meta["classes"] == ["apple_pie", "ramen", "sushi"]
    assert [len(mvsa[s]) for s in ("train", "validation", "test")] == [6, 2, 3]


# ----------------------------------------------------------------------------- data cards


def test_every_real_card_names_the_public_source_of_its_fixture():
    for name in available(embedded=False):
        card = read_card(name)
        text = card.get("fixture_format")
        assert isinstance(text, str) and len(text) > 20, f"{name}: no fixture_format"
        if name != "medfuse":
            assert "github.com" in text or "http" in text, f"{name}: fixture_format names no source"


# ----------------------------------------------------------------------------- malformed files


def _truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def _caltech_bad_views(root, rng):
    write_caltech101_7(root, rng)
    content = scipy.io.loadmat(root / "Caltech101_7.mat")
    content["X"][0, 2] = rng.normal(size=(5, 7))  # neither dimension is the 21 samples
    scipy.io.savemat(root / "Caltech101_7.mat", {"X": content["X"], "Y": content["Y"]})


def _orl_nan(root, rng):
    view, _ = write_otm_orl(root, rng, n=40, d=6, k=4)
    bad = view.copy()
    bad[3, 2] = np.nan
    scipy.io.savemat(root / "orl.mat", {"X": cell(view, bad)})


def _orl_label_count(root, rng):
    write_otm_orl(root, rng, n=40, d=6, k=4)
    y = np.arange(1, 31, dtype=np.uint8).reshape(30, 1)
    scipy.io.savemat(root / "orl_y.mat", {"y": cell(y, y)})


MULTIVIEW_CASES = {
    "truncated": (
        "orl",
        lambda r, g: (write_otm_orl(r, g, n=40, d=6, k=4), _truncate(r / "orl.mat")),
        "orl.mat",
        "complete MATLAB",
    ),
    "truncated v7.3": (
        "caltech101_7",
        lambda r, g: (write_caltech101_7(r, g, v73=True), _truncate(r / "Caltech101_7.mat", 0.3)),
        "Caltech101_7.mat",
        "v7.3",
    ),
    "wrong keys": (
        "prokaryotic",
        lambda r, g: scipy.io.savemat(r / "prokaryotic.mat", {"text": np.ones((4, 2))}),
        "prokaryotic.mat",
        "proteome_comp",
    ),
    "wrong shapes": ("caltech101_7", _caltech_bad_views, "Caltech101_7.mat", "X{3}"),
    "labels not matching samples": ("orl", _orl_label_count, "orl.mat", "30 labels"),
    "label matrix": (
        "three_sources",
        lambda r, g: (
            write_three_sources_mat(r, g),
            scipy.io.savemat(
                r / "3-sources.mat",
                {
                    **{
                        k: v
                        for k, v in scipy.io.loadmat(r / "3-sources.mat").items()
                        if not k.startswith("__")
                    },
                    "truth": np.ones((18, 2)),
                },
            ),
        ),
        "3-sources.mat",
        "truth",
    ),
    "NaN": ("orl", _orl_nan, "orl.mat", "X{2}"),
    "text not numeric": (
        "movies",
        lambda r, g: (write_gwmac_movies(r, g), (r / "M2.txt").write_text("\n 1 x 0\n")),
        "M2.txt",
        "numeric",
    ),
}


@pytest.mark.parametrize("case", sorted(MULTIVIEW_CASES))
def test_malformed_multiview_files_name_file_key_and_expectation(tmp_path, rng, case):
    name, write, fname, key = MULTIVIEW_CASES[case]
    write(tmp_path, rng)
    with pytest.raises(DataFormatError) as err:
        load_splits(name, tmp_path)
    msg = str(err.value)
    assert fname in msg and key in msg, msg
    assert "expected" in msg or "labels" in msg, msg


def _affect_case(mutate):
    def write(root, rng):
        data = affect_dict(rng)
        mutate(data)
        write_pickle(root / "mosi_raw.pkl", data)

    return write


def _nan_label(d):
    d["valid"]["labels"][1, 0, 0] = np.nan


AFFECT_CASES = {
    "truncated pickle": (
        lambda r, g: (
            write_pickle(r / "mosi_raw.pkl", affect_dict(g)),
            _truncate(r / "mosi_raw.pkl"),
        ),
        "mosi_raw.pkl",
        "complete pickle",
    ),
    "truncated npz": (
        lambda r, g: (
            multibench.convert_pickle_to_npz(
                write_pickle(r / "src.pkl", affect_dict(g)), r / "mosi_raw.npz"
            ),
            _truncate(r / "mosi_raw.npz"),
        ),
        "mosi_raw.npz",
        "complete .npz",
    ),
    "wrong keys": (_affect_case(lambda d: d["test"].pop("vision")), "mosi_raw.pkl", "test/vision"),
    "wrong split keys": (
        _affect_case(lambda d: d.update(tst=d.pop("test"))),
        "mosi_raw.pkl",
        "test",
    ),
    "wrong shapes": (
        _affect_case(lambda d: d["train"].update(audio=d["train"]["audio"][:, :, 0])),
        "mosi_raw.pkl",
        "train/audio",
    ),
    "labels not matching samples": (
        _affect_case(lambda d: d["train"].update(labels=np.zeros((10, 1, 1), np.float32))),
        "mosi_raw.pkl",
        "train/labels",
    ),
    "modalities not matching": (
        _affect_case(lambda d: d["test"].update(audio=d["test"]["audio"][:2])),
        "mosi_raw.pkl",
        "test/audio",
    ),
    "NaN label": (_affect_case(_nan_label), "mosi_raw.pkl", "valid/labels"),
}


@pytest.mark.parametrize("case", sorted(AFFECT_CASES))
def test_malformed_multibench_affect_files_name_file_key_and_expectation(tmp_path, rng, case):
    write, fname, key = AFFECT_CASES[case]
    write(tmp_path, rng)
    with pytest.raises(DataFormatError) as err:
        multibench.load_mosi(tmp_path, trust_pickle=True)
    msg = str(err.value)
    assert fname in msg and key in msg and "expected" in msg, msg


def _push(mutate=None, truncate=False):
    def write(root, rng):
        for stem in multibench.PUSH_FILES.values():
            write_fannypack_push(root / f"{stem}.hdf5", rng)
        path = root / "gentle_push_1000.hdf5"
        if mutate is not None:
            with h5py.File(path, "a") as f:
                mutate(f)
        if truncate:
            _truncate(path)

    return write


def _avmnist(bad_labels=False, nan=False):
    def write(root, rng):
        (root / "image").mkdir()
        (root / "audio").mkdir()
        for part, n in (("train", 6), ("test", 2)):
            img = rng.uniform(0, 255, (n, 784))
            if nan and part == "test":
                img[0, 0] = np.nan
            np.save(root / "image" / f"{part}_data.npy", img)
            np.save(root / "audio" / f"{part}_data.npy", rng.uniform(0, 255, (n, 112, 112)))
            np.save(
                root / f"{part}_labels.npy",
                rng.integers(0, 10, n + (bad_labels and part == "train")),
            )

    return write


def _replace(f, key, value):
    del f[key]
    f.create_dataset(key, data=value)


TENSOR_CASES = {
    "push truncated": ("mujoco_push", _push(truncate=True), "gentle_push_1000.hdf5", "HDF5"),
    "push wrong keys": (
        "mujoco_push",
        _push(lambda f: f["trajectory1"].__delitem__("force")),
        "gentle_push_1000.hdf5",
        "trajectory1/force",
    ),
    "push wrong shapes": (
        "mujoco_push",
        _push(lambda f: _replace(f, "trajectory0/image", np.zeros((20, 16, 16), np.float32))),
        "gentle_push_1000.hdf5",
        "trajectory0/image",
    ),
    "push steps not matching": (
        "mujoco_push",
        _push(lambda f: _replace(f, "trajectory0/Cylinder0_pos", np.zeros((19, 3), np.float32))),
        "gentle_push_1000.hdf5",
        "trajectory0/Cylinder0_pos",
    ),
    "push NaN": (
        "mujoco_push",
        _push(lambda f: _replace(f, "trajectory0/force", np.full((20, 6), np.nan, np.float32))),
        "gentle_push_1000.hdf5",
        "trajectory0/force",
    ),
    "avmnist labels not matching": (
        "avmnist",
        _avmnist(bad_labels=True),
        "train_data.npy",
        "N = 7",
    ),
    "avmnist NaN": ("avmnist", _avmnist(nan=True), "test_data.npy", "finite"),
}


@pytest.mark.parametrize("case", sorted(TENSOR_CASES))
def test_malformed_multibench_tensor_files_name_file_key_and_expectation(tmp_path, rng, case):
    name, write, fname, key = TENSOR_CASES[case]
    write(tmp_path, rng)
    with pytest.raises(DataFormatError) as err:
        load_splits(name, tmp_path)
    msg = str(err.value)
    assert fname in msg and key in msg and "expected" in msg, msg


def _h5_delete(path: Path, key: str) -> None:
    with h5py.File(path, "a") as f:
        del f[key]


def _iemocap(mutate):
    def write(root, rng):
        write_mmin_iemocap(root, rng, _NAMES)
        mutate(root)

    return write


IEMOCAP_CASES = {
    "truncated h5": (
        _iemocap(lambda r: _truncate(r / "V" / "denseface.h5")),
        "denseface.h5",
        "HDF5",
    ),
    "labels not matching samples": (
        _iemocap(lambda r: np.save(r / "target" / "1" / "val_label.npy", np.eye(4)[[0, 1]])),
        "val_label.npy",
        "val_int2name.npy",
    ),
    "missing utterance": (
        _iemocap(lambda r: _h5_delete(r / "L" / "bert_large.h5", "Ses02M_a")),
        "bert_large.h5",
        "Ses02M_a",
    ),
    "NaN label": (
        _iemocap(
            lambda r: np.save(r / "target" / "1" / "tst_label.npy", np.array([[np.nan, 1, 0, 0]]))
        ),
        "tst_label.npy",
        "finite",
    ),
}


@pytest.mark.parametrize("case", sorted(IEMOCAP_CASES))
def test_malformed_iemocap_files_name_file_key_and_expectation(tmp_path, rng, case):
    write, fname, key = IEMOCAP_CASES[case]
    write(tmp_path, rng)
    with pytest.raises(DataFormatError) as err:
        affect.load_iemocap(tmp_path)
    msg = str(err.value)
    assert fname in msg and key in msg and "expected" in msg, msg


def _hm(mutate):
    def write(root, rng):
        write_hateful_memes(root, rng)
        mutate(root)

    return write


def _mm(mutate):
    def write(root, rng):
        ids = ["0000001", "0000002", "0000003"]
        write_mmimdb(
            root,
            rng,
            {"train": ids[:1], "dev": ids[1:2], "test": ids[2:]},
            {i: ["Drama"] for i in ids},
        )
        mutate(root)

    return write


def _edit_json(path: Path, edit) -> None:
    rec = json.loads(path.read_text())
    edit(rec)
    path.write_text(json.dumps(rec))


VL_CASES = {
    "truncated jsonl": (
        "hateful_memes",
        _hm(lambda r: _truncate(r / "dev_seen.jsonl", 0.7)),
        "dev_seen.jsonl",
        "line",
    ),
    "jsonl wrong keys": (
        "hateful_memes",
        _hm(
            lambda r: (r / "test_seen.jsonl").write_text(
                json.dumps({"id": 1, "label": 0, "text": "x"})
            )
        ),
        "test_seen.jsonl",
        "img",
    ),
    "jsonl labels not binary": (
        "hateful_memes",
        _hm(
            lambda r: (r / "train.jsonl").write_text(
                json.dumps({"id": 1, "img": "img/01000.png", "label": 2, "text": "x"})
            )
        ),
        "train.jsonl",
        "label",
    ),
    "mmimdb wrong keys": (
        "mmimdb",
        _mm(
            lambda r: _edit_json(
                r / "mmimdb" / "dataset" / "0000002.json", lambda d: d.pop("genres")
            )
        ),
        "0000002.json",
        "genres",
    ),
    "mmimdb split keys": (
        "mmimdb",
        _mm(
            lambda r: _edit_json(r / "mmimdb" / "split.json", lambda d: d.update(val=d.pop("dev")))
        ),
        "split.json",
        "dev",
    ),
    "mmimdb truncated": (
        "mmimdb",
        _mm(lambda r: _truncate(r / "mmimdb" / "dataset" / "0000003.json")),
        "0000003.json",
        "JSON",
    ),
}


@pytest.mark.parametrize("case", sorted(VL_CASES))
def test_malformed_vision_language_files_name_file_key_and_expectation(tmp_path, rng, case):
    name, write, fname, key = VL_CASES[case]
    write(tmp_path, rng)
    with pytest.raises(DataFormatError) as err:
        load_splits(name, tmp_path, image_size=8)
    msg = str(err.value)
    assert fname in msg and key in msg and "expected" in msg, msg


def test_qmf_record_without_label_names_file_and_key(tmp_path, rng):
    write_qmf_jsonl(tmp_path, rng, ["positive", "negative"])
    lines = (tmp_path / "dev.jsonl").read_text().splitlines()
    rec = json.loads(lines[1])
    rec.pop("label")
    (tmp_path / "dev.jsonl").write_text("\n".join([lines[0], json.dumps(rec)]) + "\n")
    with pytest.raises(DataFormatError, match=r"dev\.jsonl.*record 2: label.*expected"):
        vision_language.load_mvsa_single(tmp_path, image_size=8)


def test_untrusted_pickle_is_still_refused_before_any_check(tmp_path, rng):
    (tmp_path / "mosi_raw.pkl").write_bytes(pickle.dumps({"not": "checked"}))
    with pytest.raises(multibench.UntrustedPickleError):
        load_splits("mosi", tmp_path)
