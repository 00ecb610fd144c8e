#!/usr/bin/env bash
# One ICD folder per OpenCL implementation, for OCL_ICD_VENDORS (never system-wide):
#   DIR/pocl      PoCL (Debian pocl-opencl-icd)
#   DIR/intel     Intel's CPU runtime (PyPI intel-opencl-rt and intel-cmplr-lib-rt)
#   DIR/oclgrind  Oclgrind, the simulated GPU-type device (Debian oclgrind)
# Installs what is missing. Usage: scripts/opencl_vendors.sh DIR
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:?usage: scripts/opencl_vendors.sh DIR}"
scripts/setup.sh pocl-opencl-icd oclgrind
python3 -c "import importlib.metadata as m; m.version('intel-opencl-rt'); m.version('intel-cmplr-lib-rt')" 2>/dev/null \
  || python3 -m pip install --quiet intel-opencl-rt intel-cmplr-lib-rt
intel=$(python3 -c "import os, sys; print(os.path.join(sys.prefix, 'lib', 'libintelocl.so'))")
[ -f "$intel" ] || { echo "opencl_vendors: $intel missing after installing intel-opencl-rt" >&2; exit 1; }
pocl=$(cat /etc/OpenCL/vendors/pocl.icd 2>/dev/null || true)
[ -n "$pocl" ] || { echo "opencl_vendors: /etc/OpenCL/vendors/pocl.icd missing after installing pocl-opencl-icd" >&2; exit 1; }
mkdir -p "$dir/pocl" "$dir/intel" "$dir/oclgrind"
echo "$pocl" > "$dir/pocl/pocl.icd"
# The ICD names Intel's library by path; its own libOpenCL.so.1 beside it stays off the loader path.
echo "$intel" > "$dir/intel/intel.icd"
echo /usr/lib/oclgrind/liboclgrind-rt-icd.so > "$dir/oclgrind/oclgrind.icd"
