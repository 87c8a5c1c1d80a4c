// Fused attention on the GPU: ts::scaled_dot_product_attention (kernels/attention.cu) forward,
// and forward + backward through autograd, for GPT-2-like causal shapes in bf16, f16 and f32.
// Timed with CUDA events on the current stream; prints a markdown table of milliseconds and
// TFLOP/s. bench/cuda/attention_vs_torch.py prints the same table for PyTorch's SDPA.
//
//   bench_attention_cuda [--min-time SECONDS]
#include <tessera/tessera.h>

#include <cstdio>

#include "../bench_common.h"
#include "cuda_bench_util.h"

namespace {

const char* kUsage = R"(Usage: bench_attention_cuda [--min-time SECONDS]
Milliseconds and TFLOP/s of ts::scaled_dot_product_attention on CUDA (is_causal, q/k/v of
shape (B, H, T, D)) for B=8 H=12 T=1024 D=64 (GPT-2 small) and B=4 H=16 T=2048 D=128, in
bf16, f16 and f32: the forward alone (no autograd) and forward + backward (autograd::grad
of q, k, v). FLOPs count the causal half only: forward 2 * 2 * B*H*D * (visible (query, key)
pairs), backward 2.5x the forward, as FlashAttention reports them. Each cell is the median
of 5 timed batches of calls (CUDA events), each batch about SECONDS / 5 long (default 0.5).
Exits 0 printing "no CUDA device" on a machine without a usable GPU.
)";

struct Shape {
  int64_t b, h, t, d;
};

struct Config {
  const char* name;
  ts::DType dtype;
};

// (query, key) pairs a causal T x T attention computes.
double causal_pairs(int64_t t) { return static_cast<double>(t) * static_cast<double>(t + 1) / 2; }

}  // namespace

int main(int argc, char** argv) {
  const bench::Flags flags = bench::parse_flags(argc, argv, kUsage);
  if (!bench::print_cuda_device()) return 0;
  const ts::Device gpu(ts::DeviceType::CUDA, 0);
  const ts::cuda::Stream stream = ts::cuda::Stream::current(0);

  const Shape shapes[] = {{8, 12, 1024, 64}, {4, 16, 2048, 128}};
  const Config configs[] = {{"bf16", ts::kBFloat16}, {"f16", ts::kFloat16}, {"f32", ts::kFloat32}};
  std::printf("| B x H x T x D (causal) | dtype | fwd ms | fwd TFLOP/s | fwd+bwd ms | fwd+bwd TFLOP/s |\n");
  std::printf("|---|---|---:|---:|---:|---:|\n");
  for (const Shape& s : shapes) {
    for (const Config& cfg : configs) {
      const auto opts = ts::TensorOptions(ts::kFloat32).with_device(gpu);
      const ts::Shape shape{s.b, s.h, s.t, s.d};
      ts::Tensor q = ts::randn(shape, opts).to(cfg.dtype).requires_grad_(true);
      ts::Tensor k = ts::randn(shape, opts).to(cfg.dtype).requires_grad_(true);
      ts::Tensor v = ts::randn(shape, opts).to(cfg.dtype).requires_grad_(true);
      const ts::Tensor grad = ts::randn(shape, opts).to(cfg.dtype);

      const double ms_fwd = bench::median_ms([&] {
        ts::NoGradGuard no_grad;
        (void)ts::scaled_dot_product_attention(q, k, v, ts::Tensor(), 0.0, true);
      }, stream, flags.min_time);
      const double ms_step = bench::median_ms([&] {
        const ts::Tensor out = ts::scaled_dot_product_attention(q, k, v, ts::Tensor(), 0.0, true);
        (void)ts::autograd::grad({out}, {q, k, v}, {grad});
      }, stream, flags.min_time);

      const double flop_fwd = 4.0 * static_cast<double>(s.b * s.h * s.d) * causal_pairs(s.t);
      const double flop_step = 3.5 * flop_fwd;
      std::printf("| %lld x %lld x %lld x %lld | %s | %.3f | %.1f | %.3f | %.1f |\n", static_cast<long long>(s.b),
                  static_cast<long long>(s.h), static_cast<long long>(s.t), static_cast<long long>(s.d), cfg.name,
                  ms_fwd, flop_fwd / (ms_fwd * 1e-3) * 1e-12, ms_step, flop_step / (ms_step * 1e-3) * 1e-12);
      std::fflush(stdout);
    }
  }
  return 0;
}
