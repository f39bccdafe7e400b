"""A small C kernel for IPOT on the CPU, compiled on first use where a C compiler works (private).

The eager torch path of :func:`workbench.ot.ipot` sweeps the whole batch once per operation, so
each proximal iteration streams every plan through memory about five times. This kernel runs all
iterations of one problem while its plan and kernel stay in the core's cache, fusing
``P *= G`` with the first matrix-vector product: two passes over cache-resident data per
iteration. The arithmetic is the eager path's (same scalings, fold schedule, flush threshold and
stopping test), so results agree to rounding.

The shared object is built once per machine with ``$CC`` (default ``cc``) into
``$XDG_CACHE_HOME/workbench`` (default ``~/.cache/workbench``) and loaded through ctypes (which
releases the GIL); the batch is split over ``torch.get_num_threads()`` threads. Built with
``-fopenmp`` where the compiler has it, the split is an OpenMP loop: the object needs
``libgomp.so.1``, and in a process that has imported torch (always, here) the dynamic linker binds
that name to the ``libgomp.so.1`` torch already loaded, so the kernel runs on torch's own OpenMP
thread pool. With a separate pool (the fallback, a ``ThreadPoolExecutor``) torch's workers spin for
a few milliseconds after each parallel op and take a core from the kernel (about 4 ms of a 12 ms
call at 2 threads, measured). GNU OpenMP is not fork-safe: in a child made by ``fork()`` after the
parent ran a parallel region, the next parallel region waits forever for the parent's threads
(torch's own ops hang there too). A forked child therefore uses the Python pool; its torch ops
still need one thread (as in torch's DataLoader workers) or a child started by spawn/forkserver
(as workbench's sweeps are), whether or not this kernel ran in the parent. Without a compiler,
or with ``WORKBENCH_OT_NATIVE=0``, :func:`load` returns None and callers use the eager path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

from workbench.ot._checks import NON_FINITE_COST

_BODY = r"""
static long ipot_one_SFX(T* P, const T* G, const T* mu, const T* nu, long n, long m,
                         long n_outer, long n_inner, long k, T flush, T tiny, double tol, T* work) {
    T *row = work, *sa = row + n, *z = sa + n, *col = z + n, *sb = col + m, *w = sb + m, *y = w + m;
    for (long i = 0; i < n; i++) row[i] = 1;
    for (long j = 0; j < m; j++) { col[j] = 1; sb[j] = nu[j]; }
    long t = 0;
    while (t < n_outer) {
        t++;
        for (long s = 0; s < n_inner; s++) {
            for (long j = 0; j < m; j++) w[j] = col[j] * sb[j];
            long i = 0;
            for (; i + 4 <= n; i += 4) {  /* four rows at a time: independent sums in flight */
                T *P0 = P + i * m, *P1 = P0 + m, *P2 = P1 + m, *P3 = P2 + m;
                const T *G0 = G + i * m, *G1 = G0 + m, *G2 = G1 + m, *G3 = G2 + m;
                T a0 = 0, a1 = 0, a2 = 0, a3 = 0;
                if (s == 0) {
                    #pragma omp simd reduction(+:a0, a1, a2, a3)
                    for (long j = 0; j < m; j++) {
                        T q0 = P0[j] * G0[j], q1 = P1[j] * G1[j], q2 = P2[j] * G2[j], q3 = P3[j] * G3[j];
                        P0[j] = q0; P1[j] = q1; P2[j] = q2; P3[j] = q3;
                        a0 += q0 * w[j]; a1 += q1 * w[j]; a2 += q2 * w[j]; a3 += q3 * w[j];
                    }
                } else {
                    #pragma omp simd reduction(+:a0, a1, a2, a3)
                    for (long j = 0; j < m; j++) { a0 += P0[j] * w[j]; a1 += P1[j] * w[j]; a2 += P2[j] * w[j]; a3 += P3[j] * w[j]; }
                }
                T acc[4] = {a0, a1, a2, a3};
                for (long u = 0; u < 4; u++) {
                    T d = acc[u] * row[i + u];
                    sa[i + u] = mu[i + u] / (d > tiny ? d : tiny);
                    z[i + u] = row[i + u] * sa[i + u];
                }
            }
            for (; i < n; i++) {
                T* Pi = P + i * m;
                const T* Gi = G + i * m;
                T acc = 0;
                if (s == 0) {
                    #pragma omp simd reduction(+:acc)
                    for (long j = 0; j < m; j++) { T q = Pi[j] * Gi[j]; Pi[j] = q; acc += q * w[j]; }
                } else {
                    #pragma omp simd reduction(+:acc)
                    for (long j = 0; j < m; j++) acc += Pi[j] * w[j];
                }
                T d = acc * row[i];
                sa[i] = mu[i] / (d > tiny ? d : tiny);
                z[i] = row[i] * sa[i];
            }
            for (long j = 0; j < m; j++) y[j] = 0;
            i = 0;
            for (; i + 4 <= n; i += 4) {
                const T *P0 = P + i * m, *P1 = P0 + m, *P2 = P1 + m, *P3 = P2 + m;
                T z0 = z[i], z1 = z[i + 1], z2 = z[i + 2], z3 = z[i + 3];
                #pragma omp simd
                for (long j = 0; j < m; j++) y[j] += ((z0 * P0[j] + z1 * P1[j]) + (z2 * P2[j] + z3 * P3[j]));
            }
            for (; i < n; i++) {
                const T* Pi = P + i * m;
                T zi = z[i];
                #pragma omp simd
                for (long j = 0; j < m; j++) y[j] += zi * Pi[j];
            }
            for (long j = 0; j < m; j++) { T d = y[j] * col[j]; sb[j] = nu[j] / (d > tiny ? d : tiny); }
        }
        for (long i = 0; i < n; i++) row[i] *= sa[i];
        for (long j = 0; j < m; j++) col[j] *= sb[j];
        if (t % k == 0 || t == n_outer) {
            for (long i = 0; i < n; i++) {
                T* Pi = P + i * m;
                T ri = row[i];
                #pragma omp simd
                for (long j = 0; j < m; j++) { T q = (Pi[j] * ri) * col[j]; Pi[j] = q > flush ? q : 0; }
            }
            for (long i = 0; i < n; i++) row[i] = 1;
            for (long j = 0; j < m; j++) col[j] = 1;
            if (tol >= 0 && t < n_outer) {
                double err = 0;
                for (long j = 0; j < m; j++) y[j] = 0;
                for (long i = 0; i < n; i++) {
                    const T* Pi = P + i * m;
                    T acc = 0;
                    for (long j = 0; j < m; j++) { acc += Pi[j]; y[j] += Pi[j]; }
                    err += fabs((double)acc - (double)mu[i]);
                }
                for (long j = 0; j < m; j++) err += fabs((double)y[j] - (double)nu[j]);
                if (err <= tol) return -t;
            }
        }
    }
    return t;
}

/* The whole solver with its prologue (the eager path's reduce_cost, scale_of "max", kernel, threshold):
   C [B, n, m], valid [B, n, m] bytes or NULL; writes the plan into P. */
int ipot_full_SFX(const T* C, const unsigned char* valid, const T* mu, const T* nu, T* P, long b0, long b1,
                  long n, long m, double beta, long n_outer, long n_inner, long k, T flush, T tiny, double tol,
                  long* iters) {
    T* work = (T*)malloc(sizeof(T) * (3 * n + 4 * m + n * m));
    if (!work) return 1;
    T* G = work + 3 * n + 4 * m;
    T *r = work, *s = work + 3 * n;  /* row / column minima share the scratch vectors */
    for (long b = b0; b < b1; b++) {
        const T* Cb = C + b * n * m;
        const unsigned char* vb = valid ? valid + b * n * m : 0;
        T* Pb = P + b * n * m;
        T hi = 0, bad = 0;  /* bad: sum of c - c, NaN once an entry is NaN or inf */
        for (long j = 0; j < m; j++) s[j] = INFINITY;
        if (!vb) {  /* no padding: branch-free loops the compiler vectorizes */
            for (long i = 0; i < n; i++) {
                const T* Ci = Cb + i * m;
                T lo = INFINITY;
                #pragma omp simd reduction(min:lo) reduction(+:bad)
                for (long j = 0; j < m; j++) { lo = Ci[j] < lo ? Ci[j] : lo; bad += Ci[j] - Ci[j]; }
                r[i] = lo;
                #pragma omp simd
                for (long j = 0; j < m; j++) { T c = Ci[j] - lo; s[j] = c < s[j] ? c : s[j]; }
            }
            for (long i = 0; i < n; i++) {
                const T* Ci = Cb + i * m;
                T ri = r[i];
                #pragma omp simd reduction(max:hi)
                for (long j = 0; j < m; j++) { T c = (Ci[j] - ri) - s[j]; hi = c > hi ? c : hi; }
            }
        } else {
            for (long i = 0; i < n; i++) {
                T lo = INFINITY;
                for (long j = 0; j < m; j++) { T c = Cb[i * m + j]; if (vb[i * m + j]) { bad += c - c; if (c < lo) lo = c; } }
                r[i] = isfinite(lo) ? lo : 0;
            }
            for (long i = 0; i < n; i++)
                for (long j = 0; j < m; j++) {
                    T c = Cb[i * m + j] - r[i];
                    if (vb[i * m + j] && c < s[j]) s[j] = c;
                }
            for (long j = 0; j < m; j++) s[j] = isfinite(s[j]) ? s[j] : 0;
            for (long i = 0; i < n; i++)
                for (long j = 0; j < m; j++) {
                    T c = (Cb[i * m + j] - r[i]) - s[j];
                    if (vb[i * m + j] && c > hi) hi = c;
                }
        }
        if (bad != 0) { free(work); return 2; }  /* NaN or inf on a real entry */
        T scale = hi > flush ? hi : flush;
        T denom = (T)beta * scale;
        for (long i = 0; i < n; i++) {
            const T* Ci = Cb + i * m;
            T* Gi = G + i * m;
            T* Pi = Pb + i * m;
            T ri = r[i];
            #pragma omp simd
            for (long j = 0; j < m; j++) { T g = EXPF(-(((Ci[j] - ri) - s[j]) / denom)); Gi[j] = g > flush ? g : 0; Pi[j] = 1; }
            if (vb)
                for (long j = 0; j < m; j++) if (!vb[i * m + j]) { Gi[j] = 0; Pi[j] = 0; }
        }
        iters[b] = ipot_one_SFX(Pb, G, mu + b * n, nu + b * m, n, m, n_outer, n_inner, k, flush, tiny, tol,
                                work);
    }
    free(work);
    return 0;
}

/* ipot_full over problems [0, B) on `threads` OpenMP threads (the team of the calling thread: in a
   process that imported torch, torch's own libgomp and thread pool, see _native.py); status as ipot_full. */
int ipot_full_omp_SFX(const T* C, const unsigned char* valid, const T* mu, const T* nu, T* P, long B,
                      long n, long m, double beta, long n_outer, long n_inner, long k, T flush, T tiny, double tol,
                      long* iters, long threads) {
    int status = 0;
#ifdef _OPENMP
    #pragma omp parallel for schedule(dynamic, 1) num_threads(threads) reduction(max:status) if(threads > 1)
#endif
    for (long b = 0; b < B; b++) {
        int st = ipot_full_SFX(C, valid, mu, nu, P, b, b + 1, n, m, beta, n_outer, n_inner, k, flush, tiny, tol, iters);
        status = st > status ? st : status;
    }
    return status;
}

/* Problems [b0, b1) of a contiguous batch; iters[b] = iterations run (negative: stopped on tol). */
int ipot_SFX(T* P, const T* G, const T* mu, const T* nu, long b0, long b1, long n, long m,
             long n_outer, long n_inner, long k, T flush, T tiny, double tol, long* iters) {
    T* work = (T*)malloc(sizeof(T) * (3 * n + 4 * m));
    if (!work) return 1;
    for (long b = b0; b < b1; b++)
        iters[b] = ipot_one_SFX(P + b * n * m, G + b * n * m, mu + b * n, nu + b * m, n, m,
                                n_outer, n_inner, k, flush, tiny, tol, work);
    free(work);
    return 0;
}
"""

_EXP_F32 = r"""
/* exp for x <= 0 that the compiler can vectorize (Cody-Waite reduction, degree-6 polynomial; within
   2 ulp of expf): the kernel's only transcendental, one per entry. */
static inline float exp_f32(float x) {
    x = x < -87.0f ? -87.0f : x;
    float nf = (x * 1.44269504f + 12582912.0f) - 12582912.0f;  /* round to nearest: 1.5 * 2^23 */
    float rr = (x - nf * 0.693145752f) - nf * 1.42860677e-6f;
    float p = 1.0f + rr * (1.0f + rr * (0.5f + rr * (0.166666672f + rr * (0.0416666679f + rr * (0.00833333377f
              + rr * 0.00138888892f)))));
    union { int i; float f; } sc;
    sc.i = ((int)nf + 127) << 23;
    return p * sc.f;
}
"""

_PROBE = r"""
int ipot_has_omp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}
"""

SOURCE = (
    "#include <math.h>\n#include <stdlib.h>\n#include <string.h>\n" + _EXP_F32 + _PROBE
    + _BODY.replace("SFX", "f32").replace("T*", "float*").replace("T ", "float ").replace("(T)", "(float)")
    .replace("sizeof(T)", "sizeof(float)").replace("EXPF", "exp_f32")
    + _BODY.replace("SFX", "f64").replace("T*", "double*").replace("T ", "double ").replace("(T)", "(double)")
    .replace("sizeof(T)", "sizeof(double)").replace("EXPF", "exp")
)

_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
_pool: ThreadPoolExecutor | None = None
_pool_size = 0


def _machine_tag() -> str:
    tag = platform.machine() + platform.system()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return tag + line
    except OSError:
        pass
    return tag + platform.processor()


def _build() -> ctypes.CDLL | None:
    cc = os.environ.get("CC", "cc")
    if shutil.which(cc) is None:
        return None
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "workbench"
    for flags in (["-O3", "-march=native", "-fopenmp", "-fno-trapping-math"],
                  ["-O3", "-march=native", "-fopenmp-simd", "-fno-trapping-math"], ["-O3", "-fopenmp-simd"], ["-O2"]):
        key = hashlib.sha256((SOURCE + cc + " ".join(flags) + _machine_tag()).encode()).hexdigest()[:16]
        lib_path = cache / f"ipot-{key}.so"
        if not lib_path.exists():
            try:
                cache.mkdir(parents=True, exist_ok=True)
                with tempfile.TemporaryDirectory(dir=cache) as tmp:
                    src = Path(tmp) / "ipot.c"
                    src.write_text(SOURCE)
                    out = Path(tmp) / "ipot.so"
                    subprocess.run([cc, *flags, "-shared", "-fPIC", "-o", str(out), str(src), "-lm"],
                                   check=True, capture_output=True, timeout=120)
                    os.replace(out, lib_path)  # atomic: concurrent builders agree on the file
            except (OSError, subprocess.SubprocessError):
                continue
        try:
            lib = ctypes.CDLL(str(lib_path))
        except OSError:
            continue
        for sfx, ct in (("f32", ctypes.c_float), ("f64", ctypes.c_double)):
            fn = getattr(lib, f"ipot_{sfx}")
            fn.restype = ctypes.c_int
            fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_long] * 7 + [ct, ct, ctypes.c_double, ctypes.c_void_p]
            fn = getattr(lib, f"ipot_full_{sfx}")
            fn.restype = ctypes.c_int
            fn.argtypes = ([ctypes.c_void_p] * 5 + [ctypes.c_long] * 4 + [ctypes.c_double] + [ctypes.c_long] * 3
                           + [ct, ct, ctypes.c_double, ctypes.c_void_p])
            fn = getattr(lib, f"ipot_full_omp_{sfx}")
            fn.restype = ctypes.c_int
            fn.argtypes = ([ctypes.c_void_p] * 5 + [ctypes.c_long] * 3 + [ctypes.c_double] + [ctypes.c_long] * 3
                           + [ct, ct, ctypes.c_double, ctypes.c_void_p, ctypes.c_long])
        lib.ipot_has_omp.restype = ctypes.c_int
        return lib
    return None


def load() -> ctypes.CDLL | None:
    """The compiled kernel, or None (no compiler, build failed, or ``WORKBENCH_OT_NATIVE=0``)."""
    global _lib, _tried
    if os.environ.get("WORKBENCH_OT_NATIVE", "1") == "0":
        return None
    if not _tried:
        with _lock:
            if not _tried:
                try:
                    _lib = _build()
                finally:
                    _tried = True
    return _lib


_pool_pid = 0
_forked = False  # this process is a fork() child: its libgomp pool may be a copy of the parent's


def _mark_forked() -> None:
    global _forked
    _forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_mark_forked)


def _executor(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size, _pool_pid
    with _lock:
        if _pool is None or _pool_size != workers or _pool_pid != os.getpid():  # a forked child has no threads
            if _pool is not None and _pool_pid == os.getpid():
                _pool.shutdown(wait=False)
            _pool, _pool_size, _pool_pid = ThreadPoolExecutor(workers, thread_name_prefix="workbench-ipot"), workers, os.getpid()
        return _pool


def _raise_on(status) -> None:
    if 2 in status:
        raise ValueError(NON_FINITE_COST)
    if any(status):
        raise MemoryError("IPOT native kernel: out of memory for its work vectors.")


def _run(fn, B: int, head: tuple, tail: tuple) -> None:
    """Problems ``[0, B)`` split over the pool; raises on the kernel's status (1 memory, 2 non-finite cost)."""
    workers = max(1, min(B, torch.get_num_threads()))
    if workers == 1:
        status = [fn(*head, 0, B, *tail)]
    else:
        chunks = min(B, 4 * workers)  # a few chunks per thread balance problems that stop early
        bounds = [B * i // chunks for i in range(chunks + 1)]
        status = list(_executor(workers).map(lambda i: fn(*head, bounds[i], bounds[i + 1], *tail), range(chunks)))
    _raise_on(status)


def ipot_full_cpu(C: torch.Tensor, valid: torch.Tensor | None, mu: torch.Tensor, nu: torch.Tensor, *, beta: float,
                  n_outer: int, n_inner: int, k: int, flush: float, tiny: float, tol: float | None
                  ) -> tuple[torch.Tensor, int, bool]:
    """IPOT with ``cost_scale="max"`` from the raw cost ``C [B, n, m]``: (plan, n_iters, all stopped on tol)."""
    lib = load()
    assert lib is not None and C.device.type == "cpu"
    B, n, m = C.shape
    fn = lib.ipot_full_f32 if C.dtype == torch.float32 else lib.ipot_full_f64
    C, mu, nu = C.contiguous(), mu.contiguous(), nu.contiguous()
    v = None if valid is None else valid.contiguous().view(torch.uint8)
    P = torch.empty_like(C)
    iters = torch.zeros(B, dtype=torch.long)
    head = (C.data_ptr(), None if v is None else v.data_ptr(), mu.data_ptr(), nu.data_ptr(), P.data_ptr())
    tail = (n, m, float(beta), n_outer, n_inner, k, flush, tiny, -1.0 if tol is None else float(tol), iters.data_ptr())
    threads = max(1, min(B, torch.get_num_threads()))
    if threads > 1 and lib.ipot_has_omp() and not _forked:
        # OpenMP on the calling thread's team: torch's own libgomp (see the module docstring), so the
        # threads torch's last parallel op left spinning pick the problems up instead of competing.
        fn = lib.ipot_full_omp_f32 if C.dtype == torch.float32 else lib.ipot_full_omp_f64
        _raise_on([fn(*head, B, *tail, threads)])
    else:
        _run(fn, B, head, tail)
    return P, int(iters.abs().max()), bool((iters < 0).all())


def ipot_cpu(P: torch.Tensor, G: torch.Tensor, mu: torch.Tensor, nu: torch.Tensor, *, n_outer: int, n_inner: int,
             k: int, flush: float, tiny: float, tol: float | None) -> tuple[int, bool]:
    """Run IPOT in place on ``P [B, n, m]`` (initial plan) with kernel ``G``; (n_iters, all stopped on tol)."""
    lib = load()
    assert lib is not None and P.device.type == "cpu"
    B, n, m = P.shape
    fn = lib.ipot_f32 if P.dtype == torch.float32 else lib.ipot_f64
    G, mu, nu = G.contiguous(), mu.contiguous(), nu.contiguous()
    iters = torch.zeros(B, dtype=torch.long)
    args = (P.data_ptr(), G.data_ptr(), mu.data_ptr(), nu.data_ptr())
    tail = (n, m, n_outer, n_inner, k, flush, tiny, -1.0 if tol is None else float(tol), iters.data_ptr())
    _run(fn, B, args, tail)
    return int(iters.abs().max()), bool((iters < 0).all())
