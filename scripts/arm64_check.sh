#!/usr/bin/env bash
# The CPU-Swift backend on arm64, on an x86-64 Debian machine: this working tree built by
# Debian's own arm64 Swift toolchain inside a Debian arm64 root file system, every arm64 program
# run under qemu-user emulation (binfmt_misc), then the CPU kernels' tests run there — the
# `neon` level (the fast kernels compiled for arm64) and `portable` against the reference loops,
# the GEMM, the convolutions, attention, normalization and the recurrent cells, and a training
# run at each level.
#
# Emulation proves the arm64 code correct, not fast: its timings mean nothing. The compiler
# runs emulated too, so a first build takes the better part of an hour on two cores (later ones
# rebuild only what changed); CI does not run it. Needs root (debootstrap, chroot, mounts).
#
# Usage: scripts/arm64_check.sh [SWIFT-TEST-FILTER]
# The root file system is kept in .build-arm64/rootfs (about 3 GB) for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
filter=${1:-"KernelCaseTests|CPULevelTests|GatheredConvolutionTests|WinogradTests|DirectWeightGradientTests|ThreadedElementwiseTests"}
root=$PWD/.build-arm64/rootfs
[ "$(id -u)" = 0 ] || { echo "arm64_check: needs root (debootstrap, chroot, mounts)" >&2; exit 1; }
scripts/setup.sh qemu-user-static binfmt-support debootstrap rsync

# Run arm64 programs through qemu: the kernel's binfmt_misc, with Debian's qemu-aarch64 entry.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 2>/dev/null || true
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || { echo "arm64_check: binfmt_misc has no qemu-aarch64 entry" >&2; exit 1; }

# Debian unstable's arm64 root: the only Debian with a Swift of 6.1 or newer (6.2 at the time of
# writing). debootstrap removes its own folder from the root when it has finished.
if [ -d "$root/debootstrap" ]; then
  echo "arm64_check: $root is an unfinished debootstrap; unmount anything under it, remove it, rerun" >&2
  exit 1
fi
if [ ! -e "$root/bin/sh" ]; then
  mkdir -p "$root"
  debootstrap --arch=arm64 --variant=minbase --include=ca-certificates,git sid "$root" http://deb.debian.org/debian
fi
mounts=(proc dev)
for m in "${mounts[@]}"; do mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m"; done
# Offline package mirrors (as on the machines this project is built on): the same git redirect.
if [ -d /opt/swift-packages ]; then
  mkdir -p "$root/opt/swift-packages"
  mountpoint -q "$root/opt/swift-packages" || mount --bind /opt/swift-packages "$root/opt/swift-packages"
  if ! chroot "$root" git config --system --get-regexp '^url\.' >/dev/null 2>&1; then
    git config --system --get-regexp '^url\.' | while read -r key value; do
      chroot "$root" git config --system --add "$key" "$value"
    done
  fi
fi
cleanup() { for m in opt/swift-packages dev proc; do mountpoint -q "$root/$m" && umount "$root/$m" || true; done; }
trap cleanup EXIT
# Debian's Swift for arm64, asked for inside the root: /usr/bin/swift there is an absolute link,
# which the host would resolve against its own file system. Mirrors that lag behind carry an
# expired Release file.
apt_options=(-o Acquire::Check-Valid-Until=false -o APT::Install-Recommends=false)
if ! chroot "$root" test -x /usr/bin/swift; then
  chroot "$root" apt-get "${apt_options[@]}" update -q
  DEBIAN_FRONTEND=noninteractive chroot "$root" apt-get "${apt_options[@]}" install -y -q swiftlang swiftlang-dev g++ libc6-dev zlib1g-dev opencl-c-headers ocl-icd-opencl-dev
fi
chroot "$root" swift --version
# Debian's swiftlang 6.2 ships swift-testing's Foundation overlay as a module interface without
# its library, yet every test target importing both Testing and Foundation links
# -l_Testing_Foundation. The tests use nothing of the overlay: an empty library stands in.
lib=/usr/libexec/swift/lib/swift/linux
if chroot "$root" test -d $lib/_Testing_Foundation.swiftmodule && ! chroot "$root" test -e $lib/lib_Testing_Foundation.so; then
  echo 'void scalpel_arm64_check_stand_in(void) {}' > "$root/tmp/stand-in.c"
  chroot "$root" gcc -shared -fPIC -o $lib/lib_Testing_Foundation.so /tmp/stand-in.c
fi

# The working tree (modification times kept, so that a second run rebuilds only what changed).
mkdir -p "$root/src"
rsync -a --delete --exclude=/.build --exclude='/.build-*' --exclude=/.git ./ "$root/src/"
chroot "$root" uname -m
chroot "$root" bash -c "cd /src && swift build --build-tests -j $(nproc)"
chroot "$root" bash -c "cd /src && swift test --skip-build --filter '$filter'"
