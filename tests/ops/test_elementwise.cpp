// Elementwise ops: values, broadcasting, and a float64 gradcheck for each differentiable op on
// contiguous, transposed (non-contiguous) and broadcast inputs.
#include "test_util.h"

using namespace ts;
using test::rand_input;
using test::rand_input_transposed;
using test::rand_positive;
using test::require_gradcheck;
using test::require_values;

namespace {
using UnaryFn = std::function<Tensor(const Tensor&)>;

// gradcheck of a unary op on a contiguous and a transposed input.
void check_unary(const UnaryFn& f, bool positive = false) {
  Tensor a = positive ? rand_positive({3, 4}) : rand_input({3, 4});
  require_gradcheck([&](const std::vector<Tensor>& in) { return f(in[0]); }, {a});
  Tensor b = positive ? rand_positive({4, 3}).detach().t().requires_grad_() : rand_input_transposed({3, 4});
  REQUIRE(!b.is_contiguous());
  require_gradcheck([&](const std::vector<Tensor>& in) { return f(in[0]); }, {b});
}
}  // namespace

TEST_CASE("float32 exact GELU and its gradient match float64 closely everywhere", "[elementwise]") {
  // The float path uses a vectorized erfc with bounded *relative* error, so even the tiny
  // values of gelu(-10) keep five or more digits (the float rounding of x^2 inside exp limits
  // it to about 2e-6 relative at x = -10.5).
  const Tensor x64 = linspace(-12.0, 12.0, 4001, kFloat64);
  const Tensor x32 = x64.to(kFloat32).requires_grad_(true);
  const Tensor x64g = x32.detach().to(kFloat64).requires_grad_(true);
  const Tensor y32 = gelu(x32), y64 = gelu(x64g);
  const auto a = y32.to_vector<double>(), b = y64.to_vector<double>();
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("x = " << x64.to_vector<double>()[i] << ": float32 " << a[i] << ", float64 " << b[i]);
    REQUIRE(std::abs(a[i] - b[i]) <= 1e-5 * std::abs(b[i]) + 1e-30);
  }
  sum(y32).backward();
  sum(y64).backward();
  const auto ga = x32.grad().to_vector<double>(), gb = x64g.grad().to_vector<double>();
  for (size_t i = 0; i < ga.size(); ++i) REQUIRE(std::abs(ga[i] - gb[i]) <= 2e-6 * std::abs(gb[i]) + 1e-7);
}

TEST_CASE("unary ops compute the right values", "[elementwise]") {
  Tensor x = tensor<double>({-2.0, -0.5, 0.0, 0.5, 2.0});
  require_values(neg(x), {2, 0.5, 0, -0.5, -2});
  require_values(abs(x), {2, 0.5, 0, 0.5, 2});
  require_values(relu(x), {0, 0, 0, 0.5, 2});
  require_values(sigmoid(x), {0.11920292202, 0.37754066879, 0.5, 0.62245933120, 0.88079707797});
  require_values(tanh(x), {-0.96402758007, -0.46211715726, 0, 0.46211715726, 0.96402758007});
  // torch.nn.functional.gelu(x) and gelu(x, approximate='tanh'), torch 1.13
  require_values(gelu(x), {-0.04550026389, -0.15426876936, 0, 0.34573123063, 1.95449973610});
  require_values(gelu(x, "tanh"), {-0.04540230591, -0.15428599017, 0, 0.34571400982, 1.95459769409});
  require_values(silu(x), {-0.23840584404, -0.18877033439, 0, 0.31122966560, 1.76159415595});
  require_values(clamp(x, -1.0, 1.0), {-1, -0.5, 0, 0.5, 1});
  require_values(clamp(x, std::nullopt, 0.0), {-2, -0.5, 0, 0, 0});
  require_values(pow(tensor<double>({4, 9}), 0.5), {2, 3});
  require_values(exp(tensor<double>({0, 1})), {1, 2.718281828459045});
  require_values(log(tensor<double>({1, M_E})), {0, 1});
  require_values(rsqrt(tensor<double>({4})), {0.5});
  require_values(abs(tensor<int64_t>({-3, 4})), {3, 4});
  REQUIRE(abs(tensor<int64_t>({-3})).dtype() == kInt64);
  REQUIRE(exp(tensor<int64_t>({0})).dtype() == kFloat32);
}

TEST_CASE("gradcheck: every unary op", "[elementwise][gradcheck]") {
  check_unary([](const Tensor& x) { return neg(x); });
  check_unary([](const Tensor& x) { return abs(x); });
  check_unary([](const Tensor& x) { return exp(x); });
  check_unary([](const Tensor& x) { return log(x); }, true);
  check_unary([](const Tensor& x) { return sqrt(x); }, true);
  check_unary([](const Tensor& x) { return rsqrt(x); }, true);
  check_unary([](const Tensor& x) { return reciprocal(x); }, true);
  check_unary([](const Tensor& x) { return square(x); });
  check_unary([](const Tensor& x) { return sin(x); });
  check_unary([](const Tensor& x) { return cos(x); });
  check_unary([](const Tensor& x) { return tanh(x); });
  check_unary([](const Tensor& x) { return sigmoid(x); });
  check_unary([](const Tensor& x) { return relu(x); });
  check_unary([](const Tensor& x) { return gelu(x); });
  check_unary([](const Tensor& x) { return gelu(x, "tanh"); });
  check_unary([](const Tensor& x) { return silu(x); });
  check_unary([](const Tensor& x) { return pow(x, 3); });
  check_unary([](const Tensor& x) { return pow(x, 2.5); }, true);
  check_unary([](const Tensor& x) { return clamp(x, -0.5, 0.7); });
}

TEST_CASE("binary ops broadcast like PyTorch", "[elementwise]") {
  Tensor a = tensor<float>({1, 2, 3}, {3, 1});
  Tensor b = tensor<float>({10, 20}, {1, 2});
  Tensor c = a + b;
  REQUIRE(c.shape() == Shape{3, 2});
  require_values(c, {11, 21, 12, 22, 13, 23});
  require_values(a * 2 - 1, {1, 3, 5});
  require_values(1 - a, {0, -1, -2});
  require_values(6 / a, {6, 3, 2});
  require_values(maximum(a, tensor<float>({2})), {2, 2, 3});
  require_values(minimum(a, tensor<float>({2})), {1, 2, 2});
  require_values(pow(tensor<double>({2, 3}), tensor<double>({3, 2})), {8, 9});
  require_values(a > 1.5, {0, 1, 1});
  require_values(eq(a, tensor<float>({2})), {0, 1, 0});
  require_values(logical_and(a > 1, a < 3), {0, 1, 0});
  require_values(where(a > 1.5, a, zeros({1})), {0, 2, 3});
  require_values(masked_fill(a, a > 2, -1), {1, 2, -1});
  Tensor ints = tensor<int64_t>({1});
  REQUIRE_THROWS_WITH(ints.div_(tensor<int64_t>({2})), Catch::Contains("div_") && Catch::Contains("float32"));
}

TEST_CASE("in-place ops write through views and respect dtype", "[elementwise]") {
  Tensor x = zeros({2, 3});
  x.select(0, 1).add_(tensor<float>({1, 2, 3}));
  require_values(x, {0, 0, 0, 1, 2, 3});
  x.mul_(2).sub_(1);
  require_values(x, {-1, -1, -1, 1, 3, 5});
  x.clamp_(0.0, 4.0);
  require_values(x, {0, 0, 0, 1, 3, 4});
  Tensor i = ones({2}, kInt64);
  REQUIRE_THROWS_WITH(i.add_(tensor<float>({0.5f, 0.5f})), Catch::Contains("can't be cast") && Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(ones({2}).add_(ones({3, 2})), Catch::Contains("[3, 2]") && Catch::Contains("[2]"));
  // overlapping source and destination
  Tensor m = tensor<float>({1, 2, 3, 4}, {2, 2});
  m.copy_(m.t());
  require_values(m, {1, 3, 2, 4});
}

TEST_CASE("gradcheck: every binary op with broadcasting and strided inputs", "[elementwise][gradcheck]") {
  using BinFn = std::function<Tensor(const Tensor&, const Tensor&)>;
  const std::vector<std::pair<std::string, BinFn>> ops = {
      {"add", [](const Tensor& a, const Tensor& b) { return a + b; }},
      {"add_alpha", [](const Tensor& a, const Tensor& b) { return add(a, b, 2.5); }},
      {"sub", [](const Tensor& a, const Tensor& b) { return a - b; }},
      {"mul", [](const Tensor& a, const Tensor& b) { return a * b; }},
      {"div", [](const Tensor& a, const Tensor& b) { return a / (b * b + 1); }},
      {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }},
      {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }},
      {"pow", [](const Tensor& a, const Tensor& b) { return pow(abs(a) + 0.5, b); }},
  };
  for (const auto& [name, f] : ops) {
    SECTION(name) {
      auto fn = [&](const std::vector<Tensor>& in) { return f(in[0], in[1]); };
      require_gradcheck(fn, {rand_input({3, 4}), rand_input({3, 4})});
      require_gradcheck(fn, {rand_input({2, 3, 4}), rand_input({3, 1})});   // broadcast both ways
      require_gradcheck(fn, {rand_input_transposed({3, 4}), rand_input({4})});
      require_gradcheck(fn, {rand_input({}), rand_input({2, 2})});          // 0-dim
    }
  }
}

TEST_CASE("gradcheck: where, masked_fill, scalar overloads", "[elementwise][gradcheck]") {
  Tensor cond = tensor<bool>({true, false, true, false, true, true}, {2, 3});
  require_gradcheck([&](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]); },
                    {rand_input({2, 3}), rand_input({3})});
  require_gradcheck([&](const std::vector<Tensor>& in) { return masked_fill(in[0], cond, 2.0); },
                    {rand_input({2, 3})});
  require_gradcheck([](const std::vector<Tensor>& in) { return 2.0 / (in[0] * in[0] + 1) - 3 * in[0] + 1; },
                    {rand_input({5})});
}

TEST_CASE("broadcasting errors name the op and both shapes", "[elementwise][errors]") {
  REQUIRE_THROWS_WITH(ones({2, 3}) + ones({4}),
                      Catch::Contains("add") && Catch::Contains("[2, 3]") && Catch::Contains("[4]"));
  REQUIRE_THROWS_WITH(mul(ones({2}), ones({3})), Catch::Contains("mul") && Catch::Contains("cannot be broadcast"));
  REQUIRE_THROWS_WITH(where(ones({2}), ones({2}), ones({2})), Catch::Contains("where") && Catch::Contains("bool"));
  REQUIRE_THROWS_WITH(gelu(ones({2}), "fast"), Catch::Contains("gelu") && Catch::Contains("fast"));
  REQUIRE_THROWS_WITH(masked_fill(ones({2}), ones({3, 2}, kBool), 0),
                      Catch::Contains("masked_fill") && Catch::Contains("[3, 2]"));
}

TEST_CASE("float32 exp, sigmoid and silu are accurate over the whole range", "[elementwise]") {
  // The float kernels use a vectorizable exp; compare with float64 std::exp.
  std::vector<float> xs;
  for (float x = -110.0f; x <= 100.0f; x += 0.0137f) xs.push_back(x);
  xs.insert(xs.end(), {88.72f, 88.73f, -87.33f, -87.34f, 0.0f, -0.0f, INFINITY, -INFINITY, NAN});
  const Tensor x = tensor(xs);
  const auto e = exp(x).to_vector<float>(), s = sigmoid(x).to_vector<float>(), si = silu(x).to_vector<float>();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i], ref = std::exp(v), sref = 1 / (1 + std::exp(-v));
    INFO("x = " << v);
    if (std::isnan(v)) {
      REQUIRE(std::isnan(e[i]));
      continue;
    }
    if (ref > 3.4028234663852886e38) {
      REQUIRE(std::isinf(e[i]));
    } else if (ref < 1.1754943508222875e-38) {
      REQUIRE(e[i] <= 1.2e-38f);  // flushed to zero (or a tiny value) below the normal range
    } else {
      REQUIRE(std::abs(e[i] - ref) <= 3e-7 * ref);
    }
    REQUIRE(std::abs(s[i] - sref) <= 3e-7 * sref + 1e-38);
    if (std::isfinite(v)) REQUIRE(std::abs(si[i] - v * sref) <= 3e-7 * std::abs(v * sref) + 1e-35);  // flush region
  }
}
