#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test.
# OpenCL tests run on every device present (PoCL's CPU device at least, which setup installs).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SCALPEL_REQUIRE_OPENCL="${SCALPEL_REQUIRE_OPENCL:-1}"
swift build --build-tests
swift test --skip-build "$@"
