"""Milliseconds per training step of MWAE+OTM and the share of its OT mixer (prints; never asserts).

Run: ``python bench/otm_step.py`` (CPU, 2 threads; ``--device cuda`` where one is present).
One step = encode 3 views (batch 256, latent 16), the mixer (FGW barycenter of Algorithm 2 and
the stochastic mix of Eq. 3, :class:`workbench.methods.otm.Mixer`), the losses of Eq. 4-5,
backward and an Adam update. The mixer's time is measured inside the same steps (a timer around
``model.mixer``), so the share is of the step it belongs to. A second table times the mixer's
barycenter alone with each linear step of the conditional gradient (``linear=``), at the sizes
the mixer sees. Numbers on a shared machine are noisy: the script says what the load was.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from workbench import ot


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_step(device, steps, batch, latent, dims, profiler=None):
    from workbench.methods.otm import MWAE, OTMConfig

    cfg = OTMConfig(latent_dim=latent)
    model = MWAE({f"view{i}": d for i, d in enumerate(dims)}, cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    views = {f"view{i}": torch.randn(batch, d, generator=g).to(device) for i, d in enumerate(dims)}
    mixer_times: list[float] = []
    inner = model.mixer.forward

    def timed(*a, **kw):
        _sync(device)
        t = time.perf_counter()
        out = inner(*a, **kw)
        _sync(device)
        mixer_times.append(time.perf_counter() - t)
        return out

    model.mixer.forward = timed  # instance attribute: nn.Module.__call__ finds it
    step_times = []
    for i in range(steps + 2):  # two warm-up steps
        _sync(device)
        t = time.perf_counter()
        loss, _, _ = model.loss_terms(views)
        opt.zero_grad()
        loss.backward()
        opt.step()
        _sync(device)
        if i >= 2:
            step_times.append(time.perf_counter() - t)
        if i == 1 and profiler is not None:
            profiler.enable()  # the timed steps only
    if profiler is not None:
        profiler.disable()
    mix = mixer_times[2:]
    return statistics.median(step_times), statistics.median(mix), cfg


def bench_mixer_linear(device, batch, latent, n_views, cfg, repeat):
    g = torch.Generator().manual_seed(1)
    codes = [torch.randn(batch, latent, generator=g).to(device) for _ in range(n_views)]
    out = {}
    for linear in ("exact", "ipot", "sinkhorn"):
        times, res = [], None
        for i in range(repeat + 1):
            _sync(device)
            t = time.perf_counter()
            res = ot.fgw_barycenter(codes, batch, alpha=cfg.fgw_alpha, generator=torch.Generator().manual_seed(0),
                                    n_outer=cfg.barycenter_iters, fgw_max_iter=cfg.fgw_iters, init=cfg.barycenter_init,
                                    linear=linear)
            _sync(device)
            if i:
                times.append(time.perf_counter() - t)
        out[linear] = (statistics.median(times), res.objective)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=10, help="timed steps (median)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-linear", action="store_true", help="skip the second table (the barycenter per linear step)")
    parser.add_argument("--profile", action="store_true",
                        help="also print cProfile's top 18 entries (by own time) over the timed steps, per step")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(args.threads)
    batch, latent, dims = 256, 16, (128, 96, 64)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        blas = []
    print(f"numpy BLAS: {'; '.join(blas) or 'unknown'}; torch: {'MKL' if torch.backends.mkl.is_available() else 'no MKL'}")
    step, mixer, cfg = bench_step(device, args.steps, batch, latent, dims)
    print(f"\nMWAE+OTM training step, 3 views (dims {dims}), batch {batch}, latent {latent}, N_B={batch}, "
          f"{cfg.barycenter_iters} outer x {cfg.fgw_iters} CG its (OTMConfig defaults)")
    print(f"  step {1000 * step:8.1f} ms   mixer {1000 * mixer:8.1f} ms   mixer share {100 * mixer / step:5.1f}%  "
          f"(target < 50%)")
    if args.profile:  # a second run of the same steps under the profiler (the table above is unprofiled)
        import cProfile
        import pstats

        prof = cProfile.Profile()
        bench_step(device, args.steps, batch, latent, dims, prof)
        print(f"\ncProfile of a second run, its {args.steps} timed steps (own time; divide by {args.steps} for one step):")
        pstats.Stats(prof).sort_stats("tottime").print_stats(18)
    if args.no_linear:
        return
    print("\nThe mixer's barycenter alone, per linear step of the conditional gradient (same sizes)")
    ref = None
    for linear, (t, obj) in bench_mixer_linear(device, batch, latent, len(dims), cfg, max(3, args.steps // 2)).items():
        ref = obj if ref is None else ref
        print(f"  linear={linear!r:<11s} {1000 * t:8.1f} ms   objective {obj:.5g} ({100 * (obj - ref) / abs(ref):+.2f}% vs exact)")


if __name__ == "__main__":
    main()
