#!/usr/bin/env bash
# Data-parallel scaling: training throughput of 1 process and of 1, 2, … MPI ranks on the
# BreastMNIST small CNN and the ECG5000 transformer, with the allreduce time per step, in one run
# on this machine. Usage: bench/distributed.sh [EPOCHS] [MAX-RANKS] (defaults 3 and 2).
# Writes bench/results/distributed.md. Needs Open MPI (scripts/setup.sh openmpi-bin).
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-3}"
max_ranks="${2:-2}"
swift build -c release --product scalpel >/dev/null
bin=.build/release/scalpel
cores=$(nproc)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export SCALPEL_AUDIT_LOG="$work/audit.log"
out=bench/results/distributed.md
{
  echo "# Data-parallel scaling ($(date -u +%Y-%m-%d), $cores cores, $epochs epochs each, CPU-Swift backend)"
  echo
  echo "Command: \`bench/distributed.sh $epochs $max_ranks\`. Rows/s over the training epochs (validation included);"
  echo "allreduce: the time rank 0 spends in MPI_Allreduce per step, waiting for the slower rank included."
  echo "Each rank gets cores / ranks threads (mpirun --bind-to none). 1 process is the same program without MPI."
  echo
  echo "| model | setup | threads per rank | rows/s | vs 1 process | allreduce per step |"
  echo "|---|---|---|---|---|---|"
} > "$out"
run() {  # model data-args ranks
  local model="$1" ranks="$3" dir="$work/$1-$3"
  local -a data
  read -r -a data <<< "$2"
  local threads=$(( cores / (ranks > 0 ? ranks : 1) )); (( threads < 1 )) && threads=1
  if [ "$ranks" = 0 ]; then
    SCALPEL_THREADS=$cores "$bin" train "${data[@]}" --model "$model" --epochs "$epochs" --device cpu --out "$dir" >/dev/null 2>"$dir.log"
  else
    mpirun --allow-run-as-root --oversubscribe --bind-to none -np "$ranks" -x SCALPEL_THREADS="$threads" -x SCALPEL_AUDIT_LOG \
      "$bin" train --distributed "${data[@]}" --model "$model" --epochs "$epochs" --device cpu --out "$dir" >/dev/null 2>"$dir.log"
  fi
  python3 - "$dir" "$model" "$ranks" "$threads" "$cores" <<'PY'
import json, re, sys
d, model, ranks, threads, cores = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
m = json.load(open(d + "/metrics.json"))
rows = m["rows"]["train"] * len(m["history"]) / sum(h["seconds"] for h in m["history"])
log = open(d + ".log").read()
reduce = re.search(r"allreduce ([0-9.]+) ms per step", log)
base_file = d.rsplit("-", 1)[0] + "-0.rate"
if ranks == 0:
    open(base_file, "w").write(str(rows))
base = float(open(base_file).read())
setup = "1 process" if ranks == 0 else f"{ranks} MPI rank{'s' if ranks > 1 else ''}"
print(f"| {model} | {setup} | {cores if ranks == 0 else threads} | {rows:.0f} | {rows / base:.2f}× | {reduce.group(1) + ' ms' if reduce else '—'} |")
PY
}
for spec in "cnn|--data Data/breastmnist.npz" "transformer|--data Data/ECG5000_TRAIN.tsv --test Data/ECG5000_TEST.tsv"; do
  model="${spec%%|*}"; args="${spec#*|}"
  run "$model" "$args" 0 >> "$out"
  for ((r = 1; r <= max_ranks; r++)); do run "$model" "$args" "$r" >> "$out"; done
done
cat "$out"
