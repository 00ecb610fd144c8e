"""gemm_peers.py: Scalpel's GEMM beside OpenBLAS (numpy) and CLBlast (on the same OpenCL
device), in one run on one machine, with 2 threads and with 1.

    python3 bench/gemm_peers.py [--samples 5] [--threads 2 1] [--markdown FILE]

Run through bench/gemm_peers.sh, which installs the peers and builds both drivers. Before each
command it waits (up to 60 s) for the machine to be quiet and records the CPU time other
processes took during the command ("foreign load", in cores): figures with a foreign load
above ~0.2 were disturbed. Prints a Markdown table with GFLOP/s (median [min-max]) and the
ratios that matter, and writes it to --markdown.
"""
import argparse
import datetime
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHAPES = [(256, 256, 256, 0, 0), (512, 512, 512, 0, 0), (1024, 1024, 1024, 0, 0), (2048, 2048, 2048, 0, 0),
          (256, 512, 784, 0, 0), (784, 512, 256, 1, 0), (256, 784, 512, 0, 1)]


def busy_ticks():
    fields = list(map(int, open("/proc/stat").readline().split()[1:9]))
    return sum(fields) - fields[3] - fields[4]


def run(command, env):
    """Runs command after waiting for a quiet machine; returns (stdout, foreign load in cores)."""
    hz = os.sysconf("SC_CLK_TCK")
    cores = os.cpu_count() or 1
    deadline = time.time() + 60
    while True:
        b0 = busy_ticks(); time.sleep(1); b1 = busy_ticks()
        if (b1 - b0) / hz / cores < 0.1 or time.time() > deadline:
            break
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN); b0 = busy_ticks(); w0 = time.time()
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.time() - w0; b1 = busy_ticks(); r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout, max(0.0, ((b1 - b0) / hz - own) / wall)


def gflops(shape, ms):
    m, n, k = shape[:3]
    return 2.0 * m * n * k / (ms * 1e-3) / 1e9


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    parser.add_argument("--markdown", default=None)
    parser.add_argument("--scalpel", default=os.path.join(ROOT, ".build/release/scalpel"))
    parser.add_argument("--clblast", default=os.path.join(ROOT, "bench/peers/gemm_clblast"))
    args = parser.parse_args()
    shape_args = [str(v) for s in SHAPES for v in s]
    scalpel_shapes = [f"{m}x{n}x{k}:{'T' if ta else 'N'}{'T' if tb else 'N'}" for m, n, k, ta, tb in SHAPES]
    lines = []
    for threads in args.threads:
        env = dict(os.environ)
        for name in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "SCALPEL_DEVICE"):
            env.pop(name, None)
        env.update(SCALPEL_THREADS=str(threads), POCL_MAX_PTHREAD_COUNT=str(threads),
                   OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
        results = {}
        json_path = f"/tmp/scalpel-gemm-{os.getpid()}.json"
        _, load = run([args.scalpel, "bench", "gemm", "--samples", str(args.samples), "--json", json_path,
                       "--shapes", *scalpel_shapes], env)
        for r in json.load(open(json_path)):
            s = r["shape"]
            key = (s["m"], s["n"], s["k"], int(s["transA"]), int(s["transB"]))
            name = "Scalpel Swift" if r["contender"].startswith("cpu-swift") else "Scalpel OpenCL"
            results[(name, key)] = (r["msMedian"], r["msMin"], r["msMax"], r["maxRelError"], load)
        os.remove(json_path)
        out, load = run([sys.executable, os.path.join(ROOT, "bench/peers/gemm_numpy.py"), str(args.samples), *shape_args], env)
        blas = json.loads(out.splitlines()[0])
        for line in out.splitlines()[1:]:
            r = json.loads(line)
            results[("OpenBLAS", (r["m"], r["n"], r["k"], r["transA"], r["transB"]))] = (r["msMedian"], r["msMin"], r["msMax"], r["maxRelError"], load)
        out, load = run([args.clblast, str(args.samples), *shape_args], env)
        for line in out.splitlines():
            r = json.loads(line)
            results[("CLBlast", (r["m"], r["n"], r["k"], r["transA"], r["transB"]))] = (r["msMedian"], r["msMin"], r["msMax"], r["maxRelError"], load)

        names = ["OpenBLAS", "CLBlast", "Scalpel Swift", "Scalpel OpenCL"]
        lines.append(f"\n### {threads} thread{'s' if threads > 1 else ''} "
                     f"(SCALPEL_THREADS, POCL_MAX_PTHREAD_COUNT, OPENBLAS_NUM_THREADS = {threads})\n")
        lines.append("| M×N×K (op) | " + " | ".join(names) + " | Swift ÷ OpenBLAS | OpenCL ÷ OpenBLAS | OpenCL ÷ CLBlast |")
        lines.append("|---|" + "---|" * (len(names) + 3))
        worst_load = 0.0
        for shape in SHAPES:
            m, n, k, ta, tb = shape
            cells, med = [], {}
            for name in names:
                ms_med, ms_min, ms_max, err, load = results[(name, shape)]
                worst_load = max(worst_load, load)
                med[name] = gflops(shape, ms_med)
                flag = " (wrong)" if err > 1e-4 else ""
                cells.append(f"{med[name]:.1f} [{gflops(shape, ms_max):.1f}–{gflops(shape, ms_min):.1f}]{flag}")
            ratios = [med["Scalpel Swift"] / med["OpenBLAS"], med["Scalpel OpenCL"] / med["OpenBLAS"], med["Scalpel OpenCL"] / med["CLBlast"]]
            op = ("T" if ta else "N") + ("T" if tb else "N")
            lines.append(f"| {m}×{n}×{k} ({op}) | " + " | ".join(cells) + " | " + " | ".join(f"{r:.2f}×" for r in ratios) + " |")
        lines.append(f"\nGFLOP/s, median [min–max] of {args.samples} samples of ≥ 0.2 s each; largest foreign load during "
                     f"these runs: {worst_load:.2f} cores. OpenBLAS: {blas['blas'][0].get('version') if blas['blas'] else '?'} "
                     f"({blas['blas'][0].get('architecture') if blas['blas'] else '?'} kernels) through numpy {blas['numpy']}.")
    header = [f"## GEMM, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu_model()}, "
              f"{os.cpu_count()} cores, {platform.platform()}",
              "", "Command: `bench/gemm_peers.sh` (this table is its output)."]
    text = "\n".join(header + lines) + "\n"
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text)


def cpu_model():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


if __name__ == "__main__":
    main()
