"""The four papers' published numbers (``<paper>.csv``; columns in ``README.md``).

>>> from workbench.reference import load_reference
>>> wma = load_reference("wma")
>>> wma.query("table == '1' and dataset == 'Hateful Memes'")
"""

from __future__ import annotations

from importlib import resources

import pandas as pd

__all__ = ["PAPERS", "level_value", "load_reference"]

PAPERS = ("mla", "otm", "raml", "wma")


def load_reference(paper: str) -> pd.DataFrame:
    """The published results of ``paper`` as a DataFrame, one row per printed number.

    Args:
        paper: ``"wma"``, ``"mla"``, ``"raml"`` or ``"otm"``.

    Returns:
        Columns ``paper, table, dataset, method, condition, modality, level, metric, value,
        std, higher_is_better, note`` (see ``workbench/reference/README.md``). ``value`` and
        ``std`` are floats (as printed: percentages stay percentages), ``value_text`` keeps the
        printed string; ``table``, ``modality``, ``level`` and ``note`` are strings (empty when
        the paper gives none).

    Raises:
        ValueError: unknown paper name.
    """
    name = str(paper).lower()
    if name not in PAPERS:
        raise ValueError(f"Unknown paper {paper!r}; expected one of {PAPERS}.")
    source = resources.files(__name__).joinpath(f"{name}.csv")
    with resources.as_file(source) as path:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["value_text"] = df["value"]
    df["value"] = pd.to_numeric(df["value"], errors="coerce")
    df["std"] = pd.to_numeric(df["std"].replace("", None), errors="coerce")
    df["higher_is_better"] = df["higher_is_better"].str.lower().eq("true")
    return df


def level_value(level: str, key: str | None = None) -> float:
    """The severity of a reference ``level`` string in the workbench's units.

    ``"amplitude=3"`` -> 3.0; ``"missing_rate=50"`` -> 0.5 (the CSVs print percent, corruptions
    take a fraction); ``"sigma=0.18;p=0.1"`` -> the value of ``key`` (default: the first);
    ``""`` (clean rows) -> 0.0.

    Raises:
        ValueError: a ``key`` the level does not have, or a level that is not ``key=number``.
    """
    text = str(level or "").strip()
    if not text:
        return 0.0
    pairs = {}
    for part in text.split(";"):
        k, sep, v = part.partition("=")
        if not sep:
            raise ValueError(
                f"Reference level {level!r} is not of the form key=number[;key=number]."
            )
        pairs[k.strip()] = v.strip()
    name = key or next(iter(pairs))
    if name not in pairs:
        raise ValueError(f"Reference level {level!r} has no key {name!r}; it has {list(pairs)}.")
    try:
        number = float(pairs[name])
    except ValueError:
        raise ValueError(
            f"Reference level {level!r}: {name}={pairs[name]!r} is not a number."
        ) from None
    return number / 100.0 if name == "missing_rate" else number
