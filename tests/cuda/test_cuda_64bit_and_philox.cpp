// CUDA elementwise and random paths the other CUDA tests do not reach: launches
// past 2^31 elements (the strided kernel's 64-bit index math, the random kernel's counters)
// and Philox counters and seeds that use the high 32-bit words, each against the CPU backend.
#include <catch2/catch.hpp>

#include <cstdint>
#include <vector>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

namespace ts {
namespace {

using namespace cuda_test;

constexpr uint64_t kWideSeed = 0x9E3779B97F4A7C15ull;  // both 32-bit key words non-zero

/// Fills `n` elements of `dt` on each device through the backends directly, so the seed and
/// counter offset are exactly the given ones.
Pair uniform_on_both(DType dt, int64_t n, double low, double high, uint64_t seed, uint64_t offset) {
  Pair p{empty({n}, TensorOptions(dt)), empty({n}, TensorOptions(dt).with_device(kCuda))};
  backend_for(kCpu).fill_uniform(p.cpu, low, high, seed, offset);
  backend_for(kCuda).fill_uniform(p.cuda, low, high, seed, offset);
  return p;
}

TEST_CASE("cuda random fills with 64-bit seeds and counters crossing 2^32 match the CPU", "[cuda]") {
  const uint64_t offsets[] = {0, (uint64_t(1) << 32) - 100, (uint64_t(5) << 32) + 12345, (uint64_t(1) << 62) + 7};
  for (DType dt : kAllTypes) {
    for (uint64_t offset : offsets) {
      CAPTURE(dtype_name(dt), offset);
      // Negative doubles to uint8 are undefined behaviour in C++ (x86 wraps, the GPU clamps).
      const double low = dt == kUInt8 ? 0.0 : -2.0;
      const Pair u = uniform_on_both(dt, 257, low, 5.0, kWideSeed, offset);
      require_match(u.cuda, u.cpu, dt == kFloat64 ? 1e-15 : 0.0);
      if (!is_floating_point(dt)) continue;
      Pair nrm{empty({257}, TensorOptions(dt)), empty({257}, TensorOptions(dt).with_device(kCuda))};
      backend_for(kCpu).fill_normal(nrm.cpu, 0.5, 2.0, kWideSeed, offset);
      backend_for(kCuda).fill_normal(nrm.cuda, 0.5, 2.0, kWideSeed, offset);
      // CUDA's double log/cos may differ from glibc's in the last bit.
      require_match(nrm.cuda, nrm.cpu, dt == kFloat64 ? 1e-14 : tolerance(dt) / 100);
    }
  }
}

/// Row `r` of `out` as bytes on the host.
std::vector<uint8_t> host_row(const Tensor& out, int64_t r) { return out.select(0, r).to_vector<uint8_t>(); }

TEST_CASE("cuda elementwise and random launches past 2^31 elements (64-bit index paths)", "[cuda]") {
  // 65537 x 32769 = 2^31 + 98305 elements. Stride-0 (broadcast) operands keep both dims after
  // coalescing, so these run the strided kernel with 64-bit index math; rows from 65534 on
  // start at or cross linear index 2^31. uint8 keeps each tensor at 2.1 GB.
  const int64_t rows = 65537, cols = 32769, n = rows * cols;
  REQUIRE(n > int64_t(INT32_MAX));
  std::vector<uint8_t> col_vals(static_cast<size_t>(cols)), row_vals(static_cast<size_t>(rows));
  for (size_t j = 0; j < col_vals.size(); ++j) col_vals[j] = static_cast<uint8_t>(j * 7 + 3);
  for (size_t i = 0; i < row_vals.size(); ++i) row_vals[i] = static_cast<uint8_t>(i * 13 + 1);
  const auto expected = [&](int64_t r, int64_t c) {
    return static_cast<uint8_t>(row_vals[static_cast<size_t>(r)] + col_vals[static_cast<size_t>(c)]);
  };
  {
    const Tensor a = tensor<uint8_t>(col_vals, {1, cols}).to(kCuda);
    const Tensor b = tensor<uint8_t>(row_vals, {rows, 1}).to(kCuda);
    const Tensor out = a + b;  // (rows, cols): operands with strides (0, 1) and (1, 0)
    REQUIRE(out.shape() == Shape{rows, cols});
    for (int64_t r : {int64_t(0), int64_t(65533), int64_t(65534), int64_t(65535), int64_t(65536)}) {
      CAPTURE(r);
      const std::vector<uint8_t> got = host_row(out, r);
      size_t bad = 0;
      for (int64_t c = 0; c < cols; ++c) bad += got[static_cast<size_t>(c)] != expected(r, c);
      REQUIRE(bad == 0);
    }
    // A transposing copy of it: both operands strided, 2^31+ elements.
    const Tensor t = out.t().contiguous();
    for (int64_t c : {int64_t(0), int64_t(32767), int64_t(32768)}) {
      CAPTURE(c);
      const std::vector<uint8_t> got = host_row(t, c);
      size_t bad = 0;
      for (int64_t r = 0; r < rows; ++r) bad += got[static_cast<size_t>(r)] != expected(r, c);
      REQUIRE(bad == 0);
    }
  }
  {
    // One random fill of n elements: its head and tail are the CPU's draws at those counters.
    Tensor big = empty({n}, TensorOptions(kUInt8).with_device(kCuda));
    const uint64_t offset = (uint64_t(1) << 32) - 17;
    backend_for(kCuda).fill_uniform(big, 0.0, 256.0, kWideSeed, offset);
    const int64_t k = 4096;
    for (int64_t start : {int64_t(0), int64_t(INT32_MAX) - k / 2, n - k}) {
      CAPTURE(start);
      Tensor want = empty({k}, TensorOptions(kUInt8));
      backend_for(kCpu).fill_uniform(want, 0.0, 256.0, kWideSeed, offset + static_cast<uint64_t>(start));
      require_match(big.slice(0, start, start + k), want, 0.0);
    }
  }
}

}  // namespace
}  // namespace ts
