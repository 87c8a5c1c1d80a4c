// rms_norm and rotary embeddings: formulas, the properties that make RoPE useful, gradients.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "test_util.h"

using namespace ts;
using ts::test::require_close;
using ts::test::require_gradcheck;

TEST_CASE("rms_norm normalizes to unit root-mean-square and scales by weight", "[ops][rms_norm]") {
  manual_seed(11);
  const Tensor x = randn({4, 8}, kFloat64) * 3.0;
  const Tensor y = rms_norm(x, {8}, Tensor(), 0.0);
  require_close(sqrt(mean(square(y), {1})), ones({4}, kFloat64), 1e-12, 1e-12);
  const Tensor w = randn({8}, kFloat64);
  require_close(rms_norm(x, {8}, w, 0.0), y * w, 1e-12, 1e-12);
  // float16 input: statistics in float32, result back in float16.
  const Tensor h = rms_norm(x.to(kFloat16), {8});
  REQUIRE(h.dtype() == kFloat16);
  require_close(h, y, 5e-3, 5e-3);
}

TEST_CASE("rms_norm gradcheck and errors", "[ops][rms_norm]") {
  manual_seed(12);
  require_gradcheck([](const std::vector<Tensor>& in) { return rms_norm(in[0], {2, 3}, in[1], 1e-5); },
                    {test::rand_input({4, 2, 3}), test::rand_input({2, 3})});
  REQUIRE_THROWS_WITH(rms_norm(randn({4, 5}), {4}), Catch::Contains("rms_norm") && Catch::Contains("[4, 5]"));
  REQUIRE_THROWS_WITH(rms_norm(randn({4, 5}), {5}, randn({4})), Catch::Contains("weight"));
}

// ---- the fused rms_norm against the composition it replaced --------------------------------------

namespace {

// torch.nn.functional.rms_norm's composition, from ts ops: statistics in float32 for 16-bit x,
// n rounded back to x's dtype, then times the weight (with type promotion).
Tensor composed_rms_norm(const Tensor& x, int64_t normalized_dims, const Tensor& w, double eps) {
  std::vector<int64_t> dims;
  for (int64_t d = x.dim() - normalized_dims; d < x.dim(); ++d) dims.push_back(d);
  const bool widen = x.dtype() == kFloat16 || x.dtype() == kBFloat16;
  const Tensor xf = widen ? x.to(kFloat32) : x;
  Tensor y = xf * rsqrt(mean(square(xf), dims, true) + eps);
  if (widen) y = y.to(x.dtype());
  return w.defined() ? y * w : y;
}

// |actual - expected| <= tol * (|expected| + rms(expected)) elementwise: relative, with the
// typical magnitude as the floor (gradients mix terms of that size).
void require_near(const Tensor& actual, const Tensor& expected, double tol) {
  REQUIRE(actual.dtype() == expected.dtype());
  REQUIRE(actual.shape() == expected.shape());
  const auto a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double sq = 0;
  for (double v : e) sq += v * v;
  const double rms = e.empty() ? 0.0 : std::sqrt(sq / static_cast<double>(e.size()));
  double worst = 0;
  size_t bad = 0;
  for (size_t i = 0; i < e.size(); ++i) {
    const double err = a[i] == e[i] ? 0.0 : std::abs(a[i] - e[i]) / (std::abs(e[i]) + rms);
    worst = std::max(worst, err);
    bad += err <= tol ? 0 : 1;
  }
  INFO(dtype_name(expected.dtype()) << " " << shape_str(expected.shape()) << ": " << bad << " elements off, worst "
                                    << worst << " (tol " << tol << ")");
  REQUIRE(bad == 0);
}

// A few units in the last place of each dtype (forward), and of the gradients, whose composed
// reference rounds every intermediate (g * w, n, ...) to 16 bits.
double forward_tol(DType dt) {
  switch (dt) {
    case DType::Float64: return 1e-14;
    case DType::Float32: return 5e-7;
    case DType::Float16: return 2e-3;
    default: return 1.6e-2;
  }
}
double grad_tol(DType dt) {
  switch (dt) {
    case DType::Float64: return 2e-14;
    case DType::Float32: return 1e-6;
    case DType::Float16: return 3e-3;
    default: return 2e-2;
  }
}

// Forward and the gradients of every leaf that requires grad, fused against composed.
void require_matches_composition(const Tensor& x, const Shape& normalized, const Tensor& w, double eps) {
  const int64_t nd = static_cast<int64_t>(normalized.size());
  const Tensor fused = rms_norm(x, normalized, w, eps), composed = composed_rms_norm(x, nd, w, eps);
  INFO("x " << dtype_name(x.dtype()) << " " << shape_str(x.shape()) << ", weight "
            << (w.defined() ? dtype_name(w.dtype()) : "none"));
  // With a promoting weight, n still has x's precision.
  require_near(fused, composed, std::max(forward_tol(x.dtype()), forward_tol(fused.dtype())));
  std::vector<Tensor> leaves;
  for (const Tensor* t : {&x, &w})
    if (t->defined() && t->requires_grad()) leaves.push_back(*t);
  if (leaves.empty()) return;
  const Tensor g = randn(fused.shape(), kFloat64).to(fused.dtype());
  const auto gf = autograd::grad({fused}, leaves, {g});
  const auto gc = autograd::grad({composed}, leaves, {g});
  for (size_t i = 0; i < leaves.size(); ++i) {
    INFO("gradient " << i);
    require_near(gf[i], gc[i], std::max(grad_tol(x.dtype()), grad_tol(leaves[i].dtype())));
  }
}

// rms_norm's default eps.
double machine_eps(DType dt) {
  switch (dt) {
    case DType::Float64: return std::numeric_limits<double>::epsilon();
    case DType::Float32: return static_cast<double>(std::numeric_limits<float>::epsilon());
    case DType::Float16: return 0.0009765625;
    default: return 0.0078125;
  }
}

Tensor leaf(const Shape& shape, DType dt, bool grad = true, double scale = 1.0) {
  Tensor t = (randn(shape, kFloat64) * scale).to(dt);
  return grad ? t.requires_grad_(true) : t;
}

}  // namespace

TEST_CASE("fused rms_norm equals the composition for every float dtype, with and without weight",
          "[ops][rms_norm]") {
  manual_seed(15);
  for (DType dt : {kFloat64, kFloat32, kFloat16, kBFloat16}) {
    // Inputs away from 1 in scale, so rstd matters.
    require_matches_composition(leaf({6, 40}, dt, true, 3.0), {40}, leaf({40}, dt), 1e-5);
    require_matches_composition(leaf({6, 40}, dt, true, 0.25), {40}, Tensor(), 1e-5);
    require_matches_composition(leaf({2, 3, 4, 5}, dt), {4, 5}, leaf({4, 5}, dt), 1e-6);
    // The default eps (machine epsilon of x's dtype) on both sides.
    const Tensor x = leaf({3, 7}, dt, false), w = leaf({7}, dt, false);
    require_near(rms_norm(x, {7}, w), composed_rms_norm(x, 1, w, machine_eps(dt)), forward_tol(dt));
  }
}

TEST_CASE("fused rms_norm weight-only and input-only gradients", "[ops][rms_norm]") {
  manual_seed(16);
  for (DType dt : {kFloat64, kFloat32, kFloat16, kBFloat16}) {
    require_matches_composition(leaf({9, 24}, dt, false), {24}, leaf({24}, dt), 1e-5);
    require_matches_composition(leaf({9, 24}, dt), {24}, leaf({24}, dt, false), 1e-5);
  }
  // Only the weight requires grad: no input gradient is computed, the weight's is.
  const Tensor x = randn({5, 8}, kFloat64), w = leaf({8}, kFloat64);
  const Tensor y = rms_norm(x, {8}, w, 1e-6);
  REQUIRE(y.requires_grad());
  REQUIRE(y.grad_fn()->name() == std::string("rms_norm"));
}

TEST_CASE("fused rms_norm of a non-contiguous input", "[ops][rms_norm]") {
  manual_seed(17);
  for (DType dt : {kFloat64, kFloat32, kFloat16}) {
    // Transposed: the normalized dim has stride != 1.
    const Tensor xt = randn({16, 5}, kFloat64).to(dt).transpose(0, 1).requires_grad_(true);
    REQUIRE_FALSE(xt.is_contiguous());
    require_matches_composition(xt, {16}, leaf({16}, dt), 1e-5);
    // Every other column of a wider matrix.
    const Tensor xs = randn({4, 30}, kFloat64).to(dt).slice(1, 0, 30, 2).requires_grad_(true);
    require_matches_composition(xs, {15}, leaf({15}, dt), 1e-5);
    // The same values laid out contiguously give the same result.
    require_near(rms_norm(xt, {16}, Tensor(), 1e-5), rms_norm(xt.contiguous(), {16}, Tensor(), 1e-5), 0.0);
  }
}

TEST_CASE("fused rms_norm promotes with a weight of another dtype", "[ops][rms_norm]") {
  manual_seed(18);
  const std::pair<DType, DType> cases[] = {
      {kFloat32, kFloat64}, {kFloat16, kFloat32}, {kBFloat16, kFloat16}, {kFloat64, kFloat32}};
  for (const auto& [xdt, wdt] : cases) {
    const Tensor x = leaf({4, 12}, xdt), w = leaf({12}, wdt);
    const Tensor y = rms_norm(x, {12}, w, 1e-5);
    REQUIRE(y.dtype() == promote_types(xdt, wdt));
    require_matches_composition(x, {12}, w, 1e-5);
    const auto g = autograd::grad({y}, {x, w}, {ones_like(y)});
    REQUIRE(g[0].dtype() == xdt);
    REQUIRE(g[1].dtype() == wdt);
  }
}

TEST_CASE("fused rms_norm of zero rows and of long rows", "[ops][rms_norm]") {
  manual_seed(19);
  for (DType dt : {kFloat64, kFloat32, kFloat16, kBFloat16}) {
    const Tensor x = leaf({0, 8}, dt), w = leaf({8}, dt);
    const Tensor y = rms_norm(x, {8}, w, 1e-5);
    REQUIRE(y.shape() == Shape{0, 8});
    REQUIRE(y.dtype() == dt);
    const auto g = autograd::grad({y}, {x, w}, {zeros_like(y)});
    REQUIRE(g[0].shape() == Shape{0, 8});
    require_near(g[1], zeros({8}, TensorOptions(dt)), 0.0);
    const Tensor y3 = rms_norm(zeros({2, 0, 3}, TensorOptions(dt)), {3});
    REQUIRE(y3.shape() == Shape{2, 0, 3});
  }
  for (DType dt : {kFloat64, kFloat32, kFloat16, kBFloat16}) {
    require_matches_composition(leaf({3, 5000}, dt, true, 2.0), {5000}, leaf({5000}, dt), 1e-5);
    require_matches_composition(leaf({2, 2, 2500}, dt), {2, 2500}, Tensor(), 1e-5);
  }
}

TEST_CASE("fused rms_norm weight gradient repeats exactly and agrees across thread counts", "[ops][rms_norm]") {
  manual_seed(20);
  const Tensor x = randn({257, 33}, kFloat32), w = randn({33}, kFloat32).requires_grad_(true);
  const Tensor g = randn({257, 33}, kFloat32);
  auto weight_grad = [&](int threads) {
    test::ThreadCount tc(threads);
    return autograd::grad({rms_norm(x, {33}, w, 1e-5)}, {w}, {g})[0];
  };
  const Tensor one = weight_grad(1), many = weight_grad(3);
  REQUIRE(one.to_vector<double>() == weight_grad(1).to_vector<double>());
  require_near(many, one, 1e-6);
}

TEST_CASE("rotary embedding preserves norms and makes q.k depend only on relative position",
          "[ops][rotary]") {
  manual_seed(13);
  const int64_t d = 8;
  const Tensor q = randn({1, d}, kFloat64), k = randn({1, d}, kFloat64);
  auto rotate_at = [&](const Tensor& x, int64_t pos) {
    auto [c, s] = rotary_tables(pos, 1, d, 10000.0, kFloat64);
    return apply_rotary_embedding(x, c, s);
  };
  require_close(norm(rotate_at(q, 17)), norm(q), 1e-12, 1e-12);
  const double a = sum(rotate_at(q, 3) * rotate_at(k, 1)).item<double>();
  const double b = sum(rotate_at(q, 12) * rotate_at(k, 10)).item<double>();
  REQUIRE(a == Approx(b).epsilon(1e-10));
  // Position 0 is the identity.
  require_close(rotate_at(q, 0), q, 1e-15, 1e-15);
  // Tables for [offset, offset + n) are the rows of the tables for [0, offset + n).
  auto [c_all, s_all] = rotary_tables(0, 9, d);
  auto [c_tail, s_tail] = rotary_tables(5, 4, d);
  require_close(c_tail, narrow(c_all, 0, 5, 4), 1e-7, 1e-7);
  require_close(s_tail, narrow(s_all, 0, 5, 4), 1e-7, 1e-7);
}

TEST_CASE("rotary embedding gradcheck and errors", "[ops][rotary]") {
  manual_seed(14);
  auto [c, s] = rotary_tables(2, 3, 4, 10000.0, kFloat64);
  require_gradcheck([&](const std::vector<Tensor>& in) { return apply_rotary_embedding(in[0], c, s); },
                    {test::rand_input({2, 2, 3, 4})});
  REQUIRE_THROWS_WITH(apply_rotary_embedding(randn({3, 5}), c, s), Catch::Contains("D even"));
  REQUIRE_THROWS_WITH(apply_rotary_embedding(randn({2, 4}), c, s), Catch::Contains("(T, D/2)"));
  REQUIRE_THROWS_WITH(rotary_tables(0, 4, 3), Catch::Contains("even"));
}
