"""Small helpers shared by every layer: atomic file writes, seeded RNG scopes, output folders.

This module sits at the bottom of the layers (it imports nothing from ``workbench``), so the
data loaders, the Trainer, the sweep store and the report all write files the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "ConvergenceWarning",
    "atomic_write",
    "logger",
    "show_progress",
    "outputs_dir",
    "project_root",
    "seeded",
    "torch_threads",
]

logger = logging.getLogger("workbench")
"""The package's logger: progress messages go here (``logging.getLogger("workbench")``), never
to ``print``; the CLI and notebooks show INFO and above (:func:`show_progress`)."""


def show_progress(level: int = logging.INFO) -> logging.Logger:
    """Show the ``workbench`` logger's messages at ``level`` and above on stderr.

    Idempotent. Where the application configured logging itself (the root logger or the
    ``workbench`` logger already has a handler) only the level is set, so its handlers and
    format are kept. The CLI calls this at start; so does the Trainer when ``progress=True``
    outside a terminal (papermill, logs), where tqdm bars would not render.
    """
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    if logger.level == logging.NOTSET or logger.level > level:
        logger.setLevel(level)
    return logger


class ConvergenceWarning(UserWarning):
    """An iterative solver or a training run stopped before it converged (an OT solver's
    marginal error above its tolerance, an FGW barycenter at its iteration cap, a run whose
    validation score was still improving at its last epoch)."""


def atomic_write(path: str | os.PathLike, data: str | bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` so a reader sees the whole old file or the whole new one.

    The data goes to a hidden temporary file ``.<stem>.<pid>.<random hex>.tmp`` in the same
    folder (two writers never share one; a reader of the folder can tell a killed writer's
    leftovers by the pid) and is moved into place with ``os.replace``; on any error the
    temporary file is removed and the old file is left as it was.

    Args:
        path: the file to write; its folder is created when missing.
        data: text (written as UTF-8) or bytes.
        fsync: flush the file to disk before the rename (for stores that must survive a crash).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        with open(tmp, "wb") as f:
            f.write(raw)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Run a block with torch's, numpy's and ``random``'s global RNGs seeded, then restore them.

    The global states are forked: whatever the block draws does not change what the caller
    draws afterwards. Yields a CPU ``torch.Generator`` seeded with ``seed`` for explicit use
    (data order, corruptions).

    >>> with seeded(0) as g:
    ...     a = torch.rand(2)
    >>> with seeded(0) as g:
    ...     b = torch.rand(2)
    >>> bool((a == b).all())
    True
    """
    seed = int(seed)
    py_state, np_state = random.getstate(), np.random.get_state()
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=devices):
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        try:
            yield torch.Generator().manual_seed(seed)
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run a block with ``torch.set_num_threads(n)``, then restore the previous count.

    ``None`` leaves the count unchanged. Tiny models (the smoke profiles) gain nothing from more
    intra-op threads on a small CPU: the extra threads spin-wait, and on a loaded machine they
    cost several times the CPU time of one thread. The count does not change a run's numbers
    beyond the last digits of parallel reductions, nor its checkpoint cache key
    (:func:`workbench.training._fingerprint_tensor`).

    >>> before = torch.get_num_threads()
    >>> with torch_threads(1):
    ...     torch.get_num_threads()
    1
    >>> torch.get_num_threads() == before
    True
    """
    if n is None:
        yield
        return
    if int(n) < 1:
        raise ValueError(f"torch_threads(n={n!r}): expected a positive thread count or None.")
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def project_root() -> Path | None:
    """The workbench checkout containing the current folder (``pyproject.toml`` names the
    project ``workbench``), or ``None`` outside a checkout."""
    cwd = Path.cwd()
    for folder in (cwd, *cwd.parents):
        project = folder / "pyproject.toml"
        if project.is_file() and (folder / "workbench").is_dir():
            try:
                if re.search(r'^name\s*=\s*"workbench"', project.read_text(), re.M):
                    return folder
            except OSError:
                pass
    return None


def outputs_dir() -> Path:
    """The folder for generated outputs.

    ``$WORKBENCH_OUTPUTS`` when set; otherwise ``outputs/`` in the workbench checkout that
    contains the current folder (so a notebook running in ``notebooks/`` writes to the same
    place as the command line run from the root), or ``./outputs`` outside a checkout.
    """
    env = os.environ.get("WORKBENCH_OUTPUTS")
    if env:
        return Path(env)
    root = project_root()
    return (root if root is not None else Path.cwd()) / "outputs"
