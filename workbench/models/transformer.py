"""One-tower (early-fusion) multimodal transformers, Eq. (1)-(4) of the WMA paper.

Two backbones share one contract (a :class:`~workbench.models.base.Method`):

- :class:`OneTowerTransformer`: the reproducibility card's "late fusion" setting for feature
  sequences (a randomly initialised 2-layer, 8-head transformer) used for MultiBench-style
  features and the embedded ``easy_vqa`` token features.
- :class:`ViltTransformer`: an adapter around Hugging Face ``transformers.ViltModel`` (ViLT-B in
  the paper), random-init from a small :class:`transformers.ViltConfig` offline, or
  ``from_pretrained(path)`` when the user has the weights.

Both follow the paper's layout:

- ``embed(batch)`` is Eq. (1)-(2): each modality's tokens are projected and get position and
  modality-type embeddings; it returns ``{modality: [B, L_m, d]}`` (the inputs of the
  transformer, where the WMA paper applies its embedding-level noise and zeroing), plus the
  reserved keys ``"cls"`` (``[B, 1, d]``) and ``"mask.<modality>"`` (bool ``[B, L_m]``, True =
  real token) that embedding-level corruptions pass through untouched.
- ``predict(embeddings, present)`` is Eq. (3)-(4): ``[cls; x^{m_1}; x^{m_2}; ...]`` through the
  transformer, then the head on ``H^cls``. ``Output.extras`` holds the output token features
  ``"tokens.<m>"`` (``H^{m}``, ``[B, L_m, d]``), ``"mask.<m>"`` and ``"cls"`` (``H^cls``), which
  :mod:`workbench.methods.wma` aligns.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..data.base import MultimodalBatch, MultimodalDataset, Task
from .base import Method, Output

__all__ = [
    "OneTowerTransformer",
    "TransformerConfig",
    "ViltAdapterConfig",
    "ViltTransformer",
    "raster_visual_embed",
    "split_tokens",
    "vilt_text_ids",
]

BYTE_CLS, BYTE_SEP, BYTE_OFFSET = 1, 2, 3
"""Byte-level ids of :func:`vilt_text_ids` without a tokenizer: ``[CLS]=1``, ``[SEP]=2``, byte
``b -> b + 3`` (0 stays the padding id)."""


def _squeeze_binary(y_hat: Tensor, task: Task) -> Tensor:
    return y_hat.squeeze(-1) if task.kind == "binary" else y_hat


def _in_dims(dataset: MultimodalDataset) -> dict[str, int]:
    dims = {}
    for m in dataset.modalities:
        shape = dataset.modality_shape(m)
        dims[m] = int(shape[-1]) if shape else 1
    return dims


def split_tokens(H: Tensor, lengths: Mapping[str, int]) -> dict[str, Tensor]:
    """Split the transformer output ``H = [H^cls; H^{m_1}; ...]`` (Eq. 3 of the WMA paper).

    Args:
        H: ``[B, 1 + sum_m L_m, d]``, the CLS token first.
        lengths: modality -> ``L_m``, in the order the tokens were concatenated.

    Returns:
        ``{"cls": [B, d], m: [B, L_m, d], ...}``.
    """
    total = 1 + sum(lengths.values())
    if H.shape[1] != total:
        raise ValueError(
            f"split_tokens: H has {H.shape[1]} tokens, expected 1 + {dict(lengths)} = {total}."
        )
    out = {"cls": H[:, 0]}
    start = 1
    for m, L in lengths.items():
        out[m] = H[:, start : start + L]
        start += L
    return out


def _predict_outputs(
    H: Tensor, lengths: dict[str, int], masks: dict[str, Tensor], cls: Tensor
) -> dict[str, Tensor]:
    parts = split_tokens(H, lengths)
    extras: dict[str, Tensor] = {"cls": cls}
    for m in lengths:
        extras[f"tokens.{m}"] = parts[m]
        extras[f"mask.{m}"] = masks[m]
    return extras


# ============================================================================ feature transformer


@dataclass(frozen=True)
class TransformerConfig:
    """Sizes of :class:`OneTowerTransformer` (the card's late-fusion transformer by default).

    Attributes:
        in_dims: modality -> feature size ``D_m`` of its tokens (``[B, L, D_m]``) or features
            (``[B, D_m]``, treated as one token).
        task: what is predicted.
        d_model: token size ``d`` inside the transformer.
        n_layers: transformer layers (card: 2).
        n_heads: attention heads (card: 8).
        dim_feedforward: MLP width (default ``4 * d_model``).
        dropout: dropout in the transformer layers and on the embeddings.
        max_tokens: longest token sequence per modality (size of the learned position table).
        mask_missing: if True, tokens of a modality whose ``present`` is False are masked out of
            the attention. The paper keeps them as zero vectors (False, the default).
    """

    in_dims: Mapping[str, int]
    task: Task
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 8
    dim_feedforward: int | None = None
    dropout: float = 0.1
    max_tokens: int = 256
    mask_missing: bool = False

    def __post_init__(self) -> None:
        if not self.in_dims:
            raise ValueError(
                "TransformerConfig.in_dims is empty; give one feature size per modality."
            )
        if self.d_model % self.n_heads:
            raise ValueError(
                f"TransformerConfig: d_model={self.d_model} must be divisible by n_heads={self.n_heads}."
            )

    @classmethod
    def for_dataset(cls, dataset: MultimodalDataset, **kwargs) -> TransformerConfig:
        """A config whose ``in_dims`` and ``task`` are read from ``dataset``."""
        return cls(in_dims=_in_dims(dataset), task=dataset.task, **kwargs)


class OneTowerTransformer(Method):
    """One-tower multimodal transformer on feature tokens (Eq. 1-4 of the WMA paper).

    Each modality ``m`` is projected by ``Linear(D_m, d)`` and gets learned position and
    modality-type embeddings (Eq. 1-2); a learned CLS token is prepended to the concatenation,
    a pre-norm ``nn.TransformerEncoder`` processes it (Eq. 3) and a linear head reads ``H^cls``
    (Eq. 4).

    Args:
        config: a :class:`TransformerConfig`.
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.task = config.task
        self.modalities = tuple(config.in_dims)
        d = config.d_model
        self.proj = nn.ModuleDict({m: nn.Linear(int(D), d) for m, D in config.in_dims.items()})
        self.position = nn.Parameter(torch.randn(config.max_tokens, d) * 0.02)
        self.modality_type = nn.Embedding(len(self.modalities) + 1, d)  # index 0: the CLS token
        self.cls_token = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            d,
            config.n_heads,
            config.dim_feedforward or 4 * d,
            config.dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        self.encoder = nn.TransformerEncoder(
            layer, config.n_layers, norm=nn.LayerNorm(d), enable_nested_tensor=False
        )
        self.head = nn.Linear(d, config.task.n_outputs)

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """Token embeddings ``x^{bar m}`` of Eq. (1)-(2): ``{m: [B, L_m, d], "mask.<m>": bool [B, L_m], "cls": [B, 1, d]}``."""
        out: dict[str, Tensor] = {}
        B = batch.batch_size
        for j, m in enumerate(self.modalities):
            if m not in batch.inputs:
                raise ValueError(
                    f"OneTowerTransformer expects modality {m!r}; the batch has {batch.modalities}."
                )
            x = batch.inputs[m].float()
            if x.ndim == 2:
                x = x.unsqueeze(1)
            if x.ndim != 3:
                raise ValueError(
                    f"OneTowerTransformer: modality {m!r} must be tokens [B, L, D] or features [B, D]; "
                    f"got shape {tuple(x.shape)}."
                )
            L = x.shape[1]
            if L > self.config.max_tokens:
                raise ValueError(
                    f"Modality {m!r} has {L} tokens > max_tokens={self.config.max_tokens}; raise "
                    "TransformerConfig.max_tokens."
                )
            type_id = torch.full((1, 1), j + 1, dtype=torch.long, device=x.device)
            out[m] = self.dropout(self.proj[m](x) + self.position[:L] + self.modality_type(type_id))
            mask = batch.mask(m)
            out[f"mask.{m}"] = (
                mask if mask is not None else torch.ones(B, L, dtype=torch.bool, device=x.device)
            )
        zero = torch.zeros((1, 1), dtype=torch.long, device=self.cls_token.device)
        out["cls"] = (self.cls_token + self.modality_type(zero)).expand(B, -1, -1)
        return out

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        """Eq. (3)-(4): transformer over ``[cls; x^{m_1}; ...]`` and the head on ``H^cls``.

        Args:
            embeddings: the output of :meth:`embed` (possibly corrupted).
            present: bool ``[B, M]``.

        Returns:
            :class:`Output` with logits and extras ``cls`` ``[B, d]``, ``tokens.<m>``
            ``[B, L_m, d]`` and ``mask.<m>``.
        """
        cls = embeddings["cls"]
        B = cls.shape[0]
        xs, keep, lengths, masks = (
            [cls],
            [torch.ones(B, 1, dtype=torch.bool, device=cls.device)],
            {},
            {},
        )
        for j, m in enumerate(self.modalities):
            x, mask = embeddings[m], embeddings[f"mask.{m}"]
            masks[m] = mask
            lengths[m] = x.shape[1]
            xs.append(x)
            keep.append(mask & present[:, j : j + 1] if self.config.mask_missing else mask)
        H = self.encoder(torch.cat(xs, dim=1), src_key_padding_mask=~torch.cat(keep, dim=1))
        H_cls = H[:, 0]
        y_hat = _squeeze_binary(self.head(H_cls), self.task)
        return Output(y_hat, _predict_outputs(H, lengths, masks, H_cls))


# ============================================================================ ViLT adapter


@dataclass(frozen=True)
class ViltAdapterConfig:
    """Settings of :class:`ViltTransformer`.

    Attributes:
        in_dims: modality -> input feature size, or ``0`` for ViLT's native input of that modality
            (token ids ``[B, L]`` for the text, pixels ``[B, 3, H, W]`` for the image).
            Float token features ``[B, L, D]`` are projected to the hidden size by a new linear
            layer (so the adapter also runs on ``easy_vqa`` token features).
        task: what is predicted.
        text_modality, image_modality: which modality plays ViLT's text and image role.
        pretrained: a local folder (or a cached hub name) with ViLT weights, e.g. ViLT-B
            ``dandelin/vilt-b32-mlm``; ``None`` builds a random-init model from the sizes below.
        hidden_size, n_layers, n_heads, intermediate_size, image_size, patch_size,
            max_text_len, vocab_size, dropout: sizes of the random-init :class:`ViltConfig`
            (ignored with ``pretrained``).
        pixel_mean_std: native pixels (``[B, 3, H, W]`` in [0, 1], as the image loaders give
            them) are normalised to ``(x - mean) / std`` before the patch projection, as
            ``ViltImageProcessor`` does (mean = std = 0.5); ``None`` passes them unchanged.
    """

    in_dims: Mapping[str, int]
    task: Task
    text_modality: str = "text"
    image_modality: str = "image"
    pretrained: str | None = None
    hidden_size: int = 64
    n_layers: int = 2
    n_heads: int = 4
    intermediate_size: int = 128
    image_size: int = 64
    patch_size: int = 16
    max_text_len: int = 40
    vocab_size: int = 30522
    dropout: float = 0.1
    pixel_mean_std: tuple[float, float] | None = (0.5, 0.5)
    extra: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = set(self.in_dims)
        if names != {self.text_modality, self.image_modality}:
            raise ValueError(
                f"ViltAdapterConfig: ViLT takes one text and one image modality "
                f"({self.text_modality!r}, {self.image_modality!r}); in_dims has {sorted(names)}. "
                "Set text_modality/image_modality, or use OneTowerTransformer for other modalities."
            )

    @classmethod
    def for_dataset(cls, dataset: MultimodalDataset, **kwargs) -> ViltAdapterConfig:
        """Config from ``dataset``: token ids and pixels are native (0), float tokens are projected."""
        dims = {}
        for m in dataset.modalities:
            shape = dataset.modality_shape(m)
            x = dataset.inputs[m]
            sample = x[0] if isinstance(x, list) else x
            native = (not sample.is_floating_point()) or len(shape) == 3  # ids or [C, H, W]
            dims[m] = 0 if native else int(shape[-1])
        return cls(in_dims=dims, task=dataset.task, **kwargs)


def _load_vilt(config: ViltAdapterConfig):
    """Build or load the ``ViltModel``; fail fast and clearly when offline weights are missing."""
    from transformers import ViltConfig, ViltModel

    if config.pretrained is None:
        n_patches = (config.image_size // config.patch_size) ** 2
        hf = ViltConfig(
            hidden_size=config.hidden_size,
            num_hidden_layers=config.n_layers,
            num_attention_heads=config.n_heads,
            intermediate_size=config.intermediate_size,
            image_size=config.image_size,
            patch_size=config.patch_size,
            max_position_embeddings=config.max_text_len,
            vocab_size=config.vocab_size,
            hidden_dropout_prob=config.dropout,
            attention_probs_dropout_prob=config.dropout,
            max_image_length=n_patches,
            **dict(config.extra),
        )
        return ViltModel(hf, add_pooling_layer=True)
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    local = Path(config.pretrained).expanduser()
    try:
        if local.exists():
            return ViltModel.from_pretrained(str(local), local_files_only=True)
        return ViltModel.from_pretrained(config.pretrained, local_files_only=offline)
    except OSError as err:
        raise FileNotFoundError(
            f"ViLT weights {config.pretrained!r} were not found "
            f"({'HF_HUB_OFFLINE=1: the hub is not contacted' if offline else str(err).splitlines()[0]}). "
            "Pass ViltAdapterConfig(pretrained='/path/to/vilt-b32-mlm') pointing to a folder with "
            "config.json and the weights (e.g. a copy of dandelin/vilt-b32-mlm), or pretrained=None "
            "for a random-init ViLT."
        ) from None


def raster_visual_embed(
    embeddings: nn.Module, pixel_values: Tensor, pixel_mask: Tensor | None = None
):
    """ViLT's patch embedding with every patch kept in raster order (deterministic).

    ``transformers.ViltEmbeddings.visual_embed`` draws the order of the image tokens with
    ``torch.multinomial`` on every call (even in eval mode, from the global RNG), so two forwards
    of the same image give differently ordered tokens. This re-implementation keeps all patches
    in raster order and marks the patches outside ``pixel_mask`` as padding: identical to
    ``visual_embed`` up to the token order (and its sub-sampling when ``max_image_length`` is
    smaller than the number of patches, which this never does). Adds the image CLS token and
    the interpolated position embeddings, as ViLT does.

    Args:
        embeddings: a ``ViltEmbeddings`` module (``vilt.embeddings``).
        pixel_values: ``[B, 3, H, W]``.
        pixel_mask: ``[B, H, W]`` (1 = real pixel) or None (all real).

    Returns:
        ``(x [B, 1 + P, d], mask [B, 1 + P] bool)`` with ``P = (H / patch) * (W / patch)``.
    """
    F = nn.functional
    x = embeddings.patch_embeddings(pixel_values)  # [B, d, h, w]
    B, d, h, w = x.shape
    if pixel_mask is None:
        pixel_mask = torch.ones(B, pixel_values.shape[2], pixel_values.shape[3], device=x.device)
    x_mask = F.interpolate(pixel_mask[:, None].float(), size=(h, w)).long()[:, 0]  # [B, h, w]
    x_h = x_mask.sum(dim=1)[:, 0]
    x_w = x_mask.sum(dim=2)[:, 0]
    cfg = embeddings.config
    k = cfg.image_size // cfg.patch_size
    spatial = embeddings.position_embeddings[:, 1:, :].transpose(1, 2).view(1, d, k, k)
    pos = torch.cat(
        [
            F.pad(
                F.interpolate(
                    spatial, size=(int(hh), int(ww)), mode="bilinear", align_corners=True
                ),
                (0, w - int(ww), 0, h - int(hh)),
            )
            for hh, ww in zip(x_h.tolist(), x_w.tolist())
        ],
        dim=0,
    )
    x = x.flatten(2).transpose(1, 2) + pos.flatten(2).transpose(1, 2)
    cls = embeddings.cls_token.expand(B, -1, -1) + embeddings.position_embeddings[:, :1, :]
    x = embeddings.dropout(torch.cat([cls, x], dim=1))
    mask = torch.cat(
        [torch.ones(B, 1, dtype=torch.bool, device=x.device), x_mask.flatten(1).bool()], dim=1
    )
    return x, mask


class ViltTransformer(Method):
    """ViLT (Kim et al., 2021) as a one-tower model with a deterministic image embedding.

    ``embed`` builds ViLT's text and image embeddings (Eq. 1-2 of the WMA paper: word/patch
    projection, position and modality-type embeddings) with :func:`raster_visual_embed` instead
    of the randomly ordered ``visual_embed``; ``predict`` runs ViLT's encoder, final LayerNorm and
    pooler on the concatenation (Eq. 3) and a ViLT-style classifier on the pooled ``H^cls``
    (Eq. 4). The global RNG is never used in eval mode.

    With token ids, ``H^cls`` is the text ``[CLS]`` (position 0 of the ids, as ViLT's tokenizer
    writes it); with float text features a learned CLS vector is prepended.

    Special tokens, one rule (see :mod:`workbench.methods.wma`): each modality's special tokens
    belong to its embedding (Eq. 1-2 of the WMA paper: ``x^m = [m_cls; m_1; ...]``), so
    ``embed`` returns the text ``[CLS]`` (and ``[SEP]``) inside ``text`` and the image ``[CLS]``
    inside ``image``, and embedding-level noise and zeroing of a modality reach its ``[CLS]``.
    ``tokens.<m>`` in the output excludes both ``[CLS]`` tokens, and ``ot_mask.<m>`` (the OT
    token sets) also excludes the text ``[SEP]`` (the last real token of id input), as ViLT's
    word-patch alignment does (``compute_itm_wpa``, dandelin/ViLT); ``mask.<m>`` stays the
    padding mask.

    Args:
        config: a :class:`ViltAdapterConfig`.
    """

    def __init__(self, config: ViltAdapterConfig) -> None:
        super().__init__()
        self.config = config
        self.task = config.task
        self.modalities = tuple(config.in_dims)
        self.vilt = _load_vilt(config)
        hidden = self.vilt.config.hidden_size
        self.proj = nn.ModuleDict(
            {m: nn.Linear(int(D), hidden) for m, D in config.in_dims.items() if D}
        )
        if config.in_dims[config.text_modality]:
            self.text_cls = nn.Parameter(torch.randn(1, 1, hidden) * 0.02)
        self.classifier = nn.Sequential(
            nn.Linear(hidden, 2 * hidden),
            nn.LayerNorm(2 * hidden),
            nn.GELU(),
            nn.Linear(2 * hidden, config.task.n_outputs),
        )

    def _type(self, index: int, like: Tensor) -> Tensor:
        return self.vilt.embeddings.token_type_embeddings(
            torch.full((1, 1), index, dtype=torch.long, device=like.device)
        )

    def embed(self, batch: MultimodalBatch) -> dict[str, Tensor]:
        """ViLT's embeddings: ``{text: [B, 1 + L_t, d], image: [B, 1 + P, d], "mask.<m>"}``; each
        modality's ``[CLS]`` is its position 0 (the text one is ``H^cls``'s input)."""
        emb = self.vilt.embeddings
        t, i = self.config.text_modality, self.config.image_modality
        out: dict[str, Tensor] = {}
        text = batch.inputs[t]
        tmask = batch.mask(t)
        if t in self.proj:  # float token features: project, prepend a learned CLS
            x = torch.cat(
                [self.text_cls.expand(text.shape[0], -1, -1), self.proj[t](text.float())], dim=1
            )
            if x.shape[1] > emb.text_embeddings.position_embeddings.num_embeddings:
                raise ValueError(
                    f"Text has {x.shape[1] - 1} tokens; ViLT's position table holds {emb.text_embeddings.position_embeddings.num_embeddings - 1}."
                )
            x = emb.text_embeddings(inputs_embeds=x)
            if tmask is not None:
                tmask = torch.cat([torch.ones_like(tmask[:, :1]), tmask], dim=1)
        else:
            x = emb.text_embeddings(input_ids=text.long())
            if tmask is None:  # fixed-length ids: BERT's padding id is 0
                tmask = text.long() != 0
                tmask[:, 0] = True
        if tmask is None:
            tmask = torch.ones(x.shape[:2], dtype=torch.bool, device=x.device)
        x = x + self._type(0, x)
        out[t], out[f"mask.{t}"] = x, tmask
        image = batch.inputs[i]
        if i in self.proj:  # patch features [B, P, D]: projection + image CLS + ViLT position table
            feats = self.proj[i](image.float())
            P = feats.shape[1]
            k = int(round(P**0.5))
            pos = emb.position_embeddings
            n = int(round((pos.shape[1] - 1) ** 0.5))
            grid = pos[:, 1:].transpose(1, 2).reshape(1, -1, n, n)
            if k * k == P:
                grid = nn.functional.interpolate(
                    grid, size=(k, k), mode="bilinear", align_corners=True
                )
                spatial = grid.flatten(2).transpose(1, 2)
            else:
                spatial = nn.functional.interpolate(
                    grid.flatten(2), size=P, mode="linear", align_corners=True
                ).transpose(1, 2)
            cls = emb.cls_token.expand(feats.shape[0], -1, -1) + pos[:, :1]
            v = emb.dropout(torch.cat([cls, feats + spatial], dim=1))
            vmask = batch.mask(i)
            vmask = (
                torch.ones(v.shape[:2], dtype=torch.bool, device=v.device)
                if vmask is None
                else torch.cat([torch.ones_like(vmask[:, :1]), vmask], 1)
            )
        else:
            pixels = image.float()
            if self.config.pixel_mean_std is not None:
                mean, std = self.config.pixel_mean_std
                pixels = (pixels - mean) / std
            v, vmask = raster_visual_embed(emb, pixels)
        out[i] = v + self._type(1, v)
        out[f"mask.{i}"] = vmask
        return out

    def predict(self, embeddings: dict[str, Tensor], present: Tensor) -> Output:
        """ViLT's encoder on ``[cls; text; image]``, then pooler and classifier (Eq. 3-4)."""
        from transformers.masking_utils import create_bidirectional_mask

        t, i = self.config.text_modality, self.config.image_modality
        x = torch.cat([embeddings[t], embeddings[i]], dim=1)  # [text CLS; text; image CLS; image]
        mask = torch.cat([embeddings[f"mask.{t}"], embeddings[f"mask.{i}"]], dim=1)
        attn = create_bidirectional_mask(
            config=self.vilt.config, inputs_embeds=x, attention_mask=mask.long()
        )
        H = self.vilt.encoder(x, attention_mask=attn).last_hidden_state
        H = self.vilt.layernorm(H)
        pooled = self.vilt.pooler(H)
        y_hat = _squeeze_binary(self.classifier(pooled), self.task)
        lengths = {t: embeddings[t].shape[1] - 1, i: embeddings[i].shape[1]}
        parts = split_tokens(H, lengths)  # H^cls = the text [CLS]; parts[t] = the text after it
        tmask = embeddings[f"mask.{t}"][:, 1:]
        otmask = tmask.clone()
        if t not in self.proj:  # ids end with [SEP]: out of the OT set, as in ViLT's WPA
            last = tmask.shape[1] - 1 - tmask.flip(1).long().argmax(1)
            otmask[torch.arange(tmask.shape[0], device=tmask.device), last] = False
            otmask &= tmask
        imask = embeddings[f"mask.{i}"][:, 1:]
        extras = {
            "cls": H[:, 0],
            f"tokens.{t}": parts[t],
            f"mask.{t}": tmask,
            f"ot_mask.{t}": otmask,
            f"tokens.{i}": parts[i][:, 1:],  # drop the image CLS token
            f"mask.{i}": imask,
            f"ot_mask.{i}": imask,
        }
        return Output(y_hat, extras)


def vilt_text_ids(
    dataset: MultimodalDataset,
    tokenizer=None,
    *,
    max_len: int = 40,
    modality: str = "text",
) -> MultimodalDataset:
    """Turn the raw text of an image-text dataset into ViLT input ids.

    The image-text loaders (:mod:`workbench.data.vision_language`) keep the text as UTF-8 byte
    ids. ViLT reads WordPiece ids that start with ``[CLS]`` (its ``H^cls``, Eq. 3-4 of the WMA
    paper) and end with ``[SEP]``, at most ``max_position_embeddings`` (40 for ViLT-B) long.

    Args:
        dataset: a dataset whose ``modality`` holds ``long`` byte-id rows.
        tokenizer: ``None`` for byte-level ids (a random-init ViLT: ``[CLS]=1``, byte ``b`` ->
            ``b + 3``, ``[SEP]=2``; needs ``vocab_size >= 259``); a folder with the tokenizer
            files of a ViLT checkpoint (e.g. a copy of ``dandelin/vilt-b32-mlm``), read offline
            with ``BertTokenizerFast``; or a tokenizer object (called as ``tokenizer(texts,
            truncation=True, max_length=max_len)``, the Hugging Face convention).
        max_len: the longest id row, ``[CLS]`` and ``[SEP]`` included (ViLT's text position
            table: ``ViltAdapterConfig.max_text_len``).
        modality: the text modality.

    Returns:
        A new dataset whose ``modality`` is a list of ``long [L_i]`` id rows (padding 0).

    Raises:
        ValueError: the modality does not hold byte ids, or ``max_len < 3``.
        FileNotFoundError: the tokenizer folder has no tokenizer files.
    """
    from ..data._real import decode_text

    if max_len < 3:
        raise ValueError(
            f"vilt_text_ids(max_len={max_len}); need room for [CLS], a token and [SEP]."
        )
    rows = dataset.inputs[modality]
    sample = rows[0] if isinstance(rows, list) else rows[0]
    if sample.is_floating_point() or sample.ndim != 1:
        raise ValueError(
            f"vilt_text_ids(): {dataset.name!r} modality {modality!r} holds {tuple(sample.shape)} "
            f"{sample.dtype} rows; expected the UTF-8 byte ids of the image-text loaders "
            "(feature sequences go to OneTowerTransformer or ViltAdapterConfig's projection)."
        )
    texts = [decode_text(r) for r in rows]
    if tokenizer is None:
        ids = [
            torch.tensor(
                [BYTE_CLS, *(b + BYTE_OFFSET for b in t.encode("utf-8")[: max_len - 2]), BYTE_SEP],
                dtype=torch.long,
            )
            for t in texts
        ]
    else:
        if isinstance(tokenizer, (str, os.PathLike)):
            from transformers import BertTokenizerFast

            try:
                tokenizer = BertTokenizerFast.from_pretrained(str(tokenizer), local_files_only=True)
            except OSError:
                raise FileNotFoundError(
                    f"vilt_text_ids(): no tokenizer files (vocab.txt / tokenizer.json) in "
                    f"{str(tokenizer)!r}; pass the folder of a ViLT checkpoint such as a copy of "
                    "dandelin/vilt-b32-mlm, or tokenizer=None for byte-level ids."
                ) from None
        enc = tokenizer(texts, truncation=True, max_length=max_len)
        ids = [torch.tensor(r, dtype=torch.long) for r in enc["input_ids"]]
    inputs = dict(dataset.inputs)
    inputs[modality] = ids
    return dataset.replace(inputs=inputs)
