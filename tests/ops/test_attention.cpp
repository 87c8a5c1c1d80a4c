// scaled_dot_product_attention: the fused kernel against the composed math path (which the
// conformance suite pins to a plain-loop reference), gradients by finite differences,
// query-block boundaries, strided inputs, 16-bit inputs and argument errors.
#include <cmath>

#include "test_util.h"

using namespace ts;
using ts::test::require_close;
using ts::test::require_gradcheck;

namespace {

// The math path: forcing it through an all-true Bool mask (which only the composed path takes).
Tensor composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  const Tensor all = ones({q.size(-2), k.size(-2)}, kBool);
  return scaled_dot_product_attention(q, k, v, all, 0.0, causal);
}

void require_fused_matches_composed(const Tensor& q, const Tensor& k, const Tensor& v, bool causal) {
  const Tensor fused = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, causal);
  const Tensor ref = composed(q, k, v, causal);
  require_close(fused, ref, 1e-10, 1e-10);
  const Tensor w = randn(fused.shape(), kFloat64);
  auto gf = autograd::grad({sum(fused * w)}, {q, k, v});
  auto gr = autograd::grad({sum(ref * w)}, {q, k, v});
  for (size_t i = 0; i < 3; ++i) require_close(gf[i], gr[i], 1e-9, 1e-10);
}

}  // namespace

TEST_CASE("sdpa fused matches the composed path across query blocks", "[ops][attention]") {
  manual_seed(1);
  for (bool causal : {false, true}) {
    // T = 150 spans three 64-row query blocks, the last one partial.
    Tensor q = test::rand_input({2, 3, 150, 8}), k = test::rand_input({2, 3, 150, 8});
    Tensor v = test::rand_input({2, 3, 150, 5});
    require_fused_matches_composed(q, k, v, causal);
  }
}

TEST_CASE("sdpa fused handles fewer queries than keys (KV-cache decode)", "[ops][attention]") {
  manual_seed(2);
  for (int64_t t : {1, 3, 70}) {
    Tensor q = test::rand_input({1, 2, t, 4}), k = test::rand_input({1, 2, 80, 4}), v = test::rand_input({1, 2, 80, 4});
    require_fused_matches_composed(q, k, v, true);
    require_fused_matches_composed(q, k, v, false);
  }
  // The last of T queries sees exactly what a full causal pass over S gives its row.
  Tensor q = randn({1, 1, 6, 4}, kFloat64), k = randn({1, 1, 6, 4}, kFloat64), v = randn({1, 1, 6, 4}, kFloat64);
  const Tensor full = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true);
  const Tensor last = scaled_dot_product_attention(narrow(q, 2, 5, 1), k, v, Tensor(), 0.0, true);
  require_close(last, narrow(full, 2, 5, 1), 1e-12, 1e-12);
}

TEST_CASE("sdpa fused reads permuted qkv views without copies going wrong", "[ops][attention]") {
  manual_seed(3);
  // (B, T, 3, H, D) as a fused qkv projection produces, permuted to three (B, H, T, D) views.
  Tensor qkv = test::rand_input({2, 7, 3, 2, 4});
  auto part = [&](int64_t i) { return permute(select(qkv, 2, i), {0, 2, 1, 3}); };
  const Tensor q = part(0), k = part(1), v = part(2);
  REQUIRE_FALSE(q.is_contiguous());
  const Tensor fused = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true);
  require_close(fused, composed(contiguous(q), contiguous(k), contiguous(v), true), 1e-10, 1e-10);
  require_gradcheck([&](const std::vector<Tensor>& in) {
    auto p = [&](int64_t i) { return permute(select(in[0], 2, i), {0, 2, 1, 3}); };
    return scaled_dot_product_attention(p(0), p(1), p(2), Tensor(), 0.0, true);
  }, {qkv});
}

TEST_CASE("sdpa gradcheck: fused causal, fused full, 3-D inputs, masks and explicit scale", "[ops][attention]") {
  manual_seed(4);
  for (bool causal : {false, true}) {
    require_gradcheck([causal](const std::vector<Tensor>& in) {
      return scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 0.0, causal);
    }, {test::rand_input({1, 2, 4, 3}), test::rand_input({1, 2, 5, 3}), test::rand_input({1, 2, 5, 2})});
  }
  require_gradcheck([](const std::vector<Tensor>& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], Tensor(), 0.0, true, 0.3);
  }, {test::rand_input({2, 4, 3}), test::rand_input({2, 4, 3}), test::rand_input({2, 4, 3})});
  // An additive float mask takes the composed path; gradients flow into the mask too.
  require_gradcheck([](const std::vector<Tensor>& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], in[3]);
  }, {test::rand_input({1, 1, 3, 2}), test::rand_input({1, 1, 4, 2}), test::rand_input({1, 1, 4, 2}),
      test::rand_input({3, 4})});
}

TEST_CASE("sdpa with a Bool mask and the causal flag agree", "[ops][attention]") {
  manual_seed(5);
  const Tensor q = randn({1, 2, 5, 4}, kFloat64), k = randn({1, 2, 5, 4}, kFloat64), v = randn({1, 2, 5, 4}, kFloat64);
  std::vector<uint8_t> keep;
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) keep.push_back(j <= i ? 1 : 0);
  const Tensor mask = tensor(std::vector<int64_t>(keep.begin(), keep.end()), {5, 5}, kInt64).to(kBool);
  require_close(scaled_dot_product_attention(q, k, v, mask), scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true),
                1e-12, 1e-12);
}

TEST_CASE("sdpa in float32 and float16 stays close to float64", "[ops][attention]") {
  manual_seed(6);
  const Tensor q = randn({2, 2, 33, 16}, kFloat64), k = randn({2, 2, 33, 16}, kFloat64);
  const Tensor v = randn({2, 2, 33, 16}, kFloat64);
  const Tensor ref = scaled_dot_product_attention(q, k, v, Tensor(), 0.0, true);
  const Tensor f32 = scaled_dot_product_attention(q.to(kFloat32), k.to(kFloat32), v.to(kFloat32), Tensor(), 0.0, true);
  REQUIRE(f32.dtype() == kFloat32);
  require_close(f32, ref, 1e-4, 1e-5);
  const Tensor f16 = scaled_dot_product_attention(q.to(kFloat16), k.to(kFloat16), v.to(kFloat16), Tensor(), 0.0, true);
  REQUIRE(f16.dtype() == kFloat16);
  require_close(f16, ref, 2e-2, 2e-2);
}

TEST_CASE("sdpa dropout zeroes attention and keeps the expectation", "[ops][attention]") {
  manual_seed(7);
  const Tensor q = randn({1, 1, 4, 4}), k = randn({1, 1, 4, 4}), v = ones({1, 1, 4, 4});
  // With v = 1 every output row is the sum of its kept probabilities / (1 - p): 0 when all dropped.
  const Tensor all_dropped = scaled_dot_product_attention(q, k, v, Tensor(), 1.0, true);
  require_close(all_dropped, zeros({1, 1, 4, 4}));
  const Tensor big_q = zeros({1, 1, 2000, 4}), big_k = zeros({1, 1, 2000, 4}), big_v = ones({1, 1, 2000, 1});
  const double m = mean(scaled_dot_product_attention(big_q, big_k, big_v, Tensor(), 0.5, false)).item<double>();
  REQUIRE(m == Approx(1.0).margin(0.01));
}

TEST_CASE("sdpa rejects bad arguments with the op name and shapes", "[ops][attention][errors]") {
  const Tensor q = randn({1, 2, 3, 4}), k = randn({1, 2, 5, 4}), v = randn({1, 2, 5, 4});
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, randn({1, 2, 5, 3}), v),
                      Catch::Contains("scaled_dot_product_attention") && Catch::Contains("[1, 2, 5, 3]"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, randn({1, 2, 4, 4})), Catch::Contains("value"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(randn({1, 2, 6, 4}), k, v, Tensor(), 0.0, true),
                      Catch::Contains("T=6 and S=5"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k.to(kFloat64), v), Catch::Contains("dtype"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(randn({3, 4}), randn({3, 4}), randn({3, 4})),
                      Catch::Contains("(B, H, T, D)"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, Tensor(), 1.5), Catch::Contains("dropout_p"));
  REQUIRE_THROWS_WITH(scaled_dot_product_attention(q, k, v, Tensor(), 0.0, false, -1.0), Catch::Contains("scale"));
}
