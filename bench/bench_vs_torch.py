#!/usr/bin/env python3
"""PyTorch reference numbers for the shapes of bench_gemm and bench_elementwise.

    python3 bench/bench_vs_torch.py [--threads N] [--min-time SECONDS]

f32 matmul of 256/512/1024 square matrices (GFLOP/s) and float add, mul, exp and
exp((a+b)*b) on 2^20 elements (effective GB/s: inputs read + output written), each the
median of repeated calls, like the C++ benchmarks. On Debian, python3-torch provides torch
for /usr/bin/python3.
"""
import argparse
import statistics
import time

import torch


def time_median(fn, min_time):
    fn()
    fn()
    times = []
    while len(times) < 5 or sum(times) < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(),
                        help="torch.set_num_threads (default: torch's default)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds of timed calls per cell")
    args = parser.parse_args()
    if args.threads < 1:
        parser.error("--threads must be positive")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    config = torch.__config__.show().replace(",", " ").split()
    blas = next((word for word in config if word.startswith("BLAS_INFO=")), "BLAS_INFO=unknown")
    print(f"bench_vs_torch: torch {torch.__version__}, {torch.get_num_threads()} thread(s), {blas}, "
          f"MKL {'yes' if torch.backends.mkl.is_available() else 'no'}; median of >= {args.min_time:.2f} s per cell")

    print(f"{'n':>6}  {'torch GFLOP/s':>14}")
    with torch.no_grad():
        for n in (256, 512, 1024):
            a = torch.rand(n, n) * 2 - 1
            b = torch.rand(n, n) * 2 - 1
            t = time_median(lambda: torch.matmul(a, b), args.min_time)
            print(f"{n:>6}  {2 * n ** 3 / t * 1e-9:>14.1f}")

        n = 1 << 20
        a = torch.rand(n) * 2 - 1
        b = torch.rand(n) * 2 - 1
        src = torch.ones(n)
        dst = torch.empty(n)
        t_copy = time_median(lambda: dst.copy_(src), args.min_time)
        print(f"\ncopy_ of {n} floats: {2 * 4 * n / t_copy * 1e-9:.1f} GB/s (read + write)")
        print(f"{'op':<14}  {'torch GB/s':>10}")
        cases = [
            ("add", 2, lambda: a + b),
            ("mul", 2, lambda: a * b),
            ("exp", 1, lambda: torch.exp(a)),
            ("exp((a+b)*b)", 2, lambda: torch.exp((a + b) * b)),
        ]
        for name, inputs, fn in cases:
            t = time_median(fn, args.min_time)
            print(f"{name:<14}  {(inputs + 1) * 4 * n / t * 1e-9:>10.1f}")


if __name__ == "__main__":
    main()
