"""Evaluation: predictions under corruptions, and the robustness grid as a tidy DataFrame.

>>> df = robustness({"concat": model}, test, [Clean(), UniformNoise("m0", 0.5)], seeds=(0, 1))
>>> table(df, rows="method", columns=["condition", "modality"])   # "mean ± std" strings

Tables are pivots of the tidy frame (:func:`table`, :func:`table_numeric`), and
:func:`paper_vs_workbench` joins it with the published numbers of
:func:`workbench.reference.load_reference`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import metrics as M
from .data.base import MultimodalDataset
from .models.base import Method

__all__ = [
    "COLUMNS",
    "Predictions",
    "describe_condition",
    "embedding_scale",
    "evaluate",
    "paper_vs_workbench",
    "predict",
    "relative_to_clean",
    "robustness",
    "summarize",
    "table",
    "table_numeric",
]


@dataclass(frozen=True)
class Predictions:
    """Targets, scores and presence of a whole dataset (numpy, on the CPU)."""

    y: np.ndarray
    scores: np.ndarray
    present: np.ndarray


@contextmanager
def _evaluating(model: Method, device: torch.device | str | None = None):
    """Eval mode for the block (the previous mode is restored), yielding the device to run on
    (default the model's)."""
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        yield device
    finally:
        model.train(was_training)


@torch.no_grad()
def predict(
    model: Method,
    dataset: MultimodalDataset,
    corruptions: Sequence = (),
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> Predictions:
    """Run ``model`` in eval mode over ``dataset`` with ``corruptions`` applied.

    Args:
        model: a :class:`~workbench.models.base.Method`.
        dataset: the data to predict.
        corruptions: corruptions applied at their level (input or embedding).
        generator: the generator driving the corruptions (required when there are any).
        batch_size: evaluation batch size; results do not depend on it for batch-independent
            models.
        device: where to run; default the model's device.

    Returns:
        :class:`Predictions` with the presence after corruption.
    """
    ys, ss, ps = [], [], []
    with _evaluating(model, device) as device:
        for batch in dataset.loader(batch_size):
            batch = batch.to(device)
            out = model(batch, corruptions, generator)
            present = out.extras.get("present", batch.present)
            ys.append(batch.y.cpu())
            ss.append(model.scores(out).float().cpu())
            ps.append(present.cpu())
    return Predictions(torch.cat(ys).numpy(), torch.cat(ss).numpy(), torch.cat(ps).numpy())


def evaluate(
    model: Method,
    dataset: MultimodalDataset,
    metric: str | None = None,
    corruptions: Sequence = (),
    *,
    generator: torch.Generator | None = None,
    batch_size: int = 256,
) -> float:
    """The ``metric`` (default: the dataset's) of ``model`` on ``dataset`` under ``corruptions``."""
    pred = predict(model, dataset, corruptions, generator=generator, batch_size=batch_size)
    return M.compute(metric or dataset.task.metric, pred.y, pred.scores, dataset.task)


# ----------------------------------------------------------------------------- robustness grid

COLUMNS = ("method", "dataset", "condition", "modality", "level", "metric", "seed", "value")


def _as_list(condition) -> list:
    if condition is None:
        return []
    if isinstance(condition, (list, tuple)):
        return list(condition)
    return [condition]


def describe_condition(condition) -> dict:
    """The ``condition``, ``modality``, ``level`` and ``detail`` columns of one condition.

    Args:
        condition: a corruption, a list of corruptions applied in order (composed), or
            ``None``/``[]``/``Clean()`` for the clean test set.

    Returns:
        ``condition``: the corruption's registry name (``"normal"`` for clean; distinct names
        of a composed condition joined by ``"+"``); ``modality``: the modality it acts on
        (``"+"``-joined when composed, ``""`` when none); ``level``: the severity in the paper's
        units (amplitude, rate, sigma, p; the largest one when composed, 0 for clean);
        ``detail``: the full ``repr`` of the corruption(s).
    """
    parts = [c for c in _as_list(condition) if getattr(c, "name", None) != "normal"]
    if not parts:
        return {"condition": "normal", "modality": "", "level": 0.0, "detail": "normal"}
    names = list(dict.fromkeys(c.name for c in parts))
    mods = list(dict.fromkeys(getattr(c, "modality", None) or "" for c in parts))
    return {
        "condition": "+".join(names),
        "modality": "+".join(m for m in mods if m),
        "level": float(max(float(c.severity) for c in parts)),
        "detail": " + ".join(repr(c) for c in parts),
    }


def _model_runs(models, seeds: Sequence[int]) -> list[tuple[str, Method, list[int]]]:
    """``(method name, model, corruption seeds)`` for each model to evaluate."""
    if isinstance(models, Method):
        models = {type(models).__name__: models}
    if not isinstance(models, Mapping) or not models:
        raise ValueError(
            "robustness(models=...) expects a Method or a non-empty mapping name -> Method "
            "(or name -> {training seed: Method})."
        )
    runs = []
    for name, value in models.items():
        if isinstance(value, Method):
            runs.append((str(name), value, [int(s) for s in seeds]))
        elif isinstance(value, Mapping):
            for seed, model in value.items():
                if not isinstance(model, Method):
                    raise ValueError(
                        f"models[{name!r}][{seed!r}] is {type(model).__name__}, not a Method."
                    )
                runs.append((str(name), model, [int(seed)]))
        else:
            raise ValueError(
                f"models[{name!r}] is {type(value).__name__}; expected a Method or {{seed: Method}}."
            )
    return runs


def robustness(
    models,
    dataset: MultimodalDataset,
    conditions: Sequence | Mapping | None = None,
    metrics: Sequence[str] | str | None = None,
    seeds: Sequence[int] = (0,),
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> pd.DataFrame:
    """Evaluate models on ``dataset`` under every condition: the robustness grid.

    Each (condition, seed) draws its corruption from ``torch.Generator().manual_seed(seed)``,
    so every method sees the same dropped samples (input- or embedding-level masks are drawn
    before anything model-dependent). Embedding-level noise has the shape of each model's
    embeddings, so it is the same draw only for models with the same embedding shapes.

    Args:
        models: a :class:`~workbench.models.base.Method`, a mapping ``name -> Method``, or
            ``name -> {seed: Method}`` (models trained with several seeds; the model of seed
            ``s`` is evaluated with corruption seed ``s`` and ``seeds`` is not used for it).
        dataset: the evaluation split (normally ``test``).
        conditions: corruptions; an entry may be a list of corruptions applied in order
            (composed), ``None`` or ``Clean()`` for the clean set. A mapping ``label ->
            condition`` names the conditions itself. Default: only the clean set.
        metrics: metric names (default: the dataset's metric, ``dataset.task.metric``).
        seeds: corruption seeds.
        batch_size: evaluation batch size (keep it equal across methods so the per-batch
            draws line up).
        device: where to run; default each model's device.

    Returns:
        A tidy DataFrame with one row per (method, dataset, condition, modality, level, metric,
        seed) and the columns ``method, dataset, condition, modality, level, metric, seed,
        value, detail``. ``level`` is the severity in the paper's units (0 for ``normal``).
    """
    if conditions is None:
        conditions = [None]
    if isinstance(conditions, Mapping):
        labelled = list(conditions.items())
    else:
        labelled = [(None, c) for c in conditions]
    if not labelled:
        raise ValueError(
            "robustness(conditions=[]) has nothing to evaluate; pass at least one condition."
        )
    if isinstance(metrics, str):
        metrics = [metrics]
    metrics = list(metrics) if metrics else [dataset.task.metric]
    for name in metrics:
        if name not in M.available():
            raise ValueError(f"Unknown metric {name!r}; available metrics are {M.available()}.")
    for _, cond in labelled:
        for c in _as_list(cond):
            mod = getattr(c, "modality", None)
            if mod and any(part not in dataset.modalities for part in str(mod).split("+")):
                raise ValueError(
                    f"Condition {c!r} names modality {mod!r}; dataset {dataset.name!r} has {dataset.modalities}."
                )
    rows = []
    for method, model, run_seeds in _model_runs(models, seeds):
        for label, cond in labelled:
            info = describe_condition(cond)
            if label is not None:
                info["condition"] = str(label)
            for seed in run_seeds:
                generator = torch.Generator().manual_seed(int(seed))
                pred = predict(
                    model,
                    dataset,
                    _as_list(cond),
                    generator=generator,
                    batch_size=batch_size,
                    device=device,
                )
                for name in metrics:
                    value = M.compute(name, pred.y, pred.scores, dataset.task)
                    rows.append(
                        {
                            "method": method,
                            "dataset": dataset.name,
                            **info,
                            "metric": name,
                            "seed": seed,
                            "value": value,
                        }
                    )
    df = pd.DataFrame(rows)
    return df[[*COLUMNS, "detail"]]


@torch.no_grad()
def embedding_scale(
    models,
    dataset: MultimodalDataset,
    noise_amplitude: float = 3.0,
    *,
    batch_size: int = 256,
) -> pd.DataFrame:
    """How large embedding-level noise is next to the embeddings it perturbs.

    An amplitude is in the units of the model's embeddings (Sec. 4.1 of the WMA paper adds
    ``U(-3, 3)`` to ViLT's embedding features), so the same amplitude is a strong corruption
    for unit-scale embeddings and a negligible one for large ones. For each model and modality
    this reports the root mean square of the embedding entries (real tokens of present samples
    only; padding is left out) next to the RMS of the noise, ``amplitude / sqrt(3)``.

    Args:
        models: as in :func:`robustness` (a Method, ``name -> Method`` or
            ``name -> {seed: Method}``).
        dataset: the data embedded (normally ``test``).
        noise_amplitude: the half-width of :class:`~workbench.corruptions.UniformNoise`.
        batch_size: evaluation batch size.

    Returns:
        One row per (method, seed, modality) with ``embedding_rms``, ``noise_rms`` and
        ``noise_to_signal`` (their ratio).
    """
    rows = []
    for method, model, seeds in _model_runs(models, (0,)):
        sums = {m: [0.0, 0] for m in dataset.modalities}
        with _evaluating(model) as device:
            for batch in dataset.loader(batch_size):
                batch = batch.to(device)
                emb = model.embed(batch)
                for j, m in enumerate(dataset.modalities):
                    if m not in emb:
                        continue
                    x = emb[m].float()
                    keep = batch.present[:, j].reshape(-1, *([1] * (x.ndim - 1)))
                    mask = emb.get(f"mask.{m}", batch.mask(m))
                    if mask is not None and x.ndim == 3:
                        keep = keep & mask[:, :, None]
                    keep = keep.expand_as(x)
                    sums[m][0] += float((x[keep] ** 2).sum())
                    sums[m][1] += int(keep.sum())
        noise_rms = float(noise_amplitude) / np.sqrt(3.0)
        for m, (sq, n) in sums.items():
            if n == 0:
                continue
            rms = float(np.sqrt(sq / n))
            rows.append(
                {
                    "method": method,
                    "seed": seeds[0],
                    "modality": m,
                    "embedding_rms": rms,
                    "noise_rms": noise_rms,
                    "noise_to_signal": noise_rms / rms if rms > 0 else float("inf"),
                }
            )
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- tables


def _as_columns(x) -> list[str]:
    if x is None:
        return []
    return [x] if isinstance(x, str) else list(x)


def summarize(df: pd.DataFrame, by: Sequence[str] | str, value: str = "value") -> pd.DataFrame:
    """Mean, std (ddof=1; 0 for one seed) and count of ``value`` over the rows of each group.

    Args:
        df: a tidy frame (e.g. from :func:`robustness`).
        by: the columns kept; everything else (normally ``seed``) is aggregated over.

    Returns:
        One row per group with columns ``*by, mean, std, n``.
    """
    by = _as_columns(by)
    missing = [c for c in [*by, value] if c not in df.columns]
    if missing:
        raise ValueError(
            f"summarize(): columns {missing} are not in the frame; it has {list(df.columns)}."
        )
    g = df.groupby(by, sort=False, dropna=False)[value]
    out = g.agg(["mean", "std", "count"]).reset_index().rename(columns={"count": "n"})
    out["std"] = out["std"].fillna(0.0)
    return out


def table_numeric(
    df: pd.DataFrame,
    rows: Sequence[str] | str = "method",
    columns: Sequence[str] | str = ("condition", "modality"),
    value: str = "value",
) -> pd.DataFrame:
    """The papers' table shape with numbers: ``rows`` x (``mean``/``std``, ``columns``).

    Args:
        df: a tidy frame.
        rows: column(s) giving the table's rows (e.g. ``"method"``).
        columns: column(s) giving the table's columns (e.g. ``["condition", "modality"]``).

    Returns:
        A DataFrame whose columns are a MultiIndex with ``"mean"`` and ``"std"`` on top. Rows
        and columns keep their order of appearance, except numeric columns (severities),
        which are sorted. Everything not in ``rows``/``columns`` is averaged over.
    """
    rows, columns = _as_columns(rows), _as_columns(columns)
    s = summarize(df, [*rows, *columns], value)
    mean = (
        s.pivot_table(index=rows, columns=columns or None, values="mean", sort=False)
        if columns
        else s.set_index(rows)[["mean"]]
    )
    std = (
        s.pivot_table(index=rows, columns=columns or None, values="std", sort=False)
        if columns
        else s.set_index(rows)[["std"]]
    )
    order = _column_order(mean.columns)
    return pd.concat({"mean": mean[order], "std": std[order]}, axis=1)


def _column_order(columns: pd.Index) -> list:
    """Columns in order of appearance for text levels and in increasing order for numbers."""
    n_levels = columns.nlevels
    values = [columns.get_level_values(i) for i in range(n_levels)]
    keys = []
    for level in values:
        if pd.api.types.is_numeric_dtype(level):
            keys.append(list(level))
        else:
            first = {v: j for j, v in reversed(list(enumerate(level)))}
            keys.append([first[v] for v in level])
    ranked = sorted(range(len(columns)), key=lambda j: tuple(k[j] for k in keys))
    return [columns[j] for j in ranked]


def table(
    df: pd.DataFrame,
    rows: Sequence[str] | str = "method",
    columns: Sequence[str] | str = ("condition", "modality"),
    value: str = "value",
    fmt: str = "{:.3f}",
) -> pd.DataFrame:
    """The papers' table shape as ``"mean ± std"`` strings (std over seeds).

    Args:
        df: a tidy frame (from :func:`robustness` or any frame with a ``value`` column).
        rows, columns: as in :func:`table_numeric`.
        fmt: format of the mean and the std.

    Returns:
        A DataFrame of strings, rows ``rows`` and columns ``columns`` (a MultiIndex when there
        are several); ``""`` where a combination was not evaluated.
    """
    num = table_numeric(df, rows, columns, value)
    mean, std = num["mean"], num["std"]

    def cell(m, s):
        if pd.isna(m):
            return ""
        return f"{fmt.format(m)} ± {fmt.format(s)}"

    out = pd.DataFrame(
        [[cell(m, s) for m, s in zip(mean.iloc[i], std.iloc[i])] for i in range(len(mean))],
        index=mean.index,
        columns=mean.columns,
    )
    return out


def relative_to_clean(df: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """Add ``retention``: each value divided by the clean (``condition == "normal"``) value of
    the same method, dataset, metric and seed (and paper table, for reference frames).

    The papers' claims about robustness are about drops from the clean score; retention puts
    a stand-in dataset and a paper's dataset on the same scale. For an error metric (MAE)
    retention above 1 means worse.

    Raises:
        ValueError: when the frame has no ``normal`` rows.
    """
    keys = [c for c in ("paper", "table", "method", "dataset", "metric", "seed") if c in df.columns]
    clean = df[df["condition"] == "normal"]
    if clean.empty:
        raise ValueError(
            "relative_to_clean(): the frame has no condition == 'normal' rows to divide by."
        )
    base = clean.groupby(keys, dropna=False)[value].mean().rename("_clean").reset_index()
    out = df.merge(base, on=keys, how="left")
    out["retention"] = out[value] / out["_clean"]
    return out.drop(columns="_clean")


def paper_vs_workbench(
    paper_df: pd.DataFrame,
    ours_df: pd.DataFrame,
    on: Sequence[str] = ("method", "condition", "modality", "metric"),
    *,
    value: str = "value",
    how: str = "left",
) -> pd.DataFrame:
    """Put the published numbers next to the workbench's (mean ± std over seeds).

    Args:
        paper_df: rows of :func:`workbench.reference.load_reference`, already filtered to the
            table of interest and, where needed, relabelled to the workbench's names.
        ours_df: a tidy workbench frame (``value`` per seed).
        on: the columns identifying a number in both frames (their values must match: e.g.
            map the paper's ``"amplitude=3"`` level with
            :func:`workbench.reference.level_value`). Rows of either frame that share a key
            are averaged (e.g. over seeds, or over modalities when ``modality`` is not in
            ``on``).
        value: the compared column in both frames (``"value"``, or ``"retention"`` from
            :func:`relative_to_clean`).
        how: ``"left"`` keeps every paper row (workbench empty where not run), ``"inner"``
            only the matched ones, ``"outer"`` both.

    Returns:
        Columns ``*on, paper, paper_std, n_paper, workbench, workbench_std, n_workbench,
        difference`` (``workbench - paper``). ``paper_std`` is the printed std when one paper
        row matches, else the std over the matched rows.
    """
    on = _as_columns(on)
    for name, frame in (("paper_df", paper_df), ("ours_df", ours_df)):
        missing = [c for c in [*on, value] if c not in frame.columns]
        if missing:
            raise ValueError(
                f"paper_vs_workbench(): {name} lacks the columns {missing}; it has {list(frame.columns)}."
            )
    paper = summarize(paper_df, on, value).rename(
        columns={"mean": "paper", "std": "paper_std", "n": "n_paper"}
    )
    if value == "value" and "std" in paper_df.columns:
        printed = (
            paper_df.groupby(on, sort=False, dropna=False)["std"].first().reset_index(drop=True)
        )
        single = (paper["n_paper"] == 1).to_numpy()
        paper.loc[single, "paper_std"] = printed[single].to_numpy()
    ours = summarize(ours_df, on, value).rename(
        columns={"mean": "workbench", "std": "workbench_std", "n": "n_workbench"}
    )
    paper = paper.astype({c: object for c in on})
    ours = ours.astype({c: object for c in on})
    out = paper.merge(ours, on=on, how=how)
    out["difference"] = out["workbench"] - out["paper"]
    cols = [
        *on,
        "paper",
        "paper_std",
        "n_paper",
        "workbench",
        "workbench_std",
        "n_workbench",
        "difference",
    ]
    return out[cols].reset_index(drop=True)
