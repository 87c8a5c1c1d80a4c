#!/usr/bin/env python3
"""GPT training-step time in PyTorch for the shapes of bench_gpt_step.cpp (same architecture
as ts::nn::GPT -- the model of tests/golden/gen_gpt_parity.py -- same AdamW, clipping and
loss). Uses F.scaled_dot_product_attention when the PyTorch has it (>= 2.0). Prints
"name batch median_ms" lines.

    python3 bench/gpt_step_torch.py --threads 2
"""
import argparse
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from gen_gpt_parity import GPT  # noqa: E402

SHAPES = [("gpt_l4_c128", 4, 4, 128, 128, 32), ("gpt_l6_c384", 6, 6, 384, 256, 8)]


def median_step_ms(n_layer, n_head, n_embd, block_size, batch, iters):
    torch.manual_seed(0)
    model = GPT(dict(vocab_size=65, n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size))
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95))
    x = torch.randint(0, 65, (batch, block_size))
    y = torch.randint(0, 65, (batch, block_size))

    def step():
        opt.zero_grad(set_to_none=True)
        model(x, y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    return sorted(times)[len(times) // 2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"# pytorch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.iters} steps")
    for name, *shape in SHAPES:
        if args.only and args.only != name:
            continue
        print(f"{name} {shape[-1]} {median_step_ms(*shape, args.iters):.3f}", flush=True)


if __name__ == "__main__":
    main()
