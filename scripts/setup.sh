#!/usr/bin/env bash
# Installs what Scalpel needs on a Debian or Ubuntu machine, when it is missing:
# the OpenCL ICD loader and headers, PoCL (an OpenCL CPU device) and clinfo; the image decoders
# Scalpel loads at run time (libpng, libjpeg-turbo's TurboJPEG) and DCMTK's headers, with which
# the package builds its DICOM plugin.
# Usage: scripts/setup.sh [EXTRA-DEBIAN-PACKAGE...]
set -euo pipefail

packages=(pocl-opencl-icd ocl-icd-opencl-dev opencl-c-headers clinfo libpng16-16 libturbojpeg0 libdcmtk-dev "$@")
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]})); then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "scalpel setup: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "scalpel setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
  echo "scalpel setup: no Swift toolchain on PATH. Install Swift 6.1 or newer from https://swift.org/install/linux/ (Debian has no package for it)." >&2
  exit 1
fi
