// Counter-based random fills: element i (in row-major order of `out`) draws from
// Philox(seed, offset + i), so results never depend on the thread count.
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_loops.h"
#include "runtime/philox.h"

namespace ts {
namespace {

template <typename Gen> void fill_random(const Tensor& out, Gen gen) {
  TS_CHECK(out.is_contiguous(), "random fill: expected a contiguous output");
  TS_DISPATCH_ALL(out.dtype(), "random fill", [&] {
    auto* p = static_cast<scalar_t*>(out.raw_data());
    parallel_for(0, out.numel(), 4096, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) p[i] = cpu::convert<scalar_t>(gen(static_cast<uint64_t>(i)));
    });
  });
}

}  // namespace

void CpuBackend::fill_uniform(const Tensor& out, double low, double high, uint64_t seed, uint64_t offset) {
  fill_random(out, [=](uint64_t i) { return low + (high - low) * detail::philox_uniform(seed, offset + i); });
}

void CpuBackend::fill_normal(const Tensor& out, double mean, double std, uint64_t seed, uint64_t offset) {
  fill_random(out, [=](uint64_t i) { return mean + std * detail::philox_normal(seed, offset + i); });
}

}  // namespace ts
