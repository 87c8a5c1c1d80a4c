// CUDA matmul (cuBLAS / cuBLASLt, src/backend/cuda/cuda_matmul.cpp) against the CPU backend on
// the same inputs: every float dtype, odd and empty sizes, strided operands (transposed views go
// to cuBLAS's transpose flags, other views through a dense copy, broadcast batches with stride
// 0, misaligned 16-bit views for cuBLASLt), gradients through autograd, and TF32.
#include <catch2/catch.hpp>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

using namespace ts;
using namespace ts::cuda_test;

namespace {

// bmm of views: `view_a` / `view_b` turn a base tensor into the operand (the same function on
// both devices), forward and gradients with respect to the bases.
void check_bmm_views(DType dt, const Shape& base_a, const Shape& base_b, const ViewFn& view_a, const ViewFn& view_b) {
  auto [a_cpu, a_cuda] = random_pair(base_a, dt);
  auto [b_cpu, b_cuda] = random_pair(base_b, dt);
  a_cpu.requires_grad_(true);
  b_cpu.requires_grad_(true);
  a_cuda = a_cuda.detach().requires_grad_(true);
  b_cuda = b_cuda.detach().requires_grad_(true);
  const Tensor out_cpu = matmul(view_a(a_cpu), view_b(b_cpu));
  const Tensor out_cuda = matmul(view_a(a_cuda), view_b(b_cuda));
  require_close(out_cuda, out_cpu, tolerance(dt));
  const auto [g_cpu, g_cuda] = random_pair(out_cpu.shape(), dt);
  const auto grads_cpu = autograd::grad({out_cpu}, {a_cpu, b_cpu}, {g_cpu});
  const auto grads_cuda = autograd::grad({out_cuda}, {a_cuda, b_cuda}, {g_cuda});
  for (size_t i = 0; i < 2; ++i) {
    INFO("gradient of " << (i == 0 ? "a" : "b"));
    require_close(grads_cuda[i], grads_cpu[i], tolerance(dt));
  }
}

Tensor same(const Tensor& t) { return t; }

}  // namespace

TEST_CASE("cuda matmul: bmm equals the CPU backend for every float dtype and odd sizes", "[cuda]") {
  struct Size {
    int64_t b, m, k, n;
  };
  const Size sizes[] = {{1, 1, 1, 1},    {1, 31, 33, 1},  {3, 33, 31, 17}, {2, 1000, 64, 31}, {1, 1, 1000, 1},
                        {5, 7, 1, 9},    {1, 128, 256, 64}, {1, 70000, 8, 3}, {300, 4, 5, 6}};
  for (DType dt : kFloatTypes) {
    for (const Size& s : sizes) {
      INFO(dtype_name(dt) << " (" << s.b << ", " << s.m << ", " << s.k << ") @ (" << s.b << ", " << s.k << ", " << s.n
                          << ")");
      check_bmm_views(dt, {s.b, s.m, s.k}, {s.b, s.k, s.n}, same, same);
    }
  }
}

TEST_CASE("cuda matmul: empty products, and K = 0 gives zeros", "[cuda]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const Tensor z = bmm(zeros({2, 3, 0}, dt).to(kCuda), zeros({2, 0, 4}, dt).to(kCuda));
    REQUIRE(z.shape() == Shape{2, 3, 4});
    // NaN-filled output memory would survive a kernel that skips K = 0.
    for (double v : z.to(Device()).to_vector<double>()) CHECK(v == 0.0);
    CHECK(bmm(zeros({0, 3, 5}, dt).to(kCuda), zeros({0, 5, 4}, dt).to(kCuda)).shape() == Shape{0, 3, 4});
    CHECK(bmm(zeros({2, 0, 5}, dt).to(kCuda), zeros({2, 5, 4}, dt).to(kCuda)).shape() == Shape{2, 0, 4});
    CHECK(bmm(zeros({2, 3, 5}, dt).to(kCuda), zeros({2, 5, 0}, dt).to(kCuda)).shape() == Shape{2, 3, 0});
  }
}

TEST_CASE("cuda matmul: transposed, sliced, broadcast and offset views", "[cuda]") {
  for (DType dt : kFloatTypes) {
    INFO(dtype_name(dt));
    const auto t12 = [](const Tensor& t) { return t.transpose(1, 2); };
    {
      INFO("column-major a and b (cuBLAS transpose flags)");
      check_bmm_views(dt, {3, 17, 33}, {3, 31, 17}, t12, t12);
      check_bmm_views(dt, {2, 64, 100}, {2, 64, 48}, t12, same);
      check_bmm_views(dt, {2, 100, 64}, {2, 48, 64}, same, t12);
    }
    {
      INFO("inner stride 2 (copied dense first)");
      const auto every_other = [](const Tensor& t) { return t.slice(2, 0, t.size(2), 2); };
      check_bmm_views(dt, {2, 19, 2 * 23}, {2, 23, 2 * 7}, every_other, every_other);
    }
    {
      INFO("padded rows (row stride > cols)");
      const auto narrow_cols = [](const Tensor& t) { return t.slice(2, 1, t.size(2) - 2); };
      check_bmm_views(dt, {3, 21, 40}, {3, 37, 29}, narrow_cols, narrow_cols);
    }
    {
      INFO("batch broadcast with stride 0 (matmul of a 2-d and a 3-d operand)");
      check_bmm_views(dt, {33, 20}, {4, 20, 31}, same, same);
      check_bmm_views(dt, {4, 33, 20}, {20, 31}, same, same);
    }
    {
      INFO("one-element storage offset (unaligned for cuBLASLt's vector loads)");
      const auto offset = [](const Tensor& t) {
        const int64_t n = t.numel() - 1;
        return t.flatten().slice(0, 1, n + 1).view({1, 9, n / 9});
      };
      check_bmm_views(dt, {1, 9 * 64 + 1}, {1, 64 * 24}, offset, [](const Tensor& t) { return t.view({1, 64, 24}); });
    }
    {
      INFO("linear: x @ weight.t()");
      auto [x_cpu, x_cuda] = random_pair({37, 65}, dt);
      auto [w_cpu, w_cuda] = random_pair({29, 65}, dt);
      require_close(linear(x_cuda, w_cuda), linear(x_cpu, w_cpu), tolerance(dt));
    }
  }
}

TEST_CASE("cuda matmul: float32 uses TF32 only when allowed", "[cuda]") {
  REQUIRE_FALSE(cuda::allow_tf32());  // off by default, as in PyTorch
  const Tensor a64 = randn({1, 512, 512}, kFloat64), b64 = randn({1, 512, 512}, kFloat64);
  const Tensor ref = bmm(a64, b64);
  const Tensor a = a64.to(kFloat32).to(kCuda), b = b64.to(kFloat32).to(kCuda);
  const double full = max_rel_err(bmm(a, b), ref);
  CHECK(full < 1e-5);
  {
    TF32Guard tf32(true);
    const double reduced = max_rel_err(bmm(a, b), ref);
    CHECK(reduced < 1e-2);
    CHECK(reduced > full);  // 10-bit mantissas are visibly less exact than float32 FMA
  }
  CHECK(max_rel_err(bmm(a, b), ref) == full);  // switching back restores the exact kernels
}

TEST_CASE("cuda matmul: repeated 16-bit shapes reuse the cached cuBLASLt algorithm", "[cuda]") {
  for (DType dt : {kFloat16, kBFloat16}) {
    auto [a_cpu, a_cuda] = random_pair({4, 96, 80}, dt);
    auto [b_cpu, b_cuda] = random_pair({4, 80, 112}, dt);
    const Tensor first = bmm(a_cuda, b_cuda).to(Device());
    for (int i = 0; i < 3; ++i) CHECK(equal(bmm(a_cuda, b_cuda).to(Device()), first));
    require_close(bmm(a_cuda, b_cuda), bmm(a_cpu, b_cpu), tolerance(dt));
  }
}

TEST_CASE("cuda matmul: mixed devices and dtypes are rejected", "[cuda]") {
  const Tensor a = randn({3, 4}).to(kCuda), b = randn({4, 5});
  CHECK_THROWS_AS(mm(a, b), Error);
  CHECK_THROWS_AS(mm(a, randn({4, 5}, kFloat64).to(kCuda)), Error);
}
