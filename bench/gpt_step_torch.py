#!/usr/bin/env python3
"""GPT training-step time in PyTorch for the shapes of bench_gpt_step.cpp (same architecture
as ts::nn::GPT -- the model of tests/golden/gen_gpt_parity.py -- same AdamW, clipping and
loss). Uses F.scaled_dot_product_attention when the PyTorch has it (>= 2.0); eager mode, no
torch.compile. Prints "name batch median_ms" lines, and "#" lines with tokens/s, GFLOP/s
(6N + 12LCT per token, as Tessera counts) and the MFU against --peak-tflops.

    python3 bench/gpt_step_torch.py --threads 2
    python3 bench/gpt_step_torch.py --device cuda --tf32 --gpt2-small --batch 8   # GPT-2 124M on a GPU
"""
import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "golden"))
sys.path.insert(0, HERE)
from gen_gpt_parity import GPT  # noqa: E402
from train_step_torch import device_comment, median_ms, select_device  # noqa: E402

# name, n_layer, n_head, n_embd, block_size, batch
SHAPES = [("gpt_l4_c128", 4, 4, 128, 128, 32), ("gpt_l6_c384", 6, 6, 384, 256, 8)]
# GPT-2 124M as llm.c trains it: the 50257-token vocabulary padded to 50304 rows.
GPT2_SMALL = ("gpt2_124m", 12, 12, 768, 1024, 8)
GPT2_VOCAB, GPT2_DATA_VOCAB = 50304, 50257
# H100 SXM5 dense TF32 tensor-core peak (the float32 step with --tf32), as bench_gpt_step.cpp.
DEFAULT_GPU_PEAK_TFLOPS = 494.7


class DeviceGPT(GPT):
    """The reference GPT with its position ids created on the tokens' device."""

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.size(1), device=idx.device))
        for block in self.h:
            x = block(x)
        logits = torch.nn.functional.linear(self.ln_f(x), self.wte.weight)
        return torch.nn.functional.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


def time_step(n_layer, n_head, n_embd, block_size, batch, iters, device, vocab=65, data_vocab=65):
    """(median ms, FLOPs per step) of one training step."""
    torch.manual_seed(0)
    model = DeviceGPT(dict(vocab_size=vocab, n_layer=n_layer, n_head=n_head, n_embd=n_embd, block_size=block_size))
    model.to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95))
    x = torch.randint(0, data_vocab, (batch, block_size)).to(device)
    y = torch.randint(0, data_vocab, (batch, block_size)).to(device)

    def step():
        opt.zero_grad(set_to_none=True)
        model(x, y).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    ms = median_ms(step, iters, device)
    # 6N + 12LCT per token, N without the position embedding (the tied LM head counted once).
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    flops = (6.0 * n + 12.0 * n_layer * n_embd * block_size) * batch * block_size
    return ms, flops


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--only", default="")
    ap.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    ap.add_argument("--tf32", action="store_true", help="TF32 tensor cores for float32 matmul (CUDA)")
    ap.add_argument("--gpt2-small", action="store_true",
                    help="time GPT-2 124M instead (L12 H12 C768 T1024, vocab 50304; batch from --batch)")
    ap.add_argument("--batch", type=int, help="sequences per step (default: 8 for --gpt2-small, else each shape's own)")
    ap.add_argument("--peak-tflops", type=float,
                    help=f"peak the MFU is relative to (default on a GPU: {DEFAULT_GPU_PEAK_TFLOPS}, H100 SXM dense TF32)")
    ap.add_argument("--generate", type=int, default=0, help="accepted for bench_gpt_step's flags; not timed here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device, args.tf32)
    peak = args.peak_tflops if args.peak_tflops is not None else (DEFAULT_GPU_PEAK_TFLOPS if device.type == "cuda" else 0)
    tf32 = f" (TF32 {'on' if args.tf32 else 'off'})" if device.type == "cuda" else ""
    sdpa = "scaled_dot_product_attention" if hasattr(torch.nn.functional, "scaled_dot_product_attention") else "unfused attention"
    print(f"# pytorch {torch.__version__}, {torch.get_num_threads()} threads, median of {args.iters} steps, "
          f"device {device}{tf32}, {sdpa}, eager", flush=True)
    if peak > 0:
        source = "--peak-tflops" if args.peak_tflops is not None else "default: H100 SXM dense TF32; set --peak-tflops"
        print(f"# MFU against a peak of {peak:.1f} TFLOP/s ({source})")
    if args.gpt2_small:
        shapes = [(GPT2_SMALL, GPT2_VOCAB, GPT2_DATA_VOCAB)]
    else:
        shapes = [(s, 65, 65) for s in SHAPES]
    for (name, n_layer, n_head, n_embd, block_size, batch), vocab, data_vocab in shapes:
        if args.only and args.only != name:
            continue
        if args.batch:
            batch = args.batch
        ms, flops = time_step(n_layer, n_head, n_embd, block_size, batch, args.iters, device, vocab, data_vocab)
        print(f"{name} {batch} {ms:.3f}", flush=True)
        flops_per_s = flops / (ms / 1e3)
        mfu = f", MFU {100 * flops_per_s / (peak * 1e12):.1f}%" if peak > 0 else ""
        print(f"# {name}: {batch * block_size / (ms / 1e3):.0f} tokens/s, {flops_per_s / 1e9:.1f} GFLOP/s{mfu}",
              flush=True)
    if device.type == "cuda":
        print(device_comment(device, args.tf32))


if __name__ == "__main__":
    main()
