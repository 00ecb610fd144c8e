#!/usr/bin/env bash
# Scalpel's GEMM beside OpenBLAS (numpy) and CLBlast, in one run on this machine.
# Installs the peers when missing, builds Scalpel (release) and the CLBlast driver, and writes
# the table to bench/results/gemm-peers.md. Extra arguments go to gemm_peers.py.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh libclblast-dev
python3 -c "import numpy, threadpoolctl" 2>/dev/null || python3 -m pip install --quiet numpy threadpoolctl
swift build -c release --product scalpel
cc -O2 -o bench/peers/gemm_clblast bench/peers/gemm_clblast.c -lclblast -lOpenCL -lm
mkdir -p bench/results
python3 bench/gemm_peers.py --markdown bench/results/gemm-peers.md "$@"
