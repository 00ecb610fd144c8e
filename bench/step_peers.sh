#!/usr/bin/env bash
# Scalpel's training step beside PyTorch CPU's, model by model, in one run on this machine, with
# 2 threads and with 1: `scalpel bench step --model M --json F` (forward, cross-entropy, backward,
# Adam and the model's default extras: gradient clipping for the transformer, the weight average
# for resnet18) and bench/peers/step_torch.py (the same model and step in PyTorch, at the batch
# size Scalpel reports). Prints a Markdown table per thread count — PyTorch's ms, Scalpel's ms per
# backend, the ratio, and Scalpel's launches, allocations, copies and queue drains per step — and
# writes it to bench/results/step-peers.md.
#
#   bench/step_peers.sh [--opencl] [MODEL...]
#   THREADS="2 1" SAMPLES=5 SCRATCH=.build BATCH= bench/step_peers.sh cnn resnet18 transformer fcn lstm gru mlp
#
# Those are the defaults. --opencl: measure with --device auto (both backends) when an OpenCL
# device exists, else with --device cpu. THREADS: the thread counts, one table each (PyTorch's
# and OpenBLAS's threads, SCALPEL_THREADS and POCL_MAX_PTHREAD_COUNT alike); SAMPLES: samples of
# ≥ 0.2 s of steps, for both; SCRATCH: the swift build folder; BATCH: a batch size for every model
# (default: each model's `scalpel train` default). Installs Debian's python3-torch and OpenBLAS
# when missing: Debian's torch does its matrix products through whichever libblas.so.3 is
# selected, and the reference BLAS it falls back to is several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
opencl=0
models=()
for arg in "$@"; do
  case "$arg" in
    --opencl) opencl=1 ;;
    cnn|resnet18|transformer|fcn|lstm|gru|mlp) models+=("$arg") ;;
    *) echo "usage: bench/step_peers.sh [--opencl] [cnn|resnet18|transformer|fcn|lstm|gru|mlp ...]" >&2; exit 2 ;;
  esac
done
((${#models[@]})) || models=(cnn resnet18 transformer fcn lstm gru mlp)
read -r -a threadCounts <<< "${THREADS:-2 1}"
samples="${SAMPLES:-5}"
scratch="${SCRATCH:-.build}"
batch="${BATCH:-}"

scripts/setup.sh python3-torch libopenblas0-pthread
swift build -c release --product scalpel --scratch-path "$scratch"
bin="$scratch/release/scalpel"
device=cpu
if ((opencl)); then
  if clinfo -l 2>/dev/null | grep -q 'Device #'; then
    device=auto
  else
    echo "bench/step_peers.sh: --opencl, but clinfo lists no OpenCL device: measuring the CPU-Swift backend only" >&2
  fi
fi
out=bench/results/step-peers.md
mkdir -p bench/results
raw=$(mktemp)
json=$(mktemp)
trap 'rm -f "$raw" "$json"' EXIT

{
  echo "## Training step per model, $(date -u '+%Y-%m-%d %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo
  echo "Command: \`THREADS=\"${threadCounts[*]}\" SAMPLES=$samples${batch:+ BATCH=$batch} bench/step_peers.sh$( ((opencl)) && echo " --opencl") ${models[*]}\`"
  echo "(Scalpel: \`scalpel bench step --model M --device $device${batch:+ --batch-size $batch} --samples $samples --json F\`; PyTorch:"
  echo "\`bench/peers/step_torch.py M --batch-size N --samples $samples --threads T\`, N the batch Scalpel measured)."
  for threads in "${threadCounts[@]}"; do
    : > "$raw"
    for model in "${models[@]}"; do
      SCALPEL_THREADS="$threads" POCL_MAX_PTHREAD_COUNT="$threads" \
        "$bin" bench step --model "$model" --device "$device" ${batch:+--batch-size "$batch"} --samples "$samples" --json "$json" >/dev/null
      python3 -c '
import json, sys
for row in json.load(open(sys.argv[1])):
    row["impl"] = "scalpel"
    print(json.dumps(row))' "$json" >> "$raw"
      measured=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0]["batchSize"])' "$json")
      env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS="$threads" OPENBLAS_NUM_THREADS="$threads" \
        /usr/bin/python3 bench/peers/step_torch.py "$model" --batch-size "$measured" --samples "$samples" --threads "$threads" >> "$raw"
    done
    python3 bench/peers/step_summary.py "$raw" "$threads"
  done
} | tee "$out"
