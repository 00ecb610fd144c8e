#!/usr/bin/env bash
# The main job: build Scalpel and train the default model on the bundled default data set
# (the convnet, a compact CNN with batch norm, on BreastMNIST ultrasound images, Data/breastmnist.npz) on the best device
# present, after listing the devices. Extra arguments go to `scalpel train`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -c release --product scalpel
# The DICOM plugin (DCMTK behind a C interface), which the package defines where DCMTK is installed.
# (grep reads all of the description: -q would close the pipe early and fail it under pipefail.)
if swift package describe 2>/dev/null | grep "ScalpelDICOM" >/dev/null; then swift build -c release --product ScalpelDICOM; fi
bin=.build/release/scalpel
"$bin" devices
"$bin" train "$@"
