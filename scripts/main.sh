#!/usr/bin/env bash
# The main job: build Scalpel and run it on the best device present.
# (Until training lands: list the devices, check every kernel, benchmark GEMM.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product scalpel
bin=.build/release/scalpel
"$bin" devices
"$bin" selftest
"$bin" bench gemm "$@"
