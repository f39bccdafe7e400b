"""Every paper method and baseline, registered by the name its paper prints.

One section per paper. A factory turns ``(train, *, encoders=None, seed=None, **options)`` into
a model; ``encoders`` (shared encoders, e.g. the arena's) are passed to the model's constructor,
which then uses them instead of building its own.
"""

from __future__ import annotations

from typing import Any

from ..data.base import MultimodalDataset
from ..models.base import Method
from ..models.encoders import make_encoders
from ..models.fusion import (
    BiGatedFusion,
    ConcatFusion,
    FiLMFusion,
    FusionConfig,
    LateFusion,
    SumFusion,
)
from .baselines import OGMGE, QMF, OGMGEOptions, QMFOptions
from .imperfect_baselines import BASELINES, ImperfectConfig
from .mla import MLA, MLAConfig
from .otm_fusions import FusionOTMConfig, OTMFusion
from .raml import RAML, RAMLConfig
from .registry import (
    MethodSpec,
    multiclass_multimodal,
    multimodal,
    register,
    token_sequences,
)

__all__: list[str] = []


def _enc(encoders) -> dict[str, Any]:
    """``{"encoders": encoders}`` when shared encoders are given, else nothing."""
    return {} if encoders is None else {"encoders": encoders}


# ----------------------------------------------------------------------------- MLA paper
_FUSION_FIELDS = ("embed_dim", "encoder", "hidden", "dropout")


def _fusion_config(train: MultimodalDataset, options: dict[str, Any]) -> FusionConfig:
    cfg = {k: options.pop(k) for k in _FUSION_FIELDS if k in options}
    if "hidden" in cfg:
        cfg["hidden"] = tuple(cfg["hidden"]) if not isinstance(cfg["hidden"], int) else (cfg["hidden"],)
    cfg.setdefault("encoder", "auto")
    return FusionConfig.for_dataset(train, **cfg)


def _mla_family(name: str):
    def factory(train: MultimodalDataset, *, encoders=None, seed: int | None = None, **options) -> Method:
        options = dict(options)
        config = _fusion_config(train, options)
        enc = _enc(encoders)
        if name == "Sum":
            return SumFusion(config, **enc)
        if name == "Concat":
            return ConcatFusion(config, **enc)
        if name == "Late Fusion":
            return LateFusion(config, **enc)
        if name == "FiLM":
            return FiLMFusion(config, **options, **enc)
        if name == "BiGated":
            return BiGatedFusion(config, **options, **enc)
        if name == "OGM-GE":
            defaults = {"seed": seed or 0, "n_train": len(train)}
            return OGMGE(config, OGMGEOptions(**{**defaults, **options}), **enc)
        if name == "QMF":
            return QMF(config, QMFOptions(**options), **enc)
        return MLA(MLAConfig(fusion=config, **options), **enc)

    return factory


for _name, _note, _applies in (
    ("Sum", "sum of unimodal logits, one joint loss", multimodal),
    ("Concat", "concatenated embeddings, linear head (joint training)", multimodal),
    ("Late Fusion", "unimodal heads trained separately, mean of logits", multimodal),
    ("FiLM", "feature-wise linear modulation by the first modality", multimodal),
    ("BiGated", "bilinear gating by the first modality", multimodal),
    ("OGM-GE", "concat + on-the-fly gradient modulation", multiclass_multimodal),
    ("QMF", "late fusion + energy-based quality weights", multiclass_multimodal),
    ("MLA", "alternating unimodal adaptation + entropy-weighted fusion", multimodal),
):
    register(
        MethodSpec(
            _name,
            "mla",
            _mla_family(_name),
            role="method" if _name == "MLA" else "baseline",
            applies=_applies,
            note=_note,
        )
    )


def _ae(train: MultimodalDataset, *, encoders=None, seed: int | None = None, **options) -> Method:
    """AE (Bengio et al., 2006, "Greedy layer-wise training of deep networks"; the "AE" row of the
    MLA paper's Table 2): one autoencoder imputes the missing modalities' embeddings from the
    zero-filled concatenation and the classifier reads its code. Built as the RAML family's CRA
    with a single autoencoder block (``ae_blocks=1``: no cascade, no cycle term); differs from a
    plain AE in that block's residual connection. The MLA family's options (``embed_dim``,
    ``encoder``, ``hidden``, ``dropout``) build its encoders as theirs, first in the seed's scope,
    so AE starts from the same encoder weights as MLA and its baselines ("All baselines use the
    same backbone models", MLA paper, Sec. 3.2.1, "Baselines and Hyperparameter Settings"). Its
    autoencoder reads the ``embed_dim``-wide embeddings of those encoders: ``embed_dim`` and
    ``hidden_dim`` default to the MLA family's (``FusionConfig``: 64 and 128), given encoders
    or not (``ImperfectConfig``'s own default, 128, would not match the encoders' 64)."""
    options = dict(options)
    fusion = {k: options.pop(k) for k in _FUSION_FIELDS if k in options}
    config = _fusion_config(train, dict(fusion))
    if encoders is None:
        encoders = make_encoders(config)
    options.setdefault("hidden_dim", int(config.hidden[0]))
    options.setdefault("embed_dim", int(config.embed_dim))
    return _raml_family("CRA")(train, encoders=encoders, seed=seed, **{"ae_blocks": 1, **options})


register(
    MethodSpec(
        "AE",
        "mla",
        _ae,
        role="baseline",
        applies=multimodal,
        note="autoencoder imputation (CRA with one block), Table 2",
    )
)


# ----------------------------------------------------------------------------- RAML paper
def _raml_family(name: str):
    def factory(train: MultimodalDataset, *, encoders=None, seed: int | None = None, **options) -> Method:
        cls, config_cls = (RAML, RAMLConfig) if name == "RAML" else (BASELINES[name], ImperfectConfig)
        fields = config_cls.__dataclass_fields__
        unknown = sorted(set(options) - set(fields))
        if unknown:
            raise ValueError(
                f"{name}: unknown options {unknown}; {config_cls.__name__} has {sorted(fields)}."
            )
        return cls(config_cls.for_dataset(train, **options), **_enc(encoders))

    return factory


for _name, _note in (
    ("RAML", "Gaussian embeddings, precision-weighted fusion"),
    ("Concat Fusion", "concatenated embeddings trained on full-modality samples"),
    ("Augmentation", "concat trained on all missing patterns"),
    ("MVAE", "product-of-experts VAE"),
    ("MMVAE", "mixture-of-experts VAE"),
    ("CRA", "cascaded residual autoencoder imagination"),
    ("MMIN", "missing modality imagination network"),
    ("TATE", "tag-assisted transformer (missing tag + common space)"),
    ("TMC", "trusted multi-view classification (Dirichlet evidence)"),
    ("MD", "multimodal dynamics (input gates + TCP)"),
    ("ETMC", "TMC + concatenated pseudo-view"),
    ("CPM-Net", "cross partial multi-view latent + structured loss"),
):
    register(
        MethodSpec(
            _name,
            "raml",
            _raml_family(_name),
            role="method" if _name == "RAML" else "baseline",
            applies=(
                multiclass_multimodal
                if _name in ("TMC", "ETMC", "MD", "CPM-Net")
                else multimodal
            ),
            note=_note,
        )
    )


# ----------------------------------------------------------------------------- OTM paper
def _otm_fusion(train: MultimodalDataset, *, encoders=None, seed: int | None = None, **options) -> Method:
    """A :class:`OTMFusion` (late fusion by default) trained with the OT mixer: ``otm_weight``
    defaults to 1 (the paper's ``beta``; 0 gives the fusion baseline without OTM)."""
    options = dict(options)
    options.setdefault("otm_weight", 1.0)
    if seed is not None:
        options.setdefault("seed", seed)
    return OTMFusion.for_dataset(train, FusionOTMConfig(**options), **_enc(encoders))


register(
    MethodSpec(
        "OTM",
        "otm",
        _otm_fusion,
        role="method",
        note="a fusion model trained with the OT mixer regulariser (supervised OTM, Eq. 5 and 7)",
    )
)


# ----------------------------------------------------------------------------- WMA paper
def _wma(train: MultimodalDataset, *, encoders=None, seed: int | None = None, **options) -> Method:
    from .wma import WMA, WMAConfig, backbone_factory

    if encoders is not None:
        raise ValueError("WMA is a one-tower transformer: it has no per-modality encoders to share.")
    options = dict(options)
    wfields = WMAConfig.__dataclass_fields__
    wma = WMAConfig(**{k: options.pop(k) for k in list(options) if k in wfields})
    kind = options.pop("backbone", "transformer")
    pretrained = options.pop("pretrained", None)
    return WMA(backbone_factory(train, kind, pretrained=pretrained, **options)(), wma)


register(
    MethodSpec(
        "WMA",
        "wma",
        _wma,
        role="method",
        applies=token_sequences,
        note="one-tower transformer + Wasserstein modality alignment (Eq. 9-10); "
        "variant='paper' (scale-free IPOT, default) or 'reference_code' (ViLT's raw-cost IPOT)",
    )
)
