#!/usr/bin/env bash
# A training step of Scalpel beside PyTorch CPU's, in one run on this machine, with 2 threads
# and with 1:  bench/step_peers.sh mlp   (batch 256, 30→256→256→2, ReLU, cross-entropy, Adam)
#              bench/step_peers.sh cnn   (batch 64×1×28×28, two 3×3 convs and pools, two linears, Adam)
# Installs Debian's python3-torch when missing; writes bench/results/<model>-peers.md.
set -euo pipefail
cd "$(dirname "$0")/.."
model="${1:-mlp}"
case "$model" in mlp|cnn) ;; *) echo "usage: bench/step_peers.sh mlp|cnn" >&2; exit 2 ;; esac
scripts/setup.sh python3-torch
swift build -c release --product scalpel
out=bench/results/$model-peers.md
mkdir -p bench/results
{
  echo "## $model training step, $(date -u '+%Y-%m-%d %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo
  echo "Command: \`bench/step_peers.sh $model\`. Milliseconds per step, median [min–max] of 7 samples of ≥ 0.2 s."
  for threads in 2 1; do
    echo
    echo "### $threads thread(s)"
    echo
    echo "| implementation | ms per step | ratio to PyTorch |"
    echo "|---|---|---|"
    torch=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=$threads /usr/bin/python3 bench/peers/${model}_torch.py 7 $threads)
    json=$(mktemp)
    SCALPEL_THREADS=$threads POCL_MAX_PTHREAD_COUNT=$threads .build/release/scalpel bench "$model" --json "$json" >/dev/null
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
