"""One Trainer for every method and baseline.

- Model selection on the **validation** split only (the test split is never seen here).
- Early stopping with patience (the papers use 5 epochs).
- Learning-rate schedules: ``"linear"`` (linear warm-up then linear decay, as in WMA/ViLT),
  ``"step"`` (MLA's step decay), ``"constant"``.
- Optimisers by name: ``"adam"``, ``"adamw"``, ``"sgd"`` (momentum).
- Explicit seeds: the shuffling generator and the global torch seed are set from
  ``config.seed`` at the start of ``fit``, so two runs with the same config give the same numbers
  on CPU.
- ``device="auto"`` picks CUDA when available.
- A checkpoint cache keyed by a hash of the full config (trainer config, model, initial weights,
  data), so re-running a notebook re-uses trained weights.
- ``method.training_step(batch, optimizer)`` is the only hook into a method.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from . import metrics as M
from .data.base import MultimodalDataset
from .evaluation import predict
from .methods import registry as _methods
from .models.base import Method
from .util import atomic_write, logger, show_progress

__all__ = [
    "Trainer",
    "TrainerConfig",
    "default_cache_dir",
    "fit",
    "fit_seeds",
    "resolve_device",
    "seed_everything",
]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed torch's global RNG (parameter init, dropout) and return a CPU generator for data."""
    torch.manual_seed(int(seed))
    return torch.Generator().manual_seed(int(seed))


def default_cache_dir() -> Path:
    """``$WORKBENCH_CACHE`` or ``~/.cache/workbench``."""
    return Path(os.environ.get("WORKBENCH_CACHE", Path.home() / ".cache" / "workbench")).expanduser()


@dataclass(frozen=True)
class TrainerConfig:
    """Everything that determines a training run (and therefore the checkpoint's cache key).

    Attributes:
        max_epochs: upper bound on epochs.
        batch_size: training batch size.
        lr: peak learning rate.
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        weight_decay: L2 / decoupled weight decay.
        momentum: SGD momentum.
        schedule: ``"linear"`` (warm-up then linear decay to 0), ``"step"`` or ``"constant"``.
        warmup_ratio: fraction of all steps spent warming up (``"linear"``).
        step_size, gamma: epochs between decays and the decay factor (``"step"``).
        patience: epochs without validation improvement before stopping (``None``: never).
        monitor: validation metric used for selection (default: the dataset's metric).
        grad_clip: max gradient norm, or ``None``.
        seed: seed of initialisation-independent randomness (shuffling, dropout, corruptions).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        eval_batch_size: batch size for validation.
        train_corruptions: input-level corruptions applied to each training batch before
            ``training_step`` (e.g. MLA's missing modalities at train time); give them
            ``level="input"``.
        progress: show a progress bar (tqdm in a terminal/notebook, plain lines otherwise).
    """

    max_epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"
    warmup_ratio: float = 0.1
    step_size: int = 10
    gamma: float = 0.1
    patience: int | None = 5
    monitor: str | None = None
    grad_clip: float | None = None
    seed: int = 0
    device: str = "auto"
    eval_batch_size: int = 512
    train_corruptions: tuple = ()
    progress: bool = True

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "adamw", "sgd"):
            raise ValueError(f"TrainerConfig.optimizer={self.optimizer!r}; expected 'adam', 'adamw' or 'sgd'.")
        if self.schedule not in ("linear", "step", "constant"):
            raise ValueError(f"TrainerConfig.schedule={self.schedule!r}; expected 'linear', 'step' or 'constant'.")
        if self.max_epochs < 1 or self.batch_size < 1:
            raise ValueError("TrainerConfig: max_epochs and batch_size must be >= 1.")


def _hash_tensor(h, t: torch.Tensor) -> None:
    """Feed ``t``'s dtype, shape and raw bytes to the hash ``h`` (no copy of a CPU tensor)."""
    t = t.detach().cpu().contiguous()
    h.update(f"{t.dtype}{tuple(t.shape)};".encode())
    h.update(memoryview(t.reshape(-1).view(torch.uint8).numpy()))


def _fingerprint_tensor(t: torch.Tensor | list) -> str:
    """SHA-256 (20 hex digits) of a tensor's (or a list of tensors') dtype, shape and bytes.

    Exact: changing any value or the order of the rows (an unaligned split) changes it. It is
    also independent of the machine's thread count, which summed fingerprints were not (the
    order of a parallel reduction, hence its last digits, depends on the threads, so the same
    run missed the checkpoint cache when started with another ``torch.set_num_threads``).
    """
    h = hashlib.sha256()
    for item in t if isinstance(t, list) else [t]:
        _hash_tensor(h, item)
    return h.hexdigest()[:20]


def _dataset_fingerprint(ds: MultimodalDataset) -> dict[str, Any]:
    parts: dict[str, Any] = {"name": ds.name, "split": ds.split, "n": len(ds), "y": _fingerprint_tensor(ds.y)}
    for m, x in ds.inputs.items():
        parts[m] = _fingerprint_tensor(x)
    parts["present"] = _fingerprint_tensor(ds.present)
    return parts


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return {"__class__": type(x).__name__, **{k: _jsonable(v) for k, v in dataclasses.asdict(x).items()}}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (int, float, str, bool)) or x is None:
        return x
    return repr(x)


class _Progress:
    """tqdm when attached to a terminal or notebook, INFO lines of the ``workbench`` logger
    otherwise (logs, papermill)."""

    def __init__(self, total: int, enabled: bool, desc: str) -> None:
        self.enabled = enabled
        self.bar = None
        if enabled and (sys.stderr.isatty() or "ipykernel" in sys.modules) and "PAPERMILL_EXECUTION" not in os.environ:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc=desc, leave=False)
        elif enabled:
            show_progress()
        self.desc = desc

    def update(self, epoch: int, logs: dict[str, float]) -> None:
        if not self.enabled:
            return
        text = " ".join(f"{k}={v:.4g}" for k, v in logs.items())
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix_str(text)
        else:
            logger.info("[%s] epoch %d: %s", self.desc, epoch, text)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class Trainer:
    """Fit a :class:`~workbench.models.base.Method`, selecting the best epoch on validation.

    Example:
        >>> trainer = Trainer(TrainerConfig(max_epochs=20, lr=1e-3), cache=True)
        >>> model = trainer.fit(model, train, validation)
        >>> trainer.history_            # one row per epoch: train loss, validation metric, lr
        >>> trainer.best_epoch_, trainer.best_score_

    Args:
        config: the run's settings (keyword overrides are accepted too).
        cache: re-use a checkpoint trained with the same config, model, initial weights and data.
        cache_dir: where checkpoints live (default ``$WORKBENCH_CACHE/checkpoints``).
    """

    def __init__(
        self,
        config: TrainerConfig | None = None,
        *,
        cache: bool = False,
        cache_dir: str | Path | None = None,
        **overrides: Any,
    ) -> None:
        config = config or TrainerConfig()
        self.config = dataclasses.replace(config, **overrides) if overrides else config
        self.cache = cache
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "checkpoints"

    # ------------------------------------------------------------------ helpers
    def cache_key(self, model: Method, train: MultimodalDataset, validation: MultimodalDataset) -> str:
        """Hash of the trainer config, the model (class, config, architecture, initial weights) and data."""
        payload = {
            "trainer": _jsonable(self.config),
            "model": type(model).__qualname__,
            "model_config": _jsonable(getattr(model, "config", None)),
            "architecture": repr(model),
            "init": {k: _fingerprint_tensor(v) for k, v in model.state_dict().items()},
            "train": _dataset_fingerprint(train),
            "validation": _dataset_fingerprint(validation),
            "version": 2,
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:20]

    def _optimizer(self, model: Method) -> torch.optim.Optimizer:
        c = self.config
        params = [p for p in model.parameters() if p.requires_grad]
        if hasattr(model, "param_groups"):
            params = model.param_groups(c.lr)
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)

    def _scheduler(self, optimizer: torch.optim.Optimizer, steps_per_epoch: int):
        c = self.config
        if c.schedule == "constant":
            return None, False
        if c.schedule == "step":
            return torch.optim.lr_scheduler.StepLR(optimizer, step_size=c.step_size, gamma=c.gamma), False
        total = max(1, c.max_epochs * steps_per_epoch)
        warmup = int(math.ceil(c.warmup_ratio * total))

        def factor(step: int) -> float:
            if warmup and step < warmup:
                return (step + 1) / warmup
            return max(0.0, (total - step) / max(1, total - warmup))

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), True

    # ------------------------------------------------------------------ fit
    def fit(self, model: Method, train: MultimodalDataset, validation: MultimodalDataset) -> Method:
        """Train ``model`` on ``train``; keep the weights of the best validation epoch.

        Sets ``history_`` (DataFrame, one row per epoch), ``best_epoch_``, ``best_score_``,
        ``stopped_early_``, ``from_cache_`` and ``device_``.

        Returns:
            the model, with the best validation weights loaded, in eval mode.
        """
        c = self.config
        if train.modalities != validation.modalities:
            raise ValueError(
                f"train modalities {train.modalities} differ from validation modalities {validation.modalities}."
            )
        device = resolve_device(c.device)
        self.device_ = device
        monitor = c.monitor or validation.task.metric
        sign = 1.0 if M.higher_is_better(monitor) else -1.0
        key = self.cache_key(model, train, validation)
        path = self.cache_dir / f"{type(model).__name__}-{key}.pt"
        model.to(device)
        self.from_cache_ = False
        if self.cache and path.exists():
            state = torch.load(path, map_location=device, weights_only=True)
            model.load_state_dict(state["model"])
            self.history_ = pd.DataFrame(state["history"])
            self.best_epoch_ = int(state["best_epoch"])
            self.best_score_ = float(state["best_score"])
            self.stopped_early_ = bool(state["stopped_early"])
            self.from_cache_ = True
            return model.eval()

        data_gen = seed_everything(c.seed)
        corrupt_gen = torch.Generator().manual_seed(c.seed + 1)
        eval_gen_seed = c.seed + 2
        loader = train.loader(c.batch_size, shuffle=True, generator=data_gen)
        optimizer = self._optimizer(model)
        if c.grad_clip is not None:
            clipped = [p for g in optimizer.param_groups for p in g["params"]]
            optimizer.register_step_pre_hook(
                lambda *_: torch.nn.utils.clip_grad_norm_(clipped, c.grad_clip)
            )
        scheduler, per_step = self._scheduler(optimizer, len(loader))
        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        best, best_epoch, bad_epochs = -math.inf, 0, 0
        rows = []
        progress = _Progress(c.max_epochs, c.progress, type(model).__name__)
        self.stopped_early_ = False
        try:
            for epoch in range(1, c.max_epochs + 1):
                model.train()
                t0 = time.perf_counter()
                sums: dict[str, float] = {}
                n_batches = 0
                for batch in loader:
                    batch = batch.to(device)
                    if c.train_corruptions:
                        from .corruptions import apply_input_level

                        batch = apply_input_level(c.train_corruptions, batch, corrupt_gen)
                    logs = model.training_step(batch, optimizer)
                    if scheduler is not None and per_step:
                        scheduler.step()
                    for k, v in logs.items():
                        sums[k] = sums.get(k, 0.0) + float(v)
                    n_batches += 1
                if scheduler is not None and not per_step:
                    scheduler.step()
                val = predict(
                    model, validation, (), batch_size=c.eval_batch_size, generator=torch.Generator().manual_seed(eval_gen_seed)
                )
                score = M.compute(monitor, val.y, val.scores, validation.task)
                row = {f"train_{k}": v / max(1, n_batches) for k, v in sums.items()}
                row.update(
                    epoch=epoch,
                    **{f"val_{monitor}": score},
                    lr=optimizer.param_groups[0]["lr"],
                    seconds=time.perf_counter() - t0,
                )
                rows.append(row)
                progress.update(epoch, {k: v for k, v in row.items() if k not in ("epoch", "seconds")})
                if not math.isfinite(score):
                    raise FloatingPointError(f"validation {monitor} is {score} at epoch {epoch}; lower the lr.")
                if sign * score > best:
                    best, best_epoch, bad_epochs = sign * score, epoch, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    bad_epochs += 1
                    if c.patience is not None and bad_epochs >= c.patience:
                        self.stopped_early_ = True
                        break
        finally:
            progress.close()
        model.load_state_dict(best_state)
        self.history_ = pd.DataFrame(rows)
        self.best_epoch_ = best_epoch
        self.best_score_ = sign * best
        if self.cache:
            buffer = io.BytesIO()
            torch.save(
                {
                    "model": model.state_dict(),
                    "history": self.history_.to_dict(orient="list"),
                    "best_epoch": self.best_epoch_,
                    "best_score": self.best_score_,
                    "stopped_early": self.stopped_early_,
                },
                buffer,
            )
            atomic_write(path, buffer.getvalue())
        return model.eval()


def fit(model: Method, train: MultimodalDataset, validation: MultimodalDataset, **config: Any) -> tuple[Method, Trainer]:
    """Shorthand: ``Trainer(TrainerConfig(**config)).fit(...)``; returns the model and the trainer."""
    cache = config.pop("cache", False)
    trainer = Trainer(TrainerConfig(**config), cache=cache)
    return trainer.fit(model, train, validation), trainer



def fit_seeds(
    method: str | Callable[[int], Method],
    train: MultimodalDataset,
    validation: MultimodalDataset,
    seeds: Iterable[int],
    *,
    method_options: Mapping[str, Any] | None = None,
    cache: bool = False,
    log: Callable[[str], None] | None = None,
    **config: Any,
) -> tuple[dict[int, Method], dict[int, Trainer]]:
    """Train one model per seed: the seed draws its initial weights and is the trainer's seed.

    >>> models, trainers = fit_seeds("Concat", train, validation, (0, 1), max_epochs=15)

    Args:
        method: a name of :func:`workbench.methods.available`, built by
            :func:`workbench.methods.build` with ``seed=s`` (initial weights drawn in a forked
            RNG seeded with ``s``) and ``method_options``; or a function ``seed -> model``.
        train, validation: the splits (model selection on ``validation`` only).
        seeds: the seeds, in order.
        method_options: the method's configuration fields (registry names only).
        cache: re-use checkpoints trained with the same config, model and data.
        log: called with one line per seed (best epoch, validation score, from cache).
        **config: :class:`TrainerConfig` fields; ``seed`` is set per model. A registered
            method's own trainer overrides (:attr:`~workbench.methods.MethodSpec.trainer`) come
            first, ``config`` on top.

    Returns:
        ``({seed: trained model}, {seed: its Trainer})`` (``history_``, ``best_epoch_``...).
    """
    if "seed" in config:
        raise TypeError("fit_seeds() sets the trainer's seed per model; pass `seeds` instead.")
    if isinstance(method, str):
        overrides = dict(_methods.spec(method).trainer or {})
        options = dict(method_options or {})
        name = method

        def build(s: int) -> Method:
            return _methods.build(name, train, seed=s, **options)

    else:
        if method_options:
            raise TypeError("fit_seeds(): method_options only apply to a registered method name.")
        overrides, build = {}, method
    models: dict[int, Method] = {}
    trainers: dict[int, Trainer] = {}
    metric = config.get("monitor") or overrides.get("monitor") or train.task.metric
    for s in seeds:
        s = int(s)
        trainer = Trainer(TrainerConfig(**{**overrides, **config, "seed": s}), cache=cache)
        models[s] = trainer.fit(build(s), train, validation)
        trainers[s] = trainer
        if log is not None:
            log(
                f"seed {s}: best epoch {trainer.best_epoch_}, validation {metric} "
                f"{trainer.best_score_:.3f}, from cache: {trainer.from_cache_}"
            )
    return models, trainers
