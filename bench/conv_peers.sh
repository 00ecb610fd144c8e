#!/usr/bin/env bash
# Scalpel's convolutions beside PyTorch CPU's, in one run on this machine, with 2 threads and
# with 1: SET=cnn (default; the small CNN's, bench/results/conv-peers.md) or SET=resnet18
# (ResNet-18's stem and each stage's, bench/results/conv-peers-resnet18.md).
# ONLY=TEXT times only the convolutions whose name contains TEXT; ROUNDS=N (default 1) repeats
# the pair of runs N times per thread count, PyTorch and Scalpel alternating, and ends with the
# median of the rounds' ratios — for a cell whose figures move between runs on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenBLAS too: without it Debian's torch does its matrix products on the reference BLAS.
scripts/setup.sh python3-torch libopenblas0-pthread
swift build -c release --product scalpel
set=${SET:-cnn}
only=${ONLY:-}
rounds=${ROUNDS:-1}
out=bench/results/conv-peers$([ "$set" = cnn ] || echo "-$set")$([ -z "$only" ] || echo "-only").md
mkdir -p bench/results
{
  echo "## Convolutions, $(date -u '+%Y-%m-%d %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo
  echo "Command: \`$([ -z "$only" ] || echo "ONLY='$only' ")$([ "$rounds" = 1 ] || echo "ROUNDS=$rounds ")SET=$set bench/conv_peers.sh\`. GFLOP/s (nominal: 2 per multiply-add), from the median of 5 samples of ≥ 0.2 s."
  for threads in 2 1; do
    ratios=$(mktemp)
    for round in $(seq "$rounds"); do
      echo
      echo "### $threads thread(s)$([ "$rounds" = 1 ] || echo ", round $round of $rounds")"
      echo
      json=$(mktemp)
      torch=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads /usr/bin/python3 bench/peers/conv_torch.py 5 $threads "$set" "$only")
      SCALPEL_THREADS=$threads POCL_MAX_PTHREAD_COUNT=$threads .build/release/scalpel bench conv --set "$set" ${only:+--only "$only"} --json "$json" >/dev/null
      python3 - "$torch" "$json" "$ratios" <<'PY'
import json, sys
torch = [json.loads(line) for line in sys.argv[1].splitlines()]
ours = json.load(open(sys.argv[2]))
backends = sorted({r["backend"] for r in ours})
print("| convolution | pass | PyTorch | " + " | ".join(f"Scalpel {b}" for b in backends) + " |")
print("|---|---|---|" + "---|" * len(backends))
with open(sys.argv[3], "a") as ratios:
    for t in torch:
        cells = []
        for b in backends:
            r = next(r for r in ours if r["backend"] == b and r["shape"] == t["shape"] and r["pass"] == t["pass"])
            ratio = float(r['gflops']) / t['gflops']
            cells.append(f"{float(r['gflops']):.1f} ({ratio:.2f}×)")
            ratios.write(json.dumps({"shape": t["shape"], "pass": t["pass"], "backend": b, "ratio": ratio}) + "\n")
        print(f"| {t['shape']} | {t['pass']} | {t['gflops']:.1f} | " + " | ".join(cells) + " |")
PY
      rm -f "$json"
    done
    if [ "$rounds" != 1 ]; then
      echo
      echo "Median ratio of the $rounds rounds, $threads thread(s):"
      echo
      python3 - "$ratios" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
keys = list(dict.fromkeys((r["shape"], r["pass"], r["backend"]) for r in rows))
for shape, pass_, backend in keys:
    values = sorted(r["ratio"] for r in rows if (r["shape"], r["pass"], r["backend"]) == (shape, pass_, backend))
    print(f"- {shape}, {pass_}, Scalpel {backend}: {statistics.median(values):.2f}× (rounds: " + ", ".join(f"{v:.2f}" for v in values) + ")")
PY
    fi
    rm -f "$ratios"
  done
  echo
  echo "(ratio) = Scalpel's GFLOP/s ÷ PyTorch's in the same run."
} | tee "$out"
