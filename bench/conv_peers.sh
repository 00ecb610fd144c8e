#!/usr/bin/env bash
# Scalpel's convolutions beside PyTorch CPU's, in one run on this machine, with 2 threads and
# with 1: SET=cnn (default; the small CNN's, bench/results/conv-peers.md) or SET=resnet18
# (ResNet-18's stem and each stage's, bench/results/conv-peers-resnet18.md).
set -euo pipefail
cd "$(dirname "$0")/.."
# OpenBLAS too: without it Debian's torch does its matrix products on the reference BLAS.
scripts/setup.sh python3-torch libopenblas0-pthread
swift build -c release --product scalpel
set=${SET:-cnn}
out=bench/results/conv-peers$([ "$set" = cnn ] || echo "-$set").md
mkdir -p bench/results
{
  echo "## Convolutions, $(date -u '+%Y-%m-%d %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo
  echo "Command: \`SET=$set bench/conv_peers.sh\`. GFLOP/s (nominal: 2 per multiply-add), from the median of 5 samples of ≥ 0.2 s."
  for threads in 2 1; do
    echo
    echo "### $threads thread(s)"
    echo
    json=$(mktemp)
    torch=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads /usr/bin/python3 bench/peers/conv_torch.py 5 $threads "$set")
    SCALPEL_THREADS=$threads POCL_MAX_PTHREAD_COUNT=$threads .build/release/scalpel bench conv --set "$set" --json "$json" >/dev/null
    python3 - "$torch" "$json" <<'PY'
import json, sys
torch = [json.loads(line) for line in sys.argv[1].splitlines()]
ours = json.load(open(sys.argv[2]))
backends = sorted({r["backend"] for r in ours})
print("| convolution | pass | PyTorch | " + " | ".join(f"Scalpel {b}" for b in backends) + " |")
print("|---|---|---|" + "---|" * len(backends))
for t in torch:
    cells = []
    for b in backends:
        r = next(r for r in ours if r["backend"] == b and r["shape"] == t["shape"] and r["pass"] == t["pass"])
        cells.append(f"{float(r['gflops']):.1f} ({float(r['gflops']) / t['gflops']:.2f}×)")
    print(f"| {t['shape']} | {t['pass']} | {t['gflops']:.1f} | " + " | ".join(cells) + " |")
PY
    rm -f "$json"
  done
  echo
  echo "(ratio) = Scalpel's GFLOP/s ÷ PyTorch's in the same run."
} | tee "$out"
