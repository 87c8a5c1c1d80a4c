#!/usr/bin/env bash
# Runs the GPT training-step benchmark (two shapes: bench_gpt_step.cpp and gpt_step_torch.py)
# in Tessera and in PyTorch on this machine, one after the other in the same run, and prints
# the table of step times and Tessera/PyTorch ratios.
#
#   bash bench/gpt_step_vs_torch.sh [--threads N] [--iters N] [--build DIR] [--device cuda[:N]] [--tf32]
#        [--gpt2-small [--batch B]] [--peak-tflops X] [--only NAME]
# --gpt2-small times GPT-2 124M (L12 H12 C768 T1024, vocab 50304, batch 8) instead; every flag
# but --build goes to both programs. On a GPU the MFU lines use --peak-tflops (default 494.7,
# H100 SXM dense TF32). PyTorch is /usr/bin/python3 unless TESSERA_TORCH_PYTHON is set.
case "${1:-}" in -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
exec bash "$(dirname "${BASH_SOURCE[0]}")/step_vs_torch.sh" bench_gpt_step gpt_step_torch.py 10 "$@"
