#!/usr/bin/env python3
"""PyTorch reference numbers for bench_attention_cuda: causal SDPA on the GPU.

    python3 bench/cuda/attention_vs_torch.py [--min-time SECONDS]

torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True) with q, k, v of
shape (B, H, T, D) for B=8 H=12 T=1024 D=64 and B=4 H=16 T=2048 D=128 in bf16, f16 and f32:
the forward alone (no_grad) and forward + backward (torch.autograd.grad of q, k, v), with
PyTorch's default SDPA backend choice (flash attention for 16-bit, memory-efficient for f32).
Same FLOP convention, timing (median of 5 batches between CUDA events) and markdown table as
the C++ benchmark. Prints "no CUDA device" and exits 0 without a GPU.
"""
import argparse

SHAPES = [(8, 12, 1024, 64), (4, 16, 2048, 128)]
DTYPES = ["bf16", "f16", "f32"]


def median_ms(fn, min_time):
    """Median milliseconds per call, timed in 5 batches between two CUDA events."""
    import torch

    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    for _ in range(3):
        fn()
    start.record()
    fn()
    stop.record()
    stop.synchronize()
    one = max(1e-3, start.elapsed_time(stop))
    reps = max(3, int(min_time * 1e3 / 5 / one))
    times = []
    for _ in range(5):
        start.record()
        for _ in range(reps):
            fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / reps)
    return sorted(times)[len(times) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-time", type=float, default=0.5,
                        help="seconds of timed calls per cell (default 0.5)")
    args = parser.parse_args()
    if not args.min_time > 0:
        parser.error("--min-time must be positive")
    import torch  # after parsing, so that --help works without PyTorch
    import torch.nn.functional as F

    if not torch.cuda.is_available():
        print("no CUDA device")
        return
    torch.manual_seed(0)
    print(f"device: {torch.cuda.get_device_name(0)} (torch {torch.__version__})\n")
    print("| B x H x T x D (causal) | dtype | fwd ms | fwd TFLOP/s | fwd+bwd ms | fwd+bwd TFLOP/s |")
    print("|---|---|---:|---:|---:|---:|")
    for b, h, t, d in SHAPES:
        for name in DTYPES:
            dtype = {"bf16": torch.bfloat16, "f16": torch.float16, "f32": torch.float32}[name]
            q, k, v = (torch.randn(b, h, t, d, device="cuda", dtype=dtype, requires_grad=True) for _ in range(3))
            grad = torch.randn(b, h, t, d, device="cuda", dtype=dtype)

            def forward():
                with torch.no_grad():
                    F.scaled_dot_product_attention(q, k, v, is_causal=True)

            def step():
                out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
                torch.autograd.grad(out, (q, k, v), grad)

            ms_fwd = median_ms(forward, args.min_time)
            ms_step = median_ms(step, args.min_time)
            flop_fwd = 4.0 * b * h * d * t * (t + 1) / 2
            flop_step = 3.5 * flop_fwd
            print(f"| {b} x {h} x {t} x {d} | {name} | {ms_fwd:.3f} | {flop_fwd / ms_fwd * 1e-9:.1f} | "
                  f"{ms_step:.3f} | {flop_step / ms_step * 1e-9:.1f} |", flush=True)


if __name__ == "__main__":
    main()
