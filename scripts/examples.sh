#!/usr/bin/env bash
# Builds the Examples package (programs that depend on the Scalpel product by path, as a user's
# package would) and runs each on a few epochs; each exits non-zero when its own check fails.
# Usage: scripts/examples.sh [EPOCHS]   (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
epochs="${1:-2}"
swift build --package-path Examples
for example in CustomCNN TrainingLoop FineTuning; do
    echo "== Examples: $example $epochs"
    # The CPU-Swift backend: the OpenCL devices are covered by the suite and the self-tests.
    SCALPEL_DEVICE=cpu "Examples/.build/debug/$example" "$epochs"
done
