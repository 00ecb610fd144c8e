#!/usr/bin/env bash
# The kernel self-test on the OpenCL implementations besides PoCL (which the test suite uses):
# Intel's CPU runtime (PyPI intel-opencl-rt), every case; Oclgrind, a simulated GPU-type device
# that reports data races, out-of-bounds accesses and API misuse, the quick cases (a simulator is
# slow). Each runs alone through its own ICD file (OCL_ICD_VENDORS); any failure, or any
# diagnostic from Oclgrind, fails the script.
# Usage: scripts/opencl_implementations.sh [SCALPEL-BINARY]   (default .build/debug/scalpel)
set -euo pipefail
cd "$(dirname "$0")/.."
scalpel="${1:-.build/debug/scalpel}"
vendors=$(mktemp -d)
trap 'rm -rf "$vendors"' EXIT
scripts/opencl_vendors.sh "$vendors"

echo "== Intel OpenCL CPU runtime: kernel self-test" >&2
OCL_ICD_VENDORS="$vendors/intel" "$scalpel" selftest --device cl | tail -n 3

echo "== Oclgrind (data races, bounds, API misuse): quick kernel self-test" >&2
log="$vendors/oclgrind.log"
OCL_ICD_VENDORS="$vendors/oclgrind" OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1 \
  "$scalpel" selftest --quick --device cl >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
if grep -Eiq "invalid (read|write)|data race|out of bounds|uninitiali[sz]ed|oclgrind -|error" "$log"; then
  cat "$log" >&2
  echo "opencl_implementations: Oclgrind reported a problem" >&2
  exit 1
fi
tail -n 1 "$log" | sed 's/^/oclgrind: /'
