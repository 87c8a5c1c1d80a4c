// rms_norm and rotary embeddings: formulas, the properties that make RoPE useful, gradients.
#include <cmath>

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
