// nn::init: fans and gains, the statistics of every initializer on large tensors, PyTorch's
// per-layer defaults, and reproducibility under ts::manual_seed.
#include <cmath>

#include "nn/nn_test_util.h"

using namespace ts;
using Catch::Contains;
namespace init = ts::nn::init;

namespace {

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
};

Stats stats_of(const Tensor& t) {
  const auto v = t.to_vector<double>();
  Stats s;
  s.min = s.max = v.at(0);
  for (double e : v) {
    s.mean += e;
    s.min = std::min(s.min, e);
    s.max = std::max(s.max, e);
  }
  s.mean /= static_cast<double>(v.size());
  for (double e : v) s.std += (e - s.mean) * (e - s.mean);
  s.std = std::sqrt(s.std / static_cast<double>(v.size() - 1));
  return s;
}

/// Checks U(-bound, bound): every value inside, spread reaching the ends, std = bound/sqrt(3).
void require_uniform(const Tensor& t, double bound) {
  const Stats s = stats_of(t);
  INFO("bound " << bound << " mean " << s.mean << " std " << s.std << " min " << s.min << " max " << s.max);
  REQUIRE(s.min >= -bound);
  REQUIRE(s.max <= bound);
  REQUIRE(s.min < -0.98 * bound);
  REQUIRE(s.max > 0.98 * bound);
  REQUIRE(s.mean == Approx(0.0).margin(0.02 * bound));
  REQUIRE(s.std == Approx(bound / std::sqrt(3.0)).epsilon(0.02));
}

void require_normal(const Tensor& t, double mean, double std) {
  const Stats s = stats_of(t);
  INFO("mean " << s.mean << " std " << s.std);
  REQUIRE(s.mean == Approx(mean).margin(0.02 * std));
  REQUIRE(s.std == Approx(std).epsilon(0.02));
}

}  // namespace

TEST_CASE("init: fan in/out and gains follow PyTorch", "[nn-module][init]") {
  CHECK(init::calculate_fan_in_and_fan_out(empty({7, 5})) == std::pair<int64_t, int64_t>{5, 7});
  CHECK(init::calculate_fan_in_and_fan_out(empty({16, 3, 5, 5})) == std::pair<int64_t, int64_t>{75, 400});
  REQUIRE_THROWS_WITH(init::calculate_fan_in_and_fan_out(empty({5})), Contains("fewer than 2 dimensions"));
  CHECK(init::calculate_gain(init::Nonlinearity::Linear) == 1.0);
  CHECK(init::calculate_gain(init::Nonlinearity::Conv2d) == 1.0);
  CHECK(init::calculate_gain(init::Nonlinearity::Sigmoid) == 1.0);
  CHECK(init::calculate_gain(init::Nonlinearity::Tanh) == Approx(5.0 / 3.0));
  CHECK(init::calculate_gain(init::Nonlinearity::ReLU) == Approx(std::sqrt(2.0)));
  CHECK(init::calculate_gain(init::Nonlinearity::LeakyReLU, 0.2) == Approx(std::sqrt(2.0 / 1.04)));
  CHECK(init::calculate_gain(init::Nonlinearity::LeakyReLU, std::sqrt(5.0)) == Approx(std::sqrt(1.0 / 3.0)));
  CHECK(init::calculate_gain(init::Nonlinearity::SELU) == 0.75);
}

TEST_CASE("init: kaiming and xavier have the documented bounds and spreads", "[nn-module][init]") {
  manual_seed(21);
  Tensor w = empty({256, 512});
  init::kaiming_uniform_(w, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU);
  require_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 512));
  init::kaiming_uniform_(w, 0.0, init::FanMode::FanOut, init::Nonlinearity::ReLU);
  require_uniform(w, std::sqrt(2.0) * std::sqrt(3.0 / 256));
  init::kaiming_normal_(w, 0.0, init::FanMode::FanIn, init::Nonlinearity::ReLU);
  require_normal(w, 0.0, std::sqrt(2.0 / 512));
  init::kaiming_normal_(w, 0.1, init::FanMode::FanOut);  // leaky_relu with slope 0.1
  require_normal(w, 0.0, std::sqrt(2.0 / 1.01) / std::sqrt(256.0));

  Tensor c = empty({64, 32, 3, 3}, kFloat64);
  init::xavier_uniform_(c, 2.0);
  require_uniform(c, 2.0 * std::sqrt(6.0 / (32 * 9 + 64 * 9)));
  init::xavier_normal_(c);
  require_normal(c, 0.0, std::sqrt(2.0 / (32 * 9 + 64 * 9)));

  REQUIRE_THROWS_WITH(init::kaiming_uniform_(empty({5})), Contains("fewer than 2 dimensions"));
  REQUIRE_THROWS_WITH(init::xavier_normal_(Tensor()), Contains("init::xavier_normal_: tensor is undefined"));
  // Empty tensors are left alone instead of dividing by a zero fan.
  CHECK(init::kaiming_uniform_(empty({0, 4})).numel() == 0);
}

TEST_CASE("init: uniform, normal, constant, zeros, ones, trunc_normal", "[nn-module][init]") {
  manual_seed(22);
  Tensor t = empty({400, 300});
  init::uniform_(t, -0.5, 0.5);
  require_uniform(t, 0.5);
  init::uniform_(t, 2.0, 3.0);
  CHECK(stats_of(t).min >= 2.0);
  CHECK(stats_of(t).max <= 3.0);
  init::normal_(t, 1.5, 0.25);
  require_normal(t, 1.5, 0.25);
  init::constant_(t, 0.125);
  CHECK(stats_of(t).min == 0.125);
  CHECK(stats_of(t).max == 0.125);
  init::zeros_(t);
  CHECK(stats_of(t).max == 0.0);
  init::ones_(t);
  CHECK(stats_of(t).min == 1.0);

  // Standard normal truncated to [-2, 2]: std = 0.8796 (the truncated distribution's).
  init::trunc_normal_(t);
  Stats s = stats_of(t);
  CHECK(s.min >= -2.0);
  CHECK(s.max <= 2.0);
  CHECK(s.min < -1.98);
  CHECK(s.mean == Approx(0.0).margin(0.01));
  CHECK(s.std == Approx(0.87962566).epsilon(0.01));
  // One-sided: N(1, 0.5) truncated to [1, 3] is a half normal, mean 1 + 0.5 sqrt(2/pi).
  init::trunc_normal_(t, 1.0, 0.5, 1.0, 3.0);
  s = stats_of(t);
  CHECK(s.min >= 1.0);
  CHECK(s.max <= 3.0);
  CHECK(s.mean == Approx(1.0 + 0.5 * std::sqrt(2.0 / M_PI)).epsilon(0.01));
  CHECK(s.std == Approx(0.5 * std::sqrt(1.0 - 2.0 / M_PI)).epsilon(0.02));
  REQUIRE_THROWS_WITH(init::trunc_normal_(t, 0.0, 1.0, 2.0, -2.0), Contains("expected a < b"));
  REQUIRE_THROWS_WITH(init::trunc_normal_(empty({3}, kInt64)), Contains("expected a floating-point tensor"));
}

TEST_CASE("init: parameters stay leaves that require grad after in-place initialization", "[nn-module][init]") {
  nn::Linear fc(3, 2);
  init::xavier_uniform_(fc.weight);
  init::trunc_normal_(fc.bias, 0.0, 0.02);
  CHECK(fc.weight.is_leaf());
  CHECK(fc.weight.requires_grad());
  CHECK(fc.bias.is_leaf());
  fc.forward(ones({1, 3})).sum().backward();
  CHECK(fc.weight.grad().defined());
}

TEST_CASE("init: layers use PyTorch's default initialization", "[nn-module][init]") {
  manual_seed(23);
  // Linear: kaiming_uniform_(a = sqrt(5)) = U(+-1/sqrt(in)) weights, U(+-1/sqrt(in)) bias.
  nn::Linear fc(400, 300);
  require_uniform(fc.weight, 1.0 / std::sqrt(400.0));
  const Stats b = stats_of(fc.bias);
  CHECK(b.min >= -1.0 / 20);
  CHECK(b.max <= 1.0 / 20);
  CHECK(b.std == Approx(1.0 / 20 / std::sqrt(3.0)).epsilon(0.15));  // only 300 samples

  nn::Conv2d conv(nn::Conv2dOptions(32, 128, 3).groups(2));
  const double fan_in = 16 * 9;
  require_uniform(conv.weight, 1.0 / std::sqrt(fan_in));
  CHECK(stats_of(conv.bias).max <= 1.0 / std::sqrt(fan_in));

  nn::Embedding emb(1000, 64);
  require_normal(emb.weight, 0.0, 1.0);

  nn::BatchNorm2d bn(4);
  test::require_values(bn.weight, {1, 1, 1, 1}, 0.0);
  test::require_values(bn.bias, {0, 0, 0, 0}, 0.0);
  test::require_values(bn.running_mean, {0, 0, 0, 0}, 0.0);
  test::require_values(bn.running_var, {1, 1, 1, 1}, 0.0);
}

TEST_CASE("init: models are reproducible under ts::manual_seed", "[nn-module][init]") {
  auto make = [] {
    return nn::Sequential({std::make_shared<nn::Conv2d>(3, 4, 3), std::make_shared<nn::Flatten>(),
                           std::make_shared<nn::Linear>(16, 5), std::make_shared<nn::Embedding>(4, 2)});
  };
  manual_seed(1234);
  auto a = make();
  manual_seed(1234);
  auto b = make();
  manual_seed(4321);
  auto c = make();
  const auto pa = a.parameters(), pb = b.parameters(), pc = c.parameters();
  REQUIRE(pa.size() == 5);
  for (size_t i = 0; i < pa.size(); ++i) {
    CHECK(equal(pa[i], pb[i]));
    CHECK_FALSE(equal(pa[i], pc[i]));
  }
}
