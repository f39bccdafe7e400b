"""Overhead of the WMA regulariser per training step, as a ratio of the step time.

Times ``training_step`` of the same one-tower transformer with ``alpha=0`` (the baseline: no OT)
and with WMA (IPOT, 50 iterations, on every modality pair) and prints
``overhead = (t_wma - t_baseline) / t_wma``, the share of a WMA step spent on the regulariser.
Target: below 15% at the embedded settings (``easy_vqa`` token shapes, batch 64, the card's
2-layer 8-head transformer).

Usage::

    python bench/wma_overhead.py [--batch-size 64] [--d-model 64] [--steps 30] [--device auto]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from workbench.data.base import MultimodalDataset, Task
from workbench.methods.wma import WMA, WMAConfig
from workbench.models.transformer import OneTowerTransformer, TransformerConfig
from workbench.training import resolve_device


def easy_vqa_like(
    n: int, generator: torch.Generator, text_dim=384, image_dim=320, n_patches=49
) -> MultimodalDataset:
    """Random data with easy_vqa's token shapes (MiniLM question tokens, 7x7 patch tokens)."""
    lengths = torch.randint(6, 14, (n,), generator=generator)
    text = [torch.randn(int(L), text_dim, generator=generator) for L in lengths]
    image = torch.randn(n, n_patches, image_dim, generator=generator)
    y = torch.randint(0, 13, (n,), generator=generator)
    return MultimodalDataset(
        "easy_vqa_like", {"text": text, "image": image}, y, Task("multiclass", 13, "accuracy")
    )


def load_data(batch_size: int, generator: torch.Generator) -> MultimodalDataset:
    try:  # the real embedded token features when they are available
        from workbench import data

        ds = data.load("easy_vqa", "train", form="tokens", subset="smoke", progress=False)
        if len(ds) >= batch_size:
            return ds
    except Exception as err:  # noqa: BLE001 - fall back to the same shapes
        print(
            f"(easy_vqa tokens not available: {type(err).__name__}; using random data of its shapes)"
        )
    return easy_vqa_like(4 * batch_size, generator)


def time_steps(models: dict, batches, steps: int, device) -> dict[str, float]:
    """Median seconds per ``training_step`` of each model, steps interleaved across the models
    so that a change in machine load hits all of them alike."""
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-4) for k, m in models.items()}
    for k, m in models.items():
        m.train()
        for b in batches[:3]:  # warm-up (and the WMA basis)
            m.training_step(b, opts[k])
    times: dict[str, list[float]] = {k: [] for k in models}
    for i in range(steps):
        for k, m in models.items():
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            m.training_step(batches[i % len(batches)], opts[k])
            if device.type == "cuda":
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main(argv=None) -> float:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--n-outer", type=int, default=50)
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (0: leave as is; 1 avoids thread-barrier stalls on a shared CPU)",
    )
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    g = torch.Generator().manual_seed(0)
    ds = load_data(args.batch_size, g)
    batches = [b.to(device) for b in ds.loader(args.batch_size, drop_last=True)]
    cfg = TransformerConfig.for_dataset(ds, d_model=args.d_model, n_layers=2, n_heads=8)
    models = {}
    for name, alpha in (("baseline", 0.0), ("wma", 1.0)):
        torch.manual_seed(0)
        models[name] = WMA(
            OneTowerTransformer(cfg), WMAConfig(alpha=alpha, beta=2.0, n_outer=args.n_outer)
        ).to(device)
    times = time_steps(models, batches, args.steps, device)
    overhead = (times["wma"] - times["baseline"]) / times["wma"]
    print(
        f"device={device} batch={args.batch_size} d_model={args.d_model} tokens={tuple(batches[0].inputs[m].shape[1] for m in ds.modalities)} "
        f"ipot n_outer={args.n_outer}"
    )
    print(f"step time: baseline {1e3 * times['baseline']:.1f} ms, WMA {1e3 * times['wma']:.1f} ms")
    print(f"WMA regulariser overhead: {100 * overhead:.1f}% of the step time (target < 15%)")
    return overhead


if __name__ == "__main__":
    main()
