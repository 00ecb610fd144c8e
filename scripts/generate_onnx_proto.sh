#!/usr/bin/env bash
# Regenerates Sources/ScalpelONNX/Generated/onnx.pb.swift from Sources/ScalpelONNX/Proto/onnx.proto,
# which is ONNX's own schema (Apache-2.0, copied from the onnx Python package). The generated file
# is committed, so that building Scalpel needs neither protoc nor swift-protobuf's plugin (whose
# first build takes minutes); run this only to move to a newer onnx.proto or swift-protobuf.
#   Needs: protoc (Debian protobuf-compiler) and protoc-gen-swift of the swift-protobuf version
#   Package.swift names (swift build -c release --product protoc-gen-swift in its checkout).
#   Usage: scripts/generate_onnx_proto.sh [path/to/protoc-gen-swift]
set -euo pipefail
cd "$(dirname "$0")/../Sources/ScalpelONNX/Proto"
plugin="${1:-$(command -v protoc-gen-swift || true)}"
if [ -z "$plugin" ] || [ ! -x "$plugin" ]; then
  echo "generate_onnx_proto.sh: give the path of protoc-gen-swift (built from apple/swift-protobuf)" >&2
  exit 2
fi
command -v protoc >/dev/null || { echo "generate_onnx_proto.sh: protoc missing: apt-get install protobuf-compiler" >&2; exit 2; }
# Internal visibility: the generated types stay inside ScalpelONNX, whose own API is documented.
protoc --plugin=protoc-gen-swift="$plugin" --swift_out=../Generated onnx.proto
echo "wrote Sources/ScalpelONNX/Generated/onnx.pb.swift"
