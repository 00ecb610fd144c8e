#!/usr/bin/env bash
# ResNet-18's convolutions (28×28 inputs, batch 32) with each convolution algorithm forced on
# every pass, in one run per OpenCL implementation (PoCL, Intel's CPU runtime), beside the
# CPU-Swift backend; writes bench/results/conv-algorithms.md. ALGORITHMS overrides the list
# (default: im2colGEMM,implicitGEMM), SAMPLES the samples per figure (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product scalpel
vendors=$(mktemp -d)
scripts/opencl_vendors.sh "$vendors" >/dev/null
out=bench/results/conv-algorithms.md
mkdir -p bench/results
{
  echo "## Convolution algorithms, $(date -u '+%Y-%m-%d %H:%M') UTC, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo
  echo "Command: \`bench/conv_algorithms.sh\`. ms per call (median of ${SAMPLES:-3} samples of ≥ 0.2 s) and GFLOP/s (nominal: 2 per multiply-add)."
  for vendor in pocl intel; do
    echo
    echo "### $vendor"
    echo
    json=$(mktemp)
    OCL_ICD_VENDORS="$vendors/$vendor" .build/release/scalpel bench conv --set resnet18 --device cl --samples "${SAMPLES:-3}" \
      --algorithms "${ALGORITHMS:-im2colGEMM,implicitGEMM}" --json "$json" >/dev/null
    python3 - "$json" <<'PY'
import json, sys
rows = json.load(open(sys.argv[1]))
columns = []
for r in rows:
    key = (r["backend"], r["algorithm"])
    if key not in columns: columns.append(key)
print("| convolution | pass | " + " | ".join(f"{b} {a}" for b, a in columns) + " |")
print("|---|---|" + "---|" * len(columns))
seen = []
for r in rows:
    if (r["shape"], r["pass"]) not in seen: seen.append((r["shape"], r["pass"]))
for shape, p in seen:
    cells = []
    for b, a in columns:
        m = [r for r in rows if r["shape"] == shape and r["pass"] == p and r["backend"] == b and r["algorithm"] == a]
        cells.append(f"{float(m[0]['msMedian']):.1f} ms ({float(m[0]['gflops']):.1f})" if m else "")
    print(f"| {shape} | {p} | " + " | ".join(cells) + " |")
PY
    rm -f "$json"
  done
} | tee "$out"
rm -rf "$vendors"
