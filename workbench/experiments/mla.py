"""The MLA paper's experiment (notebook ``03_mla``; profiles in ``configs/mla.yaml``).

- **Table 1**: MLA and its baselines (Sum, Concat, Late Fusion, FiLM, BiGated, OGM-GE, QMF) on
  the same encoders, each selected on the validation split; fused (``modality="multi"``) and
  unimodal accuracy (the same model with every other modality missing).
- **Table 3**: the ablation of head gradient modification (HGM) and dynamic fusion (DF).
- **Table 2 / Fig. 2**: each modality of each sample missing with probability ``missing_rate``
  in training, validation and test alike (a fixed seeded mask per split).
- **Fig. 3**: the modality gap of every Table 1 model (``metric="modality_gap"`` rows).

One grid point (:func:`run_point`) trains one method at one seed for one ``experiment``
(``"table1"``, ``"ablation"`` or ``"missing"``) and returns tidy rows for the validation and
the test split (column ``split``). :func:`paper_table` checks the paper's claims
(:data:`CLAIMS`) with :func:`workbench.claims.evaluate`; the "weak" modality of the laziness
claim is the one joint training (Concat) neglects most **on the validation split**, and the
claim is judged on the test split. :func:`run` runs a whole profile in this process and keeps
the trained models (for the notebook's figures and panel);
``workbench.experiments.reproduce("mla", profile)`` runs it as a resumable sweep.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .. import methods
from ..claims import Claim, evaluate
from ..corruptions import MissingModality
from ..data import load_splits
from ..data.base import MultimodalDataset
from ..evaluation import evaluate as score
from ..models.base import Method
from ..reference import load_reference
from ..training import Trainer, TrainerConfig
from . import Profile, load_profile

__all__ = [
    "ABLATION",
    "CLAIMS",
    "EXPERIMENTS",
    "MLARun",
    "ModalityGap",
    "drop_modalities",
    "evaluate_method",
    "fit_point",
    "load_data",
    "modality_gap",
    "only_modality",
    "paper_table",
    "reference",
    "run",
    "run_point",
    "subsample_splits",
    "summary_table",
    "table1_vs_paper",
    "weak_modality",
]

EXPERIMENTS = ("table1", "ablation", "missing")
"""The parts of the experiment: Table 1, the Table 3 ablation, Table 2 (missing modalities)."""

ABLATION = {
    (False, False): "HGM✗ DF✗",
    (False, True): "HGM✗ DF✓",
    (True, False): "HGM✓ DF✗",
    (True, True): "HGM✓ DF✓",
}
"""Method labels of the ablation cells, keyed by ``(hgm, dynamic_fusion)``."""

_CONDITION = {"table1": "normal", "ablation": "ablation", "missing": "missing"}
_COLUMNS = [
    "experiment", "method", "dataset", "split", "condition", "modality", "level",
    "missing_rate", "metric", "seed", "value", "best_epoch", "stopped_early",
]  # fmt: skip


# ----------------------------------------------------------------------------- data


def only_modality(modality: str, modalities: Sequence[str]) -> tuple[MissingModality, ...]:
    """Corruptions that drop every modality but ``modality`` (embedding level, every sample).

    "Prediction from this modality only" (Table 1's unimodal rows) is the model evaluated
    under these corruptions.
    """
    if modality not in modalities:
        raise ValueError(f"only_modality: {modality!r} is not one of {tuple(modalities)}.")
    return tuple(
        MissingModality(modality=m, rate=1.0, level="embedding", allow_all_missing=True)
        for m in modalities
        if m != modality
    )


def drop_modalities(
    dataset: MultimodalDataset,
    rate: float,
    *,
    seed: int = 0,
    modalities: Sequence[str] | None = None,
) -> MultimodalDataset:
    """A copy of ``dataset`` where each of ``modalities`` is missing in each sample with
    probability ``rate`` (Sec. 3.2.1 of the MLA paper): zeros and ``present=False``.

    The mask is drawn once (seeded) and fixed, so training, validation and testing can all
    have missing modalities at the same rate. A sample left with no modality gets one of its
    dropped modalities back (chosen at random), so every sample keeps at least one.

    Args:
        dataset: the split to mask.
        rate: missing probability ``eta`` in ``[0, 1]``.
        seed: seed of the mask.
        modalities: the modalities that may go missing (default all).
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"drop_modalities: rate must be in [0, 1]; got {rate}.")
    names = tuple(modalities) if modalities is not None else dataset.modalities
    cols = [dataset.modalities.index(m) for m in names]
    g = torch.Generator().manual_seed(int(seed))
    n, M = len(dataset), len(dataset.modalities)
    drop = torch.zeros(n, M, dtype=torch.bool)
    drop[:, cols] = torch.rand(n, len(cols), generator=g) < rate
    present = dataset.present & ~drop
    empty = ~present.any(1) & dataset.present.any(1)
    if empty.any():
        choice = (
            torch.rand(n, M, generator=g).masked_fill(~(dataset.present & drop), -1.0).argmax(1)
        )
        present[empty, choice[empty]] = True
    inputs: dict[str, Any] = {}
    for j, m in enumerate(dataset.modalities):
        x = dataset.inputs[m]
        gone = ~present[:, j]
        if isinstance(x, list):
            inputs[m] = [torch.zeros_like(s) if bool(gone[i]) else s for i, s in enumerate(x)]
        else:
            inputs[m] = x * (~gone).to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
    return dataset.replace(
        inputs=inputs,
        present=present,
        meta={**dataset.meta, "missing_rate": rate, "missing_seed": seed},
    )


def subsample_splits(
    splits: Mapping[str, MultimodalDataset],
    sizes: Mapping[str, int | None] | None,
    *,
    seed: int = 0,
) -> dict[str, MultimodalDataset]:
    """Random subsets of each split (``sizes[split]`` samples; all when absent) for quick runs."""
    if not sizes:
        return dict(splits)
    g = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, ds in splits.items():
        n = sizes.get(name)
        if n is None or n >= len(ds):
            out[name] = ds
        else:
            out[name] = ds.subset(torch.randperm(len(ds), generator=g)[:n].sort().values)
    return out


def load_data(
    dataset: str,
    *,
    data_root: str | None = None,
    options: Mapping[str, Any] | None = None,
    n_train: int | None = None,
    n_validation: int | None = None,
    n_test: int | None = None,
    data_seed: int = 0,
    missing_rate: float = 0.0,
) -> dict[str, MultimodalDataset]:
    """The splits of one point: ``dataset`` (with its loader ``options``), random subsets of
    ``n_*`` samples (``None``: all; drawn with ``data_seed``) and, when ``missing_rate > 0``,
    :func:`drop_modalities` on each split (the mask of the ``i``-th split drawn with
    ``data_seed + i``)."""
    splits = load_splits(dataset, data_root, **dict(options or {}))
    sizes = {"train": n_train, "validation": n_validation, "test": n_test}
    splits = subsample_splits(splits, sizes, seed=data_seed)
    if missing_rate:
        splits = {
            k: drop_modalities(v, float(missing_rate), seed=int(data_seed) + i)
            for i, (k, v) in enumerate(splits.items())
        }
    return splits


# ----------------------------------------------------------------------------- evaluation


def evaluate_method(
    model: Method,
    dataset: MultimodalDataset,
    *,
    method: str,
    dataset_name: str | None = None,
    seed: int = 0,
    condition: str = "normal",
    level: str = "",
    metric: str | None = None,
    unimodal: bool = True,
) -> pd.DataFrame:
    """Tidy rows: the fused (``modality="multi"``) and unimodal scores of one trained model.

    Columns: method, dataset, condition, modality, level, metric, seed, value. Unimodal rows
    have condition ``"single_modality"`` (the reference CSV's vocabulary).
    """
    metric = metric or dataset.task.metric
    name = dataset_name or dataset.name
    base = {"method": method, "dataset": name, "level": level, "metric": metric, "seed": seed}
    rows = [
        {
            **base,
            "condition": condition,
            "modality": "multi",
            "value": score(model, dataset, metric),
        }
    ]
    if unimodal:
        gen = torch.Generator().manual_seed(0)
        for m in dataset.modalities:
            value = score(
                model, dataset, metric, only_modality(m, dataset.modalities), generator=gen
            )
            rows.append({**base, "condition": "single_modality", "modality": m, "value": value})
    cols = ["method", "dataset", "condition", "modality", "level", "metric", "seed", "value"]
    return pd.DataFrame(rows)[cols]


@dataclass(frozen=True)
class ModalityGap:
    """The modality gap of a model on a dataset (Fig. 3 of the MLA paper; Liang et al., 2022).

    Attributes:
        distance: distance between the centroids of the L2-normalised embeddings of the first
            two modalities (the gap).
        centroids: ``[M, d]`` centroids of the normalised embeddings.
        points: ``[N * M, 2]`` 2-D PCA projection of all normalised embeddings.
        modality: ``[N * M]`` modality name of each point.
        y: ``[N * M]`` class of each point.
    """

    distance: float
    centroids: np.ndarray
    points: np.ndarray
    modality: np.ndarray
    y: np.ndarray


@torch.no_grad()
def modality_gap(
    model: Method, dataset: MultimodalDataset, *, batch_size: int = 512
) -> ModalityGap:
    """Embed ``dataset`` with ``model.embed``, L2-normalise each embedding, and measure the gap.

    Only samples where a modality is present contribute to its centroid.
    """
    was = model.training
    model.eval()
    device = next(model.parameters()).device
    embs: dict[str, list[Tensor]] = {m: [] for m in dataset.modalities}
    ys: dict[str, list[Tensor]] = {m: [] for m in dataset.modalities}
    try:
        for batch in dataset.loader(batch_size):
            batch = batch.to(device)
            e = model.embed(batch)
            for j, m in enumerate(dataset.modalities):
                keep = batch.present[:, j]
                embs[m].append(torch.nn.functional.normalize(e[m][keep].float(), dim=-1).cpu())
                ys[m].append(batch.y[keep].cpu())
    finally:
        model.train(was)
    X = {m: torch.cat(v).numpy() for m, v in embs.items()}
    centroids = np.stack([X[m].mean(0) for m in dataset.modalities])
    distance = float(np.linalg.norm(centroids[0] - centroids[1])) if len(centroids) > 1 else 0.0
    allX = np.concatenate([X[m] for m in dataset.modalities])
    centred = allX - allX.mean(0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    labels = np.concatenate([np.full(len(X[m]), m) for m in dataset.modalities])
    y = np.concatenate([torch.cat(ys[m]).numpy() for m in dataset.modalities])
    return ModalityGap(distance, centroids, points, labels, y)


# ----------------------------------------------------------------------------- one point


def _label(experiment: str, method: str, hgm: bool | None, dynamic_fusion: bool | None) -> str:
    if experiment != "ablation":
        return method
    if method != "MLA":
        raise ValueError(f"The ablation (Table 3) varies MLA's HGM and DF; got method {method!r}.")
    return ABLATION[(hgm is not False, dynamic_fusion is not False)]


def fit_point(
    *,
    experiment: str,
    method: str,
    seed: int,
    dataset: str,
    data_root: str | None = None,
    dataset_options: Mapping[str, Mapping[str, Any]] | None = None,
    n_train: int | None = None,
    n_validation: int | None = None,
    n_test: int | None = None,
    data_seed: int = 0,
    missing_rate: float = 0.0,
    hgm: bool | None = None,
    dynamic_fusion: bool | None = None,
    encoder: str = "auto",
    embed_dim: int = 64,
    hidden_dim: int = 128,
    dropout: float = 0.1,
    max_epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: str = "adam",
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    schedule: str = "constant",
    step_size: int = 10,
    gamma: float = 0.1,
    patience: int | None = None,
    device: str = "auto",
    cache: bool = True,
) -> tuple[pd.DataFrame, Method]:
    """Train one method at one seed and score it: :func:`run_point`'s rows and the model.

    Args:
        experiment: ``"table1"``, ``"ablation"`` (``method="MLA"`` with ``hgm`` /
            ``dynamic_fusion``; the ``method`` column is the cell's :data:`ABLATION` label) or
            ``"missing"`` (``missing_rate`` in ``(0, 1]``).
        method: a name of ``workbench.methods.available(paper="mla")``.
        seed: seed of the initial weights and of training.
        dataset, data_root, n_train, n_validation, n_test, data_seed, missing_rate: the data
            (:func:`load_data`); ``dataset_options``: loader options per dataset name (e.g.
            ``{"mfeat": {"views": ["fac", "zer", "mor"]}}``).
        hgm, dynamic_fusion: MLA's switches (``None``: MLA's default, on).
        encoder, embed_dim, hidden_dim, dropout: the shared encoders of every method.
        max_epochs ... patience, device: the :class:`~workbench.training.TrainerConfig`.
        cache: re-use a checkpoint trained with the same settings (it does not change results).

    Returns:
        ``(frame, model)``: tidy rows (columns ``experiment, method, dataset, split, condition,
        modality, level, missing_rate, metric, seed, value, best_epoch, stopped_early``) for the
        validation and the test split, plus the modality gap of Table 1 models on the test
        split (``condition="modality_gap"``, ``metric="modality_gap"``), and the trained model.
    """
    if experiment not in EXPERIMENTS:
        raise ValueError(f"experiment={experiment!r}; expected one of {EXPERIMENTS}.")
    if (experiment == "missing") != bool(missing_rate):
        raise ValueError(
            f"experiment={experiment!r} with missing_rate={missing_rate}: only the 'missing' "
            "experiment (and every one of its points) has a missing rate."
        )
    label = _label(experiment, method, hgm, dynamic_fusion)
    splits = load_data(
        dataset,
        data_root=data_root,
        options=(dataset_options or {}).get(dataset),
        n_train=n_train,
        n_validation=n_validation,
        n_test=n_test,
        data_seed=data_seed,
        missing_rate=missing_rate,
    )
    options = {k: v for k, v in (("hgm", hgm), ("dynamic_fusion", dynamic_fusion)) if v is not None}
    model = methods.build(
        method,
        splits["train"],
        seed=int(seed),
        encoder=encoder,
        embed_dim=int(embed_dim),
        hidden=hidden_dim,
        dropout=float(dropout),
        **options,
    )
    config = TrainerConfig(
        max_epochs=int(max_epochs),
        batch_size=int(batch_size),
        lr=float(lr),
        optimizer=optimizer,
        momentum=float(momentum),
        weight_decay=float(weight_decay),
        schedule=schedule,
        step_size=int(step_size),
        gamma=float(gamma),
        patience=patience,
        device=device,
        progress=False,
        seed=int(seed),
    )
    trainer = Trainer(config, cache=cache)
    model = trainer.fit(model, splits["train"], splits["validation"])
    level = f"missing_rate={100 * float(missing_rate):g}" if missing_rate else ""
    frames = []
    for split in ("validation", "test"):
        frame = evaluate_method(
            model,
            splits[split],
            method=label,
            dataset_name=dataset,
            seed=int(seed),
            condition=_CONDITION[experiment],
            level=level,
        )
        frame["split"] = split
        frames.append(frame)
    if experiment == "table1":
        gap = modality_gap(model, splits["test"]).distance
        frames.append(
            pd.DataFrame(
                [
                    {
                        "method": label,
                        "dataset": dataset,
                        "condition": "modality_gap",
                        "modality": "",
                        "level": "",
                        "metric": "modality_gap",
                        "seed": int(seed),
                        "value": gap,
                        "split": "test",
                    }
                ]
            )
        )
    frame = pd.concat(frames, ignore_index=True)
    frame["experiment"] = experiment
    frame["missing_rate"] = float(missing_rate)
    frame["best_epoch"] = trainer.best_epoch_
    frame["stopped_early"] = bool(trainer.stopped_early_)
    return frame[_COLUMNS], model


def run_point(**params: Any) -> pd.DataFrame:
    """One grid point of ``configs/mla.yaml``: the tidy rows of :func:`fit_point`."""
    return fit_point(**params)[0]


# ----------------------------------------------------------------------------- a whole profile


@dataclass
class MLARun:
    """A profile run in this process (:func:`run`): the tidy results and the trained models.

    Attributes:
        results: every point's rows (:func:`fit_point`).
        models: ``(dataset, experiment, method label, seed) -> trained model``.
        splits: ``dataset -> {split: MultimodalDataset}`` (no missing-modality masks).
        dataset: the main dataset (the figures and frames are about it; the claims are
            checked on every dataset).
        seeds: the training seeds.
        profile: the profile's name.
    """

    results: pd.DataFrame
    models: dict[tuple[str, str, str, int], Method]
    splits: dict[str, dict[str, MultimodalDataset]]
    dataset: str
    seeds: tuple[int, ...]
    profile: str = ""

    @property
    def test(self) -> MultimodalDataset:
        """The main dataset's test split."""
        return self.splits[self.dataset]["test"]

    def frame(
        self,
        experiment: str | None = None,
        *,
        dataset: str | None = None,
        split: str = "test",
        metric: str | None = None,
        modality: str | None = None,
    ) -> pd.DataFrame:
        """The results of one experiment on ``dataset`` (default the main one; ``"all"``: every
        dataset) and ``split``; ``metric=None`` leaves out the modality-gap rows."""
        r = self.results
        keep = r["split"] == split
        if experiment is not None:
            keep &= r["experiment"] == experiment
        if dataset != "all":
            keep &= r["dataset"] == (dataset or self.dataset)
        keep &= (r["metric"] != "modality_gap") if metric is None else (r["metric"] == metric)
        if modality is not None:
            keep &= r["modality"] == modality
        return r[keep].reset_index(drop=True)

    def trained(
        self, experiment: str = "table1", *, dataset: str | None = None, seed: int | None = None
    ) -> dict[str, Method]:
        """``{method label: model}`` of one experiment at one seed (default the first)."""
        dataset = dataset or self.dataset
        seed = self.seeds[0] if seed is None else int(seed)
        return {
            label: model
            for (d, e, label, s), model in self.models.items()
            if d == dataset and e == experiment and s == seed
        }

    def gaps(self, methods: Sequence[str] = ("MLA", "Concat"), *, seed: int | None = None):
        """``{method: ModalityGap}`` of Table 1 models on the main test split (Fig. 3)."""
        models = self.trained("table1", seed=seed)
        return {m: modality_gap(models[m], self.test) for m in methods if m in models}

    def weak_modality(self, joint: str = "Concat") -> str:
        """:func:`weak_modality` of the main dataset (chosen on the validation split)."""
        return weak_modality(self.results, self.dataset, joint=joint)

    def paper_table(self) -> pd.DataFrame:
        """:func:`paper_table` of every dataset of the run (the main one first)."""
        return paper_table(self.results, profile=self.profile)


def _points(
    profile: Profile, *, dataset: str | None, data_root: str | None, device: str | None, seed: int
) -> list[dict[str, Any]]:
    """The profile's points with the notebook's overrides: ``dataset`` replaces the profile's
    first dataset (``data_root`` goes with it), ``device`` every point's, ``seed`` shifts the
    training seeds and the data seed."""
    items = [params for _, params in profile.grid.items()]
    main = items[0]["dataset"] if items else dataset
    out, seen = [], set()
    for params in items:
        p = dict(params)
        if p["dataset"] == main:
            p["dataset"] = dataset or main
            p["data_root"] = data_root
        else:
            p["data_root"] = None
        if device is not None:
            p["device"] = device
        p["seed"] = int(p["seed"]) + int(seed)
        p["data_seed"] = int(p.get("data_seed", 0)) + int(seed)
        key = repr(sorted(p.items(), key=lambda kv: kv[0]))
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def run(
    profile: Profile | str = "smoke",
    *,
    dataset: str | None = None,
    data_root: str | None = None,
    device: str | None = None,
    seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> MLARun:
    """Run a profile of ``configs/mla.yaml`` in this process and keep the trained models.

    The points and their numbers are the sweep's (:func:`run_point`); this is what the notebook
    calls, with its parameters as overrides.

    Args:
        profile: a :class:`~workbench.experiments.Profile` or its name.
        dataset: replaces the profile's first (main) dataset.
        data_root: the folder of the main dataset's real files (``None``: embedded data).
        device: the training device of every point (default: the profile's).
        seed: added to every training seed and to the data seed.
        log: called with one line per finished point.
    """
    prof = profile if isinstance(profile, Profile) else load_profile("mla", profile)
    points = _points(prof, dataset=dataset, data_root=data_root, device=device, seed=seed)
    if not points:
        raise ValueError(f"Profile {prof.name!r} of configs/mla.yaml has no points.")
    frames, models = [], {}
    for i, p in enumerate(points):
        frame, model = fit_point(**p)
        frames.append(frame)
        models[(p["dataset"], p["experiment"], frame["method"].iloc[0], int(p["seed"]))] = model
        if log is not None:
            log(
                f"[{i + 1}/{len(points)}] {p['dataset']} {p['experiment']} {frame['method'].iloc[0]} seed {p['seed']}"
            )
    splits = {}
    for p in points:
        if p["dataset"] not in splits:
            splits[p["dataset"]] = load_data(
                p["dataset"],
                data_root=p["data_root"],
                options=(p.get("dataset_options") or {}).get(p["dataset"]),
                n_train=p.get("n_train"),
                n_validation=p.get("n_validation"),
                n_test=p.get("n_test"),
                data_seed=p.get("data_seed", 0),
            )
    seeds = tuple(dict.fromkeys(int(p["seed"]) for p in points))
    return MLARun(
        pd.concat(frames, ignore_index=True),
        models,
        splits,
        points[0]["dataset"],
        seeds,
        prof.name,
    )


# ----------------------------------------------------------------------------- tables


def summary_table(frame: pd.DataFrame, *, scale: float = 100.0, digits: int = 1) -> pd.DataFrame:
    """``mean ± std`` over seeds: one row per (dataset, level, modality), one column per method.

    ``scale=100`` prints accuracies in percent, like the paper's tables.
    """
    keys = [k for k in ("dataset", "level", "modality") if k in frame and frame[k].nunique() > 0]
    g = frame.groupby([*keys, "method"], sort=False)["value"]
    stats = g.agg(["mean", "std"]).reset_index()
    stats["cell"] = [
        f"{scale * m:.{digits}f} ± {0.0 if np.isnan(s) else scale * s:.{digits}f}"
        for m, s in zip(stats["mean"], stats["std"], strict=True)
    ]
    order = list(dict.fromkeys(frame["method"]))
    table = stats.pivot_table(
        index=keys, columns="method", values="cell", aggfunc="first", sort=False
    )
    return table[[m for m in order if m in table.columns]]


def reference() -> pd.DataFrame:
    """The MLA paper's published numbers (:func:`workbench.reference.load_reference`), with the
    Table 3 ablation cells named like the workbench's (:data:`ABLATION`: ``HGM=1;DF=0`` of
    ``MLA`` becomes method ``"HGM✓ DF✗"``), so claims can compare the cells."""
    ref = load_reference("mla")
    cells = ref["table"] == "3"

    def label(level: str) -> str:
        flags = dict(part.split("=") for part in level.split(";"))
        return ABLATION[(flags["HGM"] == "1", flags["DF"] == "1")]

    ref.loc[cells, "method"] = [label(lv) for lv in ref.loc[cells, "level"]]
    ref.loc[cells, "level"] = ""
    return ref


def table1_vs_paper(
    results: pd.DataFrame, *, dataset: str | None = None, paper_dataset: str = "CREMA-D"
) -> pd.DataFrame:
    """The paper's Table 1 rows of ``paper_dataset`` next to the workbench's test means (%)."""
    ref = load_reference("mla")
    paper = ref[(ref["table"] == "1") & (ref["dataset"] == paper_dataset)].pivot_table(
        index="modality", columns="method", values="value", aggfunc="first", sort=False
    )
    sel = results[
        (results["experiment"] == "table1")
        & (results["split"] == "test")
        & (results["metric"] != "modality_gap")
    ]
    dataset = dataset or sel["dataset"].iloc[0]
    sel = sel[sel["dataset"] == dataset]
    ours = sel.groupby(["modality", "method"])["value"].mean().mul(100).round(1).unstack()
    return pd.concat(
        {
            f"paper ({paper_dataset})": paper,
            f"workbench ({dataset})": ours[paper.columns.intersection(ours.columns)],
        }
    )


def weak_modality(
    results: pd.DataFrame, dataset: str | None = None, *, joint: str = "Concat"
) -> str:
    """The modality joint training neglects most: the lowest unimodal accuracy of ``joint`` in
    Table 1, averaged over seeds, **on the validation split** (so the claim that MLA lifts it
    is judged on test numbers that did not choose it).

    Raises:
        ValueError: no validation rows of ``joint`` in Table 1.
    """
    r = results
    keep = (
        (r["experiment"] == "table1")
        & (r["split"] == "validation")
        & (r["method"] == joint)
        & (r["condition"] == "single_modality")
    )
    if dataset is not None:
        keep &= r["dataset"] == dataset
    sel = r[keep]
    if sel.empty:
        raise ValueError(
            f"weak_modality: no validation rows of {joint!r} in Table 1"
            + (f" on {dataset!r}" if dataset else "")
            + "; run the 'table1' experiment with that method."
        )
    return str(sel.groupby("modality")["value"].mean().idxmin())


_TABLE1 = {"experiment": "table1", "split": "test"}
_ABLATION = {
    "experiment": "ablation",
    "condition": "ablation",
    "modality": "multi",
    "split": "test",
}
_MISSING = {"experiment": "missing", "condition": "missing", "modality": "multi", "split": "test"}

CLAIMS = (
    Claim(
        id="mla.best_multimodal",
        text="MLA has the best multimodal accuracy of all methods",
        paper="mla",
        table="1",
        kind="best_of",
        method="MLA",
        where={**_TABLE1, "condition": "normal", "modality": "multi"},
        reference={"table": "1", "condition": "normal", "modality": "multi"},
    ),
    Claim(
        id="mla.weak_modality",
        text="MLA lifts the weak modality above joint training (less modality laziness)",
        paper="mla",
        table="1",
        kind="ordering",
        method="MLA",
        against=("Concat",),
        where={**_TABLE1, "condition": "single_modality"},  # + the weak modality, at run time
        reference={"table": "1", "condition": "single_modality"},
    ),
    Claim(
        id="mla.ablation_best",
        text="HGM and DF together are the best cell of the ablation",
        paper="mla",
        table="3",
        kind="best_of",
        method=ABLATION[(True, True)],
        where=_ABLATION,
        reference={"table": "3", "modality": "multi"},
    ),
    Claim(
        id="mla.dynamic_fusion",
        text="Dynamic fusion alone improves the fused accuracy",
        paper="mla",
        table="3",
        kind="ordering",
        method=ABLATION[(False, True)],
        against=(ABLATION[(False, False)],),
        where=_ABLATION,
        reference={"table": "3", "modality": "multi"},
    ),
    Claim(
        id="mla.missing_best",
        text="MLA beats Late Fusion and QMF when modalities are missing",
        paper="mla",
        table="2",
        kind="best_of",
        method="MLA",
        against=("Late Fusion", "QMF"),
        where=_MISSING,
        reference={"table": "2", "modality": "multi"},
        pair_on=("level",),
    ),
    Claim(
        id="mla.missing_curve",
        text="MLA's accuracy falls as the missing rate grows",
        paper="mla",
        table="2",
        kind="monotone",
        method="MLA",
        where=_MISSING,
        reference={"table": "2", "modality": "multi"},
        along="missing_rate",
        direction="decreasing",
        source="Fig. 2",
    ),
    Claim(
        id="mla.modality_gap",
        text="MLA has a larger modality gap than joint training (Concat)",
        paper="mla",
        kind="ordering",
        method="MLA",
        against=("Concat",),
        where={**_TABLE1, "metric": "modality_gap"},
        source="Fig. 3",
    ),
)
"""The MLA paper's claims checked by :func:`paper_table`."""


def claims_for(weak: str) -> list[Claim]:
    """:data:`CLAIMS` with the laziness claim restricted to the ``weak`` modality."""
    return [
        dataclasses.replace(c, where={**c.where, "modality": weak})
        if c.id == "mla.weak_modality"
        else c
        for c in CLAIMS
    ]


def paper_table(
    results: pd.DataFrame,
    *,
    dataset: str | Iterable[str] | None = None,
    profile: str | None = None,
    z: float = 2.0,
) -> pd.DataFrame:
    """Paper vs workbench: every claim of :data:`CLAIMS` on each dataset of ``results``.

    The weak modality is chosen per dataset on the validation split (:func:`weak_modality`);
    every claim is judged on the test split with :func:`workbench.claims.evaluate` (per-seed
    paired differences; a single seed is at most ``not clearly``).

    Args:
        results: the tidy rows of :func:`run_point` / :func:`run` (a sweep's results).
        dataset: the dataset(s) to evaluate (default: every one in ``results``).
        profile: the profile name (a column of the table).
        z: the standard-error multiple of the verdicts.

    Returns:
        :func:`workbench.claims.evaluate`'s columns plus ``dataset`` and ``weak_modality``.
    """
    if "split" not in results.columns:
        raise ValueError("paper_table: results need a 'split' column (rows of run_point).")
    names = (
        list(dict.fromkeys(results["dataset"]))
        if dataset is None
        else [dataset]
        if isinstance(dataset, str)
        else list(dataset)
    )
    ref = {"mla": reference()}
    tables = []
    for name in names:
        sel = results[results["dataset"] == name]
        try:
            weak = weak_modality(sel)
        except ValueError:
            weak = ""
        table = evaluate(claims_for(weak), sel, reference=ref, z=z, profile=profile)
        table.insert(0, "dataset", name)
        table.insert(1, "weak_modality", weak)
        tables.append(table)
    return pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
