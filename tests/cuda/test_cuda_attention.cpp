// CUDA fused attention (kernels/attention.cu, src/backend/cuda/cuda_attention.cpp) against the
// CPU backend on the same inputs: forward and autograd gradients for every float dtype, causal
// and not, T == S, T < S and one-token decode, head dims across the kernels' tiers (16, 64, 80,
// 128, 256, odd ones, D != Dv), lengths off the tile sizes, permuted fused-qkv views, heads
// broadcast with stride 0, a non-unit last-dim stride, many (batch, head) pairs and very long
// query runs; 16-bit inputs on both the tensor-core and the CUDA-core kernels; the saved
// log-sum-exp and rows that see no key through the backend entry point.
#include <array>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

using namespace ts;
using namespace ts::cuda_test;

namespace {

// Gradients go through two products per term and a cancellation (dP - D): a little looser.
double grad_tolerance(DType dt) { return dt == DType::Float32 ? 3e-5 : tolerance(dt); }

using Qkv = std::array<Tensor, 3>;
using QkvViews = std::function<Qkv(const std::vector<Tensor>&)>;

// Random bases (same values on both devices) -> q, k, v through `views` (the same function on
// both devices) -> sdpa: compares the output and the gradients with respect to the bases.
void check_sdpa(DType dt, const std::vector<Shape>& bases, const QkvViews& views, bool causal) {
  INFO("dtype " << dtype_name(dt) << (causal ? ", causal" : ", not causal"));
  std::vector<Tensor> cpu, cuda;
  for (const Shape& s : bases) {
    auto [c, g] = random_pair(s, dt);
    cpu.push_back(c.requires_grad_(true));
    cuda.push_back(g.detach().requires_grad_(true));
  }
  const Qkv in_cpu = views(cpu), in_cuda = views(cuda);
  INFO("q " << shape_str(in_cpu[0].shape()) << ", k " << shape_str(in_cpu[1].shape()) << ", v "
            << shape_str(in_cpu[2].shape()));
  const Tensor out_cpu = scaled_dot_product_attention(in_cpu[0], in_cpu[1], in_cpu[2], Tensor(), 0.0, causal);
  const Tensor out_cuda = scaled_dot_product_attention(in_cuda[0], in_cuda[1], in_cuda[2], Tensor(), 0.0, causal);
  require_close(out_cuda, out_cpu, tolerance(dt));
  const auto [w_cpu, w_cuda] = random_pair(out_cpu.shape(), dt);
  const auto g_cpu = autograd::grad({out_cpu}, cpu, {w_cpu});
  const auto g_cuda = autograd::grad({out_cuda}, cuda, {w_cuda});
  for (size_t i = 0; i < cpu.size(); ++i) {
    INFO("gradient of base " << i);
    require_close(g_cuda[i], g_cpu[i], grad_tolerance(dt));
  }
}

// Contiguous q (B, H, T, D), k (B, H, S, D), v (B, H, S, Dv).
void check_plain(DType dt, int64_t b, int64_t h, int64_t t, int64_t s, int64_t d, int64_t dv, bool causal) {
  check_sdpa(dt, {{b, h, t, d}, {b, h, s, d}, {b, h, s, dv}},
             [](const std::vector<Tensor>& x) { return Qkv{x[0], x[1], x[2]}; }, causal);
}

}  // namespace

TEST_CASE("cuda attention matches the CPU across head dims, causal or not", "[cuda][attention]") {
  manual_seed(11);
  for (DType dt : kFloatTypes)
    for (int64_t d : {16, 64, 80, 128})
      for (bool causal : {false, true}) {
        INFO("D = " << d);
        // T = 150 leaves a partial last tile for every tile height the kernels use.
        check_plain(dt, 2, 3, 150, 150, d, d, causal);
      }
}

TEST_CASE("cuda attention with fewer queries than keys and one-token decode", "[cuda][attention]") {
  manual_seed(12);
  for (DType dt : kFloatTypes) {
    for (bool causal : {false, true}) {
      check_plain(dt, 2, 4, 1, 1000, 64, 64, causal);   // decode against a KV cache
      check_plain(dt, 1, 2, 33, 257, 64, 32, causal);   // D != Dv, ragged S
      check_plain(dt, 1, 2, 31, 65, 128, 128, causal);  // T off the query tile, S one past a key tile
    }
  }
}

TEST_CASE("cuda attention with odd and wide head dims", "[cuda][attention]") {
  manual_seed(13);
  for (DType dt : kFloatTypes) {
    INFO("D = 20 / 33 / 256, Dv = 200");
    check_plain(dt, 1, 2, 40, 47, 20, 20, true);    // 16-bit: tensor cores with scalar staging
    check_plain(dt, 1, 2, 40, 47, 33, 7, false);    // odd dims
    check_plain(dt, 1, 2, 40, 40, 256, 200, true);  // the widest tier (CUDA cores for every dtype)
    check_plain(dt, 1, 1, 9, 9, 1, 1, true);
  }
}

TEST_CASE("cuda attention reads permuted and broadcast views", "[cuda][attention]") {
  manual_seed(14);
  for (DType dt : kFloatTypes) {
    for (bool causal : {false, true}) {
      {
        INFO("fused qkv (B, T, 3, H, D) permuted to (B, H, T, D)");
        check_sdpa(dt, {{2, 97, 3, 4, 64}}, [](const std::vector<Tensor>& x) {
          auto part = [&](int64_t i) { return permute(select(x[0], 2, i), {0, 2, 1, 3}); };
          return Qkv{part(0), part(1), part(2)};
        }, causal);
      }
      {
        INFO("k and v shared by all heads (stride 0), q from a (B, T, H, D) projection");
        check_sdpa(dt, {{2, 70, 4, 80}, {2, 1, 90, 80}, {2, 1, 90, 48}}, [](const std::vector<Tensor>& x) {
          return Qkv{permute(x[0], {0, 2, 1, 3}), x[1].expand({2, 4, 90, 80}), x[2].expand({2, 4, 90, 48})};
        }, causal);
      }
      {
        INFO("q with a non-unit last-dim stride");
        check_sdpa(dt, {{1, 2, 64, 50}, {1, 2, 50, 64}, {1, 2, 50, 64}}, [](const std::vector<Tensor>& x) {
          return Qkv{x[0].transpose(2, 3), x[1], x[2]};
        }, causal);
      }
    }
  }
}

TEST_CASE("cuda attention gradient of a sum (a broadcast grad_out)", "[cuda][attention]") {
  manual_seed(15);
  for (DType dt : kFloatTypes) {
    INFO("dtype " << dtype_name(dt));
    auto [q_cpu, q_cuda] = random_pair({2, 2, 50, 64}, dt);
    auto [k_cpu, k_cuda] = random_pair({2, 2, 60, 64}, dt);
    auto [v_cpu, v_cuda] = random_pair({2, 2, 60, 64}, dt);
    q_cpu.requires_grad_(true);
    q_cuda = q_cuda.detach().requires_grad_(true);
    const Tensor out_cpu = scaled_dot_product_attention(q_cpu, k_cpu, v_cpu, Tensor(), 0.0, true);
    const Tensor out_cuda = scaled_dot_product_attention(q_cuda, k_cuda, v_cuda, Tensor(), 0.0, true);
    const auto g_cpu = autograd::grad({sum(out_cpu)}, {q_cpu});
    const auto g_cuda = autograd::grad({sum(out_cuda)}, {q_cuda});
    require_close(g_cuda[0], g_cpu[0], grad_tolerance(dt));
  }
}

TEST_CASE("cuda attention with many heads and very long query runs", "[cuda][attention]") {
  manual_seed(16);
  for (DType dt : {kFloat32, kBFloat16}) {
    check_plain(dt, 70, 1000, 3, 5, 8, 8, true);        // 70000 (batch, head) pairs
    check_plain(dt, 1, 1, 70000, 5, 16, 16, false);     // > 65535 query rows in one head
  }
}

TEST_CASE("cuda attention: 16-bit inputs on the CUDA-core kernels", "[cuda][attention]") {
  manual_seed(17);
  const ScopedEnv fma("TESSERA_CUDA_ATTENTION_FMA", "1");
  for (DType dt : {kFloat16, kBFloat16})
    for (bool causal : {false, true}) {
      check_plain(dt, 2, 3, 150, 150, 64, 64, causal);
      check_plain(dt, 1, 2, 1, 300, 128, 80, causal);
    }
}

TEST_CASE("cuda attention: empty sizes", "[cuda][attention]") {
  for (DType dt : kFloatTypes) {
    check_plain(dt, 1, 2, 5, 0, 8, 8, false);  // no keys: zeros, as on the CPU
    check_plain(dt, 1, 2, 0, 4, 8, 8, false);
    check_plain(dt, 0, 2, 3, 3, 8, 8, true);
  }
}

TEST_CASE("cuda attention backend: lse and rows that see no key", "[cuda][attention]") {
  manual_seed(18);
  for (DType dt : kFloatTypes) {
    for (bool causal : {false, true}) {
      // Through the entry point, T > S is allowed: with the bottom-right causal mask the first
      // T - S rows see no key and get zeros and lse = -inf.
      for (const auto& [t, s] : std::vector<std::pair<int64_t, int64_t>>{{70, 90}, {7, 4}}) {
        INFO("dtype " << dtype_name(dt) << ", T " << t << ", S " << s << (causal ? ", causal" : ""));
        const auto [q_cpu, q_cuda] = random_pair({2, 2, t, 64}, dt);
        const auto [k_cpu, k_cuda] = random_pair({2, 2, s, 64}, dt);
        const auto [v_cpu, v_cuda] = random_pair({2, 2, s, 64}, dt);
        const DType stats = dt == kFloat64 ? kFloat64 : kFloat32;
        const AttentionParams p{0.125, causal};
        Tensor out_cpu = make_tensor({2, 2, t, 64}, dt, Device()), lse_cpu = make_tensor({2, 2, t}, stats, Device());
        Tensor out_cuda = make_tensor({2, 2, t, 64}, dt, kCuda), lse_cuda = make_tensor({2, 2, t}, stats, kCuda);
        backend_for(DeviceType::CPU).attention(q_cpu, k_cpu, v_cpu, p, out_cpu, lse_cpu);
        backend_for(DeviceType::CUDA).attention(q_cuda, k_cuda, v_cuda, p, out_cuda, lse_cuda);
        require_close(out_cuda, out_cpu, tolerance(dt));
        require_close(lse_cuda, lse_cpu, dt == kFloat64 ? 1e-12 : 1e-5);
      }
    }
  }
}

TEST_CASE("cuda attention rejects head dims beyond 256", "[cuda][attention][errors]") {
  const Tensor q = randn({1, 1, 4, 300}).to(kCuda), v = randn({1, 1, 4, 8}).to(kCuda);
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, q, v), Catch::Contains("attention") && Catch::Contains("256"));
}
