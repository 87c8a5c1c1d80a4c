// Memory-bound CUDA ops (elementwise, cast, reduction, softmax, layer norm) as effective GB/s
// against the device's own copy bandwidth (cudaMemcpy device-to-device) measured in the same
// run: a bandwidth-bound kernel should approach 100%. Effective bytes = inputs read + outputs
// written once each.
//
//   bench_elementwise_cuda [--mib N] [--iters N]
#include <cuda_runtime_api.h>
#include <tessera/tessera.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_bench_util.h"

namespace {

const char* kUsage = R"(Usage: bench_elementwise_cuda [--mib N] [--iters N]
Effective GB/s of Tessera's memory-bound CUDA kernels on float32 tensors of N MiB (default 256)
against cudaMemcpy device-to-device in the same run; median of --iters (default 20) runs.
Prints "no CUDA device" and exits 0 without a GPU.
)";

struct Case {
  std::string name;
  double bytes;  // effective bytes moved per call
  std::function<void()> run;
};

}  // namespace

int main(int argc, char** argv) {
  int64_t mib = 256;
  int iters = 20;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if ((a == "--mib" || a == "--iters") && i + 1 < argc) {
      const long v = std::strtol(argv[++i], nullptr, 10);
      if (v < 1) {
        std::fprintf(stderr, "%s expects a positive integer\n", a.c_str());
        return 2;
      }
      if (a == "--mib") {
        mib = v;
      } else {
        iters = static_cast<int>(v);
      }
      continue;
    }
    std::fprintf(stderr, "unknown option '%s'\n\n%s", a.c_str(), kUsage);
    return 2;
  }
  if (!ts::cuda::is_available()) {
    std::printf("no CUDA device: %s\n", ts::cuda::unavailable_reason().c_str());
    return 0;
  }
  try {
    const ts::Device gpu("cuda");
    const int64_t n = mib * (int64_t{1} << 20) / 4;
    const int64_t cols = 4096, rows = n / cols;
    const ts::Tensor a = ts::randn({rows, cols}).to(gpu);
    const ts::Tensor b = ts::randn({rows, cols}).to(gpu);
    const ts::Tensor w = ts::ones({cols}).to(gpu), bias = ts::zeros({cols}).to(gpu);
    ts::Tensor out = ts::empty({rows, cols}, ts::TensorOptions(ts::kFloat32).with_device(gpu));
    const double f = 4.0 * static_cast<double>(n);  // bytes of one float32 tensor

    const double copy_ms = bench::median_ms(
        [&] {
          if (cudaMemcpyAsync(out.raw_data(), a.raw_data(), static_cast<size_t>(f), cudaMemcpyDeviceToDevice,
                              static_cast<cudaStream_t>(ts::cuda::Stream::current().handle())) != cudaSuccess)
            throw std::runtime_error("cudaMemcpyAsync failed");
        },
        iters);
    const double copy_gbs = 2 * f / (copy_ms * 1e6);

    const std::vector<Case> cases = {
        {"copy (clone)", 2 * f, [&] { (void)a.clone(); }},
        {"add", 3 * f, [&] { (void)ts::add(a, b); }},
        {"mul by scalar", 2 * f, [&] { (void)(a * 2.0); }},
        {"exp", 2 * f, [&] { (void)ts::exp(a); }},
        {"gelu", 2 * f, [&] { (void)ts::gelu(a); }},
        {"add (broadcast row)", 2 * f, [&] { (void)ts::add(a, w); }},
        {"transpose copy", 2 * f, [&] { (void)a.transpose(0, 1).contiguous(); }},
        {"cast f32->bf16", f + f / 2, [&] { (void)a.to(ts::kBFloat16); }},
        {"sum (all)", f, [&] { (void)ts::sum(a); }},
        {"sum (rows)", f, [&] { (void)ts::sum(a, {1}); }},
        {"sum (cols)", f, [&] { (void)ts::sum(a, {0}); }},
        {"softmax (rows of 4096)", 2 * f, [&] { (void)ts::softmax(a, 1); }},
        {"layer_norm (4096)", 2 * f, [&] { (void)ts::layer_norm(a, {cols}, w, bias, 1e-5); }},
    };
    cudaDeviceProp prop{};
    (void)cudaGetDeviceProperties(&prop, 0);
    std::printf("# device: %s, float32 tensors of %lld MiB (%lld x %lld), median of %d runs\n", prop.name,
                static_cast<long long>(mib),
                static_cast<long long>(rows), static_cast<long long>(cols), iters);
    std::printf("| op | ms | effective GB/s | vs cudaMemcpy D2D |\n| --- | ---: | ---: | ---: |\n");
    std::printf("| cudaMemcpy D2D | %.3f | %.0f | 100%% |\n", copy_ms, copy_gbs);
    for (const Case& c : cases) {
      const double ms = bench::median_ms(c.run, iters);
      const double gbs = c.bytes / (ms * 1e6);
      std::printf("| %s | %.3f | %.0f | %.0f%% |\n", c.name.c_str(), ms, gbs, 100.0 * gbs / copy_gbs);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_elementwise_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
