"""Benchmark of workbench.ot against its peers (prints a table; never asserts timings).

Run: ``python bench/ot_bench.py`` (2 CPU threads, float32 for IPOT, float64 for FGW).
Sections: IPOT on ViLT-shaped token sets and 200x200 (vs a loop of POT's exact ``ot.emd2``,
POT's batched log-Sinkhorn at matched accuracy and a plain batched IPOT); the FGW barycenter of
6 modalities x 1000 codes (vs POT's ``fgw_barycenters``). Peak memory is the growth of the
process' resident set (VmHWM) during one separate call, Linux/glibc only. Numbers on a shared machine are noisy.

IPOT's floor: an iteration must at least multiply the plan by the kernel and take two
matrix-vector products, 5 flops per entry, and a streaming implementation moves 16 bytes per
float32 entry (read kernel and plan, write the plan, read it again). The floor is
``iterations x bytes / bandwidth`` with the bandwidth measured here (a large copy); the printed
fraction is floor / time, so a kernel that keeps each problem in cache can exceed 100%.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
import ot
import ot.batch
import torch

from workbench.ot import (
    cosine_cost,
    euclidean_cost,
    fgw,
    fgw_barycenter,
    ipot,
    kmeans_init,
    pot_alpha,
    squared_euclidean_cost,
)


def _rss_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


_M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def _mmap_threshold(nbytes: int) -> bool:
    """Set glibc's mmap threshold (False where mallopt is unavailable)."""
    try:
        import ctypes

        return bool(ctypes.CDLL("libc.so.6").mallopt(_M_MMAP_THRESHOLD, int(nbytes)))
    except (OSError, AttributeError):
        return False


def measure(fn, repeat: int):
    """Median wall time (s) over ``repeat`` runs, peak RSS growth (MiB) of one run, last output.

    Timed runs use a large mmap threshold (freed buffers are reused from the heap, as in a
    training loop); only the separate peak-memory run serves every buffer above 64 KiB by mmap,
    so that the resident-set high-water mark tracks the call's own allocations. Serving all
    buffers by mmap during the timed runs would add page faults and distort the times.
    """
    fn()  # warm-up
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    peak = None
    if _mmap_threshold(64 * 1024):
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")  # reset VmHWM to the current RSS
            before = _rss_kb("VmRSS:")
            fn()
            peak = (_rss_kb("VmHWM:") - before) / 1024
        except OSError:
            pass
        finally:
            _mmap_threshold(32 * 1024 * 1024)
    return statistics.median(times), peak, out


def paired(ref, fn, rounds: int, warm: bool = True):
    """Median and quartiles of per-round speed-ups ref_time / fn_time, the two run back to back.

    On a shared machine the load moves between rounds; pairing the calls within a round keeps
    the ratio meaningful where separate medians are not. ``warm=False`` skips the untimed
    warm-up pair (calls of seconds, already warmed by an earlier run).
    """
    if warm:
        ref(), fn()
    ratios = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        ref()
        t1 = time.perf_counter()
        fn()
        t2 = time.perf_counter()
        ratios.append((t1 - t0) / (t2 - t1))
    q = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else ratios * 3
    return statistics.median(ratios), q[0], q[2]


def plain_ipot(C, beta=0.5, n_outer=50, n_inner=1):
    """The reference algorithm as in the ViLT code, without engineering (uniform marginals)."""
    B, n, m = C.shape
    sigma = torch.ones(B, m, 1, dtype=C.dtype) / m
    T = torch.ones(B, n, m, dtype=C.dtype)
    A = torch.exp(-C / beta)
    for _ in range(n_outer):
        Q = A * T
        for _ in range(n_inner):
            delta = 1 / (n * Q.bmm(sigma))
            sigma = 1 / (m * Q.transpose(1, 2).bmm(delta))
        T = delta * Q * sigma.transpose(1, 2)
    return (C * T).sum((1, 2))


def memory_bandwidth(mib: int = 256) -> float:
    """Bytes per second of a large copy (read + write), best of five."""
    x = torch.empty(mib * 2**18, dtype=torch.float32).fill_(1.0)  # 256 MiB by default, far beyond the caches
    y = torch.empty_like(x)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        y.copy_(x)
        best = min(best, time.perf_counter() - t)
    return 2 * x.numel() * 4 / best


def blas_report() -> str:
    try:
        from threadpoolctl import threadpool_info

        libs = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}, {i.get('num_threads')} threads)"
                for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        libs = []
    mkl = "MKL" if torch.backends.mkl.is_available() else "no MKL"
    return f"numpy BLAS: {'; '.join(libs) or 'unknown'}; torch: {mkl}"


def native(on: bool):
    """Switch IPOT's C kernel (workbench/ot/_native.py) on or off for the next calls."""
    os.environ["WORKBENCH_OT_NATIVE"] = "1" if on else "0"


def token_costs(B, n, m, d=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(B, n, d, generator=g)
    Y = torch.randn(B, m, d, generator=g) + 0.5 * torch.randn(B, 1, d, generator=g)
    X = X + 0.5 * Y[:, : min(n, m)].mean(1, keepdim=True)
    return cosine_cost(X, Y)


def row(name, t, peak, err, ref_t):
    peak_s = "n/a" if peak is None else f"{peak:7.1f}"
    err_s = "" if err is None else f"{100 * err:8.3f}%"
    print(f"  {name:<44s} {1000 * t:9.1f} ms {ref_t / t:7.2f}x {err_s:>10s} {peak_s:>9s} MiB")


def bench_ipot(B, n, m, repeat, bandwidth, with_sinkhorn=True):
    C = token_costs(B, n, m)
    Cn = C.double().numpy()
    print(f"\nIPOT, batch {B} x ({n} x {m}), cosine cost, float32  [time, speed-up vs exact loop, median rel. error, peak]")
    t_ex, p_ex, ex = measure(lambda: np.array([ot.emd2([], [], c) for c in Cn]), repeat)
    rel = lambda v: float(np.median(np.abs(np.asarray(v, dtype=np.float64) - ex) / ex))  # noqa: E731
    row("exact: loop of POT ot.emd2 (float64)", t_ex, p_ex, 0.0, t_ex)
    errors = {}
    from workbench.ot import _native

    kernel = "C kernel" if _native.load() is not None else "eager, no C compiler"
    for it in (50, 30, 20):
        t, p, res = measure(lambda it=it: ipot(C, n_outer=it), repeat)
        errors[it] = rel(res.value)
        row(f"workbench ipot(n_outer={it}){' [default]' if it == 50 else ''}", t, p, errors[it], t_ex)
        if it == 50:
            floor = 50 * B * n * m * 16 / bandwidth
            print(f"    {kernel}; floor {1000 * floor:.2f} ms (50 its x {B * n * m * 5 / 1e6:.1f} MFLOP, "
                  f"{B * n * m * 16 / 1e6:.1f} MB at {bandwidth / 1e9:.1f} GB/s): {100 * floor / t:.0f}% of the floor")
    exact_loop = lambda: [ot.emd2([], [], c) for c in Cn]  # noqa: E731
    med, lo, hi = paired(exact_loop, lambda: ipot(C), 3 * repeat)
    print(f"  default ipot paired with the exact loop, {3 * repeat} rounds: speed-up {med:.2f}x (quartiles {lo:.2f}-{hi:.2f})")
    native(False)
    t, p, res = measure(lambda: ipot(C), repeat)
    row("workbench ipot, eager torch path (no C kernel)", t, p, rel(res.value), t_ex)
    native(True)
    t, p, v = measure(lambda: plain_ipot(C), repeat)
    row("plain batched IPOT (reference, n_outer=50)", t, p, rel(v), t_ex)
    if not with_sinkhorn:
        return
    # POT's log-domain Sinkhorn, shrinking reg until it is as accurate as the default IPOT (or
    # too slow to matter); one timed run each, since a single call takes seconds.
    for reg in (0.01, 0.005, 0.002):
        t, p, res = measure(lambda reg=reg: ot.batch.solve_batch(C, reg=reg, method="log_sinkhorn", max_iter=1000, tol=1e-5), 1)
        err = rel(res.value_linear)
        row(f"POT solve_batch log_sinkhorn reg={reg}", t, p, err, t_ex)
        if err <= errors[50] or t > 30.0:
            break
    res = ot.batch.solve_batch(C, reg=0.01, method="proximal", max_iter=50)
    print(f"  (POT 0.9.7 solve_batch method='proximal': median rel. error {100 * rel(res.value_linear):.1f}% - known sign error, not a baseline)")


def bench_barycenter(n_mod, n_pts, d, n_b, repeat, pair_rounds=3, rows="all"):
    g = torch.Generator().manual_seed(1)
    centres = 3 * torch.randn(10, d, generator=g, dtype=torch.float64)
    codes = []
    for _ in range(n_mod):
        labels = torch.randint(10, (n_pts,), generator=g)
        rot = torch.linalg.qr(torch.eye(d, dtype=torch.float64) + 0.3 * torch.randn(d, d, generator=g, dtype=torch.float64))[0]
        codes.append((centres[labels] + torch.randn(n_pts, d, generator=g, dtype=torch.float64)) @ rot)
    Cs = [euclidean_cost(c, c).numpy() for c in codes]
    Z0 = kmeans_init(codes, n_b, generator=torch.Generator().manual_seed(0))
    A0 = euclidean_cost(Z0, Z0).numpy()
    alpha = 0.5

    def objective(Z, S):  # one evaluation for both: sum_m lambda_m FGW from the product coupling
        Z, S = torch.as_tensor(Z), torch.as_tensor(S)
        return float(np.mean([fgw(squared_euclidean_cost(Z, c), S, torch.as_tensor(Cm), alpha=alpha).value for c, Cm in zip(codes, Cs)]))

    print(f"\nFGW barycenter, {n_mod} modalities x {n_pts} codes, d={d}, N_B={n_b}, alpha={alpha} (POT alpha={pot_alpha(alpha)}), same k-means init, float64")
    print("  [time, speed-up vs POT, objective rel. to POT's (same evaluation), peak]")
    def pot():
        return ot.gromov.fgw_barycenters(n_b, [c.numpy() for c in codes], Cs, alpha=pot_alpha(alpha), init_X=Z0.numpy(), init_C=A0, log=False)

    ts, out = [], None
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        out = pot()
        ts.append(time.perf_counter() - t)
    t_pot = statistics.median(ts)
    obj_pot = objective(*out)
    print(f"  {'POT fgw_barycenters (log=False)':<44s} {t_pot:9.2f} s  {1.0:6.2f}x  objective {obj_pot:.5g}")
    entries = (
        ("workbench fgw_barycenter(structure='free')", {"structure": "free"}, repeat),
        ("  same, tol=1e-3 (stops at POT's objective)", {"structure": "free", "tol": 1e-3}, repeat),
        ("  same, tol=1e-3, fgw_tol=1e-4", {"structure": "free", "tol": 1e-3, "fgw_tol": 1e-4}, repeat),
        ("  same, tol=1e-3, fgw_max_iter=1 (1 CG step)", {"structure": "free", "tol": 1e-3, "fgw_max_iter": 1}, repeat),
        ("  same, linear='ipot' (on the device)", {"structure": "free", "linear": "ipot"}, 0),
        ("workbench fgw_barycenter (paper, A=d(Z_B))", {"structure": "features"}, repeat),
    )
    if rows == "paired":  # only the rows paired with POT, each timed by its pairing alone
        entries = tuple((label, kw, -1) for label, kw, _ in entries[:4])
    for label, kw, rep in entries:
        if rep < 0:
            res = fgw_barycenter(codes, n_b, alpha=alpha, init=Z0, **kw)
            obj = objective(res.codes, res.structure)
            med, lo, hi = paired(pot, lambda kw=kw: fgw_barycenter(codes, n_b, alpha=alpha, init=Z0, **kw), pair_rounds,
                                 warm=False)
            print(f"  {label:<44s} objective {obj:.5g} ({100 * (obj - obj_pot) / obj_pot:+.2f}%), {res.n_iters} outer its")
            print(f"    paired with POT, {pair_rounds} rounds: speed-up {med:.2f}x (quartiles {lo:.2f}-{hi:.2f})")
            continue
        if rep:
            t, p, res = measure(lambda kw=kw: fgw_barycenter(codes, n_b, alpha=alpha, init=Z0, **kw), rep)
        else:  # slow on a CPU: one run, no peak
            t0 = time.perf_counter()
            res = fgw_barycenter(codes, n_b, alpha=alpha, init=Z0, **kw)
            t, p = time.perf_counter() - t0, None
        obj = objective(res.codes, res.structure)
        rel = (obj - obj_pot) / obj_pot
        peak = "n/a" if p is None else f"{p:.1f} MiB"
        print(f"  {label:<44s} {t:9.2f} s  {t_pot / t:6.2f}x  objective {obj:.5g} ({100 * rel:+.2f}%), {res.n_iters} outer its, peak {peak}")
        if rep and kw.get("structure") == "free" and pair_rounds:
            med, lo, hi = paired(pot, lambda kw=kw: fgw_barycenter(codes, n_b, alpha=alpha, init=Z0, **kw), pair_rounds)
            print(f"    paired with POT, {pair_rounds} rounds: speed-up {med:.2f}x (quartiles {lo:.2f}-{hi:.2f})")


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per IPOT entry (median)")
    parser.add_argument("--quick", action="store_true", help="smaller barycenter problem, one run")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny problems, one run and one paired round each: proves that every row runs (the test "
                             "suite uses it); its timings mean nothing")
    parser.add_argument("--only", choices=("ipot", "barycenter"), default=None, help="run one section")
    parser.add_argument("--no-sinkhorn", action="store_true", help="skip POT's slow batched log-Sinkhorn rows")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads and numpy's BLAS threads (POT's network simplex uses one)")
    parser.add_argument("--pair-rounds", type=int, default=3, help="rounds of the barycenter rows paired with POT")
    parser.add_argument("--bary-rows", choices=("all", "paired"), default="all",
                        help="'paired': only the exact and early-stopped rows, timed by their pairing with POT (shorter)")
    args = parser.parse_args()
    _mmap_threshold(32 * 1024 * 1024)  # see measure()
    torch.set_num_threads(args.threads)
    try:  # the peer's numpy BLAS gets the same number of threads as torch
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads, user_api="blas")
    except ImportError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, POT {ot.__version__}, threads {torch.get_num_threads()}, "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    print(blas_report())
    if args.smoke:
        print("SMOKE RUN: tiny problems, one run each; the timings mean nothing")
    if args.only != "barycenter":
        mib = 16 if args.smoke else 256
        bw = memory_bandwidth(mib)
        print(f"memory bandwidth ({mib} MiB copy): {bw / 1e9:.1f} GB/s")
        if args.smoke:
            bench_ipot(8, 6, 9, 1, bw, not args.no_sinkhorn)
        else:
            bench_ipot(128, 40, 145, args.repeat, bw, not args.no_sinkhorn)
            bench_ipot(64, 200, 200, args.repeat, bw, not args.no_sinkhorn)
    if args.only == "ipot":
        return
    if args.smoke:
        bench_barycenter(2, 30, 4, 10, 1, pair_rounds=1, rows=args.bary_rows)
    elif args.quick:
        bench_barycenter(3, 200, 16, 50, 1)
    else:
        bench_barycenter(6, 1000, 64, 200, 1, args.pair_rounds, args.bary_rows)


if __name__ == "__main__":
    main()
