#!/usr/bin/env bash
# Prepares .deps/ for scripts/gpu-check.sh on a GPU machine that has the CUDA toolkit, CMake
# and PyTorch but no package registry and no Debian dev packages: downloads the Debian
# packages Tessera builds against (Eigen, fmt, Catch2, zlib headers), unpacks them into
# .deps/prefix, and copies the small datasets (MNIST, Tiny Shakespeare) into .deps/data.
# Run it here (where apt works); .deps/ is git-ignored and travels as a carried path.
#
#   bash scripts/fetch-gpu-deps.sh [--data DIR]   # DIR: datasets root (default ../shared/data)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

data="$(tessera_default_data)"
case "${1:-}" in
  --data) data="$2" ;;
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "fetch-gpu-deps.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

deps="$TESSERA_ROOT/.deps"
rm -rf "$deps"
mkdir -p "$deps/debs" "$deps/prefix" "$deps/data"
# libfmt9 and zlib1g: the runtime libraries behind the -dev packages' symlinks.
packages=(libeigen3-dev libfmt-dev libfmt9 catch2 zlib1g-dev zlib1g)
(cd "$deps/debs" && apt-get download "${packages[@]}")
for deb in "$deps"/debs/*.deb; do dpkg-deb -x "$deb" "$deps/prefix"; done
rm -rf "$deps/prefix/usr/share/doc" "$deps/prefix/usr/share/man" "$deps/debs"
# Debian's zlib1g-dev points libz.so at /lib/...; make every .so link relative to the prefix.
for link in $(find "$deps/prefix" -type l -name '*.so'); do
  target=$(readlink "$link")
  ln -sfn "$(basename "$target")" "$link"
done
mkdir -p "$deps/prefix/usr/lib/x86_64-linux-gnu"
cp -a "$deps"/prefix/lib/x86_64-linux-gnu/libz.so.* "$deps/prefix/usr/lib/x86_64-linux-gnu/" 2>/dev/null || true

cp -r "$data/mnist" "$data/tinyshakespeare" "$deps/data/"
du -sh "$deps/prefix" "$deps/data"
echo "fetch-gpu-deps.sh: ready; carry .deps to the GPU machine and run scripts/gpu-check.sh there"
