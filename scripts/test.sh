#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test.
# OpenCL tests run on every device present (PoCL's CPU device at least, which setup installs), and the
# kernel self-test on Intel's CPU runtime and Oclgrind too;
# the safetensors round trip runs against Python's safetensors package, installed here.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh openmpi-bin libopenmpi-dev   # MPI for the data-parallel tests (mpirun -np 2)
# Python peers the tests check against: safetensors, and ONNX with ONNX Runtime for the exported models.
python3 -c "import safetensors, numpy, onnx, onnxruntime" 2>/dev/null || python3 -m pip install --quiet safetensors numpy onnx onnxruntime
export SCALPEL_REQUIRE_OPENCL="${SCALPEL_REQUIRE_OPENCL:-1}"
export SCALPEL_REQUIRE_PYTHON="${SCALPEL_REQUIRE_PYTHON:-1}"
export SCALPEL_REQUIRE_MPI="${SCALPEL_REQUIRE_MPI:-1}"
export SCALPEL_REQUIRE_DICOM="${SCALPEL_REQUIRE_DICOM:-1}"   # the DICOM plugin (setup installs DCMTK)
swift build --build-tests
# The kernel self-test on two more OpenCL implementations (Intel's CPU runtime; Oclgrind, a
# simulated GPU-type device checking races and bounds), before the suite so its summary ends the log.
scripts/opencl_implementations.sh .build/debug/scalpel
# The example programs, built as a user's package that depends on Scalpel, each checking its result.
scripts/examples.sh
# The API reference: every public symbol documented, DocC warnings (broken links, undocumented
# parameters) as errors.
scripts/docs.sh .build/documentation
swift test --skip-build "$@"
