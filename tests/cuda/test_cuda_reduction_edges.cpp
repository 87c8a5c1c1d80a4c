// Edge cases of the reduce / softmax / cross-entropy / indexing kernels: what the other
// CUDA tests leave out. The fused cross-entropy is called on the backend directly (loss, the
// saved log-sum-exp and the gradient) at each of its block widths, in 16-bit types, with NaN,
// +inf and all -inf rows and ignored targets, and with more than 65535 rows; softmax rows and
// column tiles beyond the capped grid (the grid-stride loops); reductions split over blocks in
// every dtype (the finalize kernel writing bool, uint8, int32, float64 and bfloat16).
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <vector>

#include <tessera/backend.h>
#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

namespace ts {
namespace {

using namespace cuda_test;

constexpr int64_t kIgnore = -100;

struct CeResult {
  Tensor loss, lse;
};

/// The backend's fused forward on logits' device: per-row loss and log-sum-exp.
CeResult ce_forward(const Tensor& logits, const Tensor& target) {
  const int64_t rows = logits.size(0);
  CeResult r{make_tensor({rows}, logits.dtype(), logits.device()),
             make_tensor({rows}, logits.dtype() == kFloat64 ? kFloat64 : kFloat32, logits.device())};
  backend_for(logits).cross_entropy(logits, target, kIgnore, r.loss, r.lse);
  return r;
}

Tensor ce_backward(const Tensor& grad, const Tensor& logits, const Tensor& target, const Tensor& lse) {
  Tensor gx = make_tensor(logits.shape(), logits.dtype(), logits.device());
  backend_for(logits).cross_entropy_backward(grad, logits, target, lse, kIgnore, gx);
  return gx;
}

/// (rows >= 6, n) float64 logits with special rows: 1 has a NaN, 2 a +inf, 3 is all -inf,
/// 4's target logit is -inf, 5 is ordinary; row 0's target is ignored.
std::pair<Tensor, Tensor> ce_inputs(int64_t rows, int64_t n) {
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<int64_t> t(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) t[static_cast<size_t>(i)] = (i * 7919 + 13) % n;
  t[0] = kIgnore;
  Tensor x = randn({rows, n}, kFloat64) * 3.0;
  {
    NoGradGuard no_grad;
    x.select(0, 1).select(0, n / 2).fill_(nan);
    x.select(0, 2).select(0, n - 1).fill_(inf);
    x.select(0, 3).fill_(-inf);
    x.select(0, 4).select(0, t[4]).fill_(-inf);
  }
  return {x, tensor<int64_t>(t, {rows})};
}

TEST_CASE("cuda fused cross-entropy at every block width, special rows, 16-bit", "[cuda]") {
  // 128, 256 and 1024 threads per row; the last a GPT-2 vocabulary (many strides per thread).
  for (int64_t n : {7, 600, 5000, 50257}) {
    for (DType dt : kFloatTypes) {
      CAPTURE(n, dtype_name(dt));
      const auto [x64, target] = ce_inputs(8, n);
      const Pair x = on_both(x64.to(dt));
      const Pair t = on_both(target);
      const CeResult cpu = ce_forward(x.cpu, t.cpu), gpu = ce_forward(x.cuda, t.cuda);
      require_match(gpu.lse, cpu.lse);
      require_match(gpu.loss, cpu.loss);
      const Pair g = on_both(randn({8}, kFloat64).to(dt));
      // The lse each device saved, so the gradient compares the backward alone.
      require_match(ce_backward(g.cuda, x.cuda, t.cuda, gpu.lse), ce_backward(g.cpu, x.cpu, t.cpu, cpu.lse));
    }
  }
}

TEST_CASE("cuda fused cross-entropy over more than 65535 rows, through the op", "[cuda]") {
  for (DType dt : {kFloat32, kBFloat16}) {
    CAPTURE(dtype_name(dt));
    const int64_t rows = 70001, n = 10;
    const Tensor target = randint(0, n, {rows});
    const Pair x = leaf_pair(randn({rows, n}, kFloat64).to(dt));
    const Tensor loss_cpu = cross_entropy(x.cpu, target, Tensor(), Reduction::None);
    const Tensor loss_gpu = cross_entropy(x.cuda, target.to(kCuda), Tensor(), Reduction::None);
    require_match(loss_gpu, loss_cpu);
    const Tensor g = randn({rows}, kFloat64).to(dt);
    loss_cpu.backward(g);
    loss_gpu.backward(g.to(kCuda));
    require_match(x.cuda.grad(), x.cpu.grad());
  }
}

TEST_CASE("cuda softmax rows and column tiles beyond the capped grid", "[cuda]") {
  // grid_for caps at 65535 * 8 blocks: warp rows (8 per block) past 4194240 rows, column
  // tiles (one per block) past 524280 tiles.
  struct Case {
    Shape shape;
    int64_t dim;
  };
  for (const Case& c : {Case{{4194240 + 77, 3}, 1}, Case{{524280 + 77, 3, 2}, 1}}) {
    for (bool log : {false, true}) {
      CAPTURE(shape_str(c.shape), log);
      const Pair x = leaf_pair(randn(c.shape, kFloat32));
      auto fn = [&](const Tensor& t) { return log ? log_softmax(t, c.dim) : softmax(t, c.dim); };
      const Tensor yc = fn(x.cpu), yg = fn(x.cuda);
      require_match(yg, yc);
      const Tensor g = randn(c.shape, kFloat32);
      yc.backward(g);
      yg.backward(g.to(kCuda));
      require_match(x.cuda.grad(), x.cpu.grad());
    }
  }
}

using cuda_test::prod_values;
using cuda_test::raw_reduce;

TEST_CASE("cuda reductions split over blocks write every dtype", "[cuda]") {
  // (3, 65536) over dim 1 splits rows (inner kernel); (65536, 3) over dim 0 splits columns
  // (outer kernel); both combine partials in the finalize kernel.
  const std::vector<std::pair<ReduceOp, const char*>> ops = {
      {ReduceOp::Sum, "sum"}, {ReduceOp::Mean, "mean"}, {ReduceOp::Max, "max"}, {ReduceOp::Min, "min"},
      {ReduceOp::Prod, "prod"}};
  for (DType dt : kAllTypes) {
    for (const auto& [shape, dim] : {std::pair<Shape, int64_t>{{3, 65536}, 1}, {{65536, 3}, 0}}) {
      CAPTURE(dtype_name(dt), shape_str(shape));
      for (const auto& [op, name] : ops) {
        CAPTURE(name);
        const Pair p = on_both(op == ReduceOp::Prod ? prod_values(shape, dt) : random_quarters(shape, dt));
        require_match(raw_reduce(op, p.cuda, {dim}), raw_reduce(op, p.cpu, {dim}));
      }
      const Pair p = on_both(random_quarters(shape, dt));  // few distinct values: ties across splits
      const auto [vc, ic] = min(p.cpu, dim, true);
      const auto [vg, ig] = min(p.cuda, dim, true);
      require_match(vg, vc, 0.0);
      require_match(ig, ic, 0.0);
    }
  }
}

}  // namespace
}  // namespace ts
