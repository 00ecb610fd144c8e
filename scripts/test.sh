#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test.
# OpenCL tests run on every device present (PoCL's CPU device at least, which setup installs);
# the safetensors round trip runs against Python's safetensors package, installed here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh openmpi-bin libopenmpi-dev   # MPI for the data-parallel tests (mpirun -np 2)
python3 -c "import safetensors, numpy" 2>/dev/null || python3 -m pip install --quiet safetensors numpy
export SCALPEL_REQUIRE_OPENCL="${SCALPEL_REQUIRE_OPENCL:-1}"
export SCALPEL_REQUIRE_PYTHON="${SCALPEL_REQUIRE_PYTHON:-1}"
export SCALPEL_REQUIRE_MPI="${SCALPEL_REQUIRE_MPI:-1}"
swift build --build-tests
swift test --skip-build "$@"
