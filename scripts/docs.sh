#!/usr/bin/env bash
# The API reference: builds the DocC documentation of the modules a program uses (one combined
# archive, with the getting-started article of Sources/Scalpel/Scalpel.docc) with every DocC
# warning an error (an unresolved link, an undocumented parameter), after checking that every
# public declaration has a documentation comment.
# Usage: scripts/docs.sh [OUTPUT]   (default .build/documentation)
set -euo pipefail
cd "$(dirname "$0")/.."
output="${1:-.build/documentation}"
python3 scripts/doc_coverage.py --summary
swift package --disable-sandbox generate-documentation --enable-experimental-combined-documentation --warnings-as-errors \
    --target Scalpel --target ScalpelNN --target ScalpelTensor --target ScalpelCore --target ScalpelData --target ScalpelMetrics \
    --output-path "$output"
echo "documentation in $output (open index.html, or serve it: python3 -m http.server --directory $output)"
