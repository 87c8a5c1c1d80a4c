#!/usr/bin/env bash
# Builds Tessera (into build/, the same tree scripts/test.sh uses) and trains the MNIST CNN
# (examples/mnist.cpp: conv32-conv64-fc128) end to end: 3 epochs, about 99% test accuracy.
#
#   bash scripts/train.sh --data ../shared/data
#   bash scripts/train.sh --model mlp --epochs 5 --log metrics.csv   # metrics.svg: the curves
#
# --data DIR is the datasets root holding mnist/ (or the mnist folder itself); default:
# $TESSERA_DATA, else ../shared/data next to the repository. Every other argument goes to
# the example program (see `bash scripts/train.sh --help`).
# Environment: TESSERA_JOBS=N (build jobs), TESSERA_SKIP_DEPS=1 (skip install-deps.sh),
# TESSERA_BUILD_DIR=DIR (build tree instead of build/).
set -euo pipefail
# shellcheck source=scripts/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

build_dir="${TESSERA_BUILD_DIR:-$TESSERA_ROOT/build}"
have_data=0
for arg in "$@"; do
  case "$arg" in
    --data|--data=*) have_data=1 ;;
    -h|--help)
      sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
      echo
      if [[ -x "$build_dir/examples/mnist" ]]; then
        "$build_dir/examples/mnist" --help
      else
        echo "(the example's own options are listed here once build/ holds it: run this script once)"
      fi
      exit 0 ;;
  esac
done
extra=()
if [[ $have_data -eq 0 ]]; then
  extra=(--data "$(tessera_default_data)")
fi

if [[ "${TESSERA_SKIP_DEPS:-0}" != 1 ]]; then
  bash "$TESSERA_ROOT/scripts/install-deps.sh"
fi
tessera_configure "$build_dir" "${TESSERA_DEFAULT_BUILD_ARGS[@]}" >/dev/null
cmake --build "$build_dir" -j "$(tessera_jobs)" --target mnist
exec "$build_dir/examples/mnist" "${extra[@]}" "$@"
