// Fused attention paths the other CUDA attention tests do not reach.
//  * the backward through the backend entry point with a causal T > S, so the first T - S
//    query rows see no key (lse = -inf, zero output): their dQ must be zero and they must add
//    nothing to dK / dV, on every kernel (tensor cores, the CUDA-core kernels for 16-bit, and
//    the float32 / float64 kernels), including the dK/dV kernel's 32-query tiles (D = 128);
//  * 16-bit operands with head dims that are multiples of 8 but rows that are not 16-byte
//    aligned (a base one element past an aligned address, or a row stride of 68 elements),
//    which the tensor-core kernels must stage without cp.async.
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

using namespace ts;
using namespace ts::cuda_test;

namespace {

double grad_tolerance(DType dt) { return dt == DType::Float32 ? 3e-5 : tolerance(dt); }

DType stats_of(DType dt) { return dt == kFloat64 ? kFloat64 : kFloat32; }

// Forward on the CPU backend, then the backward on both backends from the CPU's out and lse (so
// only the backward kernels are compared).
void check_backend_backward(DType dt, int64_t t, int64_t s, int64_t d, bool causal) {
  INFO("dtype " << dtype_name(dt) << ", T " << t << ", S " << s << ", D " << d << (causal ? ", causal" : ""));
  const Shape qs{2, 2, t, d}, ks{2, 2, s, d};
  const auto [q_cpu, q_cuda] = random_pair(qs, dt);
  const auto [k_cpu, k_cuda] = random_pair(ks, dt);
  const auto [v_cpu, v_cuda] = random_pair(ks, dt);
  const auto [go_cpu, go_cuda] = random_pair(qs, dt);
  const AttentionParams p{0.125, causal};
  const Tensor out_cpu = make_tensor(qs, dt, Device()), lse_cpu = make_tensor({2, 2, t}, stats_of(dt), Device());
  backend_for(DeviceType::CPU).attention(q_cpu, k_cpu, v_cpu, p, out_cpu, lse_cpu);
  const Tensor out_cuda = out_cpu.to(kCuda), lse_cuda = lse_cpu.to(kCuda);

  const Tensor gq_cpu = make_tensor(qs, dt, Device()), gk_cpu = make_tensor(ks, dt, Device()),
               gv_cpu = make_tensor(ks, dt, Device());
  const Tensor gq_cuda = make_tensor(qs, dt, kCuda), gk_cuda = make_tensor(ks, dt, kCuda),
               gv_cuda = make_tensor(ks, dt, kCuda);
  backend_for(DeviceType::CPU)
      .attention_backward(go_cpu, q_cpu, k_cpu, v_cpu, out_cpu, lse_cpu, p, gq_cpu, gk_cpu, gv_cpu);
  backend_for(DeviceType::CUDA)
      .attention_backward(go_cuda, q_cuda, k_cuda, v_cuda, out_cuda, lse_cuda, p, gq_cuda, gk_cuda, gv_cuda);
  {
    INFO("grad_q");
    require_close(gq_cuda, gq_cpu, grad_tolerance(dt));
  }
  {
    INFO("grad_k");
    require_close(gk_cuda, gk_cpu, grad_tolerance(dt));
  }
  {
    INFO("grad_v");
    require_close(gv_cuda, gv_cpu, grad_tolerance(dt));
  }
  if (causal && t > s) {
    INFO("rows that see no key get a zero dQ");
    const Tensor blind = gq_cuda.slice(2, 0, t - s).to(kCpu);
    for (double x : blind.to_vector<double>()) REQUIRE(x == 0.0);
  }
}

// Every float dtype; 16-bit ones on the tensor cores and on the CUDA-core kernels.
template <typename Fn> void for_each_attention_path(Fn&& fn) {
  for (DType dt : kFloatTypes) {
    const bool half = dt == kFloat16 || dt == kBFloat16;
    for (bool fma : {false, true}) {
      if (fma && !half) continue;
      INFO((fma ? "CUDA-core kernels" : "default kernels"));
      const ScopedEnv env("TESSERA_CUDA_ATTENTION_FMA", fma ? "1" : nullptr);
      fn(dt);
    }
  }
}

}  // namespace

TEST_CASE("cuda attention backend backward: causal rows that see no key", "[cuda][attention]") {
  manual_seed(41);
  for_each_attention_path([](DType dt) {
    check_backend_backward(dt, 7, 4, 64, true);
    check_backend_backward(dt, 70, 40, 64, true);    // 30 blind rows inside the first query tile
    check_backend_backward(dt, 150, 20, 64, true);   // whole blind query tiles
    check_backend_backward(dt, 100, 40, 128, true);  // the 32-query dK/dV tiles of the 128 tier
    check_backend_backward(dt, 70, 40, 64, false);   // same shapes without the mask
  });
}

TEST_CASE("cuda attention with 16-byte-misaligned rows of head dims that are multiples of 8", "[cuda][attention]") {
  manual_seed(42);
  for_each_attention_path([](DType dt) {
    for (bool causal : {false, true}) {
      INFO("dtype " << dtype_name(dt) << (causal ? ", causal" : ""));
      const Shape qs{2, 3, 70, 64}, ks{2, 3, 90, 64};
      // q: a base one element past an aligned address; k: rows of 68 elements (D = 64 of them);
      // v: contiguous.
      const int64_t nq = numel_of(qs);
      const Pair qb = random_leaf_pair({nq + 1}, dt);
      const Pair kb = random_leaf_pair({2, 3, 90, 68}, dt);
      const Pair v = random_leaf_pair(ks, dt);
      const auto q_of = [&](const Tensor& b) { return b.slice(0, 1, nq + 1).view(qs); };
      const auto k_of = [](const Tensor& b) { return b.slice(3, 0, 64); };
      const Tensor out_cpu = scaled_dot_product_attention(q_of(qb.cpu), k_of(kb.cpu), v.cpu, Tensor(), 0.0, causal);
      const Tensor out_cuda =
          scaled_dot_product_attention(q_of(qb.cuda), k_of(kb.cuda), v.cuda, Tensor(), 0.0, causal);
      require_close(out_cuda, out_cpu, tolerance(dt));
      const auto [w_cpu, w_cuda] = random_pair(out_cpu.shape(), dt);
      const auto g_cpu = autograd::grad({out_cpu}, {qb.cpu, kb.cpu, v.cpu}, {w_cpu});
      const auto g_cuda = autograd::grad({out_cuda}, {qb.cuda, kb.cuda, v.cuda}, {w_cuda});
      for (size_t i = 0; i < g_cpu.size(); ++i) {
        INFO("gradient " << i);
        require_close(g_cuda[i], g_cpu[i], grad_tolerance(dt));
      }
    }
  });
}
