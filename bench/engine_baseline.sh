#!/usr/bin/env bash
# The OpenCL engine's baseline, per steady-state training step, in one run on this machine:
# resnet18 (batch 32, 1×28×28), cnn (batch 128, 1×28×28) and transformer (batch 16, ECG5000's
# 1×140) on the CPU-Swift backend, PoCL and Intel's CPU OpenCL runtime — ms per step, kernel
# launches, allocations, transfers (blocking ones in parentheses) and queue drains, from
# `scalpel bench step --json` — beside PyTorch CPU's ms per step (bench/peers/step_torch.py).
# Each OpenCL implementation runs alone through its own ICD folder (scripts/opencl_vendors.sh).
# Writes bench/results/engine-baseline.md, or the file OUT names.
#
#   THREADS=2 SAMPLES=5 SCRATCH=.build OUT=bench/results/engine-baseline.md bench/engine_baseline.sh [MODEL...]
set -euo pipefail
cd "$(dirname "$0")/.."
models=("$@")
((${#models[@]})) || models=(resnet18 cnn transformer)
threads="${THREADS:-2}"
samples="${SAMPLES:-5}"
scratch="${SCRATCH:-.build}"

scripts/setup.sh python3-torch libopenblas0-pthread
swift build -c release --product scalpel --scratch-path "$scratch"
bin="$scratch/release/scalpel"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts/opencl_vendors.sh "$work/vendors"
raw="$work/rows.jsonl"
: > "$raw"

# One bench step; every row is labelled with the implementation it ran on.
step() {  # step MODEL LABEL DEVICE [ICD-FOLDER]
  local json="$work/step.json"
  env ${4:+OCL_ICD_VENDORS="$4"} SCALPEL_THREADS="$threads" POCL_MAX_PTHREAD_COUNT="$threads" XDG_CACHE_HOME="$work/cache" \
    "$bin" bench step --model "$1" --device "$3" --samples "$samples" --json "$json" >/dev/null
  python3 - "$json" "$2" >> "$raw" <<'PY'
import json, sys
for row in json.load(open(sys.argv[1])):
    row["impl"] = "scalpel"
    row["backend"] = f"{sys.argv[2]} ({row['backend']})"
    print(json.dumps(row))
PY
}

for model in "${models[@]}"; do
  step "$model" "CPU-Swift" cpu
  step "$model" "PoCL" cl "$work/vendors/pocl"
  step "$model" "Intel OpenCL" cl "$work/vendors/intel"
  batch=$(python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readlines()[-1])["batchSize"])' "$raw")
  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
    /usr/bin/python3 bench/peers/step_torch.py "$model" --batch-size "$batch" --samples "$samples" --threads "$threads" >> "$raw"
done

mkdir -p bench/results
{
  echo "## The engine's baseline, $(date -u '+%Y-%m-%d %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo
  echo "Command: \`THREADS=$threads SAMPLES=$samples bench/engine_baseline.sh ${models[*]}\`."
  python3 bench/peers/step_summary.py "$raw" "$threads"
} | tee "${OUT:-bench/results/engine-baseline.md}"
