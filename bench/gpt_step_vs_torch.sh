#!/usr/bin/env bash
# Runs the GPT training-step benchmark (bench_gpt_step.cpp, gpt_step_torch.py) in Tessera and
# in PyTorch on this machine, one after the
# other in the same run, and prints the table of step times and Tessera/PyTorch ratios.
#
#   bash bench/gpt_step_vs_torch.sh [--threads N] [--iters N] [--build DIR]
# PyTorch comes from Debian's python3-torch (/usr/bin/python3) unless TESSERA_TORCH_PYTHON is set.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
threads=2 iters=10 build="$root/build"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift ;;
    --iters) iters=$2; shift ;;
    --build) build=$2; shift ;;
    -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "train_step_vs_torch.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
  shift
done
py=${TESSERA_TORCH_PYTHON:-/usr/bin/python3}
ts_out=$("$build/bench/bench_gpt_step" --threads "$threads" --iters "$iters")
torch_out=$(OMP_NUM_THREADS=$threads "$py" "$root/bench/gpt_step_torch.py" --threads "$threads" --iters "$iters")
echo "$ts_out" | grep '^#'
echo "$torch_out" | grep '^#'
printf '%-12s %6s %14s %14s %10s\n' model batch "tessera ms" "pytorch ms" "ratio"
join <(echo "$ts_out" | grep -v '^#' | sort) <(echo "$torch_out" | grep -v '^#' | sort) |
  while read -r name batch ts _ torch; do
    printf '%-12s %6s %14.2f %14.2f %9.2fx\n' "$name" "$batch" "$ts" "$torch" "$(echo "$ts / $torch" | bc -l)"
  done
