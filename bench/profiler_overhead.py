"""profiler_overhead.py: what the profiler costs when it is off, and when it is on.

Runs the same training runs with two `scalpel` binaries — one built before the profiler existed
(BASELINE) and one with it (CURRENT) — interleaved, in one run on this machine, and prints the
median training time of each (the epochs' seconds from metrics.json: the step loop and
validation, without start-up, device checks and reports) and their ratio; then CURRENT with
--profile. The workloads are the
ones where a per-op cost shows most: an MLP on WDBC (tiny ops, so per-op overhead dominates) on
the CPU-Swift backend and on OpenCL, and the FCN on ECG5000 on the CPU-Swift backend.

    python3 bench/profiler_overhead.py BASELINE CURRENT [ROUNDS]
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

baseline, current = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
workloads = [
    ("mlp, WDBC, 300 epochs, cpu", ["train", "--data", "Data/wdbc.csv", "--epochs", "300", "--device", "cpu"]),
    ("mlp, WDBC, 60 epochs, cl", ["train", "--data", "Data/wdbc.csv", "--epochs", "60", "--device", "cl"]),
    ("fcn, ECG5000, 2 epochs, cpu", ["train", "--data", "Data/ECG5000_TRAIN.tsv", "--test", "Data/ECG5000_TEST.tsv",
                                     "--model", "fcn", "--epochs", "2", "--device", "cpu"]),
]


def run(binary, arguments):
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([binary] + arguments + ["--out", out + "/run"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, SCALPEL_PROFILE="0"))
        with open(out + "/run/metrics.json") as f:
            return sum(epoch["seconds"] for epoch in json.load(f)["history"])


print(f"| workload | before the profiler (s) | profiler off (s) | ratio | profiler on (s) | ratio |")
print(f"|---|---|---|---|---|---|")
for name, arguments in workloads:
    times = {"base": [], "off": [], "on": []}
    run(current, arguments)  # warm the program and schedule caches
    for _ in range(rounds):
        times["base"].append(run(baseline, arguments))
        times["off"].append(run(current, arguments))
        times["on"].append(run(current, arguments + ["--profile"]))
    base, off, on = (statistics.median(times[k]) for k in ("base", "off", "on"))
    print(f"| {name} | {base:.3f} [{min(times['base']):.3f}–{max(times['base']):.3f}] | {off:.3f} [{min(times['off']):.3f}–{max(times['off']):.3f}] "
          f"| {off / base:.3f} | {on:.3f} | {on / base:.3f} |", flush=True)
