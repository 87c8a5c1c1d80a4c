#!/usr/bin/env bash
# Shared body of the *_vs_torch.sh scripts: runs a Tessera step benchmark and its PyTorch twin
# one after the other on this machine, then prints the table of step times and the
# Tessera/PyTorch ratios. Both programs print "name batch median_ms" lines.
#
#   bash bench/step_vs_torch.sh BENCH_BINARY TORCH_SCRIPT DEFAULT_ITERS [--threads N] [--iters N] [--build DIR]
#        [--device cpu|cuda|cuda:N] [--tf32] [other flags of both programs, e.g. --only NAME, --gpt2-small]
# Every flag but --build goes to both programs (--device defaults to cpu on both sides). When the
# PyTorch side fails (no CUDA in that PyTorch, say), Tessera's lines are printed alone.
# PyTorch comes from Debian's python3-torch (/usr/bin/python3) unless TESSERA_TORCH_PYTHON is set.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=$1 script=$2 iters=$3
shift 3
threads=2 build="$root/build"
both=()  # flags passed through to both programs
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift ;;
    --iters) iters=$2; shift ;;
    --build) build=$2; shift ;;
    --*=*) both+=("$1") ;;
    --*)
      # A switch (--tf32, --gpt2-small) or a flag with its value (--device cuda, --batch 8).
      if [[ $# -ge 2 && $2 != --* ]]; then both+=("$1" "$2"); shift; else both+=("$1"); fi ;;
    *) echo "$(basename "$0"): unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
py=${TESSERA_TORCH_PYTHON:-/usr/bin/python3}
ts_out=$("$build/bench/$binary" --threads "$threads" --iters "$iters" ${both[@]+"${both[@]}"})
if ! torch_out=$(OMP_NUM_THREADS=$threads "$py" "$root/bench/$script" --threads "$threads" --iters "$iters" ${both[@]+"${both[@]}"}); then
  # No usable PyTorch for these flags (e.g. a CPU-only build with --device cuda): Tessera alone.
  echo "# $(basename "$0"): the PyTorch twin failed (see above); Tessera's results only"
  echo "$ts_out"
  exit 0
fi
echo "$ts_out" | grep '^#'
echo "$torch_out" | grep '^#'
printf '%-12s %6s %14s %14s %10s\n' model batch "tessera ms" "pytorch ms" "ratio"
join <(echo "$ts_out" | grep -v '^#' | sort) <(echo "$torch_out" | grep -v '^#' | sort) |
  while read -r name batch ts _ torch; do
    printf '%-12s %6s %14.2f %14.2f %9.2fx\n' "$name" "$batch" "$ts" "$torch" "$(echo "$ts / $torch" | bc -l)"
  done
