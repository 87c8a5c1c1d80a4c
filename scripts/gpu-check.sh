#!/usr/bin/env bash
# One-shot GPU check for a fresh NVIDIA machine that has the CUDA toolkit, CMake and PyTorch
# but no package registry and no Debian dev packages. Builds Tessera with CUDA for this GPU
# from the dependencies carried in .deps/ (scripts/fetch-gpu-deps.sh prepares them), runs the
# CUDA tests, the conformance suite on CUDA and short trainer runs, then the GPU benchmarks
# against cuBLAS and PyTorch, and writes logs plus results.md into RESULTS_DIR. Every step has
# a time limit; the whole script is sized for about 8 minutes on an H100 with 16 cores.
#
#   bash scripts/gpu-check.sh RESULTS_DIR [--quick]   # --quick: tests only, no benchmarks
#
# Environment: TESSERA_GPU_BUILD_DIR (default build-gpu), TESSERA_JOBS (default: all cores),
# TESSERA_TORCH_PYTHON (default python3), TESSERA_GPU_CHECK_BUDGET=S (stop starting steps, or
# shorten their limits, so the whole script ends within S seconds; default: no budget).
set -uo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
results=${1:-}
quick=0
[[ "${2:-}" == "--quick" ]] && quick=1
if [[ -z "$results" || "$results" == -h || "$results" == --help ]]; then
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
  [[ -z "$results" ]] && exit 2 || exit 0
fi
mkdir -p "$results"
results=$(cd "$results" && pwd)
build=${TESSERA_GPU_BUILD_DIR:-$root/build-gpu}
jobs=${TESSERA_JOBS:-$(nproc)}
py=${TESSERA_TORCH_PYTHON:-python3}
deps=$root/.deps
summary=$results/results.md
start=$SECONDS
budget=${TESSERA_GPU_CHECK_BUDGET:-0}
failed=0

# step NAME LIMIT_SECONDS COMMAND...: runs COMMAND with a time limit, its output in NAME.log,
# and one row of the summary table.
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS status
  if ((budget > 0)); then
    local left=$((budget - (SECONDS - start) - 15))  # 15 s for the summary
    if ((left < 10)); then
      printf '| %s | not run (time budget spent) | 0 s |\n' "$name" >>"$results/steps.md"
      failed=1
      return 0
    fi
    ((limit > left)) && limit=$left
  fi
  echo "== gpu-check: $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" >"$results/$name.log" 2>&1
  local rc=$?
  case $rc in
    0) status=passed ;;
    77) status="skipped (no usable GPU)"; failed=1 ;;
    124|137) status="TIMED OUT"; failed=1 ;;
    *) status="FAILED (exit $rc)"; failed=1 ;;
  esac
  printf '| %s | %s | %d s |\n' "$name" "$status" $((SECONDS - t0)) >>"$results/steps.md"
  tail -n 3 "$results/$name.log"
  return 0
}

: >"$results/steps.md"
{
  echo "# Tessera GPU check ($(date -u '+%Y-%m-%d %H:%M UTC'))"
  echo
  echo '```'
  echo "commit $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  nvidia-smi --query-gpu=name,memory.total,driver_version,compute_cap --format=csv,noheader 2>&1
  nvcc --version 2>&1 | tail -n 2
  cmake --version 2>&1 | head -n 1
  "$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
  echo '```'
} >"$summary"

# Build for this GPU only (sm_90 on an H100), which halves nvcc's work against CI's sm_80+sm_90.
cc=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d '. ')
cmake_args=(-S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTESSERA_CUDA=ON -DTESSERA_MPI=OFF
  -DTESSERA_WERROR=OFF "-DCMAKE_CUDA_ARCHITECTURES=${cc:-90}-real")
command -v ninja >/dev/null 2>&1 && cmake_args+=(-G Ninja)
if [[ -d "$deps/prefix/usr" ]]; then
  cmake_args+=("-DCMAKE_PREFIX_PATH=$deps/prefix/usr" "-DZLIB_ROOT=$deps/prefix/usr")
  export LD_LIBRARY_PATH="$deps/prefix/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi
if [[ -d "$deps/data" ]]; then
  export TESSERA_DATA="$deps/data"
else
  export TESSERA_DATA="${TESSERA_DATA:-$root/../shared/data}"
fi
targets=(tessera_cuda_tests tessera_tests mnist logreg_mnist gpt)
((quick)) || targets+=(bench_gemm_cuda bench_elementwise_cuda bench_attention_cuda bench_train_step bench_gpt_step)

step configure 120 cmake "${cmake_args[@]}"
# Keep going past a target that fails to compile, so the others still get tested.
keep_going=(-k)
command -v ninja >/dev/null 2>&1 && keep_going=(-k 0)
step build 300 cmake --build "$build" -j "$jobs" --target "${targets[@]}" -- "${keep_going[@]}"

# ---- correctness --------------------------------------------------------------------------
step cuda_tests 240 "$build/tests/cuda/tessera_cuda_tests" --reporter compact --durations yes
step conformance_all_backends 90 "$build/tests/tessera_tests" "[conformance]" --reporter compact
# The trainers' CUDA smoke tests (train, resume, sample); CIFAR-10 is not carried (150 MB).
step example_tests_cuda 180 ctest --test-dir "$build" -L cuda -R '^example[.]' -E cifar --output-on-failure
# Known results: one CNN epoch reaches >= 98% test accuracy; 500 GPT steps reach val <= 2.2
# (the CPU run: 2.02 at step 500 of 4000).
step mnist_cuda 90 "$build/examples/mnist" --device cuda --data "$TESSERA_DATA" --epochs 1 --seed 1 \
  --log "$results/mnist_cuda.csv" --min-test-acc 0.98
step gpt_cuda 120 "$build/examples/gpt" train --device cuda --tf32 --data "$TESSERA_DATA" \
  --cache "$results/gpt_cache" --max-iters 500 --eval-interval 250 --sample-tokens 100 \
  --log "$results/gpt_cuda.csv" --target-val-loss 2.2

# ---- benchmarks ---------------------------------------------------------------------------
if ((!quick)); then
  step bench_gemm 60 "$build/bench/cuda/bench_gemm_cuda"
  step bench_elementwise 60 "$build/bench/cuda/bench_elementwise_cuda"
  step bench_attention 60 "$build/bench/cuda/bench_attention_cuda"
  step bench_attention_torch 60 "$py" "$root/bench/cuda/attention_vs_torch.py"
  # PyTorch on the same GPU in the same run; float32 with TF32 on both sides, eager mode.
  step bench_train_step 90 env TESSERA_TORCH_PYTHON="$py" bash "$root/bench/train_step_vs_torch.sh" \
    --build "$build" --device cuda --tf32 --iters 20
  step bench_gpt_step 90 env TESSERA_TORCH_PYTHON="$py" bash "$root/bench/gpt_step_vs_torch.sh" \
    --build "$build" --device cuda --tf32 --iters 20
  step bench_gpt2_small 150 env TESSERA_TORCH_PYTHON="$py" bash "$root/bench/gpt_step_vs_torch.sh" \
    --build "$build" --device cuda --tf32 --iters 10 --gpt2-small --batch 8
fi

{
  echo
  echo "## Steps ($((SECONDS - start)) s in all)"
  echo
  echo '| step | result | time |'
  echo '| --- | --- | --- |'
  cat "$results/steps.md"
  # The end of every failed step's log, then the results of the checks and benchmarks.
  grep -E 'FAILED|TIMED OUT|skipped' "$results/steps.md" | cut -d'|' -f2 | while read -r name; do
    echo
    echo "### $name (failed: last lines of $name.log)"
    echo '```'
    tail -n 8 "$results/$name.log"
    echo '```'
  done
  for name in cuda_tests conformance_all_backends example_tests_cuda; do
    echo
    echo "### $name"
    echo '```'
    tail -n 5 "$results/$name.log"
    echo '```'
  done
  for name in mnist_cuda gpt_cuda bench_gemm bench_elementwise bench_attention bench_attention_torch \
    bench_train_step bench_gpt_step bench_gpt2_small; do
    [[ -f "$results/$name.log" ]] || continue
    echo
    echo "### $name"
    echo
    grep -E '^\||^#|ratio|accuracy|val|tokens/s|MFU' "$results/$name.log" | tail -n 40
  done
} >>"$summary"
echo "gpu-check: $((SECONDS - start)) s; summary in $summary"
exit $failed
