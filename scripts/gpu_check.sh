#!/usr/bin/env bash
# The GPU check for a lent device machine (see ../shared/DESIGN.md), in two halves:
#
#   scripts/gpu_check.sh prepare   here: a statically linked release `scalpel` (stripped, gzipped)
#                                  and the OpenCL ICD loader unpacked from Debian's package, in
#                                  device-check/ (ignored by git; name it in the device tool's
#                                  `carry`, and run `scripts/gpu_check.sh run` there)
#   scripts/gpu_check.sh run       there: points an ICD file at the NVIDIA OpenCL driver, then
#                                  runs devices, the self-test of every kernel family, the
#                                  profiled training steps of cnn, resnet18 and transformer
#                                  (device beside the CPU-Swift backend) and the GEMM and
#                                  convolution benchmarks, and three profiled epochs of the main
#                                  job's model; everything goes to $OUT (or device-check/out):
#                                  devices.txt, results.txt, step-*.json, train-*.json
#   scripts/gpu_check.sh prepare-tests   here: the test binary (debug, stripped) and the Swift
#                                  toolchain's shared libraries it loads, in device-check-tests/
#                                  (33 MB; carried apart from device-check/, since both together
#                                  with the working tree pass the device tool's 64 MiB)
#   scripts/gpu_check.sh run-tests  there: the OpenCL test suites on the GPU (every op case of
#                                  the table, the convolution algorithms, attention, recurrent
#                                  layers, the golden models, concurrent backends) -> tests.txt
set -euo pipefail
cd "$(dirname "$0")/.."
dir=device-check

# The OpenCL ICD loader from Debian's package, unpacked into folder $1 (a bare GPU machine may
# have none; the system's is not used there).
unpack_loader() {
  local deb
  deb=$(mktemp -d)
  (cd "$deb" && apt-get download -qq ocl-icd-libopencl1)
  dpkg -x "$deb"/ocl-icd-libopencl1_*.deb "$deb/x"
  mkdir -p "$1"
  cp -L "$deb"/x/usr/lib/*/libOpenCL.so.1 "$1/libOpenCL.so.1"
  rm -rf "$deb"
}

# An ICD file in folder $1 naming NVIDIA's OpenCL driver, and OCL_ICD_VENDORS pointing at it;
# without the driver, the system's ICD vendors stay (said in $2/notes.txt).
use_nvidia_driver() {
  local driver
  driver=$(find /usr/local/nvidia /usr/lib/x86_64-linux-gnu /usr/lib64 -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1 || true)
  if [ -n "$driver" ]; then
    mkdir -p "$1"
    echo "$driver" > "$1/nvidia.icd"
    export OCL_ICD_VENDORS="$PWD/$1"
  else
    echo "gpu_check: no libnvidia-opencl.so.1 found; using the system's ICD vendors" | tee "$2/notes.txt"
  fi
}

case "${1:-}" in
prepare)
  scripts/setup.sh
  swift build -c release --static-swift-stdlib --product scalpel --scratch-path .build-static
  mkdir -p "$dir/lib"
  # Stripped and compressed: the device tool carries at most 64 MiB with the working tree,
  # and the static binary is 92 MiB (62 stripped).
  strip -o "$dir/scalpel" .build-static/release/scalpel
  gzip -9 -f "$dir/scalpel"
  unpack_loader "$dir/lib"
  du -sh "$dir"
  ;;
run)
  out="${OUT:-$dir/out}"
  mkdir -p "$out"
  use_nvidia_driver "$dir/vendors" "$out"
  export SCALPEL_OPENCL_LIBRARY="$PWD/$dir/lib/libOpenCL.so.1" XDG_CACHE_HOME="$PWD/$dir/cache"
  bin="$dir/scalpel"
  [ -x "$bin" ] || { gunzip -c "$bin.gz" > "$bin" && chmod +x "$bin"; }
  {
    nvidia-smi -L 2>/dev/null || true
    "$bin" devices --verbose
  } > "$out/devices.txt" 2>&1 || true
  # Every kernel family against the Swift reference (the op cases the test suites run), then
  # the training steps with the profiler's counts, then GEMM and convolution throughput. One
  # results file (results.txt) holds it all, in that order; the JSON files hold the step counts.
  {
    echo "## scalpel selftest --device cl"
    "$bin" selftest --device cl 2>&1 || echo "selftest failed: exit $?"
    for model in cnn resnet18 transformer; do
      echo
      echo "## scalpel bench step --model $model --device auto --profile"
      "$bin" bench step --model "$model" --device auto --profile --json "$out/step-$model.json" 2>&1 || echo "bench step $model failed: exit $?"
    done
    echo
    echo "## scalpel train --model resnet18 --epochs 3 --device cl --profile (the main job's model, BreastMNIST)"
    run=$(mktemp -d)
    "$bin" train --data Data/breastmnist.npz --model resnet18 --epochs 3 --device cl --profile --out "$run/train" 2>&1 \
      | grep -v "█" || echo "train failed: exit $?"
    cp "$run/train/profile.json" "$out/train-profile.json" 2>/dev/null || true
    cp "$run/train/metrics.json" "$out/train-metrics.json" 2>/dev/null || true
    rm -rf "$run"
    echo
    echo "## scalpel bench gemm / conv --device cl"
    "$bin" bench gemm --device cl --all-variants --shapes 1024x1024x1024 4096x4096x4096 256x512x784 784x512x256:TN 256x784x512:NT 2>&1 || echo "bench gemm failed: exit $?"
    "$bin" bench conv --device cl 2>&1 || echo "bench conv failed: exit $?"
  } > "$out/results.txt"
  grep -E "passed, .* failed|ms per step|per step:" "$out/results.txt"
  ;;
prepare-tests)
  scripts/setup.sh
  swift build --build-tests
  tests=device-check-tests
  rm -rf "$tests" && mkdir -p "$tests/bundle/lib" "$tests/lib"
  strip -o "$tests/bundle/ScalpelPackageTests.xctest" .build/debug/ScalpelPackageTests.xctest
  # The toolchain's libraries (Foundation, Testing, the runtime) and ICU, which a bare machine lacks.
  ldd .build/debug/ScalpelPackageTests.xctest | awk '$3 ~ /^\// {print $3}' | grep -E '/swift/|libicu|libxml2' \
    | xargs -I{} cp -L {} "$tests/bundle/lib/"
  # The tests find their fixtures through the source paths they were compiled at.
  echo "$PWD" > "$tests/bundle/source-root"
  tar -C "$tests/bundle" -cf - . | xz -6 -T2 > "$tests/bundle.tar.xz"
  rm -rf "$tests/bundle"
  unpack_loader "$tests/lib"
  du -sh "$tests"
  ;;
run-tests)
  tests=device-check-tests
  out="${OUT:-$tests/out}"
  mkdir -p "$out" "$tests/bundle"
  use_nvidia_driver "$tests/vendors" "$out"
  xz -dc "$tests/bundle.tar.xz" | tar -C "$tests/bundle" -xf -
  root=$(cat "$tests/bundle/source-root")
  if [ "$root" != "$PWD" ] && [ ! -e "$root" ]; then mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root"; fi
  # The OpenCL suites; left out, the one command-line test among them (the scalpel binary
  # travels in device-check/, not here).
  suites='KernelCaseTests|AutogradTests|GraphLifetimeTests|ConvAlgorithmTests|RecurrentOpTests|RecurrentLayerTests|AttentionTests'
  suites+='|GEMMTests|GoldenTests|OpenCLConcurrencyTests|OpenCLLaunchStatusTests'
  SCALPEL_OPENCL_LIBRARY="$PWD/$tests/lib/libOpenCL.so.1" XDG_CACHE_HOME="$PWD/$tests/cache" SCALPEL_REQUIRE_OPENCL=1 \
    LD_LIBRARY_PATH="$PWD/$tests/bundle/lib" "$tests/bundle/ScalpelPackageTests.xctest" --testing-library swift-testing \
    --filter "$suites" --skip AttentionBenchCommandTests > "$out/tests.txt" 2>&1 || echo "tests failed: exit $?" >> "$out/tests.txt"
  grep -E "✘|Test run with|tests failed" "$out/tests.txt" | tail -n 20
  ;;
*)
  echo "usage: scripts/gpu_check.sh prepare|run|prepare-tests|run-tests" >&2
  exit 2
  ;;
esac
