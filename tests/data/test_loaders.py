"""Real-dataset loaders on tiny fixtures written in each published format (never real data)."""

from __future__ import annotations

import csv
import json
import pickle

import numpy as np
import pytest
import scipy.io
import scipy.io.wavfile
import scipy.sparse
import torch
from real_formats import affect_dict, image, write_hateful_memes, write_mmimdb, write_pickle

from workbench.data import (
    DataFormatError,
    affect,
    load_splits,
    multibench,
    multiview,
    read_card,
    vision_language,
)
from workbench.data._real import decode_text, seeded_split

# ----------------------------------------------------------------------------- helpers


def _labels(rng, n, k):
    y = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    return rng.permutation(y)


def _cell(*views):
    cell = np.empty((1, len(views)), dtype=object)
    for i, v in enumerate(views):
        cell[0, i] = v
    return cell


def _check_card(ds):
    card = read_card(ds.name)
    assert set(card["modalities"]) == set(ds.modalities), "card modalities must match the loader's"
    assert card["task"]["kind"] == ds.task.kind


def _check_splits(splits, n_total=None):
    assert set(splits) >= {"train", "validation", "test"}
    if n_total is not None:
        assert sum(len(splits[s]) for s in ("train", "validation", "test")) == n_total
    batch = next(iter(splits["train"].loader(4)))
    assert batch.present.all()
    _check_card(splits["train"])
    return batch


# ----------------------------------------------------------------------------- multi-view


def test_orl_cell_array_and_transposed_view(tmp_path, rng):
    n, d, k = 20, 6, 4
    y = _labels(rng, n, k) + 1  # MATLAB labels start at 1
    v = rng.normal(size=(n, d))
    # second view stored samples-as-columns: orientation found by the label count
    scipy.io.savemat(tmp_path / "orl.mat", {"X": _cell(v, v.T.copy())})
    scipy.io.savemat(tmp_path / "orl_y.mat", {"y": y.reshape(-1, 1)})
    splits = load_splits("orl", tmp_path)
    ds = splits["train"]
    assert (
        len(ds) == n and ds.modality_shape("view1") == (d,) and ds.modality_shape("view2") == (d,)
    )
    assert ds.meta["identical_views"] is True
    torch.testing.assert_close(ds.inputs["view1"], ds.inputs["view2"])
    assert ds.y.min() == 0 and ds.y.max() == k - 1
    np.testing.assert_array_equal(ds.y.numpy(), y - 1)
    _check_splits(splits)


def test_orl_seeded_split_is_stratified_and_reproducible(tmp_path, rng):
    y = np.repeat(np.arange(4), 10)
    v = rng.normal(size=(40, 3))
    scipy.io.savemat(tmp_path / "orl.mat", {"X": _cell(v, v + 1)})
    scipy.io.savemat(tmp_path / "orl_y.mat", {"y": y})
    a = multiview.load_orl(tmp_path, fractions=(0.6, 0.2, 0.2), seed=3)
    b = multiview.load_orl(tmp_path, fractions=(0.6, 0.2, 0.2), seed=3)
    assert [len(a[s]) for s in ("train", "validation", "test")] == [24, 8, 8]
    torch.testing.assert_close(a["test"].inputs["view1"], b["test"].inputs["view1"])
    for s in a.values():
        assert torch.bincount(s.y, minlength=4).min() > 0
    assert a["train"].meta["identical_views"] is False


def test_movies_text_files(tmp_path, rng):
    n = 15
    y = _labels(rng, n, 3)
    m1, m2 = rng.integers(0, 2, (n, 7)), rng.integers(0, 2, (n, 5))
    np.savetxt(tmp_path / "M1.txt", m1, fmt="%d")
    np.savetxt(tmp_path / "M2.txt", m2.T, fmt="%d", delimiter=",")  # comma-separated, transposed
    np.savetxt(tmp_path / "Mact.txt", y + 1, fmt="%d")
    ds = load_splits("movies", tmp_path)["test"]
    np.testing.assert_array_equal(ds.inputs["keywords"].numpy(), m1)
    np.testing.assert_array_equal(ds.inputs["actors"].numpy(), m2)
    _check_card(ds)


def test_prokaryotic_sparse_and_truth(tmp_path, rng):
    n = 12
    y = _labels(rng, n, 4)
    text = scipy.sparse.random(n, 9, density=0.3, random_state=0, format="csc")
    scipy.io.savemat(
        tmp_path / "prokaryotic.mat",
        {
            "text": text,
            "proteome_comp": rng.normal(size=(n, 3)),
            "gene_repert": rng.normal(size=(n, 5)),
            "truth": y.reshape(-1, 1),
        },
    )
    ds = load_splits("prokaryotic", tmp_path)["train"]
    np.testing.assert_allclose(ds.inputs["text"].numpy(), text.toarray(), rtol=1e-6)
    assert ds.modalities == ("text", "proteome_comp", "gene_repert")
    assert ds.task.metric == "purity" and ds.task.n_outputs == 4


@pytest.mark.parametrize("fname", ["Caltech101-7.mat", "Caltech101_7.mat"])
def test_caltech_file_name_variants_and_column_views(tmp_path, rng, fname):
    n = 14
    dims = [4, 3, 5, 6, 2, 7]
    y = _labels(rng, n, 7)
    views = [rng.normal(size=(d, n)) for d in dims]  # d x N, as some releases store them
    scipy.io.savemat(tmp_path / fname, {"X": _cell(*views), "Y": y.reshape(-1, 1)})
    ds = multiview.load_caltech101_7(tmp_path)["train"]
    assert [ds.modality_shape(m)[0] for m in ds.modalities] == dims
    assert ds.modalities == multiview.CALTECH_VIEWS
    np.testing.assert_allclose(ds.inputs["hog"].numpy(), views[3].T, rtol=1e-6)


def test_mismatched_label_count_is_a_clear_error(tmp_path, rng):
    scipy.io.savemat(
        tmp_path / "orl.mat", {"X": _cell(rng.normal(size=(5, 3)), rng.normal(size=(5, 3)))}
    )
    scipy.io.savemat(tmp_path / "orl_y.mat", {"y": np.arange(7)})
    with pytest.raises(ValueError, match="neither its rows nor its columns"):
        multiview.load_orl(tmp_path)


def test_three_sources_ucd_layout(tmp_path, rng):
    topics = {"business": ["1", "4"], "sport": ["2", "5", "9"], "health": ["3"]}
    (tmp_path / "3sources.disjoint.clist").write_text(
        "".join(f"{t}: {','.join(ids)}\n" for t, ids in topics.items())
    )
    docs = {
        "bbc": ["1", "2", "3", "4", "5", "9"],
        "guardian": ["9", "5", "4", "3", "2", "1", "7"],
        "reuters": ["1", "2", "3", "4", "5"],
    }
    terms = {"bbc": 6, "guardian": 4, "reuters": 3}
    mats = {}
    for s, ds in docs.items():
        m = rng.integers(0, 3, (terms[s], len(ds))).astype(float)
        mats[s] = m
        scipy.io.mmwrite(str(tmp_path / f"3sources_{s}.mtx"), scipy.sparse.coo_matrix(m))
        (tmp_path / f"3sources_{s}.docs").write_text("\n".join(ds) + "\n")
    ds = multiview.load_three_sources(tmp_path)["train"]
    assert ds.meta["ids"] == ["1", "2", "3", "4", "5"]  # in all three sources and labelled
    j = docs["guardian"].index("4")
    np.testing.assert_allclose(ds.inputs["guardian"][3].numpy(), mats["guardian"][:, j])
    topic_of = {d: t for t, ids in topics.items() for d in ids}
    assert [ds.meta["topics"][int(c)] for c in ds.y] == [topic_of[d] for d in ds.meta["ids"]]


def test_damaged_v73_mat_names_the_file(tmp_path):
    path = tmp_path / "prokaryotic.mat"
    path.write_bytes(
        b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(124) + b"\x00\x02IM" + b"\x00" * 512
    )
    with pytest.raises(DataFormatError, match="v7.3") as err:
        multiview.load_prokaryotic(tmp_path)
    assert str(path) in str(err.value)


# ----------------------------------------------------------------------------- missing files


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("orl", "orl.mat"),
        ("movies", "M1.txt"),
        ("prokaryotic", "prokaryotic.mat"),
        ("caltech101_7", "Caltech101-7.mat"),
        ("three_sources", "3sources.disjoint.clist"),
        ("mosi", "mosi_raw"),
        ("mosei", "mosei_senti_data"),
        ("ur_funny", "humor"),
        ("avmnist", "train_data.npy"),
        ("mujoco_push", "gentle_push_1000"),
        ("enrico", "design_topics.csv"),
        ("hateful_memes", "train.jsonl"),
        ("mmimdb", "split.json"),
        ("food101", "train_titles.csv"),
        ("n24news", "nytimes_dataset.json"),
        ("mvsa_single", "train.jsonl"),
        ("iemocap", "comparE"),
        ("cremad", "train.csv"),
        ("kinetics_sounds", "my_train.txt"),
        ("medfuse", "ehr"),
    ],
)
def test_missing_file_names_path_card_and_source(tmp_path, name, expected):
    with pytest.raises(FileNotFoundError) as err:
        load_splits(name, tmp_path)
    msg = str(err.value)
    assert expected in msg and str(tmp_path) in msg
    assert f"data_cards/{name}.yaml" in msg and "published" in msg


def test_real_dataset_without_root_is_refused():
    with pytest.raises(FileNotFoundError, match="data_cards/orl.yaml"):
        load_splits("orl")


# ----------------------------------------------------------------------------- MultiBench


def test_mosi_pickle_needs_trust_then_converts_to_npz(tmp_path, rng):
    data = affect_dict(rng)
    pkl = tmp_path / "mosi_raw.pkl"
    pkl.write_bytes(pickle.dumps(data))
    with pytest.raises(multibench.UntrustedPickleError, match="convert_pickle_to_npz"):
        load_splits("mosi", tmp_path)
    with pytest.raises(multibench.UntrustedPickleError):
        multibench.convert_pickle_to_npz(pkl, tmp_path / "x.npz", trust_pickle=False)
    trusted = multibench.load_mosi(tmp_path, trust_pickle=True)
    assert [len(trusted[s]) for s in ("train", "validation", "test")] == [5, 3, 4]
    ds = trusted["train"]
    assert ds.is_sequence("text") and all(
        len(x) == 4 for x in ds.inputs["text"]
    )  # 2 padding rows trimmed
    assert torch.isfinite(ds.inputs["audio"][0]).all()
    torch.testing.assert_close(ds.y, torch.as_tensor(data["train"]["labels"].ravel()))
    # convert once, then the npz loads without trust (the pickle stays in place)
    multibench.convert_pickle_to_npz(pkl, tmp_path / "mosi_raw.npz", trust_pickle=True)
    from_npz = multibench.load_mosi(tmp_path)
    for s in trusted:
        for m in ("text", "vision", "audio"):
            for a, b in zip(trusted[s].inputs[m], from_npz[s].inputs[m]):
                torch.testing.assert_close(a, b)
    _check_splits(from_npz, 12)


def test_mosei_binary_and_padded_form(tmp_path, rng):
    data = affect_dict(rng)
    multibench.convert_pickle_to_npz(
        write_pickle(tmp_path / "src.pkl", data),
        tmp_path / "mosei_senti_data.npz",
        trust_pickle=True,
    )
    splits = multibench.load_mosei(tmp_path, task="binary", trim_padding=False)
    ds = splits["test"]
    assert ds.inputs["text"].shape == (4, 6, 4) and ds.task.kind == "binary"
    np.testing.assert_array_equal(
        ds.y.numpy(), (data["test"]["labels"].ravel() > 0).astype(np.float32)
    )


def test_ur_funny_from_humor_pkl(tmp_path, rng):
    data = affect_dict(rng)
    write_pickle(tmp_path / "humor.pkl", data)
    ds = multibench.load_ur_funny(tmp_path, trust_pickle=True)["validation"]
    assert ds.task.metric == "auroc" and set(ds.y.unique().tolist()) <= {0.0, 1.0}
    _check_card(ds)


def test_avmnist_npy_layout(tmp_path, rng):
    for part, n in (("train", 9), ("test", 4)):
        (tmp_path / "image").mkdir(exist_ok=True)
        (tmp_path / "audio").mkdir(exist_ok=True)
        np.save(
            tmp_path / "image" / f"{part}_data.npy",
            rng.integers(0, 256, (n, 784)).astype(np.float32),
        )
        np.save(
            tmp_path / "audio" / f"{part}_data.npy",
            rng.integers(0, 256, (n, 112, 112)).astype(np.float32),
        )
        np.save(tmp_path / f"{part}_labels.npy", rng.integers(0, 10, n))
    splits = multibench.load_avmnist(tmp_path, n_validation=3)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [6, 3, 4]
    img = splits["train"].inputs["image"]
    assert img.shape == (6, 1, 28, 28) and 0 <= float(img.min()) and float(img.max()) <= 1
    raw = np.load(tmp_path / "image" / "train_data.npy")
    np.testing.assert_allclose(
        splits["validation"].inputs["image"][0].numpy().ravel(), raw[6] / 255.0, rtol=1e-6
    )
    _check_splits(splits)


def test_enrico_multibench_split(tmp_path, rng):
    ids = [str(50100 + i) for i in range(12)]  # includes the corrupted 50105 and 50109
    with (tmp_path / "design_topics.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["screen_id", "topic"])
        for i, sid in enumerate(ids):
            w.writerow([sid, ["login", "news", "maps"][i % 3]])
    for sid in ids:
        image(tmp_path / "screenshots" / f"{sid}.jpg", rng, fmt="JPEG")
        image(tmp_path / "wireframes" / f"{sid}.png", rng)
    splits = multibench.load_enrico(tmp_path, image_size=(16, 8))
    assert sum(len(s) for s in splits.values()) == 10  # two corrupted screens skipped
    assert splits["train"].inputs["screenshot"].shape[1:] == (3, 16, 8)
    assert splits["train"].task.n_outputs == 3
    _check_splits(splits)


def test_mujoco_push_npz_trajectories(tmp_path, rng):
    for stem in multibench.PUSH_FILES.values():
        flat = {}
        for t in range(2):
            T = 20
            flat[f"trajectory{t}/eef_pos"] = rng.normal(size=(T, 3))
            flat[f"trajectory{t}/force"] = rng.normal(size=(T, 6))
            flat[f"trajectory{t}/contact"] = rng.integers(0, 2, T).astype(float)
            flat[f"trajectory{t}/image"] = rng.normal(size=(T, 32, 32))
            flat[f"trajectory{t}/Cylinder0_pos"] = rng.normal(size=(T, 3))
        np.savez(tmp_path / f"{stem}.npz", **flat)
    splits = multibench.load_mujoco_push(tmp_path, subsequence_length=8)
    ds = splits["train"]
    assert len(ds) == 2 * 2  # floor(20 / 8) windows per trajectory
    assert ds.modality_shape("controls") == (8, 7) and ds.y.shape == (4, 8, 2)
    c = ds.inputs["controls"][0].numpy()
    np.testing.assert_allclose(
        c[1:, 3:6], np.diff(ds.inputs["gripper_pos"][0].numpy(), axis=0), rtol=1e-5, atol=1e-6
    )
    _check_card(ds)


# ----------------------------------------------------------------------------- vision-language


def test_hateful_memes_jsonl(tmp_path, rng):
    write_hateful_memes(tmp_path, rng)
    splits = vision_language.load_hateful_memes(tmp_path, image_size=8)
    ds = splits["test"]
    assert ds.inputs["image"].shape == (3, 3, 8, 8)
    assert decode_text(ds.inputs["text"][1]) == "meme 3001 é"
    assert ds.meta["ids"] == [3000, 3001, 3002]  # integer ids, as released
    batch = _check_splits(splits, 9)
    assert decode_text(batch.inputs["text"][0]) == "meme 1000 é"  # padding dropped


def test_mmimdb_split_json_and_genres(tmp_path, rng):
    split = {"train": ["1", "2", "3"], "dev": ["4"], "test": ["5", "6"]}
    genre_sets = {
        "1": ["Drama"],
        "2": ["Comedy", "Romance"],
        "3": ["Talk-Show"],
        "4": ["Drama", "Film-Noir"],
        "5": [],
        "6": ["Action"],
    }
    write_mmimdb(tmp_path, rng, split, genre_sets)
    splits = vision_language.load_mmimdb(tmp_path, image_size=8)
    g = vision_language.MMIMDB_GENRES
    y = splits["train"].y
    assert y.shape == (3, 23) and y[2].sum() == 0  # Talk-Show is not among the 23 genres
    assert y[1, g.index("Comedy")] == 1 and y[1, g.index("Romance")] == 1
    assert decode_text(splits["validation"].inputs["text"][0]) == "plot 4"  # the longest plot
    joined = vision_language.load_mmimdb(tmp_path, image_size=8, plot="all")
    assert decode_text(joined["validation"].inputs["text"][0]) == "plot 4 more"
    _check_splits(splits, 6)


def _qmf_jsonl(root, rng, labels):
    for fname, n in (("train.jsonl", 6), ("dev.jsonl", 2), ("test.jsonl", 3)):
        lines = []
        for i in range(n):
            rel = f"images/{fname[:-6]}_{i}.jpg"
            image(root / rel, rng, fmt="JPEG")
            lines.append(
                json.dumps({"text": f"t{i}", "img": rel, "label": labels[i % len(labels)]})
            )
        (root / fname).write_text("\n".join(lines))


def test_food101_qmf_jsonl_and_mvsa(tmp_path, rng):
    (tmp_path / "food").mkdir()
    (tmp_path / "mvsa").mkdir()
    _qmf_jsonl(tmp_path / "food", rng, ["apple_pie", "ramen", "sushi"])
    _qmf_jsonl(tmp_path / "mvsa", rng, ["positive", "neutral", "negative"])
    food = vision_language.load_food101(tmp_path / "food", image_size=8)
    mvsa = vision_language.load_mvsa_single(tmp_path / "mvsa", image_size=8)
    assert food["train"].meta["classes"] == ["apple_pie", "ramen", "sushi"]
    assert mvsa["test"].task.n_outputs == 3
    _check_splits(food, 11)
    _check_splits(mvsa, 11)


def test_food101_upmc_csv_layout(tmp_path, rng):
    (tmp_path / "texts").mkdir()
    for part, n in (("train", 10), ("test", 4)):
        rows = []
        for i in range(n):
            label = ["pizza", "tacos"][i % 2]
            fname = f"{label}_{part}{i}.jpg"
            image(tmp_path / "images" / part / label / fname, rng, fmt="JPEG")
            rows.append([fname, f"recipe {i}", label])
        with (tmp_path / "texts" / f"{part}_titles.csv").open("w", newline="") as f:
            csv.writer(f).writerows(rows)
    splits = vision_language.load_food101(tmp_path, image_size=8, val_fraction=0.2, seed=1)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [8, 2, 4]
    assert set(splits["validation"].y.tolist()) == {0, 1}  # stratified


def test_n24news_seeded_split(tmp_path, rng):
    recs = []
    for i in range(20):
        image(tmp_path / "imgs" / f"im{i}.jpg", rng, fmt="JPEG")
        recs.append(
            {
                "headline": f"h{i}",
                "abstract": f"a{i}",
                "caption": "c",
                "body": "b",
                "section": ["Arts", "Sports"][i % 2],
                "image_id": f"im{i}",
            }
        )
    (tmp_path / "nytimes_dataset.json").write_text(json.dumps(recs))
    a = vision_language.load_n24news(tmp_path, image_size=8, text_field="abstract", seed=2)
    b = vision_language.load_n24news(tmp_path, image_size=8, text_field="abstract", seed=2)
    assert [len(a[s]) for s in ("train", "validation", "test")] == [16, 2, 2]
    assert [decode_text(t) for t in a["test"].inputs["text"]] == [
        decode_text(t) for t in b["test"].inputs["text"]
    ]
    assert decode_text(a["train"].inputs["text"][0]).startswith("a")
    with pytest.raises(ValueError, match="text_field"):
        vision_language.load_n24news(tmp_path, image_size=8, text_field="title")


# ----------------------------------------------------------------------------- affect


def test_iemocap_mmin_layout_as_npz(tmp_path, rng):
    names = {
        "trn": ["Ses01_a", "Ses01_b", "Ses02_a"],
        "val": ["Ses03_a"],
        "tst": ["Ses04_a", "Ses04_b"],
    }
    every = [n for ns in names.values() for n in ns]
    for sub, stem, d in (("A", "comparE", 5), ("V", "denseface", 4), ("L", "bert_large", 3)):
        (tmp_path / sub).mkdir()
        np.savez(
            tmp_path / sub / f"{stem}.npz",
            **{n: rng.normal(size=(int(rng.integers(2, 6)), d)) for n in every},
        )
    (tmp_path / "target" / "1").mkdir(parents=True)
    for s, ns in names.items():
        np.save(
            tmp_path / "target" / "1" / f"{s}_label.npy", np.eye(4)[rng.integers(0, 4, len(ns))]
        )
        np.save(
            tmp_path / "target" / "1" / f"{s}_int2name.npy", np.array([[n.encode()] for n in ns])
        )
    splits = affect.load_iemocap(tmp_path)
    ds = splits["train"]
    assert ds.meta["names"] == names["trn"] and ds.is_sequence("audio")
    a = ds.inputs["audio"][0]
    torch.testing.assert_close(
        a.mean(dim=0), torch.zeros(5), atol=1e-5, rtol=0
    )  # per-utterance z-score
    raw = affect.load_iemocap(tmp_path, normalize=None)["test"]
    with np.load(tmp_path / "L" / "bert_large.npz") as z:
        np.testing.assert_allclose(raw.inputs["text"][1].numpy(), z["Ses04_b"], rtol=1e-6)
    _check_splits(splits, 6)


def test_log_spectrogram_matches_direct_stft(rng):
    wave = rng.normal(size=1000)
    spec = affect.log_spectrogram(wave, n_fft=64, hop_length=16)
    assert spec.shape == (33, 1 + 1000 // 16)
    x = np.pad(wave, 32)
    w = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(64) / 64)
    frame5 = np.abs(np.fft.rfft(x[5 * 16 : 5 * 16 + 64] * w))
    np.testing.assert_allclose(spec[:, 5], np.log(frame5 + 1e-7), rtol=1e-5)


def test_cremad_ogm_layout_with_wav(tmp_path, rng):
    clips = [(f"10{i:02d}_X_{e}", e) for i, e in enumerate(["NEU", "HAP", "SAD", "ANG"] * 3)]
    for name, part in ((clips[:10], "train"), (clips[10:], "test")):
        with (tmp_path / f"{part}.csv").open("w", newline="") as f:
            csv.writer(f).writerows(name)
    (tmp_path / "AudioWAV").mkdir()
    for clip, _ in clips:
        scipy.io.wavfile.write(
            tmp_path / "AudioWAV" / f"{clip}.wav",
            8000,
            (rng.normal(size=4000) * 3000).astype(np.int16),
        )
        for j in range(3):
            image(
                tmp_path / "visual" / "Image-01-FPS" / clip / f"frame_{j:05d}.jpg", rng, fmt="JPEG"
            )
    splits = affect.load_cremad(tmp_path, image_size=8, val_fraction=0.2, n_frames=2)
    assert [len(splits[s]) for s in ("train", "validation", "test")] == [8, 2, 2]
    ds = splits["train"]
    assert ds.inputs["audio"].shape[1:] == (1, 257, 1 + (22050 * 3) // 353)
    assert ds.inputs["visual"].shape[1:] == (2, 3, 8, 8)
    assert ds.task.n_outputs == 6
    _check_card(ds)


def test_kinetics_sounds_precomputed_spec_and_pickle_trust(tmp_path, rng):
    rows = [(f"vid{i}_0", 10, i % 3) for i in range(8)]
    with (tmp_path / "my_train.txt").open("w", newline="") as f:
        csv.writer(f).writerows(rows[:6])
    with (tmp_path / "my_test.txt").open("w", newline="") as f:
        csv.writer(f).writerows(rows[6:])
    (tmp_path / "audio_spec").mkdir()
    for i, (clip, _, _) in enumerate(rows):
        width = 9 if i else 11  # widths differ: cropped/padded to the first one's
        spec = rng.normal(size=(5, width)).astype(np.float32)
        if i == 7:
            (tmp_path / "audio_spec" / f"{clip}.pkl").write_bytes(pickle.dumps(spec))
        else:
            np.save(tmp_path / "audio_spec" / f"{clip}.npy", spec)
        for j in range(4):
            image(tmp_path / "visual" / clip / f"frame_{j}.jpg", rng, fmt="JPEG")
    with pytest.raises(multibench.UntrustedPickleError):
        affect.load_kinetics_sounds(tmp_path, image_size=8, val_fraction=0.34)
    splits = affect.load_kinetics_sounds(
        tmp_path, image_size=8, val_fraction=0.34, trust_pickle=True
    )
    assert splits["test"].inputs["audio"].shape[1:] == (1, 5, 11)
    assert splits["train"].task.n_outputs == 3


def test_medfuse_not_supported_yet(tmp_path):
    for f in affect.MEDFUSE_FILES:
        (tmp_path / f).mkdir(parents=True) if f.endswith("/") else (tmp_path / f).write_text("")
    with pytest.raises(NotImplementedError, match="not supported yet"):
        load_splits("medfuse", tmp_path)


def test_seeded_split_partitions_every_index():
    y = np.repeat(np.arange(3), 7)
    idx = seeded_split(len(y), (0.5, 0.25, 0.25), seed=0, stratify=y)
    allidx = np.concatenate(list(idx.values()))
    assert sorted(allidx.tolist()) == list(range(len(y)))
    with pytest.raises(ValueError, match="fractions"):
        seeded_split(5, (0.5, 0.5, 0.5), seed=0)
