#!/usr/bin/env bash
# The kernel self-test on the OpenCL implementations besides PoCL (which the test suite uses):
# Intel's CPU runtime (PyPI intel-opencl-rt), every case of the op-case table; Oclgrind, a
# simulated GPU-type device that reports data races, out-of-bounds accesses and API misuse, the
# quick cases (every kernel; a simulator is slow) and the OpenCL test suites beyond the table,
# each under two device profiles.
# Each runs alone through its own ICD file (OCL_ICD_VENDORS); any failure, or any diagnostic from
# Oclgrind, fails the script.
# Usage: scripts/opencl_implementations.sh [SCALPEL-BINARY]   (default .build/debug/scalpel)
set -euo pipefail
cd "$(dirname "$0")/.."
scalpel="${1:-.build/debug/scalpel}"
vendors=$(mktemp -d)
trap 'rm -rf "$vendors"' EXIT
scripts/opencl_vendors.sh "$vendors"

# With the profiler on, each case must also launch every kernel it claims.
echo "== Intel OpenCL CPU runtime: kernel self-test, every case, claims checked by the profiler" >&2
OCL_ICD_VENDORS="$vendors/intel" "$scalpel" selftest --device cl --profile 2>/dev/null | tail -n 3

# Oclgrind's diagnostics: any of them fails the run.
diagnostics='invalid (read|write)|data race|out of bounds|uninitiali[sz]ed|oclgrind - |oclgrind fatal|divergence'
# Under its default profile and a tight GPU one (work-groups of at most 256, 48 KiB of local
# memory: other tile and group sizes), with data-race and API checking.
for profile in default tight; do
  limits=()
  [ "$profile" = tight ] && limits=(OCLGRIND_MAX_WGSIZE=256 OCLGRIND_LOCAL_MEM_SIZE=49152)
  # Every kernel family, every kernel, at small shapes: the self-test's quick cases (about
  # 10 s; the full table takes over 12 min in the simulator).
  echo "== Oclgrind ($profile profile, data races, bounds, API misuse): quick kernel self-test" >&2
  log="$vendors/oclgrind-selftest-$profile.log"
  env "${limits[@]}" OCL_ICD_VENDORS="$vendors/oclgrind" OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1 \
    "$scalpel" selftest --quick --device cl >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  if grep -Eiq "$diagnostics" "$log"; then
    cat "$log" >&2
    echo "opencl_implementations: Oclgrind reported a problem in the self-test ($profile profile)" >&2
    exit 1
  fi
  tail -n 1 "$log" | sed "s/^/oclgrind $profile: /"
  # The test suites beyond the table: convolution algorithms and recurrent layers at more
  # shapes, attention's masks and determinism, the golden MLP's optimiser, and backends used
  # from two threads at once (which lost work-groups in the simulator before the process-wide
  # lock). Left out: the attention memory test at N = 4096 (12 min alone here). The test
  # binary comes from `swift build --build-tests`.
  suites='ConvAlgorithmTests|RecurrentOpTests|GoldenTests/mlpMatchesPyTorch|OpenCLConcurrencyTests'
  suites+='|AttentionTests/(fused|logSumExp|noKeys|openCLBackward|attentionProbabilities)'
  echo "== Oclgrind ($profile profile, data races, bounds, API misuse): OpenCL test suites" >&2
  log="$vendors/oclgrind-tests-$profile.log"
  env "${limits[@]}" OCL_ICD_VENDORS="$vendors/oclgrind" OCLGRIND_DATA_RACES=1 OCLGRIND_CHECK_API=1 SCALPEL_REQUIRE_OPENCL=1 \
    swift test --skip-build --filter "$suites" >"$log" 2>&1 || { cat "$log" >&2; exit 1; }
  if grep -Eiq "$diagnostics" "$log"; then
    cat "$log" >&2
    echo "opencl_implementations: Oclgrind reported a problem in the test suites ($profile profile)" >&2
    exit 1
  fi
  grep -E "Test run with" "$log" | tail -n 1 | sed "s/^/oclgrind $profile: /"
done
