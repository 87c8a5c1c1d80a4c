// CUDA reductions (sum/mean/max/min/prod over any dims, max/min with indices) against the CPU
// backend on the same inputs: every dtype, strided/permuted/broadcast inputs, every dim set
// of 3-d shapes, shapes that take each of the kernels' schedules (rows, columns, long
// reductions split over blocks, > 65535 outputs), NaN and ties, empty reductions, and the
// gradients of the reduction ops.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include <tessera/backend.h>
#include <tessera/tessera.h>

#include "cuda/cuda_test_util.h"

namespace ts {
namespace {

using namespace cuda_test;

/// Continuous N(0, 1) values (float dtypes).
Tensor normal_values(const Shape& shape, DType dt) {
  NoGradGuard no_grad;
  return randn(shape, kFloat64).to(dt);
}

using cuda_test::prod_values;

/// Sprinkles NaN over about 1% of a float tensor.
Tensor with_nans(const Tensor& x) {
  NoGradGuard no_grad;
  if (!is_floating_point(x.dtype())) return x;
  return where(rand(x.shape(), kFloat64) < 0.01, full({}, std::numeric_limits<double>::quiet_NaN(), x.dtype()), x);
}

/// Ways to lay out an (a, b, c) input: each a base tensor and the view taken of it.
std::vector<Layout> layouts(const Shape& s) {
  return {
      contiguous_layout(s),
      misaligned_layout(s),
      {"permuted", {s[2], s[0], s[1]}, [](const Tensor& t) { return t.permute({1, 2, 0}); }},
      strided_layout(s),
      broadcast_layout(s, 1),
  };
}

const std::vector<std::vector<int64_t>> kDimSets = {{}, {0}, {1}, {2}, {0, 1}, {1, 2}, {0, 2}, {0, 1, 2}};

using cuda_test::raw_reduce;

const std::vector<std::pair<ReduceOp, std::string>> kOps = {
    {ReduceOp::Sum, "sum"}, {ReduceOp::Mean, "mean"}, {ReduceOp::Max, "max"}, {ReduceOp::Min, "min"},
    {ReduceOp::Prod, "prod"}};

Tensor inputs_for(ReduceOp op, const Shape& shape, DType dt) {
  return op == ReduceOp::Prod ? prod_values(shape, dt) : random_quarters(shape, dt);
}

TEST_CASE("cuda reduce: every op, dtype, dim set and layout", "[cuda]") {
  for (const Shape& s : {Shape{4, 5, 6}, Shape{1, 31, 33}, Shape{33, 1, 100}, Shape{2, 3, 1000}}) {
    for (const auto& [op, name] : kOps) {
      for (DType dt : kAllTypes) {
        for (const Layout& l : layouts(s)) {
          const Pair x = on_both(inputs_for(op, l.base, dt), l.view);
          for (const auto& dims : kDimSets) {
            CAPTURE(name, dtype_name(dt), shape_str(s), l.name, dims);
            require_match(raw_reduce(op, x.cuda, dims), raw_reduce(op, x.cpu, dims));
          }
        }
      }
    }
  }
}

TEST_CASE("cuda reduce: the kernels' schedules on large shapes", "[cuda]") {
  struct Big {
    Shape shape;
    std::vector<int64_t> dims;
  };
  const std::vector<Big> cases = {
      {{1 << 22}, {0}},              // one long row: a block per row, split over blocks
      {{3, 1 << 20}, {1}},           // few long rows
      {{70001, 33}, {1}},            // many short rows (> 65535 outputs)
      {{70001, 3}, {1}},             // many tiny rows
      {{4096, 768}, {0}},            // a bias gradient: columns, split over blocks
      {{1 << 20, 3}, {0}},           // few long columns
      {{33, 70001}, {0}},            // many short columns
      {{64, 33, 129}, {0, 2}},       // reduced dims around a kept one
      {{1000, 1000}, {0, 1}},        // everything
  };
  for (const Big& c : cases) {
    for (const auto& [op, name] : kOps) {
      for (DType dt : {kFloat32, kFloat16, kInt64}) {
        CAPTURE(shape_str(c.shape), c.dims, name, dtype_name(dt));
        const Pair x = on_both(inputs_for(op, c.shape, dt));
        require_match(raw_reduce(op, x.cuda, c.dims), raw_reduce(op, x.cpu, c.dims));
        if (c.shape.size() == 2 && op == ReduceOp::Sum) {  // the same reduction of a transposed input
          const Pair xt = on_both(inputs_for(op, {c.shape[1], c.shape[0]}, dt), [](const Tensor& t) { return t.t(); });
          require_match(raw_reduce(op, xt.cuda, c.dims), raw_reduce(op, xt.cpu, c.dims));
        }
      }
    }
  }
}

TEST_CASE("cuda reduce: NaN propagation, infinities and empty reductions", "[cuda]") {
  for (DType dt : kFloatTypes) {
    for (const auto& [op, name] : kOps) {
      CAPTURE(dtype_name(dt), name);
      const Pair x = on_both(with_nans(normal_values({40, 300}, dt)));
      for (const auto& dims : std::vector<std::vector<int64_t>>{{0}, {1}, {0, 1}})
        require_match(raw_reduce(op, x.cuda, dims), raw_reduce(op, x.cpu, dims));
      const double inf = std::numeric_limits<double>::infinity();
      const Pair s = on_both(tensor<double>({inf, 1.0, -inf, 2.0, inf, inf, -1.0, 0.0}, {4, 2}).to(dt));
      require_match(raw_reduce(op, s.cuda, {0}), raw_reduce(op, s.cpu, {0}));
      require_match(raw_reduce(op, s.cuda, {1}), raw_reduce(op, s.cpu, {1}));
    }
  }
  for (DType dt : kAllTypes) {
    for (const auto& [op, name] : kOps) {
      // The mean of nothing is NaN, which has no integer value (C++ leaves the cast undefined).
      if (op == ReduceOp::Mean && !is_floating_point(dt)) continue;
      CAPTURE(dtype_name(dt), name);
      const Pair empty = on_both(zeros({3, 0, 4}, TensorOptions(dt)));
      require_match(raw_reduce(op, empty.cuda, {1}), raw_reduce(op, empty.cpu, {1}));  // identity, NaN for mean
      require_match(raw_reduce(op, empty.cuda, {0, 2}), raw_reduce(op, empty.cpu, {0, 2}));  // no outputs
    }
  }
}

TEST_CASE("cuda sum, mean, prod, var, norm and logsumexp match the CPU", "[cuda]") {
  for (DType dt : kAllTypes) {
    CAPTURE(dtype_name(dt));
    const Pair x = on_both(random_quarters({17, 35, 9}, dt));
    require_match(sum(x.cuda), sum(x.cpu));
    require_match(sum(x.cuda, {0, 2}, true), sum(x.cpu, {0, 2}, true));
    const Pair p = on_both(prod_values({17, 35, 9}, dt));
    require_match(prod(p.cuda, {1}), prod(p.cpu, {1}));
    require_match(max(x.cuda), max(x.cpu));
    require_match(min(x.cuda), min(x.cpu));
    if (!is_floating_point(dt)) continue;
    const Pair n = on_both(normal_values({17, 35, 9}, dt));
    require_match(mean(n.cuda, {1}), mean(n.cpu, {1}));
    require_match(var(n.cuda, {0, 2}), var(n.cpu, {0, 2}));
    require_match(ts::std(n.cuda, {2}, false), ts::std(n.cpu, {2}, false));
    require_match(norm(n.cuda, 2.0, {1}), norm(n.cpu, 2.0, {1}));
    require_match(logsumexp(n.cuda, {2}), logsumexp(n.cpu, {2}));
  }
}

TEST_CASE("cuda max/min along a dim: values and first indices, ties and NaN", "[cuda]") {
  for (const Shape& s : {Shape{4, 5, 6}, Shape{1, 31, 33}, Shape{33, 1, 1000}, Shape{3, 70001, 1}}) {
    for (DType dt : kAllTypes) {
      for (const Layout& l : layouts(s)) {
        const Pair x = on_both(with_nans(random_quarters(l.base, dt)), l.view);
        for (int64_t dim = 0; dim < 3; ++dim) {
          CAPTURE(shape_str(s), dtype_name(dt), l.name, dim);
          const auto [vc, ic] = max(x.cpu, dim, true);
          const auto [vg, ig] = max(x.cuda, dim, true);
          require_match(vg, vc, 0.0);
          require_match(ig, ic, 0.0);
          const auto [wc, jc] = min(x.cpu, dim);
          const auto [wg, jg] = min(x.cuda, dim);
          require_match(wg, wc, 0.0);
          require_match(jg, jc, 0.0);
        }
      }
    }
  }
  for (DType dt : {kFloat32, kFloat16, kInt64}) {
    CAPTURE(dtype_name(dt));
    const Pair flat = on_both(random_quarters({(1 << 20) + 3}, dt));  // few distinct values: ties everywhere
    require_match(argmax(flat.cuda), argmax(flat.cpu), 0.0);
    require_match(argmin(flat.cuda), argmin(flat.cpu), 0.0);
    const Pair cols = on_both(random_quarters({1 << 18, 5}, dt));
    require_match(argmax(cols.cuda, 0), argmax(cols.cpu, 0), 0.0);
    require_match(argmin(cols.cuda, 1), argmin(cols.cpu, 1), 0.0);
  }
  // a NaN wins over infinities; the first of several NaNs is reported
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  const Pair s = on_both(tensor<double>({1.0, inf, nan, -inf, nan, 2.0}, {6}));
  require_match(argmax(s.cuda), argmax(s.cpu), 0.0);
  require_match(argmin(s.cuda), argmin(s.cpu), 0.0);
}

TEST_CASE("cuda reduction gradients match the CPU", "[cuda]") {
  using Fn = std::function<Tensor(const Tensor&)>;
  const std::vector<std::pair<std::string, Fn>> fns = {
      {"sum", [](const Tensor& x) { return sum(x, {0, 2}); }},
      {"sum all", [](const Tensor& x) { return sum(x); }},
      {"mean", [](const Tensor& x) { return mean(x, {1}, true); }},
      {"prod", [](const Tensor& x) { return prod(x, {2}); }},
      {"max dim", [](const Tensor& x) { return max(x, 1).first; }},
      {"min dim", [](const Tensor& x) { return min(x, 0, true).first; }},
      {"max all", [](const Tensor& x) { return max(x); }},
      {"var", [](const Tensor& x) { return var(x, {1}); }},
      {"norm", [](const Tensor& x) { return norm(x, 2.0, {2}); }},
      {"logsumexp", [](const Tensor& x) { return logsumexp(x, {1}); }},
  };
  for (const auto& [name, fn] : fns) {
    for (DType dt : kFloatTypes) {
      for (bool permuted : {false, true}) {
        CAPTURE(name, dtype_name(dt), permuted);
        const Tensor base = name == "prod" ? prod_values({7, 5, 6}, dt) : normal_values({7, 5, 6}, dt);
        const ViewFn view = [permuted](const Tensor& t) { return permuted ? t.permute({1, 0, 2}) : t; };
        Tensor xc = view(base.clone()).requires_grad_(true);
        Tensor xg = view(base.to(kCuda)).requires_grad_(true);
        const Tensor yc = fn(xc);
        const Tensor upstream = normal_values(yc.shape(), dt);
        yc.backward(upstream);
        fn(xg).backward(upstream.to(kCuda));
        require_match(xg.grad(), xc.grad());
      }
    }
  }
}

}  // namespace
}  // namespace ts
