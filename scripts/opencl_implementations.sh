#!/usr/bin/env bash
# The kernel self-test on the OpenCL implementations besides PoCL (which the test suite uses):
# Intel's CPU runtime (PyPI intel-opencl-rt), every case; Oclgrind, a simulated GPU-type device
# that reports data races, out-of-bounds accesses and API misuse, the quick cases (a simulator is
# slow), then the OpenCL test suites of every kernel family on Oclgrind under two device profiles.
# Each runs alone through its own ICD file (OCL_ICD_VENDORS); any failure, or any diagnostic from
# Oclgrind, fails the script.
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

# The OpenCL test suites of every kernel family on Oclgrind, under its default profile and a
# tight GPU one (work-groups of at most 256, 48 KiB of local memory: other tile and group
# sizes), with data-race and API checking; any failed test or diagnostic fails the script.
# Left out: the attention memory test at N = 4096 (12 min alone here). Each pass took about
# 2.5 min on 2 cores (measured in parts: 110 s default and 95 s tight without the golden MLP,
# 47 s for it). The test binary comes from `swift build --build-tests`.
suites='AutogradTests/forwardAndBackwardMatchTheReference|ConvAlgorithmTests|RecurrentOpTests|GoldenTests/mlpMatchesPyTorch'
suites+='|AttentionTests/(fused|logSumExp|noKeys|openCLBackward|attentionProbabilities)|OpenCLConcurrencyTests'
for profile in default tight; do
  echo "== Oclgrind ($profile profile, data races, bounds, API misuse): OpenCL test suites" >&2
  limits=()
  [ "$profile" = tight ] && limits=(OCLGRIND_MAX_WGSIZE=256 OCLGRIND_LOCAL_MEM_SIZE=49152)
  log="$vendors/oclgrind-tests-$profile.log"
  env "${limits[@]}" OCL_ICD_VENDORS="$vendors/oclgrind" OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1 SCALPEL_REQUIRE_OPENCL=1 \
    swift test --skip-build --filter "$suites" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  # Oclgrind's diagnostics (test names contain "Error", so the self-test's pattern cannot be used).
  if grep -Eiq "invalid (read|write)|data race|out of bounds|uninitiali[sz]ed|oclgrind - |oclgrind fatal|divergence" "$log"; then
    cat "$log" >&2
    echo "opencl_implementations: Oclgrind reported a problem in the test suites ($profile profile)" >&2
    exit 1
  fi
  grep -E "Test run with" "$log" | tail -n 1 | sed "s/^/oclgrind $profile: /"
done
