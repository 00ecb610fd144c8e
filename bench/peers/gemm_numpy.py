"""gemm_numpy.py: fp32 GEMM with numpy (its bundled OpenBLAS), for side-by-side runs with
`scalpel bench gemm`.

    python3 gemm_numpy.py SAMPLES M N K TA TB [M N K TA TB ...]

Transposed operands are .T views, so BLAS gets the transpose flag and copies nothing. Each
sample repeats the call until it lasts >= 0.2 s; one JSON object per shape, with the BLAS
that ran (threadpoolctl) on the first line.
"""
import json
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info

samples = int(sys.argv[1])
values = list(map(int, sys.argv[2:]))
rng = np.random.default_rng(0)
print(json.dumps({"blas": [{k: p.get(k) for k in ("internal_api", "version", "architecture", "num_threads")}
                           for p in threadpool_info()], "numpy": np.__version__}))
for s in range(0, len(values), 5):
    m, n, k, ta, tb = values[s:s + 5]
    A = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(np.float32)
    B = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(np.float32)
    a, b = (A.T if ta else A), (B.T if tb else B)
    C = np.empty((m, n), np.float32)
    np.matmul(a, b, out=C)
    t = time.perf_counter(); np.matmul(a, b, out=C); one = time.perf_counter() - t
    inner = max(1, int(0.2 / max(one, 1e-7)))
    ms = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(inner):
            np.matmul(a, b, out=C)
        ms.append((time.perf_counter() - t) * 1e3 / inner)
    exact = a.astype(np.float64) @ b.astype(np.float64)
    magnitude = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    err = float(np.max(np.abs(C - exact) / np.maximum(magnitude, 1e-30)))
    ms.sort()
    print(json.dumps({"m": m, "n": n, "k": k, "transA": ta, "transB": tb, "msMedian": ms[len(ms) // 2],
                      "msMin": ms[0], "msMax": ms[-1], "maxRelError": err}), flush=True)
