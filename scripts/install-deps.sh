#!/usr/bin/env bash
# Installs the Debian packages Tessera builds against. Idempotent: when every package is
# already installed it only runs dpkg-query and exits (well under a second).
#
#   bash scripts/install-deps.sh            # installs what is missing (sudo when not root)
#   bash scripts/install-deps.sh --check    # lists what is missing, installs nothing
set -euo pipefail

PACKAGES=(
  cmake g++ make          # toolchain
  libeigen3-dev           # CPU GEMM
  libfmt-dev              # error messages and printing
  catch2                  # unit tests (v2)
  zlib1g-dev              # reading gzip'd datasets (MNIST .gz)
  libopenmpi-dev openmpi-bin  # MPI runtime (optional at build time)
  ccache                  # faster rebuilds in scripts/test.sh and .ci/run
)

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  -h|--help)
    sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
  "") ;;
  *) echo "install-deps.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
esac

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "install-deps.sh: dpkg-query not found. This script supports Debian/Ubuntu only;" >&2
  echo "install these packages (or their equivalents) yourself: ${PACKAGES[*]}" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps.sh: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi
echo "install-deps.sh: missing: ${missing[*]}"
if [[ $check_only -eq 1 ]]; then
  exit 1
fi

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "install-deps.sh: not root and sudo is not available; run as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps.sh: installed ${missing[*]}"
