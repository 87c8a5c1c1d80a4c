// dropout: identity when disabled, the keep rate and 1/(1-p) scaling, reproducibility from
// the seed, backward through the same mask, and argument errors.
#include <cmath>

#include "test_util.h"

using namespace ts;
using test::require_values;

TEST_CASE("dropout is the identity when not training or p == 0", "[loss][dropout]") {
  const Tensor x = randn({4, 5});
  REQUIRE(dropout(x, 0.5, false).is_same(x));
  REQUIRE(dropout(x, 0.0, true).is_same(x));
  // p == 1 drops everything but keeps the graph
  Tensor xr = randn({3}, kFloat64).requires_grad_(true);
  const Tensor z = dropout(xr, 1.0, true);
  require_values(z, {0, 0, 0}, 0);
  z.sum().backward();
  require_values(xr.grad(), {0, 0, 0}, 0);
}

TEST_CASE("dropout keeps 1-p of the elements, scaled by 1/(1-p)", "[loss][dropout]") {
  manual_seed(7);
  const double p = 0.3;
  const Tensor x = full({200, 500}, 2.0, kFloat32);
  const Tensor y = dropout(x, p, true);
  REQUIRE(y.shape() == x.shape());
  REQUIRE(y.dtype() == kFloat32);
  const auto v = y.to_vector<double>();
  int64_t kept = 0;
  for (double e : v) {
    const bool ok = e == 0.0 || std::abs(e - 2.0 / (1.0 - p)) < 1e-5;
    REQUIRE(ok);
    kept += e != 0.0;
  }
  // 100000 Bernoulli(0.7) draws: the standard deviation of the rate is ~0.0015
  REQUIRE(static_cast<double>(kept) / static_cast<double>(v.size()) == Approx(1.0 - p).margin(0.01));
  // the expectation is preserved
  REQUIRE(mean(y).item<double>() == Approx(2.0).margin(0.03));
}

TEST_CASE("dropout is reproducible from the seed and differs between calls", "[loss][dropout]") {
  const Tensor x = ones({1000}, kFloat64);
  manual_seed(123);
  const Tensor a = dropout(x, 0.5, true);
  const Tensor b = dropout(x, 0.5, true);
  manual_seed(123);
  const Tensor c = dropout(x, 0.5, true);
  REQUIRE(equal(a, c));
  REQUIRE(!equal(a, b));
}

TEST_CASE("dropout backward multiplies by the same mask", "[loss][dropout][gradcheck]") {
  manual_seed(5);
  Tensor x = (rand({6, 7}, kFloat64) + 1.0).requires_grad_(true);  // nonzero, so the mask is y / x
  const Tensor y = dropout(x.t(), 0.4, true);                      // a non-contiguous input
  const Tensor gout = randn({7, 6}, kFloat64);
  y.backward(gout);
  {
    NoGradGuard no_grad;
    const Tensor mask = y / x.t();
    require_values(x.grad(), (gout * mask).t().contiguous().to_vector<double>(), 1e-12);
    // the mask holds only 0 and 1/(1-p)
    for (double m : mask.to_vector<double>()) REQUIRE((m == 0.0 || m == Approx(1.0 / 0.6)));
  }
  // gradcheck with the mask fixed by re-seeding before every evaluation
  test::require_gradcheck(
      [](const std::vector<Tensor>& in) {
        manual_seed(99);
        return dropout(in[0], 0.5, true);
      },
      {test::rand_input_transposed({4, 5})});
}

TEST_CASE("dropout rejects bad arguments", "[loss][dropout]") {
  REQUIRE_THROWS_WITH(dropout(ones({2}), 1.5, true), Catch::Contains("dropout") && Catch::Contains("1.5"));
  REQUIRE_THROWS_WITH(dropout(ones({2}), -0.1, false), Catch::Contains("dropout") && Catch::Contains("-0.1"));
  REQUIRE_THROWS_WITH(dropout(ones({2}, kInt64), 0.5, true), Catch::Contains("dropout") && Catch::Contains("int64"));
}
