#!/usr/bin/env bash
# Runs the training-step benchmark (MLP, CNN, ResNet-20: bench_train_step.cpp and
# train_step_torch.py) in Tessera and in PyTorch on this machine, one after the other in the
# same run, and prints the table of step times and Tessera/PyTorch ratios.
#
#   bash bench/train_step_vs_torch.sh [--threads N] [--iters N] [--build DIR] [--device cuda[:N]] [--tf32]
#        [--only mlp|cnn|resnet20]
# Every flag but --build goes to both programs.
# PyTorch comes from Debian's python3-torch (/usr/bin/python3) unless TESSERA_TORCH_PYTHON is set.
case "${1:-}" in -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
exec bash "$(dirname "${BASH_SOURCE[0]}")/step_vs_torch.sh" bench_train_step train_step_torch.py 20 "$@"
