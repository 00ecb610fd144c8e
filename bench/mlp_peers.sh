#!/usr/bin/env bash
# Scalpel's MLP training step (batch 256, 30→256→256→2, ReLU, cross-entropy, Adam) beside
# PyTorch CPU's, in one run on this machine, with 2 threads and with 1. Installs Debian's
# python3-torch when missing and writes the table to bench/results/mlp-peers.md.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh python3-torch
swift build -c release --product scalpel
out=bench/results/mlp-peers.md
mkdir -p bench/results
{
  echo "## MLP training step, $(date -u '+%Y-%m-%d %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo
  echo "Command: \`bench/mlp_peers.sh\`. Milliseconds per step, median [min–max] of 7 samples of ≥ 0.2 s."
  for threads in 2 1; do
    echo
    echo "### $threads thread(s)"
    echo
    echo "| implementation | ms per step | ratio to PyTorch |"
    echo "|---|---|---|"
    torch=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads /usr/bin/python3 bench/peers/mlp_torch.py 7 $threads)
    json=$(mktemp)
    SCALPEL_THREADS=$threads POCL_MAX_PTHREAD_COUNT=$threads .build/release/scalpel bench mlp --json "$json" >/dev/null
    python3 - "$torch" "$json" <<'PY'
import json, sys
torch = json.loads(sys.argv[1])
print(f"| PyTorch {torch['version']} CPU ({torch['threads']} thread(s), OMP_WAIT_POLICY=PASSIVE) | {torch['msMedian']:.3f} [{torch['msMin']:.3f}–{torch['msMax']:.3f}] | 1.00× |")
for row in json.load(open(sys.argv[2])):
    med = float(row["msMedian"])
    print(f"| Scalpel {row['backend']} ({row['name']}) | {med:.3f} [{float(row['msMin']):.3f}–{float(row['msMax']):.3f}] | {med / torch['msMedian']:.2f}× |")
PY
    rm -f "$json"
  done
} | tee "$out"
