# shellcheck shell=bash
# Shared by scripts/train.sh and scripts/test.sh (sourced, not run).
# Both scripts configure build/ identically so that running one after the other reuses
# the same build tree instead of rebuilding it with different flags.

TESSERA_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Parallel build jobs: TESSERA_JOBS, else the number of cores.
tessera_jobs() {
  echo "${TESSERA_JOBS:-$(nproc 2>/dev/null || echo 2)}"
}

# The datasets root: TESSERA_DATA, else ../shared/data next to the repository.
tessera_default_data() {
  if [[ -n "${TESSERA_DATA:-}" ]]; then
    echo "$TESSERA_DATA"
  else
    echo "$TESSERA_ROOT/../shared/data"
  fi
}

# Makes a path absolute against the current directory (the path need not exist).
tessera_abspath() {
  case "$1" in
    /*) echo "$1" ;;
    *) echo "$PWD/$1" ;;
  esac
}

# tessera_configure BUILD_DIR [CMAKE_ARGS...]: configures (or re-configures) a build tree,
# using ccache as the compiler launcher when it is installed.
tessera_configure() {
  local dir=$1
  shift
  local args=(-S "$TESSERA_ROOT" -B "$dir")
  if command -v ccache >/dev/null 2>&1; then
    args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
  fi
  cmake "${args[@]}" "$@"
}

# The options of the default build tree build/ (the README's quick start).
# shellcheck disable=SC2034  # used by the scripts that source this file
TESSERA_DEFAULT_BUILD_ARGS=(-DCMAKE_BUILD_TYPE=Release -DTESSERA_WERROR=ON -DTESSERA_SANITIZE=)
