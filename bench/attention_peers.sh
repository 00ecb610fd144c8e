#!/usr/bin/env bash
# Scaled-dot-product attention: Scalpel's fused op (CPU-Swift backend and the OpenCL device) and
# its composed reference beside PyTorch CPU's composed attention (softmax(q·kᵀ·scale)·v), forward
# and forward+backward, in one run on this machine. PyTorch and Scalpel alternate, round by round,
# and every (shape, implementation, backend) runs in a process of its own, so that its peak
# resident memory is its own. Writes bench/results/attention-peers.md.
#
#   bench/attention_peers.sh
#   THREADS="2 1" ROUNDS=2 SAMPLES=5 SHAPES="32x4x128x32 4x4x1024x32 1x4x4096x32" SCRATCH=.build bench/attention_peers.sh
#
# Those are the defaults. SHAPES are batch×heads×length×head size; THREADS the thread counts,
# one section each (PyTorch's threads, Scalpel's workers and PoCL's threads alike); SCRATCH the
# swift build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
read -r -a threadCounts <<< "${THREADS:-2 1}"
read -r -a shapes <<< "${SHAPES:-32x4x128x32 4x4x1024x32 1x4x4096x32}"
rounds="${ROUNDS:-2}"
samples="${SAMPLES:-5}"
scratch="${SCRATCH:-.build}"
# OpenBLAS too: without it Debian's torch does its matrix products on the reference BLAS.
scripts/setup.sh python3-torch libopenblas0-pthread
swift build -c release --product scalpel --scratch-path "$scratch"
bin="$scratch/release/scalpel"
out=bench/results/attention-peers.md
mkdir -p bench/results
raw=$(mktemp)
json=$(mktemp)
trap 'rm -f "$raw" "$json"' EXIT

# Appends JSON rows (one per line on standard input, or a JSON array in file $3) to $raw, tagged
# with the round $1 and the implementation $2.
tag() {
  python3 -c '
import json, sys
round, impl = int(sys.argv[1]), sys.argv[2]
rows = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else [json.loads(line) for line in sys.stdin]
for row in rows:
    row["round"], row["impl"] = round, impl
    print(json.dumps(row))' "$@" >> "$raw"
}

{
  echo "## Scaled-dot-product attention, $(date -u '+%Y-%m-%d %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo
  echo "Command: \`THREADS=\"${threadCounts[*]}\" ROUNDS=$rounds SAMPLES=$samples SHAPES=\"${shapes[*]}\" bench/attention_peers.sh\`"
  echo "(Scalpel: \`scalpel bench attention --device D --backends B --implementation I --shapes S\`, one process each;"
  echo "PyTorch: \`bench/peers/attention_torch.py SAMPLES THREADS S\`)."
  for threads in "${threadCounts[@]}"; do
    export OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$threads" SCALPEL_THREADS="$threads" POCL_MAX_PTHREAD_COUNT="$threads"
    : > "$raw"
    for shape in "${shapes[@]}"; do
      for round in $(seq 1 "$rounds"); do
        env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/peers/attention_torch.py "$samples" "$threads" "$shape" | tag "$round" torch
        for run in "cpu cpu fused" "cl device fused" "cpu cpu composed"; do
          read -r device backends implementation <<< "$run"
          "$bin" bench attention --device "$device" --backends "$backends" --implementation "$implementation" \
            --shapes "$shape" --samples "$samples" --json "$json" >/dev/null
          tag "$round" scalpel "$json"
        done
      done
    done
    python3 bench/peers/attention_summary.py "$raw" "$rounds" "$samples" "$threads"
  done
} | tee "$out"
