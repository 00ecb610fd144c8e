#!/usr/bin/env bash
# Fuzzes every file reader (safetensors, .npy, .npz, CSV, UCR) with scalpel-fuzz, a fixed number
# of deterministic mutations each, under a virtual-memory cap so that an unbounded allocation
# fails like a crash. On a crash, hang or contract violation the input that caused it is kept as
# Tests/ScalpelFuzzTests/Regressions/<format>-<sha256 prefix>.bin and the script exits non-zero.
#
#   scripts/fuzz.sh [ITERATIONS]        iterations per format (default 20000)
#
# Environment: FUZZ_SEED (default 1), FUZZ_FORMATS (default "safetensors npy npz csv ucr"),
# FUZZ_SCRATCH (the build folder, default .build-fuzz), FUZZ_OUT (default $FUZZ_SCRATCH/fuzz-out),
# FUZZ_MEMORY_KIB (the ulimit -v cap, default 4 GiB), FUZZ_TIMEOUT (seconds per input, default 10),
# FUZZ_SKIP_BUILD=1 to use the binary already built.
set -euo pipefail
cd "$(dirname "$0")/.."

iterations="${1:-20000}"
seed="${FUZZ_SEED:-1}"
formats="${FUZZ_FORMATS:-safetensors npy npz csv ucr}"
scratch="${FUZZ_SCRATCH:-.build-fuzz}"
out="${FUZZ_OUT:-$scratch/fuzz-out}"
memory_kib="${FUZZ_MEMORY_KIB:-4194304}"
per_input="${FUZZ_TIMEOUT:-10}"
regressions="Tests/ScalpelFuzzTests/Regressions"

if [[ "${FUZZ_SKIP_BUILD:-0}" != 1 ]]; then
    swift build -c release --scratch-path "$scratch" --product scalpel-fuzz
fi
binary="$(swift build -c release --scratch-path "$scratch" --show-bin-path)/scalpel-fuzz"
[[ -x "$binary" ]] || { echo "fuzz.sh: no scalpel-fuzz binary at $binary" >&2; exit 2; }
mkdir -p "$out" "$regressions"

failed=0
for format in $formats; do
    rm -f "$out/HANG" "$out/VIOLATION" "$out/current-$format.bin"
    set +e
    # A subshell, so the memory cap applies to the fuzzer alone; the outer timeout is a backstop
    # in case the watchdog thread itself cannot run.
    ( ulimit -v "$memory_kib"
      exec timeout --signal=KILL $(( iterations / 10 + 600 )) "$binary" --format "$format" --iterations "$iterations" \
          --seed "$seed" --out "$out" --max-seconds-per-input "$per_input" --corpus "$regressions" \
          --corpus Tests/ScalpelDataTests/Fixtures )
    status=$?
    set -e
    if [[ $status -eq 0 ]]; then
        continue
    fi
    failed=1
    if [[ -f "$out/HANG" ]]; then
        what="hang: $(head -1 "$out/HANG")"
    elif [[ -f "$out/VIOLATION" ]]; then
        what="contract violation: $(head -1 "$out/VIOLATION")"
    elif [[ $status -eq 137 ]]; then
        what="killed (signal 9): out of time, or out of memory under ulimit -v $memory_kib KiB"
    else
        what="crash (exit status $status)"
    fi
    input="$out/current-$format.bin"
    if [[ -f "$input" ]]; then
        kept="$regressions/$format-$(sha256sum "$input" | cut -c1-12).bin"
        cp "$input" "$kept"
        echo "fuzz.sh: $format: $what" >&2
        echo "fuzz.sh: the input is kept as $kept; reproduce with: $binary --format $format --replay $kept" >&2
    else
        echo "fuzz.sh: $format: $what, but no input was being parsed: the fuzzer itself failed" >&2
    fi
done

if [[ $failed -ne 0 ]]; then
    echo "fuzz.sh: FAILED: fix the reader, keep the input in $regressions (the regression tests replay it), run again" >&2
    exit 1
fi
echo "fuzz.sh: every format survived $iterations mutated inputs (seed $seed): no crash, hang, violation or runaway allocation"
