"""timing.py: the one timing rule of the peer scripts, the same as `scalpel bench`'s:
a few warm-up calls, then SAMPLES samples, each repeating the call until it lasts at least
0.2 s; returns per-call milliseconds (median, min, max)."""
import time


def timed(step, samples, warmup=3):
    for _ in range(warmup):
        step()
    t = time.perf_counter()
    step()
    one = time.perf_counter() - t
    inner = max(1, int(0.2 / max(one, 1e-6)))
    ms = []
    for _ in range(samples):
        t = time.perf_counter()
        for _ in range(inner):
            step()
        ms.append((time.perf_counter() - t) * 1e3 / inner)
    ms.sort()
    return ms[len(ms) // 2], ms[0], ms[-1]
